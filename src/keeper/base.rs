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
    pub(super) fn new() -> Base {
        Base {
            #[cfg(target_os = "linux")]
            origin: NtpTimestamp::from_system_time(SystemTime::now()),
            #[cfg(target_os = "linux")]
            raw_origin: raw_elapsed(),
        }
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
    let monotonic = read(libc::CLOCK_MONOTONIC);
    let boot = read(libc::CLOCK_BOOTTIME);
    read(libc::CLOCK_MONOTONIC_RAW) + (boot - monotonic)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_base_starts_at_the_system_time_and_runs_with_it() {
        let base = Base::new();
        let system = || NtpTimestamp::from_system_time(SystemTime::now());
        let gap = |a: NtpTimestamp, b: NtpTimestamp| (a - b).to_seconds_f64().abs();
        assert!(gap(base.now(), system()) < 1e-3);
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Raw and system time differ by the system clock's frequency
        // correction (at most 500 ppm, plus a slew): far less than 1 ms
        // here.
        assert!(gap(base.now(), system()) < 1e-3);
    }
}
