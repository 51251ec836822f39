//! A simulated clock that carries out [`ClockAction`]s as a kernel would:
//! a frequency correction, a slew at the requested rate, steps, and the
//! leap second announced in its status.

use crate::clock::{Clock, SyncStatus};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;
use core::convert::Infallible;

use super::SimRng;

/// A clock with a natural frequency error that wanders, disciplined by
/// the actions it is given. Time is counted in true seconds since the
/// start of the simulation.
#[derive(Debug, Clone)]
pub struct SimClock {
    epoch: NtpTimestamp,
    t: f64,
    offset: f64,
    freq_error: f64,
    wander: f64,
    freq_ppm: f64,
    slew_left: f64,
    slew_rate: f64,
    status: SyncStatus,
    leap_day: Option<i64>,
    stepped: f64,
}

impl SimClock {
    /// A clock `offset` seconds ahead of true time at the start (`epoch`),
    /// running fast by `freq_error` (s/s), whose frequency error takes a
    /// random walk of `wander`·N(0,1) per second.
    pub fn new(epoch: NtpTimestamp, offset: f64, freq_error: f64, wander: f64) -> SimClock {
        SimClock {
            epoch,
            t: 0.0,
            offset,
            freq_error,
            wander,
            freq_ppm: 0.0,
            slew_left: 0.0,
            slew_rate: 0.0,
            status: SyncStatus {
                synchronized: false,
                max_error: 16.0,
                est_error: 16.0,
                leap: LeapIndicator::NoWarning,
            },
            leap_day: None,
            stepped: 0.0,
        }
    }

    /// The local time at the current true time.
    pub fn local_time(&self) -> NtpTimestamp {
        self.epoch
            + NtpDuration::from_seconds_f64(self.t)
            + NtpDuration::from_seconds_f64(self.offset)
    }

    /// How far the clock is ahead of the uniform time scale, seconds.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Rate error now, s/s (natural error plus correction, without slew).
    pub fn rate(&self) -> f64 {
        self.freq_error + self.freq_ppm * 1e-6
    }

    /// Rate error now including the slew in progress, s/s.
    pub fn rate_with_slew(&self) -> f64 {
        let slew = if self.slew_left != 0.0 {
            self.slew_rate.copysign(self.slew_left)
        } else {
            0.0
        };
        self.rate() + slew
    }

    /// Sum of all steps so far (made by the discipline, the leap second or
    /// from outside), seconds.
    pub fn stepped(&self) -> f64 {
        self.stepped
    }

    /// The last status the discipline set.
    pub fn status(&self) -> &SyncStatus {
        &self.status
    }

    /// Lets `dt` true seconds pass.
    pub fn advance(&mut self, dt: f64) {
        if dt <= 0.0 {
            return;
        }
        let day_before = self.local_day();
        self.t += dt;
        let natural = dt * self.rate();
        self.offset += natural;
        if self.slew_left != 0.0 {
            // The slew rate is relative to the clock's own time, which the
            // slew itself speeds up or slows down.
            let own = (dt + natural) / (1.0 - self.slew_rate.copysign(self.slew_left));
            let progress = (self.slew_rate * own).min(self.slew_left.abs());
            let progress = progress.copysign(self.slew_left);
            self.offset += progress;
            self.slew_left -= progress;
        }
        let day_after = self.local_day();
        if day_after != day_before && self.leap_day != Some(day_after) {
            let step = match self.status.leap {
                LeapIndicator::InsertSecond => -1.0,
                LeapIndicator::DeleteSecond => 1.0,
                _ => 0.0,
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
            self.freq_error += self.wander * rng.normal();
        }
    }

    /// Whether a leap second was inserted or deleted.
    pub fn leap_applied(&self) -> bool {
        self.leap_day.is_some()
    }

    fn local_day(&self) -> i64 {
        self.local_time()
            .to_unix(NtpTimestamp::DEFAULT_PIVOT)
            .secs
            .div_euclid(86_400)
    }

    /// Steps the clock from outside the discipline (an operator).
    pub fn step_external(&mut self, offset: f64) {
        self.offset += offset;
        self.stepped += offset;
    }
}

impl Clock for SimClock {
    type Error = Infallible;

    fn now(&self) -> Result<NtpTimestamp, Infallible> {
        Ok(self.local_time())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), Infallible> {
        self.freq_ppm = ppm;
        Ok(())
    }

    /// Replaces any slew in progress; slews at `max_rate_ppm` of the
    /// clock's own time until done.
    fn slew(&mut self, offset: NtpDuration, max_rate_ppm: f64) -> Result<(), Infallible> {
        self.slew_left = offset.to_seconds_f64();
        self.slew_rate = max_rate_ppm.abs() * 1e-6;
        Ok(())
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), Infallible> {
        let offset = offset.to_seconds_f64();
        self.offset += offset;
        self.stepped += offset;
        Ok(())
    }

    fn set_status(&mut self, status: &SyncStatus) -> Result<(), Infallible> {
        self.status = *status;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockAction;

    #[test]
    fn carries_out_actions() {
        let epoch = NtpTimestamp::from_parts(3_900_000_000, 0);
        let mut clock = SimClock::new(epoch, 0.1, 1e-4, 0.0);
        clock.advance(10.0);
        assert!((clock.offset() - 0.101).abs() < 1e-12);
        clock
            .apply(&ClockAction::SetFrequency { ppm: -100.0 })
            .unwrap();
        clock
            .apply(&ClockAction::Slew {
                offset: NtpDuration::from_seconds_f64(-0.101),
                max_rate_ppm: 1000.0,
            })
            .unwrap();
        clock.advance(50.0);
        // The slew runs at 1000 ppm of the clock's own (slowed) time.
        assert!((clock.offset() - (0.101 - 0.05 / 1.001)).abs() < 1e-9);
        clock.advance(100.0);
        assert!(clock.offset().abs() < 1e-9);
        clock
            .apply(&ClockAction::Step {
                offset: NtpDuration::from_seconds_f64(2.0),
            })
            .unwrap();
        assert!((clock.offset() - 2.0).abs() < 1e-9);
        assert_eq!(clock.stepped(), 2.0);
    }
}
