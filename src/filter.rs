//! Per-source statistics: a weighted linear regression of the offsets of
//! up to [`MAX_SAMPLES`] samples against time, with chrony's runs test to
//! drop old samples once the clock has wandered away from a straight line.
//!
//! The regression gives the offset of the local clock relative to the
//! source now, its frequency error, and their uncertainties: the values
//! `chronyc sourcestats` prints (samples, runs, span, frequency, skew,
//! offset, standard deviation).
//!
//! **Weights come from the delay.** When the two directions of an exchange
//! take `base + u` and `base + v`, the offset error is `(u − v)/2` and the
//! delay excess over the minimum is `u + v`: a sample with a small excess
//! `s` has an error of at most `s/2` (for independent exponential queueing
//! delays it is uniform on `±s/2`, variance `s²/12`). Weighting each sample
//! by `1/(s²/12 + σ₀²)` lets the few quick exchanges carry the estimate;
//! this is what makes the estimate several times better than an unweighted
//! fit in the simulator (see the `sim` example).
//!
//! **The memory follows the clock's wander.** An old sample's offset has
//! drifted from today's straight line by what the clock's frequency
//! walked since, so it weighs less with its age cubed.
//! How fast a clock walks differs by orders of magnitude (a quiet server
//! room, a VM on a busy host), so each source scores a few models of it by
//! how well the fit each gives foretold every new sample (a Gaussian
//! likelihood of the miss, one sample's miss capped at three deviations),
//! and fits with the best once it is clearly better. It is learned again
//! after a restart: chronyd's dump files do not carry it. Measured in
//! clknetsim against chronyd 4.3 (README): a clock that wanders 10 times
//! the default is followed 0.80 times as far off (RMS) as chronyd follows
//! it, where one fixed model left it 1.09 times as far; quiet worlds keep
//! their figures within a few per cent.
//!
//! **Why not RFC 5905's clock filter.** Measured with a prototype in the
//! simulator (medians over seeds 1–20): using the offset of the
//! minimum-delay sample of the last 8 (RFC 5905's choice, projected to now
//! with this regression's frequency; no popcorn test, no PLL) instead of
//! the regression's offset gave RMS offsets of 24.4 µs (default), 3.94 µs
//! (low jitter) and 194 µs (high jitter), against 20.5, 3.45 and 105 µs;
//! unprojected, as ntpd uses it, it also delayed sync from 70 s to 134 s.
//! Nor did a minimax (maximum-likelihood) line over the first samples
//! measurably beat this weighting; the `early_estimates` example shows it
//! is within about 10 % of the best possible early on.
//!
//! Offsets here use the sample convention: positive means the local clock
//! is behind the source. Stored offsets are kept *as if every clock
//! correction made since had already been in effect*, so that the fit
//! always describes the clock as it runs now (see [`Stats::correct`] and
//! [`Stats::step`]).

use crate::sample::MAX_CLOCK_ERROR;
use crate::time::{NtpDuration, NtpTimestamp};
use num_traits::Float;

/// How many samples a source keeps at most.
pub const MAX_SAMPLES: usize = 64;

/// Samples needed before the delay-outlier test applies (chrony's 6).
pub const OUTLIER_MIN_SAMPLES: usize = 6;

/// Variance floor of a sample unless told the clock's precision, s²: a
/// clock read to 1 µs (see [`Stats::set_timestamp_noise`]).
const MIN_VARIANCE: f64 = 1e-12;

/// The random walks of frequency the statistics choose from, (s/s)²/s:
/// an old sample's offset has drifted from a straight line by a variance
/// of `wander·age³/3`. Each new sample scores every one by how well the
/// fit it gives foretold the sample ([`Stats::add_measured`]); the best
/// scored is used. The least is the one measured best in the simulator
/// for a quiet clock (a longer memory there only follows the noise); the
/// most, a clock in a VM whose host's load and temperature swing.
const WANDERS: [f64; 4] = [1e-17, 1e-16, 1e-15, 1e-14];

/// How many times the samples in use the runs test of a line the clock
/// follows counts the residuals of (see [`Stats::set_followed`]), keeping
/// those the regression dropped for it, and passing only above the
/// critical number of runs (chronyd's `REGRESS_RUNS_RATIO` and test, for
/// every source): a line that fits its own samples but not those just
/// before them has left a clock that changed its course.
const RUNS_RATIO: usize = 2;

/// The wander of a clock held to a steady standard (see
/// [`Stats::set_steady`]): none. A crystal oven's walks orders of
/// magnitude below the least of [`WANDERS`] (about 1e-25 (s/s)²/s for an
/// Allan deviation of 1e-11 at 1000 s), so the samples weigh by their own
/// errors alone, as chronyd weighs every source's.
const STEADY_WANDER: f64 = 0.0;

/// How clear one estimate of the jitter's asymmetry must be to count
/// toward its use (chronyd's: all the jitter is one way at 0.5).
pub const MIN_ASYMMETRY: f64 = 0.45;

/// Estimates in a row, clear and of one sign, before the asymmetry is
/// corrected for (chronyd's).
pub const MIN_ASYMMETRY_RUN: i8 = 10;

/// The wander used until the samples tell (see [`WANDERS`]).
const INITIAL_WANDER: usize = 0;

/// How much better (in twice the log-likelihood) another wander must
/// have scored for the fit to change to it: the χ² test of one parameter
/// at 95 %, so that noise does not move the fit to and fro.
const SWITCH_EVIDENCE: f64 = 3.84;

/// The most one sample's miss counts in a score (three standard
/// deviations, squared): a single jump (a server correcting its clock, a
/// step of the frequency) must not outweigh a history of good forecasts.
const MAX_SURPRISE: f64 = 9.0;

/// Samples scored before the wander may change: a few misses say little,
/// and early ones come while the clock's first corrections settle.
const MIN_SCORED: usize = 16;

/// How much of a wander's score each new sample keeps: the scores
/// remember about the last 64 samples.
const SCORE_MEMORY: f64 = 1.0 - 1.0 / 64.0;

/// Variance floor of a sample with unbounded errors, s²: a picosecond's,
/// far below any reference clock's spread, so that samples of one spread
/// (a minimum excess of zero) still weigh something finite.
const UNBOUNDED_FLOOR: f64 = 1e-24;

/// The least share of the model's slope variance that residuals narrower
/// than it leave (see [`regress`]): samples on a line to the last bit
/// still have a spread.
const MIN_SHRINK: f64 = 1e-6;

/// Skew reported while the frequency is unknown (one sample), s/s: more
/// than any update accepts (`maxupdateskew`), and what bounds the error
/// of a single sample as it ages.
const UNKNOWN_SKEW: f64 = 2e-3;

/// One stored sample.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    time: NtpTimestamp,
    offset: f64,
    /// The delay the sample is weighed by (its error bound).
    delay: f32,
    /// The exchange's round trip alone, what the delay tests compare.
    round_trip: f32,
}

/// A sample as the statistics keep it: its local time, its offset
/// (positive: the local clock is behind) as if every clock correction
/// made since had been in effect when it was taken, and its delay
/// (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoredSample {
    /// Local time it was taken.
    pub time: NtpTimestamp,
    /// Offset, seconds.
    pub offset: f64,
    /// Delay, seconds.
    pub delay: f64,
}

/// The regression over the samples in use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fit {
    /// Local time the fit refers to (the newest sample).
    pub time: NtpTimestamp,
    /// Offset at `time`, seconds (positive: local clock behind).
    pub offset: f64,
    /// Rate of change of the offset, s/s (positive: the local clock is
    /// slow and must run faster).
    pub frequency: f64,
    /// Variance of `offset`, s².
    pub offset_var: f64,
    /// Covariance of `offset` and `frequency`.
    pub cov: f64,
    /// Standard error of `frequency` (the skew), s/s.
    pub skew: f64,
    /// Standard deviation of the residuals, seconds.
    pub std_dev: f64,
    /// Samples used.
    pub samples: u8,
    /// Runs of residuals with the same sign.
    pub runs: u8,
    /// Seconds from the oldest to the newest sample.
    pub span: f64,
}

impl Fit {
    /// The offset predicted at `now` and its standard deviation.
    pub fn predict(&self, now: NtpTimestamp) -> (f64, f64) {
        let dt = (now - self.time).to_seconds_f64();
        let var = self.offset_var + 2.0 * dt * self.cov + dt * dt * self.skew * self.skew;
        (self.offset + self.frequency * dt, Float::sqrt(var.max(0.0)))
    }
}

/// The statistics of one source: its samples and the regression over them.
#[derive(Debug, Clone)]
pub struct Stats {
    entries: [Entry; MAX_SAMPLES],
    len: u8,
    /// How many of the oldest entries the regression no longer uses: kept
    /// for the runs test only (see [`RUNS_RATIO`]).
    extra: u8,
    fit: Option<Fit>,
    /// The runs test drops no sample below this many.
    min_samples: u8,
    /// At most this many samples are kept.
    max_samples: u8,
    /// The fixed minimum delay (chrony's `mindelay`; 0: the smallest kept).
    fixed_min_delay: f64,
    /// The jitter's asymmetry in use (chrony's `asymmetry`, −0.5..=0.5):
    /// the operator's, or estimated (see [`Stats::set_delay_model`]).
    asymmetry: f64,
    /// The asymmetry is estimated from the samples.
    estimate_asymmetry: bool,
    /// Consecutive estimates of a clear asymmetry of one sign (negative:
    /// the requests' delays vary more), counted up to 127 (chronyd counts
    /// to 1000; only reaching [`MIN_ASYMMETRY_RUN`] matters, and the run
    /// only ends by a reset).
    asymmetry_run: i8,
    /// The samples' errors are unbounded (a reference clock's, normal):
    /// their delays give their spread, but bound nothing.
    unbounded: bool,
    /// The variance of the timestamps' own noise, s².
    noise: f64,
    /// The index of the wander in use in [`WANDERS`].
    wander: u8,
    /// Each wander's score: the recent samples' negative log-likelihood
    /// under the predictions of its fit (lower is better).
    scores: [f32; WANDERS.len()],
    /// How many samples the scores have seen.
    scored: u8,
    /// The clock is held to a steady standard: no wander is assumed,
    /// whatever the scores say (see [`Stats::set_steady`]).
    steady: bool,
    /// The clock follows this line's changes (see
    /// [`Stats::set_followed`]).
    followed: bool,
}

/// Samples the runs test keeps at least, unless told otherwise (see
/// [`Stats::set_limits`]).
pub const MIN_SAMPLES: usize = 3;

impl Default for Stats {
    fn default() -> Self {
        Stats {
            entries: [Entry::default(); MAX_SAMPLES],
            len: 0,
            extra: 0,
            fit: None,
            min_samples: MIN_SAMPLES as u8,
            max_samples: MAX_SAMPLES as u8,
            fixed_min_delay: 0.0,
            asymmetry: 0.0,
            estimate_asymmetry: false,
            asymmetry_run: 0,
            unbounded: false,
            noise: MIN_VARIANCE,
            wander: INITIAL_WANDER as u8,
            scores: [0.0; WANDERS.len()],
            scored: 0,
            steady: false,
            followed: false,
        }
    }
}

impl Stats {
    /// The current fit, once there is a sample.
    pub fn fit(&self) -> Option<&Fit> {
        self.fit.as_ref()
    }

    /// Samples the regression uses.
    pub fn len(&self) -> usize {
        usize::from(self.len - self.extra)
    }

    /// Whether no sample is kept.
    pub fn is_empty(&self) -> bool {
        self.len == self.extra
    }

    /// Keeps at most `max` samples (chrony's `maxsamples`; 0: the most,
    /// [`MAX_SAMPLES`]), and never drops below `min` for the runs test
    /// (chrony's `minsamples`; 0: [`MIN_SAMPLES`]). With one sample at
    /// most, no frequency is estimated: the offset is the last sample's.
    pub fn set_limits(&mut self, min: usize, max: usize) {
        let max = if max == 0 {
            MAX_SAMPLES
        } else {
            max.min(MAX_SAMPLES)
        };
        let min = if min == 0 { MIN_SAMPLES } else { min };
        self.max_samples = max as u8;
        self.min_samples = min.clamp(1, max) as u8;
    }

    /// The network's delays as the operator knows them (chrony's
    /// `mindelay` and `asymmetry`): `min_delay` > 0 is the round trip's
    /// true minimum, used instead of the smallest delay kept (in the
    /// weights, the bounds and the delay tests); `asymmetry` (−0.5..=0.5)
    /// is how the delay's excess over that minimum splits between the two
    /// directions, positive when the responses are the more variable: each
    /// offset is corrected by `asymmetry` times its delay's excess, and the
    /// error left in it is bounded by the rest, `(0.5 − |asymmetry|)` times
    /// the excess.
    ///
    /// An `asymmetry` outside −0.5..=0.5 (chronyd's default, 1.0) has it
    /// estimated as chronyd estimates it: at each sample, the slope of the
    /// offsets against the delays' excess in a regression on both time and
    /// excess; once [`MIN_ASYMMETRY_RUN`] estimates in a row were at least
    /// [`MIN_ASYMMETRY`] one way (and, beyond chronyd's rule, three standard
    /// errors from zero), the estimate (clamped to ±0.5) corrects the
    /// offsets, until one comes the other way. The weights and bounds stay
    /// those of an uncorrected sample: an estimate may be wrong. See
    /// [`asymmetry`](Stats::asymmetry).
    pub fn set_delay_model(&mut self, min_delay: f64, asymmetry: f64) {
        self.fixed_min_delay = if min_delay.is_finite() {
            min_delay.max(0.0)
        } else {
            0.0
        };
        let estimate = !(asymmetry.is_finite() && asymmetry.abs() <= 0.5);
        if !estimate {
            (self.asymmetry, self.asymmetry_run) = (asymmetry, 0);
        } else if !self.estimate_asymmetry {
            // Estimated afresh; an estimate already running goes on.
            (self.asymmetry, self.asymmetry_run) = (0.0, 0);
        }
        self.estimate_asymmetry = estimate;
        self.refit();
    }

    /// The jitter's model: an operator's asymmetry is exact (the error left
    /// spreads over `1 − 2|a|` of the excess, and is at most `½ − |a|` of
    /// it either way); an estimated one may be wrong, so it corrects the
    /// offsets but leaves the weights as they were, and the bound must
    /// hold whatever the split: `½ + |a|` of the excess.
    fn jitter(&self) -> Jitter {
        let a = self.asymmetry;
        if self.estimate_asymmetry {
            Jitter {
                asymmetry: a,
                spread: 1.0,
                reach: 0.5 + a.abs(),
            }
        } else {
            Jitter {
                asymmetry: a,
                spread: 1.0 - 2.0 * a.abs(),
                reach: 0.5 - a.abs(),
            }
        }
    }

    /// The jitter's asymmetry the offsets are corrected for: the
    /// operator's, or the estimate in use (0 until one is clear), as
    /// `chronyc ntpdata` and statistics.log show it.
    pub fn asymmetry(&self) -> f64 {
        self.asymmetry
    }

    /// Estimates the jitter's asymmetry over the samples kept (see
    /// [`set_delay_model`](Stats::set_delay_model)).
    fn estimate_asymmetry(&mut self) {
        let slope = asymmetry_slope(self.entries(), self.min_delay().unwrap_or(0.0));
        let Some((a, error)) = slope.filter(|(a, _)| a * f64::from(self.asymmetry_run) >= 0.0)
        else {
            self.asymmetry = 0.0;
            self.asymmetry_run = 0;
            return;
        };
        // A clear estimate is one of at least MIN_ASYMMETRY that is also
        // three standard errors from zero: consecutive estimates share
        // most of their samples, so a run of them alone proves little
        // where the delays vary little beside the offsets' noise.
        let clear = a.abs() >= 3.0 * error;
        if a <= -MIN_ASYMMETRY && clear {
            self.asymmetry_run = self.asymmetry_run.saturating_sub(1).max(-i8::MAX);
        } else if a >= MIN_ASYMMETRY && clear {
            self.asymmetry_run = self.asymmetry_run.saturating_add(1);
        }
        if self.asymmetry_run.abs() >= MIN_ASYMMETRY_RUN {
            self.asymmetry = a.clamp(-0.5, 0.5);
        }
    }

    /// Takes the samples' errors as unbounded, as a reference clock's are
    /// (normal, of the spread their delays' excess gives: see
    /// [`set_delay_model`](Stats::set_delay_model)): the regression
    /// stands, no line is pinned within the delays.
    pub fn set_unbounded_errors(&mut self, unbounded: bool) {
        self.unbounded = unbounded;
        self.refit();
    }

    /// The error left in a sample with the minimum delay, seconds (its
    /// standard deviation): the noise of reading the clock, which is the
    /// clock's precision (chrony's `clockprecision`: "the minimum noise in
    /// NTP measurements"). Unless told, 1 µs.
    pub fn set_timestamp_noise(&mut self, seconds: f64) {
        if !(seconds.is_finite() && seconds > 0.0) {
            return;
        }
        let noise = seconds * seconds;
        if noise != self.noise {
            self.noise = noise;
            self.refit();
        }
    }

    /// The timestamps' own noise, seconds (see
    /// [`set_timestamp_noise`](Stats::set_timestamp_noise)).
    pub fn timestamp_noise(&self) -> f64 {
        Float::sqrt(self.noise)
    }

    /// The variance every sample has at least: the timestamps' noise, or
    /// none beyond what its delay gives for unbounded errors (a reference
    /// clock's dispersion says it all).
    fn floor(&self) -> f64 {
        if self.unbounded {
            UNBOUNDED_FLOOR
        } else {
            self.noise
        }
    }

    /// `offset` of a sample with this `delay`, corrected for the jitter's
    /// asymmetry (see [`set_delay_model`](Stats::set_delay_model)).
    pub fn corrected_offset(&self, offset: f64, delay: f64) -> f64 {
        let min = self.min_delay().unwrap_or(delay);
        offset + self.asymmetry * (delay - min).max(0.0)
    }

    /// The most samples kept.
    pub fn max_samples(&self) -> usize {
        usize::from(self.max_samples)
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.len = 0;
        self.extra = 0;
        self.fit = None;
        if self.estimate_asymmetry {
            self.asymmetry = 0.0;
            self.asymmetry_run = 0;
        }
    }

    /// The samples the regression uses.
    fn entries(&self) -> &[Entry] {
        &self.entries[usize::from(self.extra)..usize::from(self.len)]
    }

    /// The smallest delay kept, seconds, or the fixed one (`mindelay`,
    /// see [`set_delay_model`](Stats::set_delay_model)).
    pub fn min_delay(&self) -> Option<f64> {
        self.smallest(|e| e.delay)
    }

    /// The fixed minimum delay (`mindelay`), else the smallest `of` the
    /// samples kept.
    fn smallest(&self, of: impl Fn(&Entry) -> f32) -> Option<f64> {
        if self.fixed_min_delay > 0.0 {
            return Some(self.fixed_min_delay);
        }
        self.entries()
            .iter()
            .map(|e| f64::from(of(e)))
            .reduce(f64::min)
    }

    /// The shortest round trip of the samples kept (see
    /// [`add_measured`](Stats::add_measured)), or the fixed minimum delay
    /// (`mindelay`), seconds: what chrony's delay tests compare a new
    /// exchange's round trip with.
    pub fn min_round_trip(&self) -> Option<f64> {
        self.smallest(|e| e.round_trip)
    }

    /// Whether a sample with this offset and delay (`round_trip`: the
    /// exchange's round trip alone, whatever the server's dispersion adds
    /// to the delay it is weighed by), taken at `time`, is a delay outlier
    /// (chrony's `maxdelaydevratio` test): half its round trip's excess
    /// over the shortest is more than `ratio` standard deviations of
    /// the offsets, plus what the frequency's uncertainty allows since the
    /// newest sample, while its offset is not further from the prediction
    /// than that excess explains (that would be a change of the clocks,
    /// not a slow exchange). Only with [`OUTLIER_MIN_SAMPLES`] stored: the
    /// residuals of fewer say little of the noise.
    pub fn is_delay_outlier(
        &self,
        time: NtpTimestamp,
        offset: f64,
        (delay, round_trip): (f64, f64),
        ratio: f64,
    ) -> bool {
        let (Some(fit), Some(min)) = (self.fit, self.min_round_trip()) else {
            return false;
        };
        if self.len() < OUTLIER_MIN_SAMPLES {
            return false;
        }
        let elapsed = (time - fit.time).to_seconds_f64().max(0.0);
        let allowed = ratio * fit.std_dev + elapsed * (fit.skew + MAX_CLOCK_ERROR);
        let excess = (round_trip - min) / 2.0;
        let (predicted, _) = fit.predict(time);
        let offset = self.corrected_offset(offset, delay);
        excess > allowed && (offset - predicted).abs() - excess <= allowed
    }

    /// Whether a sample with this offset and delay, taken at `time`, is so
    /// far from the prediction that either clock must have jumped (ours
    /// stepped behind our back, or the source's corrected): further than
    /// ten times the prediction's uncertainty, and further than the
    /// sample's own delay, which bounds the error of an honest exchange
    /// twice over. The history is then dropped rather than fitted
    /// through the jump.
    pub fn is_jump(&self, time: NtpTimestamp, offset: f64, delay: f64) -> bool {
        match self.fit {
            Some(fit) if fit.samples >= 2 => {
                let (predicted, sd) = fit.predict(time);
                let error = (self.corrected_offset(offset, delay) - predicted).abs();
                error > delay.max(0.0) + 10.0 * (sd + fit.std_dev)
            }
            _ => false,
        }
    }

    /// Adds a sample and refits, dropping old samples that fail the runs
    /// test. `delay` is its error bound, and its round trip too (see
    /// [`add_measured`](Stats::add_measured)).
    pub fn add(&mut self, time: NtpTimestamp, offset: f64, delay: f64) {
        self.add_measured(time, offset, delay, delay);
    }

    /// [`add`](Stats::add) of an exchange whose round trip alone was
    /// `round_trip` seconds, and whose error bound `delay` counts more (the
    /// server's own dispersion): the delay tests compare round trips.
    pub fn add_measured(&mut self, time: NtpTimestamp, offset: f64, delay: f64, round_trip: f64) {
        self.score_wanders(time, offset, delay);
        // The regression's oldest goes to the runs test's (as chronyd
        // moves it), and the oldest of all makes room.
        if self.len() >= usize::from(self.max_samples) {
            self.extra += (self.len() + 1 - usize::from(self.max_samples)) as u8;
        }
        if usize::from(self.len) == MAX_SAMPLES {
            self.entries.copy_within(1..MAX_SAMPLES, 0);
            self.len -= 1;
            self.extra = self.extra.saturating_sub(1);
        }
        self.entries[self.len as usize] = Entry {
            time,
            offset,
            delay: delay as f32,
            round_trip: round_trip as f32,
        };
        self.len += 1;
        if self.estimate_asymmetry {
            self.estimate_asymmetry();
        }
        self.refit();
    }

    /// The random walk of frequency the fit assumes now, (s/s)²/s: one of
    /// 1e-17, 1e-16, 1e-15 and 1e-14, whichever foretold the samples best
    /// (1e-17 until 16 samples have been scored), or none while the clock
    /// is [steady](Stats::set_steady).
    pub fn wander(&self) -> f64 {
        if self.steady {
            STEADY_WANDER
        } else {
            WANDERS[usize::from(self.wander)]
        }
    }

    /// How many samples the fit is worth, for choosing the poll (chronyd
    /// lengthens it while the regression uses more than `polltarget`
    /// samples): those in use, times the share of what they would tell of
    /// the offset now were the clock quiet (the least of the
    /// [`wander`](Stats::wander) models) that the wander in use leaves: the
    /// ratio of the offset's variances the two weightings give. A quiet
    /// clock's samples count in full, so it is polled as chronyd polls it;
    /// of a clock that wanders, old samples tell little of now, and it is
    /// polled more often, as chronyd polls a clock whose runs test drops
    /// old samples.
    pub fn samples_worth(&self) -> f64 {
        let Some(fit) = self.fit else {
            return 0.0;
        };
        let (used, wander, entries) = (f64::from(fit.samples), self.wander(), self.entries());
        // The quietest model (or none, held steady) leaves them all.
        if wander <= WANDERS[0] || entries.is_empty() {
            return used;
        }
        let (min_delay, jitter, floor) =
            (self.min_delay().unwrap_or(0.0), self.jitter(), self.floor());
        let variance = |wander| {
            Weights::new(entries, min_delay, jitter, floor, wander).offset_variance(entries)
        };
        used * (variance(WANDERS[0]) / variance(wander)).min(1.0)
    }

    /// Whether the clock is held to a steady standard (it follows a
    /// `local` reference clock, an oscillator the operator says is more
    /// stable than its own): then it is taken not to wander at all (a
    /// crystal oven walks orders of magnitude below the least model),
    /// whatever the samples score. What remains of the
    /// clock's own wander in them is what the following did not catch,
    /// which comes and goes around the standard, and fitting it as a walk
    /// would take its passing slope for the frequency, which a long memory
    /// averages away. The scores go on, for when the standard is lost.
    pub fn set_steady(&mut self, steady: bool) {
        if self.steady != steady {
            self.steady = steady;
            self.refit();
        }
    }

    /// Whether the clock is held to a steady standard (see
    /// [`set_steady`](Stats::set_steady)).
    pub fn is_steady(&self) -> bool {
        self.steady
    }

    /// Whether the clock follows the changes of this line (a `local`
    /// reference clock's): its runs test is then chronyd's (the runs of
    /// the residuals over twice the samples in use, those dropped kept for
    /// it, and passing only above the critical number), which lets go of
    /// the past as soon as it shows the clock's course changed; a line
    /// followed through a longer past lags
    /// the clock it corrects. (Selected sources keep the lenient test
    /// within their own samples: at the same number of requests it
    /// measured better, chronyd's made the simulator's `fixed-poll` worlds
    /// 1.12-1.45 times as far off.)
    pub fn set_followed(&mut self, followed: bool) {
        self.followed = followed;
        self.refit();
    }

    /// Scores every wander by how likely the fit it gives over the samples
    /// kept made this new one, and moves to the best scored once
    /// [`MIN_SCORED`] samples were scored and it is better by
    /// [`SWITCH_EVIDENCE`]. The sample's variance is its own (its delay's
    /// excess, as the weights take it, times how much more the fit's
    /// residuals spread), the fit's at `time`, and the wander's since the
    /// newest sample.
    fn score_wanders(&mut self, time: NtpTimestamp, offset: f64, delay: f64) {
        let n = self.len();
        if n < OUTLIER_MIN_SAMPLES || self.unbounded {
            return;
        }
        let entries = &self.entries[usize::from(self.extra)..usize::from(self.len)];
        let min_delay = self.min_delay().unwrap_or(0.0).min(delay);
        // As the regression weighs it: the smallest delay kept is itself
        // above the true minimum by about the mean excess over √n.
        let mean_excess = entries
            .iter()
            .map(|e| (f64::from(e.delay) - min_delay).max(0.0))
            .sum::<f64>()
            / n as f64;
        let (floor, jitter) = (self.floor(), self.jitter());
        let excess =
            ((delay - min_delay).max(0.0) + mean_excess / Float::sqrt(n as f64)) * jitter.spread;
        let own = excess * excess / 12.0 + floor;
        let y = offset + jitter.asymmetry * (delay - min_delay).max(0.0);
        let ahead = (time - entries[n - 1].time).to_seconds_f64().max(0.0);
        for (wander, score) in WANDERS.iter().zip(self.scores.iter_mut()) {
            let (fit, scale) = regress(entries, min_delay, jitter, floor, *wander, false);
            let (predicted, sd) = fit.predict(time);
            let var = own * scale + sd * sd + wander * ahead * ahead * ahead / 3.0;
            let error = y - predicted;
            let surprise = (error * error / var).min(MAX_SURPRISE);
            *score = (SCORE_MEMORY * f64::from(*score) + Float::ln(var) + surprise) as f32;
        }
        let best = (0..WANDERS.len())
            .reduce(|a, b| {
                if self.scores[b] < self.scores[a] {
                    b
                } else {
                    a
                }
            })
            .unwrap_or(INITIAL_WANDER);
        self.scored = self.scored.saturating_add(1);
        if usize::from(self.scored) >= MIN_SCORED
            && f64::from(self.scores[usize::from(self.wander)] - self.scores[best])
                > SWITCH_EVIDENCE
        {
            self.wander = best as u8;
        }
    }

    fn refit(&mut self) {
        let n = self.len as usize;
        if n == usize::from(self.extra) {
            self.fit = None;
            return;
        }
        let min_delay = self.min_delay().unwrap_or(0.0);
        let jitter = self.jitter();
        let ratio = if self.followed { RUNS_RATIO } else { 1 };
        let mut start = usize::from(self.extra);
        let fit = loop {
            let (fit, _) = regress(
                &self.entries[start..n],
                min_delay,
                jitter,
                self.floor(),
                self.wander(),
                self.unbounded,
            );
            let m = n - start;
            if m <= usize::from(self.min_samples).max(MIN_SAMPLES) {
                break fit;
            }
            let random = if ratio == 1 {
                fit.runs as usize >= critical_runs(m)
            } else {
                // The runs of the residuals over up to `ratio` times the
                // samples in use, those dropped before them included.
                let from = n.saturating_sub(ratio * m);
                runs_about(&fit, &self.entries[from..n], min_delay, jitter)
                    > critical_runs(n - from)
            };
            if random {
                break fit;
            }
            start += 1;
        };
        // Those dropped stay for the runs test, at most `ratio - 1` times
        // as many as are in use.
        let kept = start.min((n - start) * (ratio - 1));
        if start > kept {
            self.entries.copy_within(start - kept..n, 0);
            self.len = (n - (start - kept)) as u8;
        }
        self.extra = kept as u8;
        let doubt = if self.fixed_min_delay > 0.0 {
            MinDelay::Known
        } else {
            MinDelay::Smallest
        };
        let fit = if self.unbounded {
            fit
        } else {
            bound(
                fit,
                self.entries(),
                (min_delay, doubt),
                self.jitter(),
                self.timestamp_noise(),
                self.wander(),
            )
        };
        self.fit = Some(fit);
    }

    /// Accounts for a change of the clock's rate made at local time `at`:
    /// from then on it counts `(1 + rate)` times as fast as before. Stored
    /// samples are changed as if the new rate had always been in effect
    /// (with the clock reading the same at `at`): an older sample's local
    /// time was earlier, and its offset larger, in proportion to its age.
    /// This is exact, so the fit keeps its residuals; its slope drops by
    /// `rate` (in time scaled by `1 + rate`).
    pub fn correct(&mut self, at: NtpTimestamp, rate: f64) {
        if rate == 0.0 {
            return;
        }
        let moved = |time: &mut NtpTimestamp, offset: &mut f64| {
            let age = (at - *time).to_seconds_f64();
            *offset += rate * age;
            *time = *time - NtpDuration::from_seconds_f64(rate * age);
        };
        let n = self.len as usize;
        for entry in &mut self.entries[..n] {
            moved(&mut entry.time, &mut entry.offset);
            // A delay is a length of the clock's time: at the new rate it
            // reads `1 + rate` times as long (8 % during a fast slew,
            // which over a 1 s path is 80 ms).
            entry.delay *= (1.0 + rate) as f32;
            entry.round_trip *= (1.0 + rate) as f32;
        }
        if self.len() == 2 {
            // Two samples' slope is known no better than its own size (see
            // `regress`): that size is the slope against the clock as it
            // runs now, so the fit is made again.
            self.refit();
            return;
        }
        // The line moves the same way (a fit of one sample keeps the slope
        // it now has: the clock's new rate), in time scaled by 1 + rate.
        if let Some(fit) = &mut self.fit {
            moved(&mut fit.time, &mut fit.offset);
            let scale = 1.0 / (1.0 + rate);
            fit.frequency = (fit.frequency - rate) * scale;
            fit.skew *= scale;
            fit.cov *= scale;
            fit.span *= 1.0 + rate;
        }
    }

    /// Accounts for a step of the local clock by `offset` seconds
    /// (positive: forward): sample times move with the clock, and the
    /// clock is `offset` closer to every source.
    pub fn step(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        let n = self.len as usize;
        for entry in &mut self.entries[..n] {
            entry.time = entry.time + shift;
            entry.offset -= offset;
        }
        if let Some(fit) = &mut self.fit {
            fit.time = fit.time + shift;
            fit.offset -= offset;
        }
    }

    /// Moves every offset by `shift` seconds (the reference's time scale
    /// moved against the clock: a leap second), the fit with them.
    pub fn shift_offsets(&mut self, shift: f64) {
        let n = self.len as usize;
        for entry in &mut self.entries[..n] {
            entry.offset += shift;
        }
        if let Some(fit) = &mut self.fit {
            fit.offset += shift;
        }
    }

    /// The samples kept, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = StoredSample> + '_ {
        self.entries().iter().map(|e| StoredSample {
            time: e.time,
            offset: e.offset,
            delay: e.delay as f64,
        })
    }

    /// Replaces the samples with `samples` (oldest first, as
    /// [`samples`](Self::samples) gives them) and fits them. Refused,
    /// leaving the statistics as they were, when there are none or more
    /// than [`MAX_SAMPLES`], when they are out of order, or when a value
    /// is not finite or a delay negative.
    pub fn restore(
        &mut self,
        samples: impl IntoIterator<Item = StoredSample>,
    ) -> Result<(), BadSamples> {
        let mut entries = [Entry::default(); MAX_SAMPLES];
        let mut len = 0;
        for sample in samples {
            if len == MAX_SAMPLES {
                return Err(BadSamples::TooMany);
            }
            if len > 0 && sample.time < entries[len - 1].time {
                return Err(BadSamples::OutOfOrder);
            }
            if !sample.offset.is_finite() || !sample.delay.is_finite() || sample.delay < 0.0 {
                return Err(BadSamples::NotFinite);
            }
            entries[len] = Entry {
                time: sample.time,
                offset: sample.offset,
                delay: sample.delay as f32,
                round_trip: sample.delay as f32,
            };
            len += 1;
        }
        if len == 0 {
            return Err(BadSamples::None);
        }
        self.entries = entries;
        self.len = len as u8;
        self.extra = 0;
        self.refit();
        Ok(())
    }

    /// The newest sample's offset as it stands after later corrections.
    pub fn newest_offset(&self) -> Option<f64> {
        self.entries().last().map(|e| e.offset)
    }
}

/// Why samples were not restored ([`Stats::restore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadSamples {
    /// No sample.
    #[error("no sample")]
    None,
    /// More than [`MAX_SAMPLES`].
    #[error("more than {MAX_SAMPLES} samples")]
    TooMany,
    /// A sample older than the one before it.
    #[error("samples out of order")]
    OutOfOrder,
    /// An offset or a delay that is not a number, or a negative delay.
    #[error("an offset or a delay that is not a number")]
    NotFinite,
}

/// Most vertices the feasible region of a line can have: the four sides
/// of the starting box and two per sample.
const MAX_VERTICES: usize = 4 + 2 * MAX_SAMPLES;

/// A convex polygon in the plane of a line's offset and (scaled) slope.
#[derive(Clone, Copy)]
struct Polygon {
    points: [(f64, f64); MAX_VERTICES],
    len: usize,
}

impl Polygon {
    /// Keeps the part where `u·x + v·y ≤ w`.
    fn clip(&mut self, u: f64, v: f64, w: f64) {
        let mut out = [(0.0, 0.0); MAX_VERTICES];
        let mut len = 0;
        for i in 0..self.len {
            let p = self.points[i];
            let q = self.points[(i + 1) % self.len];
            let (fp, fq) = (u * p.0 + v * p.1 - w, u * q.0 + v * q.1 - w);
            if fp <= 0.0 && len < MAX_VERTICES {
                out[len] = p;
                len += 1;
            }
            if (fp <= 0.0) != (fq <= 0.0) && len < MAX_VERTICES {
                let t = fp / (fp - fq);
                out[len] = (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1));
                len += 1;
            }
        }
        self.points = out;
        self.len = len;
    }

    /// The least and the greatest offset (first coordinate) in it.
    fn extent(&self) -> (f64, f64) {
        self.points[..self.len]
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.0), hi.max(p.0))
            })
    }

    fn contains(&self, x: f64, y: f64) -> bool {
        (0..self.len).all(|i| {
            let p = self.points[i];
            let q = self.points[(i + 1) % self.len];
            (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0) >= 0.0
        })
    }

    /// The point of the polygon nearest to (x, y).
    fn nearest(&self, x: f64, y: f64) -> (f64, f64) {
        let mut best = (f64::INFINITY, (x, y));
        for i in 0..self.len {
            let p = self.points[i];
            let q = self.points[(i + 1) % self.len];
            let (dx, dy) = (q.0 - p.0, q.1 - p.1);
            let length = dx * dx + dy * dy;
            let t = if length > 0.0 {
                (((x - p.0) * dx + (y - p.1) * dy) / length).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let point = (p.0 + t * dx, p.1 + t * dy);
            let d = Float::powi(point.0 - x, 2) + Float::powi(point.1 - y, 2);
            if d < best.0 {
                best = (d, point);
            }
        }
        best.1
    }

    /// The centre of mass. Taken relative to the first vertex: the
    /// region is tiny beside its distance from the origin (an offset of
    /// seconds pinned to microseconds), where the shoelace formula's
    /// products in absolute coordinates would cancel to noise.
    fn centroid(&self) -> (f64, f64) {
        let origin = self.points[0];
        let (mut area, mut cx, mut cy) = (0.0, 0.0, 0.0);
        for i in 0..self.len {
            let (x0, y0) = self.points[i];
            let (x1, y1) = self.points[(i + 1) % self.len];
            let (x0, y0, x1, y1) = (x0 - origin.0, y0 - origin.1, x1 - origin.0, y1 - origin.1);
            let c = x0 * y1 - x1 * y0;
            area += c;
            cx += (x0 + x1) * c;
            cy += (y0 + y1) * c;
        }
        if area.abs() < 1e-300 {
            let n = self.len as f64;
            let sx: f64 = self.points[..self.len].iter().map(|p| p.0).sum();
            let sy: f64 = self.points[..self.len].iter().map(|p| p.1).sum();
            return (sx / n, sy / n);
        }
        (origin.0 + cx / (3.0 * area), origin.1 + cy / (3.0 * area))
    }
}

/// How a sample's error relates to its delay's excess over the minimum,
/// once corrected for the jitter's asymmetry.
#[derive(Debug, Clone, Copy)]
struct Jitter {
    /// The asymmetry the offsets are corrected by (times the excess).
    asymmetry: f64,
    /// The width of the error's spread, in excesses: what the weights take.
    spread: f64,
    /// The most the error can be either way, in excesses: what the bounds
    /// take.
    reach: f64,
}

/// Where the minimum delay the bounds start from comes from.
#[derive(Debug, Clone, Copy)]
enum MinDelay {
    /// The smallest delay kept.
    Smallest,
    /// The operator's `mindelay`.
    Known,
}

/// The line at the centre of the lines every sample allows: an exchange
/// whose delay exceeds the minimum by `s` is off by at most `s/2` (each
/// direction takes at least its minimum), plus what the minimum itself
/// may be above the true one, plus what the clock's wander may have moved
/// the sample from a straight line (half the wander model's standard
/// deviation: a bound on the typical, not the worst). Regression treats
/// such bounded errors as if they were normal; the bounds say more, and
/// with many noisy samples they pin the line closer (the centroid of the
/// allowed region is the best estimate when every allowed line is as
/// likely). When no line fits every bound (the clock wandered more, or a
/// sample lies), the regression stands; its uncertainties are kept.
fn bound(
    fit: Fit,
    entries: &[Entry],
    (min_delay, doubt): (f64, MinDelay),
    jitter: Jitter,
    noise: f64,
    wander: f64,
) -> Fit {
    if entries.len() < 3 || fit.samples < 3 {
        return fit;
    }
    let newest = entries[entries.len() - 1].time;
    let x_of = |e: &Entry| (e.time - newest).to_seconds_f64();
    let span = (-x_of(&entries[0])).max(1.0);
    // Slopes in units of 1/span, so that both axes are offsets.
    let mut polygon = Polygon {
        points: [(0.0, 0.0); MAX_VERTICES],
        len: 4,
    };
    let (a, b) = (fit.offset, fit.frequency * span);
    let box_size = 1.0 + a.abs() + b.abs();
    polygon.points[..4].copy_from_slice(&[
        (a - box_size, b - box_size),
        (a + box_size, b - box_size),
        (a + box_size, b + box_size),
        (a - box_size, b + box_size),
    ]);
    let mut excesses = [0.0f64; MAX_SAMPLES];
    for (e, excess) in entries.iter().zip(excesses.iter_mut()) {
        *excess = (e.delay as f64 - min_delay).max(0.0);
    }
    excesses[..entries.len()].sort_unstable_by(f64::total_cmp);
    // The smallest delay is above the true minimum by about the gap to
    // the next smallest; a minimum the operator gave is exact.
    let base_doubt = match doubt {
        MinDelay::Smallest => excesses[1],
        MinDelay::Known => 0.0,
    };
    for e in entries {
        let x = x_of(e) / span;
        let age = -x_of(e);
        let excess = (e.delay as f64 - min_delay).max(0.0);
        let offset = e.offset + jitter.asymmetry * excess;
        let walk = Float::sqrt(wander * age * age * age / 3.0) * 0.5;
        // Never tighter than the timestamps themselves are good for.
        let h = jitter.reach * excess + base_doubt / 2.0 + walk + noise;
        // |offset - (a + b x)| <= h
        polygon.clip(1.0, x, offset + h);
        polygon.clip(-1.0, -x, h - offset);
        if polygon.len < 3 {
            return fit;
        }
    }
    // Where the bounds are tighter than the regression's own uncertainty
    // (the offset of lines drawn evenly from the region spreads by its
    // width over √12), their centre is the better estimate; else the
    // regression, moved into the region if it is outside.
    let (low, high) = polygon.extent();
    let (a, b) = if (high - low) / Float::sqrt(12f64) < Float::sqrt(fit.offset_var) {
        polygon.centroid()
    } else if polygon.contains(a, b) {
        (a, b)
    } else {
        polygon.nearest(a, b)
    };
    Fit {
        offset: a,
        frequency: b / span,
        ..fit
    }
}

/// The standard normal point that 90 % of draws fall below.
pub(crate) const Z90: f64 = 1.281_551_565_5;

/// The point of the chi-square distribution with `dof` degrees of freedom
/// that the standard normal point `z` maps to (Wilson and Hilferty's
/// approximation): `Z90` gives the 90 % point, `-Z90` the 10 % one. The
/// 10 % point is below the tables' at few degrees (a third at 1), so a
/// bound on a variance drawn from it is wider, never narrower.
pub(crate) fn chi2_point(dof: f64, z: f64) -> f64 {
    let k = dof.max(1.0);
    let a = 2.0 / (9.0 * k);
    let c = (1.0 - a + z * Float::sqrt(a)).max(0.0);
    k * c * c * c
}

/// The fewest runs of residual signs that `n` random residuals show with
/// 95 % probability (normal approximation of the runs distribution with
/// equal numbers of each sign, one-sided).
fn critical_runs(n: usize) -> usize {
    let half = n as f64 / 2.0;
    let mean = half + 1.0;
    let sd = Float::sqrt((half * (half - 1.0) / (n as f64 - 1.0)).max(0.0));
    Float::floor(mean - 1.645 * sd).max(0.0) as usize
}

/// An entry's offset corrected for the jitter's asymmetry (its delay's
/// excess over `min_delay` times it), as the regression takes it.
fn corrected(e: &Entry, min_delay: f64, jitter: Jitter) -> f64 {
    e.offset + jitter.asymmetry * (f64::from(e.delay) - min_delay).max(0.0)
}

/// The runs of the signs of `entries`' residuals about `fit` (their
/// offsets [`corrected`]).
fn runs_about(fit: &Fit, entries: &[Entry], min_delay: f64, jitter: Jitter) -> usize {
    let mut runs = 0;
    let mut last = 0i8;
    for e in entries {
        let sign = if corrected(e, min_delay, jitter) >= fit.predict(e.time).0 {
            1
        } else {
            -1
        };
        if sign != last {
            runs += 1;
            last = sign;
        }
    }
    runs
}

/// The jitter's asymmetry as `entries` show it, and its standard error:
/// the slope of the offsets against the delays' excess over `min_delay` in
/// an ordinary regression on both time and excess, negated (offsets that
/// grow with the delay mean the requests' delays vary more: a negative
/// asymmetry). None for fewer than five samples (the error needs two
/// degrees of freedom left to mean anything) or when time and excess move
/// together.
fn asymmetry_slope(entries: &[Entry], min_delay: f64) -> Option<(f64, f64)> {
    let n = entries.len();
    if n < 5 {
        return None;
    }
    let newest = entries[n - 1].time;
    let point = |e: &Entry| {
        (
            (e.time - newest).to_seconds_f64(),
            (f64::from(e.delay) - min_delay).max(0.0),
            e.offset,
        )
    };
    let nf = n as f64;
    let (mut m1, mut m2, mut my) = (0.0, 0.0, 0.0);
    for e in entries {
        let (x1, x2, y) = point(e);
        m1 += x1 / nf;
        m2 += x2 / nf;
        my += y / nf;
    }
    let (mut s11, mut s12, mut s22, mut s1y, mut s2y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for e in entries {
        let (x1, x2, y) = point(e);
        let (d1, d2, dy) = (x1 - m1, x2 - m2, y - my);
        s11 += d1 * d1;
        s12 += d1 * d2;
        s22 += d2 * d2;
        s1y += d1 * dy;
        s2y += d2 * dy;
    }
    let det = s11 * s22 - s12 * s12;
    if det <= 1e-10 * s11 * s22 {
        return None;
    }
    let b1 = (s22 * s1y - s12 * s2y) / det;
    let b2 = (s11 * s2y - s12 * s1y) / det;
    let residuals: f64 = entries
        .iter()
        .map(|e| {
            let (x1, x2, y) = point(e);
            let r = (y - my) - b1 * (x1 - m1) - b2 * (x2 - m2);
            r * r
        })
        .sum();
    Some((-b2, Float::sqrt(residuals / (nf - 3.0) * s11 / det)))
}

/// How [`regress`] weighs an entry: by the inverse of its variance, which
/// its delay's excess over the minimum gives (an error spread evenly over
/// the excess has a twelfth of its square) and, with its age, the clock's
/// wander.
#[derive(Debug, Clone, Copy)]
struct Weights {
    /// The newest entry's time, which ages count from.
    newest: NtpTimestamp,
    min_delay: f64,
    /// What the smallest delay itself is above the true minimum.
    floor: f64,
    spread: f64,
    floor_variance: f64,
    wander: f64,
}

impl Weights {
    fn new(
        entries: &[Entry],
        min_delay: f64,
        jitter: Jitter,
        floor_variance: f64,
        wander: f64,
    ) -> Self {
        // The smallest delay is itself above the true minimum by about the
        // excess a sample has on average, over the square root of their
        // number. Below MIN_SAMPLES the excesses say too little of their
        // spread: a quarter of the delay itself bounds it.
        let n = entries.len();
        let mean_excess = entries
            .iter()
            .map(|e| e.delay as f64 - min_delay)
            .sum::<f64>()
            / n as f64;
        let excess = if n < MIN_SAMPLES {
            mean_excess.max(min_delay / 4.0)
        } else {
            mean_excess
        };
        Weights {
            newest: entries[n - 1].time,
            min_delay,
            floor: excess / Float::sqrt(n as f64),
            spread: jitter.spread,
            floor_variance,
            wander,
        }
    }

    /// The entry's time relative to the newest, seconds (not positive).
    fn x_of(&self, e: &Entry) -> f64 {
        (e.time - self.newest).to_seconds_f64()
    }

    fn of(&self, e: &Entry) -> f64 {
        let excess = ((e.delay as f64 - self.min_delay).max(0.0) + self.floor) * self.spread;
        let age = -self.x_of(e);
        1.0 / (excess * excess / 12.0 + self.floor_variance + self.wander * age * age * age / 3.0)
    }

    /// The variance of the offset a line through `entries` gives at the
    /// newest, as these weights say (unscaled by the residuals).
    fn offset_variance(&self, entries: &[Entry]) -> f64 {
        let sums = Sums::of(self, entries, |_| 0.0);
        if sums.fitted(entries.len()) {
            sums.sxx / sums.det()
        } else {
            1.0 / sums.w
        }
    }
}

/// The weighted sums a line through entries is drawn from: of the weights,
/// the times (`x`, relative to the newest), the offsets (`y`) and their
/// products.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    w: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
}

impl Sums {
    fn of(weights: &Weights, entries: &[Entry], y_of: impl Fn(&Entry) -> f64) -> Self {
        let mut sums = Sums::default();
        for e in entries {
            let (wi, x, y) = (weights.of(e), weights.x_of(e), y_of(e));
            sums.w += wi;
            sums.sx += wi * x;
            sums.sy += wi * y;
            sums.sxx += wi * x * x;
            sums.sxy += wi * x * y;
        }
        sums
    }

    fn det(&self) -> f64 {
        self.w * self.sxx - self.sx * self.sx
    }

    /// Whether `m` entries with these sums make a line: at least two, at
    /// times far enough apart.
    fn fitted(&self, m: usize) -> bool {
        m >= 2 && self.det() > 1e-12 * self.w * self.sxx
    }
}

/// Weighted least squares of offset against time over `entries`, relative
/// to the newest entry's time, and how much more the residuals spread than
/// the weights say (χ² over the degrees of freedom, at least 1; below 1
/// with `shrink`), by which the uncertainties are scaled.
fn regress(
    entries: &[Entry],
    min_delay: f64,
    jitter: Jitter,
    floor_variance: f64,
    wander: f64,
    shrink: bool,
) -> (Fit, f64) {
    let weights = Weights::new(entries, min_delay, jitter, floor_variance, wander);
    let x_of = |e: &Entry| weights.x_of(e);
    // The offset corrected for the jitter's asymmetry; the error left is
    // spread over `jitter.spread` of the excess.
    let y_of = |e: &Entry| corrected(e, min_delay, jitter);
    let weight_of = |e: &Entry| weights.of(e);
    let sums = Sums::of(&weights, entries, y_of);
    let Sums {
        w,
        sx,
        sy,
        sxx,
        sxy,
    } = sums;
    let m = entries.len();
    let det = sums.det();
    let fitted = sums.fitted(m);
    let (offset, frequency, mut var_a, mut var_b, mut cov) = if fitted {
        let b = (w * sxy - sx * sy) / det;
        let a = (sy - b * sx) / w;
        (a, b, sxx / det, w / det, -sx / det)
    } else {
        (sy / w, 0.0, 1.0 / w, UNKNOWN_SKEW * UNKNOWN_SKEW, 0.0)
    };
    let (mut chi2, mut sum_sq) = (0.0, 0.0);
    for e in entries {
        let r = y_of(e) - (offset + frequency * x_of(e));
        chi2 += weight_of(e) * r * r;
        sum_sq += r * r;
    }
    // Residuals wider than the model widen the variances. Narrower ones
    // narrow the slope's only for errors the model does not bound
    // (`shrink`: a reference clock's, whose dispersion is its precision
    // and whose wander is the least assumed): chronyd's slope error is
    // its residuals' alone, so a clock read to 1 ns is known to that.
    let scale = if m > 2 {
        let dof = (m - 2) as f64;
        let scale = chi2 / dof;
        if shrink {
            // Only as far as the residuals show it clearly: the 90 %
            // upper bound of the variance they give.
            let bound = (chi2 / chi2_point(dof, -Z90)).min(1.0);
            scale.max(bound).max(MIN_SHRINK)
        } else {
            scale.max(1.0)
        }
    } else {
        1.0
    };
    if m > 2 {
        // The offset is known no better than the model's floor (the
        // clock's precision): narrower residuals narrow its slope alone.
        // (A narrower offset would slew faster: chronyd's slew time
        // follows the offset's deviation.)
        var_a *= scale.max(1.0);
        if fitted {
            var_b *= scale;
        }
        cov *= scale;
    }
    if m == 2 && fitted {
        // Two samples leave no residual to check the noise model against:
        // a source whose time jumped between them (a server correcting its
        // own clock) gives a slope that is all error, with the model's
        // tiny skew. The slope is known no better than its own size.
        var_b = var_b.max(frequency * frequency);
    }
    let std_dev = Float::sqrt(sum_sq / (m.max(2) - 1) as f64);
    let fit = Fit {
        time: weights.newest,
        offset,
        frequency,
        offset_var: var_a,
        cov,
        skew: Float::sqrt(var_b),
        std_dev,
        samples: m as u8,
        runs: 0,
        span: -x_of(&entries[0]),
    };
    let runs = runs_about(&fit, entries, min_delay, jitter).min(usize::from(u8::MAX)) as u8;
    (Fit { runs, ..fit }, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(1000.0 + seconds)
    }

    /// A quiet path (200 µs each way, 10 ns of noise, as a LAN with
    /// hardware timestamps): once a few samples show how little their
    /// delays vary, the delay itself no longer bounds the doubt about its
    /// minimum, and the offset is as sure as the samples and the clock's
    /// precision say, not microseconds.
    #[test]
    fn a_quiet_paths_estimate_is_as_sure_as_its_samples() {
        let sd_of = |precision: Option<f64>| {
            let mut stats = Stats::default();
            if let Some(p) = precision {
                stats.set_timestamp_noise(p);
            }
            let mut state = 7u64;
            for i in 0..32 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let noise = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2e-8;
                stats.add(at(f64::from(i)), 1e-6 + noise, 400e-6 + noise.abs());
            }
            let fit = stats.fit().unwrap();
            assert!((fit.offset - 1e-6).abs() < 2e-8, "{}", fit.offset);
            Float::sqrt(fit.offset_var)
        };
        let nanosecond = sd_of(Some(1e-9));
        assert!(nanosecond < 2e-8, "{nanosecond}");
        // A clock read to 1 µs (the default) is no surer than that.
        let microsecond = sd_of(None);
        assert!(microsecond > 1e-7 && microsecond < 1e-6, "{microsecond}");
    }

    /// The wander the statistics choose after 150 polls of 256 s of a
    /// clock whose frequency walks at random by `walk` s/s per √s, over a
    /// path with 100 µs of exponential jitter each way.
    fn chosen_wander(walk: f64, seed: u64) -> f64 {
        walked(walk, seed).wander()
    }

    /// The statistics of [`chosen_wander`]'s polls.
    fn walked(walk: f64, seed: u64) -> Stats {
        let mut state = seed;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut stats = Stats::default();
        let (mut offset, mut frequency) = (0.0, 0.0);
        for i in 0..150 {
            // Each second's step of the frequency, summed over the poll.
            for _ in 0..256 {
                let (a, b) = (uniform(), uniform());
                let normal =
                    Float::sqrt(-2.0 * Float::ln(a)) * Float::cos(core::f64::consts::TAU * b);
                frequency += walk * normal;
                offset += frequency;
            }
            let (up, down) = (-1e-4 * Float::ln(uniform()), -1e-4 * Float::ln(uniform()));
            stats.add(
                at(f64::from(i) * 256.0),
                offset + (up - down) / 2.0,
                2e-4 + up + down,
            );
        }
        stats
    }

    /// The fit's model of the clock's wander comes from how well each
    /// candidate foretold the samples: a clock that wanders 100 times
    /// more than the quietest model (VM-like, 1e-8 s/s per √s) gets a
    /// shorter memory, a quiet one keeps the longest.
    #[test]
    fn the_wander_model_is_the_one_that_foretold_the_samples() {
        for seed in 1..4 {
            assert_eq!(chosen_wander(1e-10, seed), WANDERS[0], "seed {seed}");
            let walking = chosen_wander(1e-8, seed);
            assert!(walking >= 1e-16, "seed {seed}: {walking:e}");
            let fast = chosen_wander(1e-7, seed);
            assert!(fast >= 1e-15, "seed {seed}: {fast:e}");
            // Held to a steady standard, the clock takes the least, and
            // the fit with it; let go, the scores' choice again.
            let mut stats = walked(1e-7, seed);
            let free = *stats.fit().unwrap();
            stats.set_steady(true);
            assert_eq!(stats.wander(), STEADY_WANDER, "seed {seed}");
            assert_ne!(*stats.fit().unwrap(), free, "seed {seed}");
            stats.set_steady(false);
            assert_eq!((stats.wander(), *stats.fit().unwrap()), (fast, free));
        }
    }

    /// What the poll is chosen by: a quiet clock's samples are worth
    /// their number, as chronyd counts them; the same samples, of a clock
    /// the scores found to wander 100 times more, are worth less than half
    /// as many (the runs test may keep fewer, and those that are kept tell
    /// of now only what a few would), so the poll shortens; held to a
    /// steady standard, those in use count in full again.
    #[test]
    fn samples_of_a_wandering_clock_are_worth_fewer() {
        for seed in 1..4 {
            let mut stats = walked(1e-10, seed);
            let used = f64::from(stats.fit().unwrap().samples);
            assert!(used >= 16.0, "seed {seed}: {used}");
            assert_eq!(stats.samples_worth(), used, "seed {seed}");
            stats.wander = 2;
            stats.refit();
            let worth = stats.samples_worth();
            assert!(
                worth > 1.0 && worth < used / 2.0,
                "seed {seed}: {worth} of {used}"
            );
            stats.set_steady(true);
            let used = f64::from(stats.fit().unwrap().samples);
            assert_eq!(stats.samples_worth(), used, "seed {seed}");
        }
        assert_eq!(Stats::default().samples_worth(), 0.0);
    }

    /// Stats fed 40 polls of a clock 1 ms behind over a path with
    /// exponential jitter of 100 µs in the requests' direction and
    /// `back` of it in the responses'.
    fn one_sided(stats: &mut Stats, back: f64) {
        let mut state = 11u64;
        let mut exp = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            -1e-4 * Float::ln(((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64)
        };
        for i in 0..40 {
            let (up, down) = (exp(), back * exp());
            // The offset of a clock behind by 1 ms, as the exchange shows it.
            stats.add(
                at(f64::from(i) * 64.0),
                1e-3 + (up - down) / 2.0,
                2e-4 + up + down,
            );
        }
    }

    /// chronyd's default: the jitter's asymmetry is estimated. Requests
    /// that alone take the jitter show as a negative asymmetry once ten
    /// estimates agree, and the offset is then corrected to the path's
    /// minimum delay; a symmetric path, or one the operator says is
    /// symmetric (`asymmetry 0`), is not corrected.
    #[test]
    fn the_jitter_asymmetry_is_estimated_as_chronyd_does() {
        let mut estimated = Stats::default();
        estimated.set_delay_model(0.0, 1.0);
        one_sided(&mut estimated, 0.0);
        let a = estimated.asymmetry();
        assert!((-0.5..=-0.45).contains(&a), "{a}");
        let fit = estimated.fit().unwrap();
        assert!((fit.offset - 1e-3).abs() < 5e-6, "{}", fit.offset);

        let mut symmetric = Stats::default();
        symmetric.set_delay_model(0.0, 1.0);
        one_sided(&mut symmetric, 1.0);
        assert_eq!(symmetric.asymmetry(), 0.0);

        let mut fixed = Stats::default();
        fixed.set_delay_model(0.0, 0.0);
        one_sided(&mut fixed, 0.0);
        assert_eq!(fixed.asymmetry(), 0.0);
        // Uncorrected, the one-sided jitter biases the line.
        let biased = fixed.fit().unwrap().offset;
        assert!(
            (biased - 1e-3).abs() > (fit.offset - 1e-3).abs(),
            "{biased}"
        );
    }

    #[test]
    fn fits_a_line() {
        let mut stats = Stats::default();
        for i in 0..10 {
            let t = i as f64 * 64.0;
            let noise = if i % 2 == 0 { 1e-7 } else { -1e-7 };
            stats.add(at(t), 0.01 + 2e-6 * t + noise, 2e-4);
        }
        let fit = *stats.fit().unwrap();
        assert_eq!(fit.samples, 10);
        assert!((fit.frequency - 2e-6).abs() < 1e-9);
        let (offset, _) = fit.predict(at(640.0));
        assert!((offset - (0.01 + 2e-6 * 640.0)).abs() < 1e-6);
        assert_eq!(fit.span, 576.0);
    }

    #[test]
    fn quick_samples_weigh_more() {
        let mut stats = Stats::default();
        // The true offset is 0; slow exchanges carry errors up to half their excess delay.
        let data = [
            (1e-4, 0.0),
            (9e-4, 3e-4),
            (5e-4, -1.5e-4),
            (1.1e-4, 1e-6),
            (7e-4, 2e-4),
        ];
        for (i, (delay, offset)) in data.iter().enumerate() {
            stats.add(at(i as f64 * 64.0), *offset, *delay);
        }
        let (offset, _) = stats.fit().unwrap().predict(at(256.0));
        assert!(offset.abs() < 2e-5, "{offset}");
    }

    /// All the jitter on the responses (each response late by `v`, the
    /// requests never): every raw offset is low by `v/2`. Told the
    /// asymmetry and the minimum delay, the statistics find the true
    /// offset; not told, they are biased by a good part of the mean `v/2`.
    #[test]
    fn mindelay_and_asymmetry_correct_one_sided_jitter() {
        let (base, truth) = (2e-4, 3e-3);
        let late = [
            3e-5, 1.2e-4, 6e-5, 2e-4, 9e-5, 4e-5, 1.5e-4, 7e-5, 1e-4, 5e-5,
        ];
        let fitted = |stats: &mut Stats| {
            for (i, v) in late.iter().enumerate() {
                stats.add(at(i as f64 * 16.0), truth - v / 2.0, base + v);
            }
            stats.fit().unwrap().predict(at(144.0)).0
        };
        let mut told = Stats::default();
        told.set_delay_model(base, 0.5);
        assert_eq!(told.min_delay(), Some(base));
        let corrected = fitted(&mut told);
        assert!((corrected - truth).abs() < 1e-9, "{corrected}");
        let raw = fitted(&mut Stats::default());
        assert!(truth - raw > 5e-6, "{raw}");
        // A wrong minimum (half the true one) biases it by asymmetry × 1e-4.
        let mut wrong = Stats::default();
        wrong.set_delay_model(base / 2.0, 0.5);
        let off = fitted(&mut wrong) - truth;
        assert!((off - 5e-5).abs() < 1e-9, "{off}");
    }

    #[test]
    fn corrections_keep_the_fit_consistent() {
        let mut stats = Stats::default();
        for i in 0..5 {
            let t = i as f64 * 64.0;
            stats.add(at(t), 0.5 - 1e-4 * t, 2e-4);
        }
        // Slow the clock down by its 100 ppm: the offsets stop changing,
        // and the delays read that much shorter.
        let now = at(300.0);
        stats.correct(now, -1e-4);
        let min = stats.min_delay().unwrap();
        assert!((min - 2e-4 * (1.0 - 1e-4)).abs() < 1e-10, "{min}");
        let fit = *stats.fit().unwrap();
        assert!(fit.frequency.abs() < 1e-12, "{}", fit.frequency);
        let (offset, _) = fit.predict(now);
        assert!((offset - 0.47).abs() < 1e-9, "{offset}");
        // A step moves the samples along with the clock.
        stats.step(offset);
        assert!(
            stats
                .fit()
                .unwrap()
                .predict(now + NtpDuration::from_seconds_f64(offset))
                .0
                .abs()
                < 1e-9
        );
        stats.step(-2.0);
        assert!((stats.fit().unwrap().predict(at(298.47)).0 - 2.0).abs() < 1e-9);
    }

    #[test]
    fn two_samples_across_a_jump_give_no_confident_frequency() {
        let mut stats = Stats::default();
        // The source corrected its own clock by 0.1 s between two quick
        // exchanges: the slope is 5 %, and nothing shows it is an error.
        stats.add(at(0.0), -0.2, 2e-4);
        stats.add(at(2.0), -0.3, 2.1e-4);
        let fit = stats.fit().unwrap();
        assert!((fit.frequency + 0.05).abs() < 1e-6, "{}", fit.frequency);
        assert!(fit.skew >= fit.frequency.abs(), "{}", fit.skew);
        // A third sample shows the jump in the residuals.
        stats.add(at(4.0), -0.3, 2e-4);
        assert!(stats.fit().unwrap().skew > 1e-3);
    }

    #[test]
    fn runs_test_drops_a_wandered_past() {
        let mut stats = Stats::default();
        // Ten samples on one line, then the frequency changes.
        for i in 0..30 {
            let t = i as f64 * 64.0;
            let offset = if i < 10 { 0.0 } else { 1e-6 * (t - 576.0) };
            let noise = if i % 2 == 0 { 1e-6 } else { -1e-6 };
            stats.add(at(t), offset + noise, 2e-4);
        }
        assert!(stats.len() < 30, "kept {}", stats.len());
        let fit = stats.fit().unwrap();
        assert!((fit.frequency - 1e-6).abs() < 2e-8, "{}", fit.frequency);
    }

    /// A line the clock follows lets go of the past as chronyd's does: a
    /// clock whose frequency ramps (offsets on a parabola, 4 s apart, 10
    /// ns of noise) keeps the few samples the runs over twice them allow
    /// (6 where the lenient test keeps 11), so the line's newest offset
    /// lags the clock less; those dropped stay for the test and are
    /// counted out of `len`.
    #[test]
    fn a_followed_line_lets_go_of_a_changed_past() {
        let run = |followed: bool| {
            let mut stats = Stats::default();
            stats.set_limits(6, 0);
            stats.set_followed(followed);
            let mut lag = 0.0_f64;
            for i in 0..60 {
                let t = f64::from(i) * 4.0;
                let noise = if i % 2 == 0 { 1e-8 } else { -1e-8 };
                stats.add(at(t), 1e-7 * t * t + noise, 1e-6);
                if i >= 30 {
                    lag = lag.max((stats.fit().unwrap().offset - 1e-7 * t * t).abs());
                }
            }
            (stats.len(), usize::from(stats.len), lag)
        };
        let (followed, kept, lag) = run(true);
        let (free, kept_free, free_lag) = run(false);
        assert!(followed < free, "{followed} {free}");
        assert!(kept > followed && kept <= 2 * followed, "{kept} {followed}");
        assert_eq!(kept_free, free);
        assert!(lag < free_lag / 2.0, "{lag:e} {free_lag:e}");
    }

    /// Samples with unbounded errors that all have the same spread (none
    /// above the least) still make a line: their weights stay finite.
    #[test]
    fn unbounded_samples_of_one_spread_make_a_line() {
        let mut stats = Stats::default();
        stats.set_unbounded_errors(true);
        for i in 0..12 {
            let t = f64::from(i) * 4.0;
            stats.add(at(t), 1e-3 + 1e-6 * t, 1e-6);
        }
        let fit = stats.fit().unwrap();
        assert!((fit.offset - (1e-3 + 44e-6)).abs() < 1e-12, "{fit:?}");
        assert!((fit.frequency - 1e-6).abs() < 1e-12, "{fit:?}");
    }

    /// A reference clock's samples, 100 ns apart from a line: with
    /// unbounded errors their spread alone weighs them (no 1 µs floor of
    /// timestamping noise), so the line is known to what they say.
    #[test]
    fn unbounded_errors_are_weighed_by_their_spread_alone() {
        let fit_of = |unbounded: bool| {
            let mut stats = Stats::default();
            stats.set_delay_model(1e-9, 0.0);
            stats.set_unbounded_errors(unbounded);
            for i in 0..16 {
                let noise = if i % 2 == 0 { 1e-7 } else { -1e-7 };
                // A spread of 1e-7 as a delay excess of the same variance.
                stats.add(at(f64::from(i) * 16.0), noise, 1e-9 + 3.464e-7);
            }
            *stats.fit().unwrap()
        };
        let (unbounded, bounded) = (fit_of(true), fit_of(false));
        let sd = |fit: &Fit| Float::sqrt(fit.offset_var);
        assert!(sd(&unbounded) < 2e-7, "{}", sd(&unbounded));
        assert!(
            sd(&bounded) > 2.0 * sd(&unbounded),
            "{} {}",
            sd(&bounded),
            sd(&unbounded)
        );
        assert!(unbounded.offset.abs() < 1e-7 && unbounded.frequency.abs() < 1e-8);
    }

    #[test]
    fn chi_square_10_percent_points_are_close_to_the_table_or_below() {
        for (dof, point) in [(10.0, 4.865), (30.0, 20.599)] {
            let got = chi2_point(dof, -Z90);
            assert!((got / point - 1.0).abs() < 0.03, "{dof}: {got}");
        }
        for (dof, point) in [(1.0, 0.0158), (2.0, 0.211)] {
            let got = chi2_point(dof, -Z90);
            assert!(got < point && got > point / 4.0, "{dof}: {got}");
        }
    }

    /// A reference clock read to 1 ns (4 samples 64 s apart, each
    /// weighed as the clock's precision, 119 ns): its frequency is known
    /// as well as the samples' residuals say, chronyd's way, not as the
    /// least wander assumed would have it (0.01 ppm); its offset, as
    /// well as the precision says. Samples over an NTP path keep the
    /// model's variances as their floor.
    #[test]
    fn a_reference_clocks_residuals_narrow_its_skew() {
        let fit_of = |unbounded: bool| {
            let mut stats = Stats::default();
            stats.set_delay_model(1e-9, 0.0);
            stats.set_unbounded_errors(unbounded);
            for i in 0..4 {
                let noise = if i % 2 == 0 { 1e-9 } else { -1e-9 };
                let t = f64::from(i) * 64.0;
                stats.add(at(t), 1e-3 + 1e-7 * t + noise, 1e-9 + 3.464 * 119e-9);
            }
            *stats.fit().unwrap()
        };
        let (clock, path) = (fit_of(true), fit_of(false));
        assert!((clock.frequency - 1e-7).abs() < 1e-10, "{clock:?}");
        assert!(clock.skew < 1e-10, "{}", clock.skew);
        assert!(path.skew > 1e-9, "{}", path.skew);
        // The offset stays as sure as the precision says (no surer).
        let sd = Float::sqrt(clock.offset_var);
        assert!(sd > 5e-8 && sd < 2e-7, "{sd}");
    }

    #[test]
    fn the_centre_of_a_tiny_region_far_out_is_exact() {
        // A region a few 1e-7 across where a 100 s slew leaves a source's
        // line (offset 10 s, slope -90 in span units): the centre of a
        // triangle is the mean of its corners.
        let corners = [
            (10.226_169_756_827_72, -89.774_172_876_647_58),
            (10.226_170_042_974_77, -89.774_172_533_376_91),
            (10.226_170_156_853_847, -89.774_170_479_427_84),
        ];
        let mut polygon = Polygon {
            points: [(0.0, 0.0); MAX_VERTICES],
            len: 3,
        };
        polygon.points[..3].copy_from_slice(&corners);
        let (x, y) = polygon.centroid();
        let mean = |f: fn(&(f64, f64)) -> f64| corners.iter().map(f).sum::<f64>() / 3.0;
        assert!((x - mean(|p| p.0)).abs() < 1e-12, "{x}");
        assert!((y - mean(|p| p.1)).abs() < 1e-11, "{y}");
    }

    #[test]
    fn maxsamples_keeps_the_newest() {
        let mut stats = Stats::default();
        stats.set_limits(0, 4);
        for i in 0..10 {
            stats.add(at(f64::from(i) * 64.0), 1e-3 * f64::from(i), 2e-4);
            assert!(stats.len() <= 4);
        }
        assert!((stats.newest_offset().unwrap() - 9e-3).abs() < 1e-12);
        let fit = stats.fit().unwrap();
        assert_eq!(fit.samples, 4);
        assert!((fit.span - 192.0).abs() < 1e-6, "{}", fit.span);
        // One sample: its offset, and no frequency.
        stats.set_limits(0, 1);
        stats.add(at(640.0), 0.5, 2e-4);
        assert_eq!(stats.len(), 1);
        let fit = stats.fit().unwrap();
        assert_eq!((fit.offset, fit.frequency), (0.5, 0.0));
    }

    #[test]
    fn samples_are_restored_as_they_were_kept() {
        let mut stats = Stats::default();
        for i in 0..8 {
            let noise = if i % 2 == 0 { 1e-5 } else { -1e-5 };
            stats.add(at(i as f64 * 64.0), 1e-3 + 2e-6 * i as f64 + noise, 2e-4);
        }
        stats.correct(at(500.0), 1e-6);
        let kept: std::vec::Vec<StoredSample> = stats.samples().collect();
        assert_eq!(kept.len(), 8);
        let mut restored = Stats::default();
        restored.restore(kept.iter().copied()).unwrap();
        assert_eq!(restored.samples().collect::<std::vec::Vec<_>>(), kept);
        // Fitted again: the line a correction moved is the line the
        // corrected samples give.
        let (a, b) = (stats.fit().unwrap(), restored.fit().unwrap());
        let (pa, pb) = (a.predict(at(600.0)).0, b.predict(at(600.0)).0);
        assert!((pa - pb).abs() < 1e-9, "{pa} {pb}");
        assert!((a.frequency - b.frequency).abs() < 1e-12, "{a:?} {b:?}");

        // Refused, and nothing changed.
        let mut reversed = kept.clone();
        reversed.reverse();
        assert_eq!(restored.restore(reversed), Err(BadSamples::OutOfOrder));
        assert_eq!(restored.restore([]), Err(BadSamples::None));
        let many = (0..MAX_SAMPLES + 1).map(|i| StoredSample {
            time: at(i as f64),
            offset: 0.0,
            delay: 1e-4,
        });
        assert_eq!(restored.restore(many), Err(BadSamples::TooMany));
        let nan = StoredSample {
            offset: f64::NAN,
            ..kept[0]
        };
        assert_eq!(restored.restore([nan]), Err(BadSamples::NotFinite));
        let negative = StoredSample {
            delay: -1e-3,
            ..kept[0]
        };
        assert_eq!(restored.restore([negative]), Err(BadSamples::NotFinite));
        assert_eq!(restored.len(), 8);
    }

    #[test]
    fn detects_a_jump() {
        let mut stats = Stats::default();
        for i in 0..5 {
            let noise = if i % 2 == 0 { 1e-5 } else { -1e-5 };
            stats.add(at(i as f64 * 64.0), 1e-5 + noise, 2e-4);
        }
        assert!(!stats.is_jump(at(320.0), 2e-4, 2e-4));
        assert!(stats.is_jump(at(320.0), 100.0, 2e-4));
        // The source corrected its clock by 10 ms: a jump for a quick
        // exchange, but within what a slow one's error may be.
        assert!(stats.is_jump(at(320.0), 1e-2, 2e-4));
        assert!(!stats.is_jump(at(320.0), 1e-2, 3e-2));
    }

    #[test]
    fn refuses_slow_exchanges_that_agree_with_the_prediction() {
        let mut stats = Stats::default();
        for i in 0..OUTLIER_MIN_SAMPLES {
            let noise = if i % 2 == 0 { 1e-5 } else { -1e-5 };
            stats.add(at(i as f64 * 64.0), noise, 2e-4);
        }
        let next = at(OUTLIER_MIN_SAMPLES as f64 * 64.0);
        assert!(!stats.is_delay_outlier(next, 0.0, (3e-4, 3e-4), 10.0));
        // 0.5 s of extra delay, offset as predicted: a slow exchange.
        assert!(stats.is_delay_outlier(next, 1e-5, (1.0, 1.0), 10.0));
        // ... but 2 s off the prediction: a change of the clocks.
        assert!(!stats.is_delay_outlier(next, 2.0, (1.0, 1.0), 10.0));
        // Fewer samples: no test.
        stats.clear();
        for i in 0..OUTLIER_MIN_SAMPLES - 1 {
            stats.add(at(i as f64 * 64.0), 0.0, 2e-4);
        }
        assert!(!stats.is_delay_outlier(next, 0.0, (1.0, 1.0), 10.0));
    }
}
