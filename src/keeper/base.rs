//! The time the keeper's software clock counts from.
//!
//! On Linux it is the system time at the start plus the time elapsed since
//! as `CLOCK_MONOTONIC_RAW` counts it (the oscillator, never slewed or
//! stepped by anyone), plus the time spent suspended (how far
//! `CLOCK_BOOTTIME` has moved from `CLOCK_MONOTONIC`: both are slewed alike,
//! so their difference changes only by suspends). Another time daemon on
//! the machine (chronyd stepping or slewing the system clock, `date -s`)
//! therefore cannot move the keeper's clock, and the error bound holds
//! across them.
//!
//! Elsewhere it is the system time itself: a step of the system clock by
//! someone else is then noticed by comparing it with a monotonic clock
//! (over 10 s, see [`StepWatch`](crate::clock::StepWatch)); smaller steps
//! and slews of the system clock are taken as the clock's own error until
//! the next sample.

use std::time::SystemTime;

use crate::clock::TimeSource;
#[cfg(target_os = "linux")]
use crate::time::NtpDuration;
use crate::time::NtpTimestamp;

/// The base time (see the [module documentation](self)).
#[derive(Debug, Clone, Copy)]
pub(super) struct Base {
    /// The system time when the keeper started.
    #[cfg(target_os = "linux")]
    origin: NtpTimestamp,
    /// The raw elapsed time then, seconds.
    #[cfg(target_os = "linux")]
    raw_origin: f64,
}

impl Base {
    /// The base from now on.
    #[cfg(target_os = "linux")]
    pub(super) fn new() -> Base {
        // The system time between two raw readings, the closest pair of a
        // few: a thread preempted between the reads would otherwise shift
        // the base for good by as long as it waited.
        let mut best: Option<(f64, SystemTime, f64)> = None;
        for _ in 0..4 {
            let before = raw_elapsed();
            let system = SystemTime::now();
            let after = raw_elapsed();
            let width = after - before;
            if best.is_none_or(|(narrowest, ..)| width < narrowest) {
                best = Some((width, system, before + width / 2.0));
            }
        }
        let (_, system, raw) = best.unwrap_or((0.0, SystemTime::now(), raw_elapsed()));
        Base {
            origin: NtpTimestamp::from_system_time(system),
            raw_origin: raw,
        }
    }

    /// The base from now on.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn new() -> Base {
        Base {}
    }

    /// Whether steps of the system clock by others move this base (and
    /// must be watched for).
    pub(super) const fn follows_system_clock() -> bool {
        !cfg!(target_os = "linux")
    }
}

impl TimeSource for Base {
    #[cfg(target_os = "linux")]
    fn now(&self) -> NtpTimestamp {
        self.origin + NtpDuration::from_seconds_f64(raw_elapsed() - self.raw_origin)
    }

    #[cfg(not(target_os = "linux"))]
    fn now(&self) -> NtpTimestamp {
        NtpTimestamp::from_system_time(SystemTime::now())
    }
}

/// Seconds of `CLOCK_MONOTONIC_RAW` plus the time suspended
/// (`CLOCK_BOOTTIME` − `CLOCK_MONOTONIC`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn raw_elapsed() -> f64 {
    fn read(clock: libc::clockid_t) -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; these clocks exist on
        // every Linux since 2.6.39, so the call cannot fail.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
    // The time suspended: BOOTTIME read between two MONOTONIC readings,
    // the closest pair of a few, so that a preemption between the reads
    // is not counted as suspended.
    let mut suspended = (f64::INFINITY, 0.0);
    for _ in 0..3 {
        let before = read(libc::CLOCK_MONOTONIC);
        let boot = read(libc::CLOCK_BOOTTIME);
        let after = read(libc::CLOCK_MONOTONIC);
        let width = after - before;
        if width < suspended.0 {
            suspended = (width, boot - (before + width / 2.0));
        }
    }
    read(libc::CLOCK_MONOTONIC_RAW) + suspended.1
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_base_starts_at_the_system_time_and_runs_with_it() {
        let base = Base::new();
        let system = || NtpTimestamp::from_system_time(SystemTime::now());
        // The base's time lies between the system times read just before
        // and after it (a preemption between the reads widens that window,
        // it does not make a gap), give or take 1 ms.
        let close = |base: &Base| {
            let before = system();
            let now = base.now();
            let after = system();
            (now - before).to_seconds_f64() > -1e-3 && (after - now).to_seconds_f64() > -1e-3
        };
        assert!(close(&base));
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Raw and system time differ by the system clock's frequency
        // correction (at most 500 ppm, plus a slew): far less than 1 ms
        // here.
        assert!(close(&base));
    }
}
