//! Clocks the discipline can steer: the Linux system clock through
//! `clock_adjtime(2)`, and a virtual clock in software that never touches
//! the kernel (the examples' default, like `chronyd -x`).
//!
//! # [`SystemClock`]
//! The system call is injected ([`Adjtimex`]): [`KernelAdjtimex`] calls the
//! kernel, tests pass a recorder and check the exact `timex` values.
//! - **frequency**: the kernel's `freq` field reaches only ±500 ppm, so the
//!   correction is split as chronyd does: whole 100 ppm steps (at
//!   `USER_HZ` 100) go into the tick length (`ADJ_TICK`, ±10 %), the rest
//!   into `freq` (`ADJ_FREQUENCY`, in 2⁻¹⁶ ppm).
//! - **slew**: by frequency, as chronyd does on Linux and as the engine
//!   models it: the clock runs `max_rate_ppm` faster (or slower) than the
//!   set frequency for `|offset| / rate`, then back. The end of a slew is a
//!   timer the driver keeps ([`DriverClock::poll_timeout`] and
//!   [`DriverClock::handle_timeout`]); what the late wake-up overshot is
//!   given back through `ADJ_OFFSET_SINGLESHOT` (the kernel's `adjtime`,
//!   500 ppm, ends by itself). A new slew replaces the rest of the last.
//!   The rate is bounded so that frequency plus slew stays within the
//!   tick's ±10 %.
//! - **step**: `ADJ_SETOFFSET | ADJ_NANO`.
//! - **status**: `ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR` on the status
//!   read back first: `STA_INS`/`STA_DEL` for a pending leap second;
//!   `STA_UNSYNC` is cleared only when synchronised *and* `rtcsync` asked
//!   for it (which lets the kernel copy the time to the RTC every 11
//!   minutes), as chronyd does. `maxerror` is what `timedatectl` reads: the
//!   status's maximum error, or 16 s when unsynchronised.
//!
//! Changing the system clock needs `CAP_SYS_TIME`; without it every change
//! fails with [`ClockError::Permission`], which says so.
//!
//! # [`VirtualClock`]
//! The system time (or any injected time source) plus a software offset,
//! frequency and slew. Nothing reaches the kernel.

#![allow(unsafe_code)]

use std::io;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SyncStatus};
use crate::report::TimedatectlReport;
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;

/// Why a clock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// The process may not change the system clock.
    #[error(
        "{operation}: not permitted: changing the system clock needs CAP_SYS_TIME \
         (run as root or grant the capability), or use the virtual clock"
    )]
    Permission {
        /// What was being done.
        operation: &'static str,
    },
    /// Any other failure of the system call.
    #[error("{operation}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

/// The `adjtimex` family of system calls and a monotonic clock, injected
/// so that tests can check what would be passed to the kernel and when.
pub trait Adjtimex {
    /// Read and/or change the kernel clock's state as `clock_adjtime(2)` on
    /// `CLOCK_REALTIME` does; returns the clock state (`TIME_OK`, ...).
    fn adjtimex(&mut self, timex: &mut libc::timex) -> io::Result<libc::c_int>;

    /// Time since an arbitrary fixed start, unaffected by steps (how long
    /// a slew has run).
    fn monotonic(&self) -> Duration;
}

/// The real system call, `clock_adjtime(CLOCK_REALTIME, ...)`, and
/// `std::time::Instant`.
#[derive(Debug, Clone, Copy)]
pub struct KernelAdjtimex {
    start: Instant,
}

impl Default for KernelAdjtimex {
    fn default() -> Self {
        KernelAdjtimex {
            start: Instant::now(),
        }
    }
}

impl Adjtimex for KernelAdjtimex {
    fn adjtimex(&mut self, timex: &mut libc::timex) -> io::Result<libc::c_int> {
        // SAFETY: `timex` is a valid, exclusively borrowed `struct timex`.
        let state = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, timex) };
        if state < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(state)
        }
    }

    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }
}

/// An all-zero `timex` (modes 0: read only).
fn empty_timex() -> libc::timex {
    // SAFETY: `timex` is plain old data; all zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// What the kernel says about its clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelState {
    /// The frequency correction, ppm, tick length included (positive:
    /// faster).
    pub frequency_ppm: f64,
    /// The kernel's maximum error, seconds (`timedatectl` compares it with
    /// 16 s).
    pub max_error: f64,
    /// The kernel's estimated error, seconds.
    pub est_error: f64,
    /// The `STA_*` status bits.
    pub status: libc::c_int,
}

/// The Linux system clock, steered through an [`Adjtimex`].
#[derive(Debug)]
pub struct SystemClock<A = KernelAdjtimex> {
    syscall: A,
    /// Microseconds per tick at frequency 0 (10000 at USER_HZ 100).
    nominal_tick: libc::c_long,
    rtcsync: bool,
    /// The frequency set, ppm (without a slew).
    frequency_ppm: f64,
    slew: Option<FrequencySlew>,
}

/// A slew in progress: the kernel runs `rate_ppm` off the set frequency
/// from `start` (monotonic) for `duration`.
#[derive(Debug, Clone, Copy)]
struct FrequencySlew {
    start: Duration,
    duration: Duration,
    rate_ppm: f64,
}

/// The largest total frequency the tick and `freq` reach, ppm.
const MAX_TOTAL_PPM: f64 = 100_000.0;

/// Parts per million per microsecond of tick length.
fn ppm_per_tick_us(nominal_tick: libc::c_long) -> f64 {
    1e6 / nominal_tick as f64
}

/// The kernel's `freq` unit: 2⁻¹⁶ ppm.
const FREQ_SCALE: f64 = 65536.0;

/// The kernel's limit for `maxerror` and `esterror`: 16 s in microseconds.
const MAX_ERROR_US: f64 = 16e6;

/// `CAP_SYS_TIME`'s bit in the capability sets.
const CAP_SYS_TIME: u32 = 25;

/// Whether the effective capabilities in a `/proc/PID/status` text
/// (`CapEff:` in hex) include `CAP_SYS_TIME`.
fn has_cap_sys_time(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_TIME) != 0)
}

impl SystemClock<KernelAdjtimex> {
    /// Whether this process may change the system clock (`CAP_SYS_TIME`
    /// among its effective capabilities), checked without changing it.
    pub fn check_permission() -> Result<(), ClockError> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if has_cap_sys_time(&status) {
            Ok(())
        } else {
            Err(ClockError::Permission {
                operation: "steering the system clock",
            })
        }
    }

    /// The real system clock. `rtcsync`: chrony's directive of that name
    /// (clear `STA_UNSYNC` when synchronised, so the kernel keeps the RTC
    /// in step).
    pub fn new(rtcsync: bool) -> Self {
        SystemClock::with_syscall(KernelAdjtimex::default(), rtcsync)
    }
}

impl<A: Adjtimex> SystemClock<A> {
    /// A system clock over an injected system call, at `USER_HZ` 100 (what
    /// Linux's adjtimex interface uses on every architecture).
    pub fn with_syscall(syscall: A, rtcsync: bool) -> Self {
        SystemClock {
            syscall,
            nominal_tick: 10_000,
            rtcsync,
            frequency_ppm: 0.0,
            slew: None,
        }
    }

    /// Tell the kernel to run at `ppm` (tick length and `freq`).
    fn write_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        let per_tick = ppm_per_tick_us(self.nominal_tick);
        // The kernel accepts ticks within ±10 % of nominal.
        let max_delta = self.nominal_tick / 10;
        let delta_tick = ((ppm / per_tick).round() as libc::c_long).clamp(-max_delta, max_delta);
        let rest = (ppm - delta_tick as f64 * per_tick).clamp(-500.0, 500.0);
        let mut timex = empty_timex();
        timex.modes = libc::ADJ_FREQUENCY | libc::ADJ_TICK;
        timex.tick = self.nominal_tick + delta_tick;
        timex.freq = (rest * FREQ_SCALE).round() as libc::c_long;
        self.call("setting the clock frequency", &mut timex)
            .map(drop)
    }

    /// End the slew in progress now: back to the set frequency. Returns
    /// how much it slewed beyond what was asked (seconds; a late end).
    fn end_slew(&mut self) -> Result<f64, ClockError> {
        let Some(slew) = self.slew.take() else {
            return Ok(0.0);
        };
        self.write_frequency(self.frequency_ppm)?;
        let ran = self.syscall.monotonic().saturating_sub(slew.start);
        let late = ran.saturating_sub(slew.duration).as_secs_f64();
        Ok(late * slew.rate_ppm * 1e-6)
    }

    /// Correct `offset` seconds with the kernel's own `adjtime` (500 ppm,
    /// it stops by itself): for the little a late slew end overshot.
    fn adjtime(&mut self, offset: f64) -> Result<(), ClockError> {
        let mut timex = empty_timex();
        timex.modes = libc::ADJ_OFFSET_SINGLESHOT;
        timex.offset = (offset * 1e6).round() as libc::c_long;
        if timex.offset == 0 {
            return Ok(());
        }
        self.call("slewing the clock", &mut timex).map(drop)
    }

    /// The injected system call (tests read what it recorded).
    pub fn syscall(&self) -> &A {
        &self.syscall
    }

    fn call(
        &mut self,
        operation: &'static str,
        timex: &mut libc::timex,
    ) -> Result<libc::c_int, ClockError> {
        self.syscall.adjtimex(timex).map_err(|source| {
            if source.raw_os_error() == Some(libc::EPERM) {
                ClockError::Permission { operation }
            } else {
                ClockError::Io { operation, source }
            }
        })
    }

    /// Read the kernel's state without changing it.
    pub fn state(&mut self) -> Result<KernelState, ClockError> {
        let mut timex = empty_timex();
        self.call("reading the clock state", &mut timex)?;
        let tick_ppm = (timex.tick - self.nominal_tick) as f64 * ppm_per_tick_us(self.nominal_tick);
        Ok(KernelState {
            frequency_ppm: tick_ppm + timex.freq as f64 / FREQ_SCALE,
            max_error: timex.maxerror as f64 / 1e6,
            est_error: timex.esterror as f64 / 1e6,
            status: timex.status,
        })
    }
}

impl<A: Adjtimex> Clock for SystemClock<A> {
    type Error = ClockError;

    fn now(&self) -> Result<NtpTimestamp, ClockError> {
        Ok(NtpTimestamp::from_system_time(std::time::SystemTime::now()))
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.frequency_ppm = ppm;
        let slew = self.slew.map_or(0.0, |s| s.rate_ppm);
        self.write_frequency(ppm + slew)
    }

    fn slew(&mut self, offset: NtpDuration, max_rate_ppm: f64) -> Result<(), ClockError> {
        // What the last slew overshot is part of what remains to do.
        let offset = offset.to_seconds_f64() - self.end_slew()?;
        let room = (MAX_TOTAL_PPM - self.frequency_ppm.abs()).max(0.0);
        let rate = max_rate_ppm.abs().min(room);
        if offset == 0.0 || rate == 0.0 {
            return Ok(());
        }
        let rate_ppm = rate.copysign(offset);
        self.slew = Some(FrequencySlew {
            start: self.syscall.monotonic(),
            duration: Duration::from_secs_f64(offset.abs() / (rate * 1e-6)),
            rate_ppm,
        });
        self.write_frequency(self.frequency_ppm + rate_ppm)
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        // A step settles everything: no slew continues past it.
        self.end_slew()?;
        let nanos = offset.to_nanos();
        let mut timex = empty_timex();
        timex.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
        // With ADJ_NANO, tv_usec holds nanoseconds, always non-negative.
        timex.time.tv_sec = nanos.div_euclid(1_000_000_000) as libc::time_t;
        timex.time.tv_usec = nanos.rem_euclid(1_000_000_000) as libc::suseconds_t;
        self.call("stepping the clock", &mut timex).map(drop)
    }

    fn set_status(&mut self, status: &SyncStatus) -> Result<(), ClockError> {
        let mut timex = empty_timex();
        self.call("reading the clock status", &mut timex)?;
        let mut bits = timex.status & !(libc::STA_INS | libc::STA_DEL);
        match status.leap {
            LeapIndicator::InsertSecond if status.synchronized => bits |= libc::STA_INS,
            LeapIndicator::DeleteSecond if status.synchronized => bits |= libc::STA_DEL,
            _ => {}
        }
        if status.synchronized && self.rtcsync {
            bits &= !libc::STA_UNSYNC;
        } else {
            bits |= libc::STA_UNSYNC;
        }
        let micros = |seconds: f64| (seconds * 1e6).clamp(0.0, MAX_ERROR_US) as libc::c_long;
        let mut timex = empty_timex();
        timex.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR | libc::ADJ_ESTERROR;
        timex.status = bits;
        timex.maxerror = if status.synchronized {
            micros(status.max_error)
        } else {
            MAX_ERROR_US as libc::c_long
        };
        timex.esterror = micros(status.est_error);
        self.call("setting the clock status", &mut timex).map(drop)
    }
}

/// What the driver needs of a clock beyond [`Clock`]: reading the kernel's
/// packet timestamps (taken on the system clock) on it, and a timer for
/// the clock's own work (the end of a slew).
pub trait DriverClock: Clock {
    /// This clock's time when the system clock read `system`.
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp;

    /// How long until [`Self::handle_timeout`] is due (none: no timer).
    fn poll_timeout(&self) -> Option<Duration> {
        None
    }

    /// Do what is due (end a slew).
    fn handle_timeout(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl<A: Adjtimex> DriverClock for SystemClock<A> {
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp {
        system
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let slew = self.slew?;
        let ran = self.syscall.monotonic().saturating_sub(slew.start);
        Some(slew.duration.saturating_sub(ran))
    }

    fn handle_timeout(&mut self) -> Result<(), ClockError> {
        if self.poll_timeout() == Some(Duration::ZERO) {
            let overshot = self.end_slew()?;
            self.adjtime(-overshot)?;
        }
        Ok(())
    }
}

/// A source of the underlying time for a [`VirtualClock`].
pub trait TimeSource {
    /// The time now.
    fn now(&self) -> NtpTimestamp;
}

/// The system's real-time clock, read only.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimeSource;

impl TimeSource for SystemTimeSource {
    fn now(&self) -> NtpTimestamp {
        NtpTimestamp::from_system_time(std::time::SystemTime::now())
    }
}

impl<F: Fn() -> NtpTimestamp> TimeSource for F {
    fn now(&self) -> NtpTimestamp {
        self()
    }
}

/// A clock in software: an underlying time plus an offset that the
/// discipline's frequency, slews and steps change. The kernel is never
/// touched, so it runs without privileges next to any other time daemon.
/// It keeps the status it is given (for `timedatectl`'s answer) but does
/// not insert or delete a leap second itself: after one, the discipline
/// corrects the second like any other offset (as under `chronyd -x`).
///
/// ```
/// use ntpkit::clock::Clock;
/// use ntpkit::std::clock::VirtualClock;
/// use ntpkit::time::NtpDuration;
///
/// let mut clock = VirtualClock::new();
/// clock.step(NtpDuration::from_seconds(3600)).unwrap();
/// let ahead = clock.now().unwrap() - ntpkit::time::NtpTimestamp::from_system_time(std::time::SystemTime::now());
/// assert!((ahead.to_seconds_f64() - 3600.0).abs() < 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock<S = SystemTimeSource> {
    source: S,
    /// Underlying time when the state below was last brought up to date.
    anchor: NtpTimestamp,
    /// Virtual minus underlying time at `anchor`.
    offset: NtpDuration,
    frequency_ppm: f64,
    /// Offset still to slew, seconds, and the rate, ppm (positive).
    slew_remaining: f64,
    slew_rate_ppm: f64,
    /// The last status and the underlying time it was set.
    status: Option<(SyncStatus, NtpTimestamp)>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}

impl VirtualClock {
    /// A virtual clock over the system time, starting equal to it.
    pub fn new() -> Self {
        VirtualClock::with_source(SystemTimeSource)
    }
}

/// How fast the kernel lets `maxerror` grow while nobody updates it: 500
/// ppm (`MAXFREQ`), up to 16 s.
const MAX_ERROR_GROWTH: f64 = 500e-6;

impl<S: TimeSource> VirtualClock<S> {
    /// A virtual clock over an injected time source, starting equal to it.
    pub fn with_source(source: S) -> Self {
        let anchor = source.now();
        VirtualClock {
            source,
            anchor,
            offset: NtpDuration::ZERO,
            frequency_ppm: 0.0,
            slew_remaining: 0.0,
            slew_rate_ppm: 0.0,
            status: None,
        }
    }

    /// The offset (virtual minus underlying) and remaining slew at `now`.
    fn advance(&self, now: NtpTimestamp) -> (NtpDuration, f64) {
        let elapsed = (now - self.anchor).to_seconds_f64().max(0.0);
        let slewable = elapsed * self.slew_rate_ppm * 1e-6;
        let slewed = self.slew_remaining.clamp(-slewable, slewable);
        let drift = elapsed * self.frequency_ppm * 1e-6;
        let offset = self.offset + NtpDuration::from_seconds_f64(drift + slewed);
        (offset, self.slew_remaining - slewed)
    }

    /// Bring the state up to the underlying time now.
    fn settle(&mut self) {
        let now = self.source.now();
        let (offset, remaining) = self.advance(now);
        self.anchor = now;
        self.offset = offset;
        self.slew_remaining = remaining;
    }

    /// The virtual clock's offset from the underlying time now.
    pub fn offset(&self) -> NtpDuration {
        self.advance(self.source.now()).0
    }

    /// The frequency correction in force, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.frequency_ppm
    }

    /// The status last set, with its maximum error grown since as the
    /// kernel grows it (500 ppm, up to 16 s); unsynchronised before any.
    pub fn sync_status(&self) -> SyncStatus {
        let Some((status, set_at)) = self.status else {
            return SyncStatus {
                synchronized: false,
                max_error: TimedatectlReport::MAX_ERROR_LIMIT,
                est_error: TimedatectlReport::MAX_ERROR_LIMIT,
                leap: LeapIndicator::Unsynchronized,
            };
        };
        let elapsed = (self.source.now() - set_at).to_seconds_f64().max(0.0);
        let max_error =
            (status.max_error + elapsed * MAX_ERROR_GROWTH).min(TimedatectlReport::MAX_ERROR_LIMIT);
        SyncStatus {
            max_error,
            ..status
        }
    }

    /// What `timedatectl` would say about this clock.
    pub fn timedatectl(&self) -> TimedatectlReport {
        TimedatectlReport::from_status(&self.sync_status(), Some(self.virtual_now()))
    }

    fn virtual_now(&self) -> NtpTimestamp {
        let now = self.source.now();
        now + self.advance(now).0
    }
}

impl<S: TimeSource> Clock for VirtualClock<S> {
    type Error = core::convert::Infallible;

    fn now(&self) -> Result<NtpTimestamp, Self::Error> {
        Ok(self.virtual_now())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error> {
        self.settle();
        self.frequency_ppm = ppm;
        Ok(())
    }

    fn slew(&mut self, offset: NtpDuration, max_rate_ppm: f64) -> Result<(), Self::Error> {
        self.settle();
        self.slew_remaining = offset.to_seconds_f64();
        self.slew_rate_ppm = max_rate_ppm.abs();
        Ok(())
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), Self::Error> {
        self.settle();
        self.offset = self.offset + offset;
        Ok(())
    }

    fn set_status(&mut self, status: &SyncStatus) -> Result<(), Self::Error> {
        self.status = Some((*status, self.source.now()));
        Ok(())
    }
}

/// The underlying time is the system's, so a kernel timestamp maps by
/// the virtual offset at that moment. Slews are exact: no timer.
impl<S: TimeSource> DriverClock for VirtualClock<S> {
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp {
        system + self.advance(system).0
    }
}

#[cfg(test)]
mod tests;
