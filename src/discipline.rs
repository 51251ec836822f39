//! The clock discipline: a state machine that turns the selected estimate
//! of the clock's offset and frequency error into [`ClockAction`]s.
//!
//! ```text
//!            first update                 frequency known
//!   Unset ─────────────────► Measuring ───────────────────► Tracking
//!     │ (drift file: frequency known)  Frequency                ▲  │
//!     └──────────────────────────────────────────────────────────┘  │
//!                    update                   sources lost          ▼
//!   Tracking / MeasuringFrequency ◄────────────────────────── Holdover
//! ```
//!
//! - **Unset**: no update yet; the clock runs at the loaded drift (or 0).
//! - **MeasuringFrequency**: offsets are corrected but the frequency error is
//!   not known yet (a single sample).
//! - **Tracking**: offset and frequency follow the selected sources.
//! - **Holdover**: sources were lost; the clock keeps its last frequency,
//!   is reported unsynchronised, and its error bound grows.
//!
//! At each update the discipline corrects the whole estimated offset (the
//! rest of the slew in progress plus the new estimate) and the estimated
//! frequency error:
//! - a **step** if `makestep` allows it (over the threshold, within the
//!   first `limit` updates, or always with limit −1);
//! - otherwise a **slew** at a rate that spreads the correction over a
//!   quarter of the update interval (less when the offset is far beyond the
//!   estimate's error), never above `maxslewrate`;
//! - a **frequency** change when the estimate's skew is under
//!   `maxupdateskew`, bounded by `maxdrift`; while the frequency is still a
//!   saved drift whose skew is smaller than the estimate's, the two are
//!   combined weighted by their inverse variances.
//!
//! An offset over the panic threshold, once the clock has been
//! synchronised and `makestep` no longer allows a step, is not corrected:
//! [`update`](Discipline::update) returns [`DisciplineError::PanicThreshold`]
//! and the caller decides.
//!
//! The discipline models its own corrections: a slew of `offset` at `rate`
//! started at local time `t0` has corrected `rate·(t − t0)` by local time
//! `t`: the rate is relative to the clock's own time, which is what
//! [`Clock::slew`](crate::clock::Clock::slew) implementations do.

use crate::clock::{ClockAction, SyncStatus};
use crate::system::{Drift, SystemConfig};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;
#[cfg(not(feature = "std"))]
use num_traits::Float;

/// Dispersion the clock gains per second without updates beyond its skew
/// (chrony's `maxclockerror`, 1 ppm).
pub(crate) const MAX_CLOCK_ERROR: f64 = 1e-6;
/// The slew of an update is spread over this fraction of the update
/// interval.
const SLEW_TIME_RATIO: f64 = 0.25;
/// Shortest slew, seconds.
const MIN_SLEW_TIME: f64 = 0.5;
/// The slew rate small corrections keep under, s/s.
const GENTLE_RATE: f64 = 4e-4;
/// Larger corrections are spread over this much time, seconds.
const SLEW_TIME_LARGE: f64 = 4.0;
/// The error bound reported before the first update, seconds.
const UNSET_MAX_ERROR: f64 = 16.0;
/// Room for the actions of a few updates.
const QUEUE: usize = 8;

/// The discipline's states (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DisciplineState {
    /// No update yet.
    Unset,
    /// Offsets corrected, frequency not yet measured.
    MeasuringFrequency,
    /// Following the sources.
    Tracking,
    /// Sources lost: running on the last frequency, unsynchronised.
    Holdover,
}

/// Why an update was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DisciplineError {
    /// The offset is over the panic threshold and may not be stepped.
    #[error("offset of {offset} s exceeds the panic threshold")]
    PanicThreshold {
        /// The offset that would have been corrected, seconds (positive:
        /// the clock is behind).
        offset: f64,
    },
}

/// What the selected sources say about the clock now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Offset still to correct once the slew in progress is done, seconds
    /// (positive: the clock is behind).
    pub offset: f64,
    /// Its standard deviation, seconds.
    pub offset_sd: f64,
    /// Frequency error left, s/s (positive: the clock is slow).
    pub frequency: f64,
    /// Standard error of the frequency, s/s.
    pub skew: f64,
    /// Root delay of the reference we would serve, seconds.
    pub root_delay: f64,
    /// Root dispersion of that reference at the update, seconds.
    pub root_dispersion: f64,
    /// The leap second the sources announce.
    pub leap: LeapIndicator,
}

/// How an update changed the clock, for adjusting stored samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Correction {
    /// How much more the clock will be advanced than before, seconds.
    pub offset: f64,
    /// How much faster it runs from now on, s/s.
    pub frequency: f64,
    /// The step made, if any, seconds.
    pub step: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slew {
    start: NtpTimestamp,
    amount: f64,
    rate: f64,
}

/// The clock-discipline state machine.
#[derive(Debug, Clone)]
pub struct Discipline {
    state: DisciplineState,
    updates: u32,
    /// Frequency correction in effect, ppm (positive: faster).
    frequency_ppm: f64,
    skew_ppm: f64,
    /// The rate error the last update left uncorrected (rejected by
    /// `maxupdateskew`, kept back by a saved drift, or beyond `maxdrift`),
    /// s/s: the error bound grows with it.
    residual_frequency: f64,
    /// The frequency is a saved drift no measurement has beaten yet.
    prior: bool,
    slew: Slew,
    /// What the slews before the current one corrected, seconds.
    slewed_before: f64,
    last_update: Option<NtpTimestamp>,
    update_interval: f64,
    last_offset: f64,
    mean_square_offset: f64,
    root_delay: f64,
    root_dispersion: f64,
    est_error: f64,
    leap: LeapIndicator,
    actions: [Option<ClockAction>; QUEUE],
}

impl Discipline {
    /// A discipline starting from a saved drift (or none), with the
    /// frequency it sets first queued.
    pub fn new(drift: Option<Drift>, config: &SystemConfig) -> Discipline {
        let limit = config.maxdrift_ppm.abs();
        let (frequency_ppm, skew_ppm) = match drift {
            Some(d) => ((-d.frequency_ppm).clamp(-limit, limit), d.skew_ppm),
            None => (0.0, 1e6),
        };
        let mut discipline = Discipline {
            state: DisciplineState::Unset,
            updates: 0,
            frequency_ppm,
            skew_ppm,
            residual_frequency: 0.0,
            prior: drift.is_some(),
            slew: Slew::default(),
            slewed_before: 0.0,
            last_update: None,
            update_interval: 0.0,
            last_offset: 0.0,
            mean_square_offset: 0.0,
            root_delay: 0.0,
            root_dispersion: 0.0,
            est_error: 0.0,
            leap: LeapIndicator::NoWarning,
            actions: [None; QUEUE],
        };
        discipline.push(ClockAction::SetFrequency { ppm: frequency_ppm });
        discipline
    }

    fn push(&mut self, action: ClockAction) {
        if self.actions[QUEUE - 1].is_some() {
            self.actions.copy_within(1.., 0);
            self.actions[QUEUE - 1] = None;
        }
        if let Some(slot) = self.actions.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(action);
        }
    }

    /// The next action for the clock, oldest first.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        let action = self.actions[0].take();
        if action.is_some() {
            self.actions.copy_within(1.., 0);
            self.actions[QUEUE - 1] = None;
        }
        action
    }

    /// The state now.
    pub fn state(&self) -> DisciplineState {
        self.state
    }

    /// Whether the clock follows its sources.
    pub fn is_synchronized(&self) -> bool {
        matches!(
            self.state,
            DisciplineState::MeasuringFrequency | DisciplineState::Tracking
        )
    }

    /// The part of the slew in progress still to come at `now`, seconds
    /// (positive: the clock will be advanced).
    pub fn pending(&self, now: NtpTimestamp) -> f64 {
        let Slew {
            start,
            amount,
            rate,
        } = self.slew;
        if amount == 0.0 {
            return 0.0;
        }
        let elapsed = (now - start).to_seconds_f64().max(0.0);
        let done = rate * elapsed;
        (amount.abs() - done).max(0.0).copysign(amount)
    }

    /// Everything slewed so far at `now`, seconds (positive: advanced).
    /// Local time less this runs at a constant rate between frequency
    /// changes: the time scale the statistics are kept in.
    pub fn slewed(&self, now: NtpTimestamp) -> f64 {
        self.slewed_before + (self.slew.amount - self.pending(now))
    }

    /// Corrects the clock for `estimate` at local time `now`.
    pub fn update(
        &mut self,
        now: NtpTimestamp,
        estimate: &Estimate,
        config: &SystemConfig,
    ) -> Result<Correction, DisciplineError> {
        let pending = self.pending(now);
        let total = pending + estimate.offset;
        let may_step = config.makestep.is_some_and(|m| {
            (m.limit < 0 || (self.updates as i64) < m.limit as i64) && total.abs() > m.threshold
        });
        let ever_synchronized = self.updates > 0;
        if let Some(threshold) = config.panic_threshold {
            if !may_step && ever_synchronized && total.abs() > threshold {
                return Err(DisciplineError::PanicThreshold { offset: total });
            }
        }
        let mut correction = Correction {
            offset: estimate.offset,
            ..Correction::default()
        };
        let skew_ppm = estimate.skew * 1e6;
        // The estimate is a slope against the clock's own time; the
        // clock's rate error in true time is `-slope / (1 + slope)`.
        let slope = estimate.frequency;
        let rate_error = -slope / (1.0 + slope);
        if skew_ppm <= config.maxupdateskew_ppm {
            // A saved drift better than the measurement is kept in part.
            let gain = if self.prior && self.skew_ppm < skew_ppm {
                let (prior, measured) = (self.skew_ppm.powi(2), skew_ppm.powi(2));
                self.skew_ppm = (prior * measured / (prior + measured)).sqrt();
                prior / (prior + measured)
            } else {
                self.prior = false;
                self.skew_ppm = skew_ppm;
                1.0
            };
            let limit = config.maxdrift_ppm.abs();
            let new = (self.frequency_ppm - gain * rate_error * 1e6).clamp(-limit, limit);
            let rate_left = rate_error + (new - self.frequency_ppm) * 1e-6;
            correction.frequency = slope + rate_left / (1.0 + rate_left);
            self.residual_frequency = rate_left.abs();
            self.frequency_ppm = new;
            self.state = DisciplineState::Tracking;
            self.push(ClockAction::SetFrequency { ppm: new });
        } else {
            self.residual_frequency = rate_error.abs();
        }
        if self.state != DisciplineState::Tracking {
            self.state = if self.skew_ppm <= config.maxupdateskew_ppm {
                DisciplineState::Tracking
            } else {
                DisciplineState::MeasuringFrequency
            };
        }
        if let Some(interval) = self.last_update.map(|t| (now - t).to_seconds_f64()) {
            self.update_interval = interval.max(0.0);
        }
        let max_rate = config.maxslewrate_ppm.abs() * 1e-6;
        if may_step {
            self.push(ClockAction::Slew {
                offset: NtpDuration::ZERO,
                max_rate_ppm: config.maxslewrate_ppm,
            });
            self.push(ClockAction::Step {
                offset: NtpDuration::from_seconds_f64(total),
            });
            self.slewed_before = self.slewed(now);
            self.slew = Slew::default();
            correction.step = Some(total);
        } else {
            // Offsets well beyond the estimate's error are corrected sooner.
            let confidence = (3.0 * estimate.offset_sd / total.abs()).min(1.0);
            let time = (self.update_interval * SLEW_TIME_RATIO * confidence).max(MIN_SLEW_TIME);
            // Small corrections never change the rate by more than
            // GENTLE_RATE (they take at least 2.5 s); larger ones take
            // at most SLEW_TIME_LARGE unless maxslewrate forbids.
            let gentle = GENTLE_RATE.max(total.abs() / SLEW_TIME_LARGE);
            let rate = (total.abs() / time).min(gentle).min(max_rate);
            self.slewed_before = self.slewed(now);
            self.slew = Slew {
                start: now,
                amount: total,
                rate,
            };
            self.push(ClockAction::Slew {
                offset: NtpDuration::from_seconds_f64(total),
                max_rate_ppm: rate * 1e6,
            });
        }
        let now = now + NtpDuration::from_seconds_f64(correction.step.unwrap_or(0.0));
        self.updates = self.updates.saturating_add(1);
        self.last_update = Some(now);
        self.last_offset = estimate.offset;
        self.mean_square_offset = if self.updates == 1 {
            total * total
        } else {
            0.9 * self.mean_square_offset + 0.1 * estimate.offset * estimate.offset
        };
        self.root_delay = estimate.root_delay;
        self.root_dispersion = estimate.root_dispersion;
        self.est_error = estimate.offset_sd;
        self.leap = estimate.leap;
        let status = self.sync_status(now);
        self.push(ClockAction::SetStatus(status));
        Ok(correction)
    }

    /// No source can be selected: keep the frequency and report the clock
    /// unsynchronised.
    pub fn lose_sync(&mut self, now: NtpTimestamp) {
        if self.is_synchronized() {
            self.state = DisciplineState::Holdover;
            self.leap = LeapIndicator::NoWarning;
            let status = self.sync_status(now);
            self.push(ClockAction::SetStatus(status));
        }
    }

    /// The clock was stepped by `offset` seconds by someone else: the
    /// reference times move with it.
    pub fn clock_stepped(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        if let Some(t) = &mut self.last_update {
            *t = *t + shift;
        }
        self.slew.start = self.slew.start + shift;
    }

    /// Root dispersion at `now`: the one at the last update grown by the
    /// skew, the rate error left uncorrected and the clock's own error
    /// (as chrony's).
    pub fn root_dispersion(&self, now: NtpTimestamp) -> f64 {
        let age = self
            .last_update
            .map_or(0.0, |t| (now - t).to_seconds_f64().max(0.0));
        let rate = self.skew_ppm.min(1e3) * 1e-6 + self.residual_frequency.min(1.0);
        self.root_dispersion + (rate + MAX_CLOCK_ERROR) * age
    }

    /// Root delay at the last update, seconds.
    pub fn root_delay(&self) -> f64 {
        self.root_delay
    }

    /// The status to give the clock at `now`. Its maximum error is root
    /// delay / 2 + root dispersion (which holds the estimate's own error)
    /// plus the offset still being slewed: the clock reads that much off
    /// until the slew is done.
    pub fn sync_status(&self, now: NtpTimestamp) -> SyncStatus {
        let max_error = if self.last_update.is_some() {
            self.root_delay / 2.0 + self.root_dispersion(now) + self.pending(now).abs()
        } else {
            UNSET_MAX_ERROR
        };
        SyncStatus {
            synchronized: self.is_synchronized(),
            max_error,
            est_error: self.est_error,
            leap: if self.is_synchronized() {
                self.leap
            } else {
                LeapIndicator::NoWarning
            },
        }
    }

    /// The drift to save: chrony's driftfile values (positive frequency:
    /// the clock runs fast without correction).
    pub fn drift(&self) -> Drift {
        Drift {
            frequency_ppm: -self.frequency_ppm,
            skew_ppm: self.skew_ppm,
        }
    }

    /// When the clock was last updated (local time).
    pub fn last_update(&self) -> Option<NtpTimestamp> {
        self.last_update
    }

    /// Seconds between the last two updates.
    pub fn update_interval(&self) -> f64 {
        self.update_interval
    }

    /// Offset corrected at the last update, seconds (positive: behind).
    pub fn last_offset(&self) -> f64 {
        self.last_offset
    }

    /// Long-term RMS of the offsets at updates, seconds.
    pub fn rms_offset(&self) -> f64 {
        self.mean_square_offset.sqrt()
    }

    /// The leap second announced at the last update.
    pub fn leap(&self) -> LeapIndicator {
        self.leap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::MakeStep;

    fn at(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(5000.0 + seconds)
    }

    fn estimate(offset: f64, frequency: f64, skew: f64) -> Estimate {
        Estimate {
            offset,
            offset_sd: 1e-5,
            frequency,
            skew,
            root_delay: 1e-3,
            root_dispersion: 1e-3,
            leap: LeapIndicator::NoWarning,
        }
    }

    fn drain(discipline: &mut Discipline) -> ([Option<ClockAction>; QUEUE], usize) {
        let mut out = [None; QUEUE];
        let mut n = 0;
        while let Some(action) = discipline.poll_action() {
            out[n] = Some(action);
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn makestep_then_slew_then_panic() {
        let config = SystemConfig {
            makestep: Some(MakeStep {
                threshold: 1.0,
                limit: 1,
            }),
            ..SystemConfig::default()
        };
        let mut d = Discipline::new(None, &config);
        assert_eq!(d.state(), DisciplineState::Unset);
        let _ = drain(&mut d);
        let c = d
            .update(at(0.0), &estimate(5.0, 0.0, 1.0), &config)
            .unwrap();
        assert_eq!(c.step, Some(5.0));
        assert_eq!(d.state(), DisciplineState::MeasuringFrequency);
        let (actions, n) = drain(&mut d);
        assert!(actions[..n]
            .iter()
            .any(|a| matches!(a, Some(ClockAction::Step { offset })
            if (offset.to_seconds_f64() - 5.0).abs() < 1e-9)));
        // Past the step limit, offsets are slewed and bounded in rate.
        let c = d
            .update(at(64.0), &estimate(2.0, 1e-5, 1e-7), &config)
            .unwrap();
        assert_eq!(c.step, None);
        assert_eq!(d.state(), DisciplineState::Tracking);
        assert!((d.drift().frequency_ppm + 10.0).abs() < 1e-3);
        let (actions, n) = drain(&mut d);
        let slew = actions[..n]
            .iter()
            .find_map(|a| match a {
                Some(ClockAction::Slew { max_rate_ppm, .. }) => Some(*max_rate_ppm),
                _ => None,
            })
            .unwrap();
        assert!(slew <= config.maxslewrate_ppm);
        assert!(d.pending(at(64.0)) > 1.99);
        // Over the panic threshold: an error, nothing done.
        assert_eq!(
            d.update(at(128.0), &estimate(2000.0, 0.0, 1e-7), &config),
            Err(DisciplineError::PanicThreshold {
                offset: 2000.0 + d.pending(at(128.0))
            })
        );
        assert_eq!(drain(&mut d).1, 0);
        d.lose_sync(at(200.0));
        assert_eq!(d.state(), DisciplineState::Holdover);
        assert!(!d.sync_status(at(200.0)).synchronized);
    }

    #[test]
    fn max_error_holds_what_is_left_uncorrected() {
        let config = SystemConfig {
            maxupdateskew_ppm: 100.0,
            ..SystemConfig::default()
        };
        let mut d = Discipline::new(None, &config);
        // A 5 % frequency error the skew gate refuses to correct, and an
        // offset of 0.5 s still being slewed.
        d.update(at(0.0), &estimate(0.5, 0.05, 2e-3), &config)
            .unwrap();
        let status = d.sync_status(at(0.0));
        assert!(status.max_error >= 0.5, "{status:?}");
        // 64 s later the uncorrected 5 % alone is worth over 3 s.
        let status = d.sync_status(at(64.0));
        assert!(status.max_error > 64.0 * 0.05 / 1.05, "{status:?}");
        // Corrected, the bound stays small.
        d.update(at(64.0), &estimate(0.0, 0.0, 1e-6), &config)
            .unwrap();
        assert!(d.sync_status(at(128.0)).max_error < 0.01);
    }

    #[test]
    fn skew_gate_and_maxdrift() {
        let config = SystemConfig {
            maxdrift_ppm: 50.0,
            ..SystemConfig::default()
        };
        let mut d = Discipline::new(
            Some(Drift {
                frequency_ppm: 100.0,
                skew_ppm: 1.0,
            }),
            &config,
        );
        assert_eq!(
            d.poll_action(),
            Some(ClockAction::SetFrequency { ppm: -50.0 })
        );
        let c = d
            .update(at(0.0), &estimate(1e-3, 1e-4, 0.01), &config)
            .unwrap();
        assert_eq!(c.frequency, 0.0);
        let c = d
            .update(at(64.0), &estimate(1e-3, -1e-4, 1e-7), &config)
            .unwrap();
        assert_eq!(c.frequency, 0.0); // already at -50 ppm
        assert_eq!(d.drift().frequency_ppm, 50.0);
    }
}
