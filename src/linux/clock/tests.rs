//! The system clock's exact `timex` values (through a recorder: the kernel
//! is never called) and the virtual clock's arithmetic.

use std::io;
use std::string::ToString;
use std::vec::Vec;

use super::*;
use crate::test_util::manual_time::{advance, manual, status};

/// What one call passed, and what the recorder answers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Call {
    modes: libc::c_uint,
    offset: libc::c_long,
    freq: libc::c_long,
    maxerror: libc::c_long,
    esterror: libc::c_long,
    status: libc::c_int,
    tick: libc::c_long,
    sec: libc::time_t,
    usec: libc::suseconds_t,
}

/// A fake kernel: answers reads with its fields, records every call,
/// fails with `errno` when set, and refuses changes (but not reads) with
/// EPERM when `unprivileged`, as Linux does without CAP_SYS_TIME.
#[derive(Debug, Default)]
struct Fake {
    status: libc::c_int,
    tick: libc::c_long,
    freq: libc::c_long,
    maxerror: libc::c_long,
    errno: Option<i32>,
    unprivileged: bool,
    log: Vec<Call>,
}

impl Kernel for Fake {
    fn adjtimex(&mut self, t: &mut libc::timex) -> io::Result<libc::c_int> {
        if let Some(errno) = self.errno {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if self.unprivileged && t.modes != 0 {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        self.log.push(Call {
            modes: t.modes,
            offset: t.offset,
            freq: t.freq,
            maxerror: t.maxerror,
            esterror: t.esterror,
            status: t.status,
            tick: t.tick,
            sec: t.time.tv_sec,
            usec: t.time.tv_usec,
        });
        if t.modes == 0 {
            t.status = self.status;
            t.tick = self.tick;
            t.freq = self.freq;
            t.maxerror = self.maxerror;
            t.esterror = self.maxerror;
        }
        Ok(libc::TIME_OK)
    }

    fn realtime(&self) -> NtpTimestamp {
        NtpTimestamp::from_parts(3_900_000_000, 0)
    }
}

fn clock(status: libc::c_int, rtcsync: bool) -> SystemClock<Fake> {
    let fake = Fake {
        status,
        tick: 10_000,
        ..Fake::default()
    };
    SystemClock::with_kernel(fake, rtcsync)
}

#[test]
fn frequency_within_500_ppm_uses_tick_and_freq() {
    let mut clock = clock(0, false);
    clock.set_frequency(12.5).unwrap();
    clock.set_frequency(-149.0).unwrap();
    let log = &clock.kernel().log;
    assert_eq!(log[0].modes, libc::ADJ_FREQUENCY | libc::ADJ_TICK);
    assert_eq!(
        (log[0].tick, log[0].freq),
        (10_000, (12.5 * 65536.0) as libc::c_long)
    );
    // -149 ppm = one tick microsecond shorter (-100 ppm) and -49 ppm.
    assert_eq!((log[1].tick, log[1].freq), (9_999, -49 * 65536));
}

#[test]
fn frequency_beyond_500_ppm_goes_into_the_tick() {
    let mut clock = clock(0, false);
    clock.set_frequency(5_000.0).unwrap();
    clock.set_frequency(-50_030.0).unwrap();
    clock.set_frequency(500_000.0).unwrap(); // chrony's maxdrift: bounded by ±10 % ticks
    let log = &clock.kernel().log;
    assert_eq!((log[0].tick, log[0].freq), (10_050, 0));
    assert_eq!((log[1].tick, log[1].freq), (9_500, -30 * 65536));
    assert_eq!((log[2].tick, log[2].freq), (11_000, 500 * 65536));
}

#[test]
fn step_sets_offset_in_nanoseconds() {
    let mut clock = clock(0, false);
    clock.step(NtpDuration::from_nanos(1_500_000_000)).unwrap();
    clock.step(NtpDuration::from_nanos(-1_500_000_000)).unwrap();
    let log = &clock.kernel().log;
    assert_eq!(log[0].modes, libc::ADJ_SETOFFSET | libc::ADJ_NANO);
    assert_eq!((log[0].sec, log[0].usec), (1, 500_000_000));
    // Negative: seconds rounded down, nanoseconds non-negative.
    assert_eq!((log[1].sec, log[1].usec), (-2, 500_000_000));
}

#[test]
fn status_keeps_unsync_without_rtcsync() {
    let mut clock = clock(libc::STA_UNSYNC | libc::STA_NANO, false);
    clock
        .set_status(&status(true, LeapIndicator::NoWarning))
        .unwrap();
    let log = &clock.kernel().log;
    assert_eq!(log[0].modes, 0, "reads the status first");
    let set = log[1];
    assert_eq!(
        set.modes,
        libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR
    );
    assert_eq!(set.status, libc::STA_UNSYNC | libc::STA_NANO);
    assert_eq!((set.maxerror, set.esterror), (15_500, 250));
}

#[test]
fn status_with_rtcsync_clears_unsync_and_sets_leap() {
    let mut clock = clock(libc::STA_UNSYNC | libc::STA_DEL, true);
    clock
        .set_status(&status(true, LeapIndicator::InsertSecond))
        .unwrap();
    clock
        .set_status(&status(true, LeapIndicator::DeleteSecond))
        .unwrap();
    clock
        .set_status(&status(false, LeapIndicator::Unsynchronized))
        .unwrap();
    let log = &clock.kernel().log;
    assert_eq!(log[1].status, libc::STA_INS);
    assert_eq!(log[3].status, libc::STA_DEL);
    // Unsynchronised: STA_UNSYNC, no leap, and timedatectl's 16 s.
    assert_eq!(log[5].status, libc::STA_UNSYNC);
    assert_eq!(log[5].maxerror, 16_000_000);
}

#[test]
fn eperm_says_cap_sys_time() {
    let fake = |errno| Fake {
        errno: Some(errno),
        ..Fake::default()
    };
    let mut clock = SystemClock::with_kernel(fake(libc::EPERM), false);
    let err = clock.step(NtpDuration::from_seconds(1)).unwrap_err();
    assert!(matches!(err, ClockError::Permission { .. }));
    assert!(err.to_string().contains("CAP_SYS_TIME"), "{err}");
    let mut clock = SystemClock::with_kernel(fake(libc::EINVAL), false);
    assert!(matches!(
        clock.set_frequency(1.0),
        Err(ClockError::Io { .. })
    ));
}

#[test]
fn state_reads_frequency_with_the_tick() {
    let fake = Fake {
        tick: 10_003,
        freq: -20 * 65536,
        maxerror: 16_000_000,
        status: libc::STA_UNSYNC,
        ..Fake::default()
    };
    let mut clock = SystemClock::with_kernel(fake, false);
    let state = clock.state().unwrap();
    assert_eq!(clock.kernel().log[0].modes, 0);
    assert_eq!(state.frequency_ppm, 280.0);
    assert_eq!(state.max_error, 16.0);
    assert_eq!(state.status, libc::STA_UNSYNC);
}

#[test]
fn kernel_timestamps_map_onto_the_virtual_clock() {
    let (time, source) = manual();
    let mut clock = VirtualClock::with_source(source);
    clock.step(NtpDuration::from_seconds(2)).unwrap();
    clock.set_frequency(1000.0).unwrap();
    let stamp = time.get();
    advance(&time, 10.0);
    // At the stamp the clock was 2 s ahead (10 s later 2.01 s).
    assert_eq!(
        clock.at_system_time(stamp),
        stamp + NtpDuration::from_seconds(2)
    );
    assert_eq!(
        clock.now().unwrap(),
        time.get() + NtpDuration::from_seconds_f64(2.01)
    );
    let system = self::clock(0, false);
    assert_eq!(system.at_system_time(stamp), stamp);
}

#[test]
fn permission_is_checked_by_writing_back_the_status() {
    let fake = Fake {
        status: libc::STA_UNSYNC | libc::STA_PLL,
        ..Fake::default()
    };
    let mut clock = SystemClock::with_kernel(fake, false);
    clock.check_permission().unwrap();
    // A read, then the same status written back: nothing changes.
    let log = &clock.kernel().log;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].modes, 0);
    assert_eq!(
        (log[1].modes, log[1].status),
        (libc::ADJ_STATUS, libc::STA_UNSYNC | libc::STA_PLL)
    );
    let unprivileged = Fake {
        unprivileged: true,
        ..Fake::default()
    };
    let mut clock = SystemClock::with_kernel(unprivileged, false);
    let err = clock.check_permission().unwrap_err();
    assert!(matches!(err, ClockError::Permission { .. }), "{err}");
    assert!(err.to_string().contains("CAP_SYS_TIME"), "{err}");
}

#[test]
fn the_virtual_clock_counts_its_frequency_in_system_time() {
    let (time, source) = manual();
    let mut clock = VirtualClock::with_source(source);
    clock.set_frequency(50_000.0).unwrap();
    // 10.5 s of the virtual clock pass in 10 s of the system's.
    assert!((clock.system_interval(10.5) - 10.0).abs() < 1e-12);
    advance(&time, 10.0);
    assert!((clock.offset().to_seconds_f64() - 0.5).abs() < 1e-9);
    let system = self::clock(0, false);
    assert_eq!(system.system_interval(10.5), 10.5);
}
