//! Clocks the discipline can steer: the Linux system clock through
//! `clock_adjtime(2)`, and a virtual clock in software that never touches
//! the kernel (the examples' default, like `chronyd -x`).
//!
//! # [`SystemClock`]
//! The kernel is injected ([`Kernel`]: `clock_adjtime(2)` and
//! `clock_gettime(CLOCK_REALTIME)`): [`LinuxKernel`] calls the real one,
//! tests pass a recorder and check the exact `timex` values, and the
//! simulator passes a simulated kernel with Linux's semantics.
//! - **frequency**: the kernel's `freq` field reaches only ±500 ppm, so the
//!   correction is split as chronyd does: whole 100 ppm steps (at
//!   `USER_HZ` 100) go into the tick length (`ADJ_TICK`, ±10 %), the rest
//!   into `freq` (`ADJ_FREQUENCY`, in 2⁻¹⁶ ppm). Slews are frequencies
//!   too (the discipline starts and ends them), so the kernel's own offset
//!   adjustment (`adjtime`) is never used.
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
//! [`SystemClock::check_permission`] finds out at start without changing
//! anything: it writes back the status it has just read.
//!
//! # [`VirtualClock`]
//! The system time (or any injected time source) plus a software offset and
//! frequency. Nothing reaches the kernel. It is portable
//! ([`crate::clock::VirtualClock`], re-exported here); what is Linux's is
//! how kernel timestamps map onto it ([`DriverClock`]).

#![allow(unsafe_code)]

use std::io;

use crate::clock::{Clock, SyncStatus, MAX_ERROR_LIMIT};
pub use crate::clock::{SystemTimeSource, TimeSource, VirtualClock};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;

/// Why a clock operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// The kernel calls a [`SystemClock`] makes, injected so that tests can
/// check what would be passed to the kernel, and the simulator can run a
/// kernel of its own.
pub trait Kernel {
    /// Read and/or change the kernel clock's state as `clock_adjtime(2)` on
    /// `CLOCK_REALTIME` does; returns the clock state (`TIME_OK`, ...).
    fn adjtimex(&mut self, timex: &mut libc::timex) -> io::Result<libc::c_int>;

    /// `CLOCK_REALTIME` now.
    fn realtime(&self) -> NtpTimestamp;
}

/// The real kernel: `clock_adjtime(CLOCK_REALTIME, ...)` and the system
/// time.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxKernel;

impl Kernel for LinuxKernel {
    fn adjtimex(&mut self, timex: &mut libc::timex) -> io::Result<libc::c_int> {
        // SAFETY: `timex` is a valid, exclusively borrowed `struct timex`.
        let state = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, timex) };
        if state < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(state)
        }
    }

    fn realtime(&self) -> NtpTimestamp {
        NtpTimestamp::from_system_time(std::time::SystemTime::now())
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

/// The Linux system clock, steered through a [`Kernel`].
#[derive(Debug)]
pub struct SystemClock<K = LinuxKernel> {
    kernel: K,
    /// Microseconds per tick at frequency 0 (10000 at USER_HZ 100).
    nominal_tick: libc::c_long,
    rtcsync: bool,
}

/// Parts per million per microsecond of tick length.
fn ppm_per_tick_us(nominal_tick: libc::c_long) -> f64 {
    1e6 / nominal_tick as f64
}

/// The kernel's `freq` unit: 2⁻¹⁶ ppm.
const FREQ_SCALE: f64 = 65536.0;

/// The kernel's limit for `maxerror` and `esterror`: 16 s in microseconds.
const MAX_ERROR_US: f64 = MAX_ERROR_LIMIT * 1e6;

impl SystemClock<LinuxKernel> {
    /// The real system clock. `rtcsync`: chrony's directive of that name
    /// (clear `STA_UNSYNC` when synchronised, so the kernel keeps the RTC
    /// in step).
    pub fn new(rtcsync: bool) -> Self {
        SystemClock::with_kernel(LinuxKernel, rtcsync)
    }
}

impl<K: Kernel> SystemClock<K> {
    /// A system clock over an injected kernel, at `USER_HZ` 100 (what
    /// Linux's adjtimex interface uses on every architecture).
    pub fn with_kernel(kernel: K, rtcsync: bool) -> Self {
        SystemClock {
            kernel,
            nominal_tick: 10_000,
            rtcsync,
        }
    }

    /// Whether this process may change the system clock, found out
    /// without changing it: the status is read, and the same bits are
    /// written back. Without `CAP_SYS_TIME` that write fails (EPERM), and
    /// the error says so. (A capability read from `/proc` would not be the
    /// truth under a libc-level simulator, nor where `/proc` is not mounted.)
    pub fn check_permission(&mut self) -> Result<(), ClockError> {
        let mut timex = empty_timex();
        self.call("reading the clock status", &mut timex)?;
        let mut write = empty_timex();
        write.modes = libc::ADJ_STATUS;
        write.status = timex.status;
        self.call("steering the system clock", &mut write).map(drop)
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

    /// The injected kernel (tests read what it recorded).
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The injected kernel, to change (the simulator advances its time).
    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    fn call(
        &mut self,
        operation: &'static str,
        timex: &mut libc::timex,
    ) -> Result<libc::c_int, ClockError> {
        self.kernel.adjtimex(timex).map_err(|source| {
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

impl<K: Kernel> Clock for SystemClock<K> {
    type Error = ClockError;

    fn now(&self) -> Result<NtpTimestamp, ClockError> {
        Ok(self.kernel.realtime())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        self.write_frequency(ppm)
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
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
/// packet timestamps (taken on the system clock) on it, and turning an
/// interval of its time into one of the system's (what `poll(2)` waits).
pub trait DriverClock: Clock {
    /// This clock's time when the system clock read `system`.
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp;

    /// How long the system clock takes to count `seconds` of this clock.
    fn system_interval(&self, seconds: f64) -> f64 {
        seconds
    }

    /// The frequency correction the clock runs at now, ppm, if it can be
    /// read (the rate changes the driver makes are measured from it).
    fn current_frequency_ppm(&mut self) -> Option<f64> {
        None
    }
}

impl<K: Kernel> DriverClock for SystemClock<K> {
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp {
        system
    }

    fn current_frequency_ppm(&mut self) -> Option<f64> {
        self.state().ok().map(|state| state.frequency_ppm)
    }
}

/// The underlying time is the system's, so a kernel timestamp maps by the
/// virtual offset at that moment; the virtual clock counts `1 + frequency`
/// of the system's seconds per second.
impl<S: TimeSource> DriverClock for VirtualClock<S> {
    fn at_system_time(&self, system: NtpTimestamp) -> NtpTimestamp {
        self.at(system)
    }

    fn system_interval(&self, seconds: f64) -> f64 {
        seconds / (1.0 + self.frequency_ppm() * 1e-6)
    }

    fn current_frequency_ppm(&mut self) -> Option<f64> {
        Some(self.frequency_ppm())
    }
}

#[cfg(test)]
mod tests;
