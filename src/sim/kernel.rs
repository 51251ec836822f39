//! A simulated Linux kernel clock, behind the same [`Kernel`] interface as
//! the real one, so that a simulated node steers it through the
//! production [`SystemClock`](crate::linux::clock::SystemClock).
//!
//! What it does, as Linux (and chrony's clknetsim) do:
//! - `CLOCK_REALTIME` counts `(1 + natural error) · (tick / 10000 + freq /
//!   2¹⁶ ppm)` seconds per true second: `ADJ_TICK` and `ADJ_FREQUENCY`
//!   take effect at the moment of the call; the tick must stay within ±10 %
//!   of 10000 µs and `freq` within ±500 ppm, else `EINVAL`;
//! - `ADJ_SETOFFSET` (with `ADJ_NANO`) steps the clock;
//! - `ADJ_STATUS`, `ADJ_MAXERROR`, `ADJ_ESTERROR` set the status; the
//!   kernel grows `maxerror` by 500 µs a second up to 16 s, and sets
//!   `STA_UNSYNC` when it gets there;
//! - with `STA_INS` (`STA_DEL`) set, the clock goes back (forward) one
//!   second at the next UTC midnight of its own time;
//! - any other mode is refused (`EINVAL`): the production clock must not
//!   need more than this.
//!
//! The natural frequency error takes a random walk, one step a second
//! ([`SimKernel::wander`]), as in chrony's test suite.

use std::io;

use crate::clock::MAX_ERROR_LIMIT;
use crate::linux::clock::Kernel;
use crate::time::{NtpDuration, NtpTimestamp};

use super::SimRng;

/// Nominal tick length, µs (`USER_HZ` 100).
const NOMINAL_TICK: libc::c_long = 10_000;
/// The kernel's `freq` unit: 2⁻¹⁶ ppm.
const FREQ_SCALE: f64 = 65536.0;
/// How fast the kernel grows `maxerror`, s/s (`MAXFREQ`, 500 ppm).
const MAX_ERROR_GROWTH: f64 = 500e-6;

/// The simulated kernel clock of one node.
#[derive(Debug, Clone)]
pub struct SimKernel {
    /// True UTC at true time 0 (without leap seconds).
    epoch: NtpTimestamp,
    /// True seconds since the start.
    t: f64,
    /// How far the clock is ahead of the uniform time scale, seconds.
    offset: f64,
    /// The natural frequency error, s/s (positive: fast).
    natural: f64,
    wander: f64,
    tick: libc::c_long,
    freq: libc::c_long,
    status: libc::c_int,
    /// Seconds.
    max_error: f64,
    est_error: libc::c_long,
    /// Sum of all steps (`ADJ_SETOFFSET`, leap seconds, from outside).
    stepped: f64,
    leap_day: Option<i64>,
    /// Calls that changed something.
    changes: u64,
}

impl SimKernel {
    /// A clock `offset` seconds ahead of true time at the start (`epoch`),
    /// running fast by `natural` (s/s), whose frequency error takes a
    /// random walk of `wander`·N(0,1) per second.
    pub fn new(epoch: NtpTimestamp, offset: f64, natural: f64, wander: f64) -> SimKernel {
        SimKernel {
            epoch,
            t: 0.0,
            offset,
            natural,
            wander,
            tick: NOMINAL_TICK,
            freq: 0,
            status: libc::STA_UNSYNC,
            max_error: MAX_ERROR_LIMIT,
            est_error: (MAX_ERROR_LIMIT * 1e6) as libc::c_long,
            stepped: 0.0,
            leap_day: None,
            changes: 0,
        }
    }

    /// A perfect clock (a reference server's), `offset` seconds off.
    pub fn perfect(epoch: NtpTimestamp, offset: f64) -> SimKernel {
        SimKernel::new(epoch, offset, 0.0, 0.0)
    }

    /// The frequency correction in effect, s/s (tick and `freq`).
    pub fn correction(&self) -> f64 {
        (self.tick - NOMINAL_TICK) as f64 / NOMINAL_TICK as f64
            + self.freq as f64 / FREQ_SCALE * 1e-6
    }

    /// The clock's rate error now, s/s: how much faster than true time it
    /// counts (natural error and correction, slews included).
    pub fn rate_error(&self) -> f64 {
        (1.0 + self.natural) * (1.0 + self.correction()) - 1.0
    }

    /// How far the clock is ahead of the uniform time scale, seconds.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Sum of all steps so far, seconds.
    pub fn stepped(&self) -> f64 {
        self.stepped
    }

    /// Whether a leap second was inserted or deleted.
    pub fn leap_applied(&self) -> bool {
        self.leap_day.is_some()
    }

    /// The `maxerror` the kernel holds now, seconds.
    pub fn max_error(&self) -> f64 {
        self.max_error
    }

    /// Whether `STA_UNSYNC` is set.
    pub fn unsynchronized(&self) -> bool {
        self.status & libc::STA_UNSYNC != 0
    }

    /// `adjtimex` calls that changed something.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Lets `dt` true seconds pass.
    pub fn advance(&mut self, dt: f64) {
        if dt <= 0.0 {
            return;
        }
        let day_before = self.local_day();
        self.t += dt;
        self.offset += dt * self.rate_error();
        self.max_error = (self.max_error + dt * MAX_ERROR_GROWTH).min(MAX_ERROR_LIMIT);
        if self.max_error >= MAX_ERROR_LIMIT {
            self.status |= libc::STA_UNSYNC;
        }
        let day_after = self.local_day();
        if day_after != day_before && self.leap_day != Some(day_after) {
            let step = if self.status & libc::STA_INS != 0 {
                -1.0
            } else if self.status & libc::STA_DEL != 0 {
                1.0
            } else {
                0.0
            };
            if step != 0.0 {
                self.leap_day = Some(day_after);
                self.offset += step;
                self.stepped += step;
            }
        }
    }

    /// One second of wander of the natural frequency.
    pub fn wander(&mut self, rng: &mut SimRng) {
        if self.wander != 0.0 {
            self.natural += self.wander * rng.normal();
        }
    }

    /// Steps the clock from outside (an operator).
    pub fn step_external(&mut self, offset: f64) {
        self.offset += offset;
        self.stepped += offset;
    }

    fn local_day(&self) -> i64 {
        self.realtime()
            .to_unix(NtpTimestamp::DEFAULT_PIVOT)
            .secs
            .div_euclid(86_400)
    }
}

fn invalid() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

impl Kernel for SimKernel {
    fn adjtimex(&mut self, timex: &mut libc::timex) -> io::Result<libc::c_int> {
        let modes = timex.modes;
        let known = libc::ADJ_FREQUENCY
            | libc::ADJ_TICK
            | libc::ADJ_SETOFFSET
            | libc::ADJ_NANO
            | libc::ADJ_STATUS
            | libc::ADJ_MAXERROR
            | libc::ADJ_ESTERROR;
        if modes & !known != 0 {
            return Err(invalid());
        }
        if modes & libc::ADJ_TICK != 0 && (timex.tick - NOMINAL_TICK).abs() > NOMINAL_TICK / 10 {
            return Err(invalid());
        }
        if modes & libc::ADJ_FREQUENCY != 0
            && (timex.freq as f64 / FREQ_SCALE).abs() > 500.0 + 1.0 / FREQ_SCALE
        {
            return Err(invalid());
        }
        if modes != 0 {
            self.changes += 1;
        }
        if modes & libc::ADJ_TICK != 0 {
            self.tick = timex.tick;
        }
        if modes & libc::ADJ_FREQUENCY != 0 {
            self.freq = timex.freq;
        }
        if modes & libc::ADJ_SETOFFSET != 0 {
            let unit = if modes & libc::ADJ_NANO != 0 {
                1e-9
            } else {
                1e-6
            };
            let step = timex.time.tv_sec as f64 + timex.time.tv_usec as f64 * unit;
            self.offset += step;
            self.stepped += step;
        }
        if modes & libc::ADJ_STATUS != 0 {
            self.status = timex.status;
        }
        if modes & libc::ADJ_MAXERROR != 0 {
            self.max_error = (timex.maxerror as f64 * 1e-6).min(MAX_ERROR_LIMIT);
        }
        if modes & libc::ADJ_ESTERROR != 0 {
            self.est_error = timex.esterror;
        }
        timex.tick = self.tick;
        timex.freq = self.freq;
        timex.status = self.status;
        timex.maxerror = (self.max_error * 1e6) as libc::c_long;
        timex.esterror = self.est_error;
        Ok(libc::TIME_OK)
    }

    fn realtime(&self) -> NtpTimestamp {
        self.epoch
            + NtpDuration::from_seconds_f64(self.t)
            + NtpDuration::from_seconds_f64(self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ClockAction};
    use crate::linux::clock::SystemClock;

    #[test]
    fn the_production_clock_steers_it_as_linux_would() {
        let epoch = NtpTimestamp::from_parts(3_900_000_000, 0);
        let mut clock = SystemClock::with_kernel(SimKernel::new(epoch, 0.1, 1e-4, 0.0), false);
        clock.kernel_mut().advance(10.0);
        assert!((clock.kernel().offset() - 0.101).abs() < 1e-12);
        // -100 ppm cancels the natural error (to second order).
        clock
            .apply(&ClockAction::SetFrequency { ppm: -100.0 })
            .unwrap();
        clock.kernel_mut().advance(1000.0);
        // (1 + 1e-4)(1 - 1e-4) = 1 - 1e-8.
        assert!((clock.kernel().offset() - (0.101 - 1e-5)).abs() < 1e-9);
        // A slew is a frequency for a while: +1000 ppm for 10 s.
        clock
            .apply(&ClockAction::SetFrequency { ppm: 900.0 })
            .unwrap();
        clock.kernel_mut().advance(10.0);
        clock
            .apply(&ClockAction::SetFrequency { ppm: -100.0 })
            .unwrap();
        assert!((clock.kernel().offset() - 0.111).abs() < 2e-5);
        clock
            .apply(&ClockAction::Step {
                offset: NtpDuration::from_seconds_f64(-0.111),
            })
            .unwrap();
        assert!(clock.kernel().offset().abs() < 2e-5);
        assert!((clock.kernel().stepped() + 0.111).abs() < 1e-9);
        // Beyond what the tick reaches: refused, as by Linux.
        let mut timex: libc::timex = unsafe_zeroed();
        timex.modes = libc::ADJ_TICK;
        timex.tick = 12_000;
        assert!(clock.kernel_mut().adjtimex(&mut timex).is_err());
    }

    #[test]
    fn max_error_grows_to_unsynchronised() {
        let epoch = NtpTimestamp::from_parts(3_900_000_000, 0);
        let mut kernel = SimKernel::perfect(epoch, 0.0);
        let mut timex: libc::timex = unsafe_zeroed();
        timex.modes = libc::ADJ_STATUS | libc::ADJ_MAXERROR;
        timex.maxerror = 1000;
        timex.status = 0;
        kernel.adjtimex(&mut timex).unwrap();
        assert!(!kernel.unsynchronized());
        kernel.advance(1000.0);
        assert!((kernel.max_error() - 0.501).abs() < 1e-9);
        kernel.advance(40_000.0);
        assert!(kernel.unsynchronized());
    }

    fn unsafe_zeroed() -> libc::timex {
        // SAFETY: `timex` is plain old data; all zero is a valid value.
        #[allow(unsafe_code)]
        unsafe {
            std::mem::zeroed()
        }
    }
}
