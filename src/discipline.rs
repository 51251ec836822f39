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
//! # Corrections
//! At each update the discipline corrects the estimated frequency error and
//! the whole estimated offset:
//! - a **step** if `makestep` allows it (over the threshold, within the
//!   first `limit` updates made with a measured frequency, or always with
//!   limit −1: up to two corrections made from a sample or two while the
//!   frequency is still being measured come before chronyd's first
//!   update, and do not count);
//! - otherwise a **slew**, which is nothing but a frequency: the clock runs
//!   faster (or slower) than its corrected frequency for a while, and the
//!   discipline asks to be woken when the correction is done
//!   ([`poll_timeout`](Discipline::poll_timeout)). How long a slew takes is
//!   chrony's `corrtimeratio` rule as chronyd carries it out: an offset as
//!   large as its own error as measured ([`Estimate::sample_sd`], not grown
//!   with the samples' age) is spread over half `corrtimeratio`
//!   update intervals (chronyd's correction rate is `corrtimeratio` × ½ ×
//!   error × interval, and a slew lasts that rate over the offset), larger
//!   ones over proportionally less time, smaller ones over more; never faster
//!   than `maxslewrate`, and never beyond what the clock can run
//!   ([`DisciplineConfig::max_frequency_ppm`]). The clock's frequency error
//!   from a slew is then no larger than the offset's own uncertainty
//!   spread over a few polls, not a fixed fast rate;
//! - a **frequency** change when the estimate's skew is under
//!   `maxupdateskew`, bounded by `maxdrift`; while the frequency is still a
//!   saved drift whose skew is smaller than the estimate's, the two are
//!   combined weighted by their inverse variances.
//!
//! Every change of the clock's frequency (a new frequency, a slew starting
//! or ending) and every step is reported as a [`Correction`], made at the
//! `now` of the call: the system corrects the stored samples of every
//! source by exactly that (see [`crate::filter::Stats::correct`]), so that
//! the statistics always describe the clock as it runs now. Nothing is
//! modelled: a slew whose end is handled late has run longer, and the
//! samples are corrected by what it really did.
//!
//! An offset over the panic threshold, once the clock has been
//! synchronised and `makestep` no longer allows a step, is not corrected:
//! [`update`](Discipline::update) returns [`DisciplineError::PanicThreshold`]
//! and the caller decides.
//!
//! # Actions
//! Actions wait in a queue that never drops anything: the last frequency
//! and the last status each replace the one before, and steps add up
//! ([`poll_action`](Discipline::poll_action) gives the step first, then
//! the frequency, then the status).
//!
//! Frequencies are fractions here unless a name says `ppm`. A frequency
//! correction `F` makes the clock count `(1 + F)` times its natural rate.

use core::fmt;

use crate::clock::{ClockAction, SyncStatus, MAX_ERROR_LIMIT};
use crate::sample::MAX_CLOCK_ERROR;
use crate::time::{log2_to_seconds, NtpDuration, NtpTimestamp};
use crate::wire::LeapIndicator;
use num_traits::Float;

/// The shortest slew, seconds of the clock's time.
const MIN_SLEW_TIME: f64 = 1.0;

/// What a slew ended late may overshoot before it is taken back, seconds:
/// below this, the next measurement finds it (and it is under what a
/// clock can be read to).
const MIN_OVERSHOOT: f64 = 1e-9;

/// Updates made before the frequency is measured that `makestep`'s limit
/// does not count, at most (the two samples before chronyd's first
/// regression).
const UNCOUNTED_UPDATES: u32 = 2;

/// chrony's `makestep THRESHOLD LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MakeStep {
    /// Step when the offset is larger than this, seconds.
    pub threshold: f64,
    /// During the first this many updates; -1: always.
    pub limit: i32,
}

/// chrony's `maxchange OFFSET START IGNORE`: after START updates, an
/// offset larger than OFFSET is not corrected; after IGNORE such offsets
/// (negative: never) the discipline gives up, and chronyd exits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MaxChange {
    /// The largest offset corrected, seconds.
    pub offset: f64,
    /// Updates before the check starts.
    pub start: i32,
    /// Offsets over the limit ignored before giving up (negative: always
    /// ignored).
    pub ignore: i32,
}

/// The clock's frequency error and its uncertainty, as chrony's driftfile
/// holds them: `frequency_ppm` > 0 means the clock runs fast without
/// correction.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Drift {
    /// Frequency error, ppm (positive: fast).
    pub frequency_ppm: f64,
    /// Its uncertainty, ppm.
    pub skew_ppm: f64,
}

impl Drift {
    /// Reads a driftfile's contents: two numbers separated by white space.
    pub fn parse(text: &str) -> Option<Drift> {
        let mut fields = text.split_whitespace();
        let frequency_ppm = fields.next()?.parse().ok()?;
        let skew_ppm = fields.next()?.parse().ok()?;
        let drift = Drift {
            frequency_ppm,
            skew_ppm,
        };
        (fields.next().is_none() && f64::is_finite(frequency_ppm) && f64::is_finite(skew_ppm))
            .then_some(drift)
    }
}

impl fmt::Display for Drift {
    /// The driftfile line (as chrony writes it, without padding).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} {:.6}", self.frequency_ppm, self.skew_ppm)
    }
}

/// How the discipline corrects the clock. The default is chrony's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DisciplineConfig {
    /// Step instead of slewing (default: never).
    pub makestep: Option<MakeStep>,
    /// Frequency updates with a larger skew are ignored, ppm (1000).
    pub maxupdateskew_ppm: f64,
    /// Largest frequency correction, ppm (500000).
    pub maxdrift_ppm: f64,
    /// Largest slew rate, ppm (83333.333).
    pub maxslewrate_ppm: f64,
    /// An offset as large as the estimate's error is slewed over half this
    /// many update intervals (chrony's `corrtimeratio`, 3, as chronyd
    /// applies it).
    pub corrtimeratio: f64,
    /// The largest frequency correction the clock can run at, slews
    /// included, ppm (100000: Linux's tick length reaches ±10 %).
    pub max_frequency_ppm: f64,
    /// Offsets larger than this are refused once synchronised, seconds
    /// (1000; `None`: no limit).
    pub panic_threshold: Option<f64>,
    /// `maxchange` (default: none).
    pub maxchange: Option<MaxChange>,
    /// `fallbackdrift` (default: none).
    pub fallbackdrift: Option<FallbackDrift>,
}

setters!(impl [] DisciplineConfig {
    with_makestep => makestep: Option<MakeStep>,
    with_maxupdateskew_ppm => maxupdateskew_ppm: f64,
    with_maxdrift_ppm => maxdrift_ppm: f64,
    with_maxslewrate_ppm => maxslewrate_ppm: f64,
    with_corrtimeratio => corrtimeratio: f64,
    with_max_frequency_ppm => max_frequency_ppm: f64,
    with_panic_threshold => panic_threshold: Option<f64>,
    with_maxchange => maxchange: Option<MaxChange>,
    with_fallbackdrift => fallbackdrift: Option<FallbackDrift>,
});

/// chrony's `fallbackdrift MIN MAX`: while synchronised, the frequency is
/// averaged over 2^MIN to 2^MAX seconds (log2 seconds, each a moving
/// average over about that long); once no update has come for 2^i
/// seconds, the clock runs at average i, the longest one as long as it
/// is wanted. A clock whose frequency swings with the temperature (or any
/// cycle) then drifts at its long-term average when the sources are lost,
/// not at wherever the cycle was at the last update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FallbackDrift {
    /// The shortest average, log2 seconds (at least 1).
    pub min: u8,
    /// The longest, log2 seconds (at most [`FALLBACK_MAX`]).
    pub max: u8,
}

/// The longest fallback drift, log2 seconds (2^30 s: 34 years).
pub const FALLBACK_MAX: u8 = 30;

impl FallbackDrift {
    /// `fallbackdrift MIN MAX` as chronyd takes it: none unless
    /// 0 < MIN <= MAX (chronyd ignores other pairs); MAX is capped at
    /// [`FALLBACK_MAX`].
    pub fn new(min: i64, max: i64) -> Option<FallbackDrift> {
        let max = max.min(i64::from(FALLBACK_MAX));
        (min > 0 && max >= min).then_some(FallbackDrift {
            min: min as u8,
            max: max as u8,
        })
    }
}

/// One fallback drift: a moving average of the frequency over about
/// 2^i seconds, and how many seconds it holds so far (it is used only
/// once it holds 2^i).
#[derive(Debug, Clone, Copy, Default)]
struct Average {
    frequency_ppm: f64,
    seconds: f64,
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            makestep: None,
            maxupdateskew_ppm: 1000.0,
            maxdrift_ppm: 500_000.0,
            maxslewrate_ppm: 83_333.333,
            corrtimeratio: 3.0,
            max_frequency_ppm: 100_000.0,
            panic_threshold: Some(1000.0),
            maxchange: None,
            fallbackdrift: None,
        }
    }
}

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
    /// The offset is over `maxchange`: not corrected; with `give_up`, it
    /// was one too many (chronyd exits).
    #[error("offset of {offset} s exceeds maxchange")]
    MaxChange {
        /// The offset that would have been corrected, seconds (positive:
        /// the clock is behind).
        offset: f64,
        /// More offsets over the limit than `maxchange` ignores.
        give_up: bool,
    },
}

/// What the selected sources say about the clock now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// How far the clock is behind now, seconds (negative: ahead).
    pub offset: f64,
    /// Its standard deviation, seconds.
    pub offset_sd: f64,
    /// Its standard deviation as measured, before the frequency's error
    /// grows it with the samples' age, seconds: what a slew's haste
    /// weighs the offset against (chronyd's rule).
    pub sample_sd: f64,
    /// Rate at which the offset grows on the clock as it runs now, s/s
    /// (positive: the clock is slow).
    pub frequency: f64,
    /// Standard error of the frequency, s/s.
    pub skew: f64,
    /// Root delay of the reference we would serve, seconds.
    pub root_delay: f64,
    /// Root dispersion of that reference at the update, seconds.
    pub root_dispersion: f64,
    /// The leap second the sources announce.
    pub leap: LeapIndicator,
    /// When the next update is expected, seconds from now (the selected
    /// source's polling interval): a slew spreads over a few of these.
    pub interval: f64,
}

/// A change the discipline made to the clock at the `now` of the call, for
/// correcting stored samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Correction {
    /// The clock's rate changed by this fraction of its old rate: it now
    /// counts `(1 + rate)` times as fast as before.
    pub rate: f64,
    /// The clock was stepped by this many seconds (positive: forward).
    pub step: Option<f64>,
}

impl Correction {
    /// Whether nothing changed.
    pub fn is_none(&self) -> bool {
        self.rate == 0.0 && self.step.is_none()
    }
}

/// A slew in progress: the clock runs at `base + rate` until `end`.
#[derive(Debug, Clone, Copy)]
struct Slew {
    end: NtpTimestamp,
    rate: f64,
}

/// The actions waiting for the caller: nothing is ever dropped.
#[derive(Debug, Clone, Copy, Default)]
struct Actions {
    step: Option<f64>,
    frequency: Option<f64>,
    status: Option<SyncStatus>,
}

/// The clock-discipline state machine.
#[derive(Debug, Clone)]
pub struct Discipline {
    config: DisciplineConfig,
    state: DisciplineState,
    updates: u32,
    /// The updates `makestep`'s limit counts: those made with a measured
    /// frequency (in `Tracking`), and every one from the third on.
    /// chronyd makes no update before its statistics have three samples,
    /// so its first `limit` updates all come with a frequency; the
    /// corrections made here before that, from a sample or two, do not
    /// use the limit up.
    measured_updates: u32,
    /// Offsets ignored for being over `maxchange`.
    maxchange_ignored: u32,
    /// The frequency correction, without a slew, ppm (kept in the unit of
    /// the drift file, so that a saved drift comes back exactly).
    base_ppm: f64,
    skew_ppm: f64,
    /// The rate error the last update left uncorrected (rejected by
    /// `maxupdateskew`, kept back by a saved drift, or beyond `maxdrift`),
    /// s/s: the error bound grows with it.
    residual_frequency: f64,
    /// The frequency is a saved drift no measurement has beaten yet.
    prior: bool,
    slew: Option<Slew>,
    /// The slew that makes the clock follow a `local` reference clock's
    /// changes ([`follow`](Self::follow)), beside the updates' slew.
    follow: Option<Slew>,
    /// When the clock last followed one.
    last_follow: Option<NtpTimestamp>,
    /// How many times it followed one since the last update.
    follows: u32,
    last_update: Option<NtpTimestamp>,
    update_interval: f64,
    last_offset: f64,
    mean_square_offset: f64,
    /// The offsets have grown once: their mean square moves.
    rms_moving: bool,
    root_delay: f64,
    root_dispersion: f64,
    est_error: f64,
    leap: LeapIndicator,
    actions: Actions,
    /// The fallback drifts, by log2 seconds (those of `fallbackdrift`).
    fallback: [Average; FALLBACK_MAX as usize + 1],
    /// The fallback drift the clock runs at (none while updates come).
    fallback_active: Option<u8>,
    /// How far the slews planned so far moved the corrected time (each
    /// planned correction at once, as [`pending`](Self::pending) shows
    /// it), seconds: what the monotonic scale leaves out.
    offset_corrections: f64,
    /// Steps of the clock so far (ours and others'), wrapping.
    steps: u32,
}

impl Discipline {
    /// A discipline starting from a saved drift (or none), with the
    /// frequency it sets first queued.
    pub fn new(drift: Option<Drift>, config: DisciplineConfig) -> Discipline {
        let limit = config
            .maxdrift_ppm
            .abs()
            .min(config.max_frequency_ppm.abs());
        let (frequency_ppm, skew_ppm) = match drift {
            Some(d) => ((-d.frequency_ppm).clamp(-limit, limit), d.skew_ppm),
            None => (0.0, 1e6),
        };
        let mut discipline = Discipline {
            config,
            state: DisciplineState::Unset,
            updates: 0,
            measured_updates: 0,
            maxchange_ignored: 0,
            base_ppm: frequency_ppm,
            skew_ppm,
            residual_frequency: 0.0,
            prior: drift.is_some(),
            slew: None,
            follow: None,
            last_follow: None,
            follows: 0,
            last_update: None,
            update_interval: 0.0,
            last_offset: 0.0,
            mean_square_offset: 0.0,
            rms_moving: false,
            root_delay: 0.0,
            root_dispersion: 0.0,
            est_error: 0.0,
            leap: LeapIndicator::NoWarning,
            actions: Actions::default(),
            fallback: [Average::default(); FALLBACK_MAX as usize + 1],
            fallback_active: None,
            offset_corrections: 0.0,
            steps: 0,
        };
        discipline.actions.frequency = Some(frequency_ppm);
        discipline
    }

    /// The configuration.
    pub fn config(&self) -> &DisciplineConfig {
        &self.config
    }

    /// Puts `slew` in place of the updates' slew in progress at `now`,
    /// counting how far that moves the corrected time.
    fn set_slew(&mut self, now: NtpTimestamp, slew: Option<Slew>) {
        let before = self.pending(now);
        self.slew = slew;
        self.offset_corrections += self.pending(now) - before;
    }

    /// Puts `follow` in place of the following slew in progress at `now`
    /// (see [`follow`](Self::follow)), counting as
    /// [`set_slew`](Self::set_slew) does.
    fn set_follow(&mut self, now: NtpTimestamp, follow: Option<Slew>) {
        let before = self.pending(now);
        self.follow = follow;
        self.offset_corrections += self.pending(now) - before;
    }

    /// Queues a step of the clock by `offset` seconds.
    fn queue_step(&mut self, offset: f64) {
        *self.actions.step.get_or_insert(0.0) += offset;
        self.steps = self.steps.wrapping_add(1);
        self.follow_stepped(offset);
    }

    /// The clock was stepped by `offset` seconds: the following slew's
    /// times move with it.
    fn follow_stepped(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        if let Some(t) = &mut self.last_follow {
            *t = *t + shift;
        }
        if let Some(follow) = &mut self.follow {
            follow.end = follow.end + shift;
        }
    }

    /// The monotonic time scale (what chrony's `extfield F323` gives): the
    /// corrected time ([`pending`](Self::pending) added to the clock's)
    /// less every offset correction made so far, so that it runs on
    /// through them, at the corrected frequency. Returns what to add to
    /// the corrected time for it, seconds, and how many steps the clock
    /// made (the scale starts again at each: its epoch).
    pub fn monotonic(&self) -> (f64, u32) {
        (-self.offset_corrections, self.steps)
    }

    /// The next action for the clock: a step, then the frequency, then the
    /// status. Drain after every call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        if let Some(offset) = self.actions.step.take() {
            return Some(ClockAction::Step {
                offset: NtpDuration::from_seconds_f64(offset),
            });
        }
        if let Some(ppm) = self.actions.frequency.take() {
            return Some(ClockAction::SetFrequency { ppm });
        }
        self.actions.status.take().map(ClockAction::SetStatus)
    }

    /// `chronyc makestep THRESHOLD LIMIT`: step when the offset is over
    /// the threshold in the next `limit` updates (negative: always), as
    /// chronyd counts them from the command.
    pub fn set_makestep(&mut self, makestep: MakeStep) {
        let limit = if makestep.limit < 0 {
            -1
        } else {
            i32::try_from(i64::from(self.measured_updates) + i64::from(makestep.limit))
                .unwrap_or(i32::MAX)
        };
        self.config.makestep = Some(MakeStep {
            threshold: makestep.threshold,
            limit,
        });
    }

    /// `chronyc maxupdateskew PPM`.
    pub fn set_maxupdateskew(&mut self, ppm: f64) {
        self.config.maxupdateskew_ppm = ppm;
    }

    /// How many times the clock was updated from the sources so far
    /// (what chrony's `nocerttimecheck` counts).
    pub fn updates(&self) -> u32 {
        self.updates
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

    /// The frequency correction without a slew.
    fn base(&self) -> f64 {
        self.base_ppm * 1e-6
    }

    /// The frequency the clock runs at now, slews included.
    fn applied(&self) -> f64 {
        self.updated() + self.follow.map_or(0.0, |s| s.rate)
    }

    /// The frequency the updates set: the clock's, less a `local`
    /// reference clock's following slew (which the sources' statistics
    /// are not told of).
    fn updated(&self) -> f64 {
        self.base() + self.slew.map_or(0.0, |s| s.rate)
    }

    /// When the discipline must be called again (the end of a slew in
    /// progress, the next fallback drift), on the clock's time.
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        let fallback = self.next_fallback().map(|(at, _)| at);
        [
            self.slew.map(|s| s.end),
            self.follow.map(|s| s.end),
            fallback,
        ]
        .into_iter()
        .flatten()
        .reduce(|a, b| if b < a { b } else { a })
    }

    /// Takes the frequency of this update (the correction without a slew)
    /// into the fallback drifts: `interval` seconds since the last update,
    /// `previous` the interval before (an update after a gap four times
    /// longer than the last one is left out, as chronyd leaves it out).
    fn update_fallback(&mut self, interval: f64, previous: f64) {
        let Some(range) = self.config.fallbackdrift else {
            return;
        };
        if interval < 1.0 || interval > previous * 4.0 {
            return;
        }
        let frequency = self.base_ppm;
        for i in range.min..=range.max {
            let span = log2_to_seconds(i as i8);
            let average = &mut self.fallback[usize::from(i)];
            if average.seconds < span {
                // Until it spans its interval: the plain mean, each update
                // weighing half its interval.
                let weight = interval * 0.5;
                average.frequency_ppm = (average.frequency_ppm * average.seconds
                    + weight * frequency)
                    / (weight + average.seconds);
                average.seconds += weight;
            } else {
                // Then a moving average with a time constant of its span.
                let gain = 1.0 - Float::exp(-interval / span);
                average.frequency_ppm += gain * (frequency - average.frequency_ppm);
            }
        }
    }

    /// The next fallback drift to switch to, and when: the shortest ready
    /// average (one that spans its interval) longer than the one in use,
    /// 2^i seconds after the last update.
    fn next_fallback(&self) -> Option<(NtpTimestamp, u8)> {
        let range = self.config.fallbackdrift?;
        let last = self.last_update?;
        (range.min..=range.max)
            .filter(|&i| self.fallback_active.map_or(true, |active| i > active))
            .find(|&i| self.fallback[usize::from(i)].seconds >= log2_to_seconds(i as i8))
            .map(|i| {
                (
                    last + NtpDuration::from_seconds_f64(log2_to_seconds(i as i8)),
                    i,
                )
            })
    }

    /// Ends a slew that is due by `now`, and switches to the fallback drift
    /// that is due (see [`FallbackDrift`]). Returns the change made.
    ///
    /// A slew ended late (a timer is never exact: `poll(2)` counts whole
    /// milliseconds, a process may be scheduled late) has corrected more
    /// than it was to: what it overshot is known exactly, and is taken
    /// back at once by a short slew the other way, as gently as
    /// the shortest slew (1 s) allows, instead of waiting for the next
    /// measurement to find it.
    pub fn handle_timeout(&mut self, now: NtpTimestamp) -> Correction {
        let start = self.applied();
        self.end_due_slew(now);
        while let Some((_, i)) = self.next_fallback().filter(|&(due, _)| due <= now) {
            // No update for 2^i seconds: run at that long an average.
            self.base_ppm = self.fallback[usize::from(i)].frequency_ppm;
            self.fallback_active = Some(i);
            self.actions.frequency = Some(self.applied() * 1e6);
            self.lose_sync(now);
        }
        let end = self.applied();
        Correction {
            rate: if end == start {
                0.0
            } else {
                rate_change(start, end)
            },
            step: None,
        }
    }

    /// Ends the updates' slew in progress if it is due by `now` (see
    /// [`handle_timeout`](Self::handle_timeout)).
    fn end_due_slew(&mut self, now: NtpTimestamp) {
        let Some(slew) = self.slew.filter(|s| now >= s.end) else {
            return;
        };
        let back = self.taken_back(now, slew);
        self.set_slew(now, back);
        self.actions.frequency = Some(self.applied() * 1e6);
    }

    /// What takes back the overshoot of `slew`, ended late at `now`: a
    /// slew the other way, as gently as the shortest slew allows (none
    /// when the overshoot is under [`MIN_OVERSHOOT`]).
    fn taken_back(&self, now: NtpTimestamp, slew: Slew) -> Option<Slew> {
        let late = (now - slew.end).to_seconds_f64();
        let one = 1.0 + self.base();
        let overshoot = late * slew.rate / (one + slew.rate);
        if overshoot.abs() <= MIN_OVERSHOOT {
            return None;
        }
        let max_rate = slew.rate.abs();
        let duration = (overshoot.abs() * (one + max_rate) / max_rate).max(MIN_SLEW_TIME);
        // Running at base + rate for `duration` gains `duration · rate
        // / (1 + base + rate)`: that gain is `-overshoot`.
        let rate = -overshoot * one / (duration + overshoot);
        Some(Slew {
            end: now + NtpDuration::from_seconds_f64(duration),
            rate,
        })
    }

    /// Ends the following slew (see [`follow`](Self::follow)) if it is due
    /// by `now`, its overshoot taken back as the updates' is. Returns the
    /// change made, which only the followed reference clock's samples
    /// take.
    pub fn end_due_follow(&mut self, now: NtpTimestamp) -> Correction {
        let Some(follow) = self.follow.filter(|s| now >= s.end) else {
            return Correction::default();
        };
        let back = self.taken_back(now, follow);
        self.replace_follow(now, back)
    }

    /// Puts `follow` in place of the following slew at `now` and sets the
    /// clock's frequency for it. Returns the change made.
    fn replace_follow(&mut self, now: NtpTimestamp, follow: Option<Slew>) -> Correction {
        let before = self.applied();
        self.set_follow(now, follow);
        self.actions.frequency = Some(self.applied() * 1e6);
        Correction {
            rate: rate_change(before, self.applied()),
            step: None,
        }
    }

    /// Ends the slew in progress at `now`, leaving the clock at the
    /// frequency estimate (as chronyd does on its way out).
    pub fn end_slew(&mut self, now: NtpTimestamp) -> Correction {
        if self.slew.is_none() {
            return Correction::default();
        }
        let before = self.applied();
        self.set_slew(now, None);
        // (The estimate exactly, as the drift file keeps it, when nothing
        // else is slewed.)
        self.actions.frequency = Some(match self.follow {
            None => self.base_ppm,
            Some(_) => self.applied() * 1e6,
        });
        Correction {
            rate: rate_change(before, self.applied()),
            step: None,
        }
    }

    /// Ends the following slew in progress at `now` (see
    /// [`follow`](Self::follow)), on the way out. Returns the change made,
    /// which only the followed reference clock's samples take.
    pub fn end_follow(&mut self, now: NtpTimestamp) -> Correction {
        if self.follow.is_none() {
            return Correction::default();
        }
        self.replace_follow(now, None)
    }

    /// Steps the clock by what the updates' slew in progress has still to
    /// correct at `now`, and ends the slew (`chronyc makestep`). Returns
    /// the change made (nothing without a slew).
    pub fn step_remaining(&mut self, now: NtpTimestamp) -> Correction {
        let remaining = self.update_pending(now);
        let mut correction = self.end_slew(now);
        if remaining != 0.0 {
            self.queue_step(remaining);
            correction.step = Some(remaining);
            if let Some(t) = &mut self.last_update {
                *t = *t + NtpDuration::from_seconds_f64(remaining);
            }
        }
        correction
    }

    /// The part of the slews in progress still to come at `now`, seconds
    /// (positive: the clock will be advanced).
    pub fn pending(&self, now: NtpTimestamp) -> f64 {
        self.left(self.slew, now) + self.left(self.follow, now)
    }

    /// The part of the updates' slew in progress still to come at `now`,
    /// seconds: [`pending`](Self::pending) less what a `local` reference
    /// clock's following still has to slew.
    pub fn update_pending(&self, now: NtpTimestamp) -> f64 {
        self.left(self.slew, now)
    }

    /// The part of `slew` still to come at `now`, seconds.
    fn left(&self, slew: Option<Slew>, now: NtpTimestamp) -> f64 {
        let Some(slew) = slew else {
            return 0.0;
        };
        let left = (slew.end - now).to_seconds_f64().max(0.0);
        left * slew.rate / (1.0 + self.base() + slew.rate)
    }

    /// Corrects the clock for `estimate` at local time `now`.
    pub fn update(
        &mut self,
        now: NtpTimestamp,
        estimate: &Estimate,
    ) -> Result<Correction, DisciplineError> {
        let config = self.config;
        let offset = estimate.offset;
        let may_step = self.makestep_allows(offset);
        let ever_synchronized = self.updates > 0;
        if let Some(threshold) = config.panic_threshold {
            if !may_step && ever_synchronized && offset.abs() > threshold {
                return Err(DisciplineError::PanicThreshold { offset });
            }
        }
        if let Some(m) = config.maxchange {
            // The change this update makes: the offset less what the slew
            // in progress is still to correct (chronyd checks the offset
            // of its corrected time).
            let change = offset - self.pending(now);
            if i64::from(self.updates) >= i64::from(m.start) && change.abs() > m.offset {
                self.maxchange_ignored = self.maxchange_ignored.saturating_add(1);
                let give_up =
                    m.ignore >= 0 && i64::from(self.maxchange_ignored) > i64::from(m.ignore);
                return Err(DisciplineError::MaxChange {
                    offset: change,
                    give_up,
                });
            }
        }
        let before = self.applied();
        // The frequency that would hold the offset still, from the rate it
        // grows at on the clock as it runs now (the updates' slew included;
        // a following slew is a passing change the sources do not see).
        let updated = self.updated();
        let wanted = updated + estimate.frequency * (1.0 + updated);
        let limit = config
            .maxdrift_ppm
            .abs()
            .min(config.max_frequency_ppm.abs())
            * 1e-6;
        let skew_ppm = estimate.skew * 1e6;
        if skew_ppm <= config.maxupdateskew_ppm {
            // A saved drift better than the measurement is kept in part.
            let gain = if self.prior && self.skew_ppm < skew_ppm {
                let (prior, measured) = (Float::powi(self.skew_ppm, 2), Float::powi(skew_ppm, 2));
                self.skew_ppm = Float::sqrt(prior * measured / (prior + measured));
                prior / (prior + measured)
            } else if self.state == DisciplineState::Tracking {
                let old = 1.0 / Float::powi(self.skew_ppm, 2).max(1e-30);
                let new = 3.0 / Float::powi(skew_ppm, 2).max(1e-30);
                self.skew_ppm = skew_ppm;
                new / (old + new)
            } else {
                self.prior = false;
                self.skew_ppm = skew_ppm;
                1.0
            };
            let base = self.base();
            self.base_ppm = (base + gain * (wanted - base)).clamp(-limit, limit) * 1e6;
            self.residual_frequency = (wanted - self.base()).abs();
            self.state = DisciplineState::Tracking;
        } else {
            self.residual_frequency = (wanted - self.base()).abs();
        }
        if self.state != DisciplineState::Tracking {
            self.state = if self.skew_ppm <= config.maxupdateskew_ppm {
                DisciplineState::Tracking
            } else {
                DisciplineState::MeasuringFrequency
            };
        }
        let previous_interval = self.update_interval;
        if let Some(interval) = self.last_update.map(|t| (now - t).to_seconds_f64()) {
            self.update_interval = interval.max(0.0);
            self.update_fallback(interval, previous_interval);
        }
        self.fallback_active = None;
        self.follows = 0;
        let mut correction = Correction::default();
        if may_step {
            self.set_slew(now, None);
            self.queue_step(offset);
            correction.step = Some(offset);
        } else {
            let slew = self.plan_slew(now, offset, estimate);
            self.set_slew(now, slew);
        }
        let after = self.applied();
        self.actions.frequency = Some(after * 1e6);
        correction.rate = rate_change(before, after);
        let now = now + NtpDuration::from_seconds_f64(correction.step.unwrap_or(0.0));
        self.updates = self.updates.saturating_add(1);
        if self.state == DisciplineState::Tracking || self.updates > UNCOUNTED_UPDATES {
            self.measured_updates = self.measured_updates.saturating_add(1);
        }
        self.last_update = Some(now);
        self.last_offset = offset;
        // As chronyd's: while the offsets fall (the first correction
        // being made), the latest one is the RMS; from the first that
        // grows, a moving average of their squares.
        let square = offset * offset;
        if self.rms_moving {
            self.mean_square_offset += 0.1 * (square - self.mean_square_offset);
        } else {
            if self.mean_square_offset > 0.0 && self.mean_square_offset < square {
                self.rms_moving = true;
            }
            self.mean_square_offset = square;
        }
        self.root_delay = estimate.root_delay;
        self.root_dispersion = estimate.root_dispersion;
        self.est_error = estimate.offset_sd;
        self.leap = estimate.leap;
        self.actions.status = Some(self.sync_status(now));
        Ok(correction)
    }

    /// The slew that corrects `offset` from `now` on (none for nothing to
    /// correct): chrony's `corrtimeratio` rule, within `maxslewrate` and
    /// the clock's reach.
    fn plan_slew(&self, now: NtpTimestamp, offset: f64, estimate: &Estimate) -> Option<Slew> {
        if offset == 0.0 || !offset.is_finite() {
            return None;
        }
        let config = &self.config;
        // The interval corrections are made in: the polling interval, or
        // the time since the last update when that was longer (after an
        // outage, what accumulated is not corrected in a hurry).
        let since = self.last_update.map_or(0.0, |t| (now - t).to_seconds_f64());
        let interval = estimate.interval.max(since).max(MIN_SLEW_TIME);
        // The offset's error as measured: what its age adds is the
        // frequency's error, which the frequency's update answers.
        let sd = estimate.sample_sd.max(1e-9);
        let duration = 0.5 * config.corrtimeratio * interval * sd / offset.abs();
        self.slew_over(now, offset, duration)
    }

    /// The slew that corrects `offset` from `now` on in about `duration`
    /// seconds (at least [`MIN_SLEW_TIME`], longer when `maxslewrate` or
    /// the clock's reach cannot make it that fast; none when the clock
    /// cannot slew).
    fn slew_over(&self, now: NtpTimestamp, offset: f64, duration: f64) -> Option<Slew> {
        let config = &self.config;
        let mut duration = duration.max(MIN_SLEW_TIME);
        // Running at base + rate for `duration` gains `duration · rate /
        // (1 + base + rate)` on the clock at base.
        let one = 1.0 + self.base();
        let reach = (config.max_frequency_ppm.abs() * 1e-6 - self.base().abs()).max(0.0);
        let max_rate = (config.maxslewrate_ppm.abs() * 1e-6).min(reach);
        if max_rate <= 0.0 {
            return None;
        }
        let mut rate = offset * one / (duration - offset);
        let within = rate.abs() <= max_rate;
        if !within || duration <= offset.abs() {
            rate = max_rate.copysign(offset);
            duration = offset * (one + rate) / rate;
        }
        Some(Slew {
            end: now + NtpDuration::from_seconds_f64(duration),
            rate,
        })
    }

    /// The clock follows a `local` reference clock at `now` (chrony's
    /// `refclock ... local`): the line through its samples moved by
    /// `offset` seconds (positive: the clock fell behind it) and its
    /// frequency by `frequency` s/s (positive: the clock runs slow against
    /// it) with its last sample. The frequency estimate takes the change at
    /// once; the offset is slewed beside the updates' slew, over about
    /// `corrtimeratio` halves of the time since the clock last followed it
    /// (longer when it is small against the offset error of the last
    /// update, shared among the times it followed since). Returns the
    /// change made: only the reference clock's samples take it, so that
    /// the other sources find it in their next samples (as chronyd's
    /// do), and the updates keep the time.
    pub fn follow(&mut self, now: NtpTimestamp, offset: f64, frequency: f64) -> Correction {
        if !offset.is_finite() || !frequency.is_finite() {
            return Correction::default();
        }
        let before = self.applied();
        let limit = self
            .config
            .maxdrift_ppm
            .abs()
            .min(self.config.max_frequency_ppm.abs())
            * 1e-6;
        let base = self.base();
        self.base_ppm = (base + frequency * (1.0 + base)).clamp(-limit, limit) * 1e6;
        let since = self
            .last_follow
            .map_or(0.0, |t| (now - t).to_seconds_f64().max(0.0));
        self.last_follow = Some(now);
        self.follows = self.follows.saturating_add(1);
        let total = self.left(self.follow, now) + offset;
        let follow = if total == 0.0 {
            None
        } else {
            // chronyd's measure of a correction's haste: the offset times
            // the time taken to correct it, which the total shares.
            let own = offset.abs() * since;
            let updates = self.est_error * self.update_interval / f64::from(self.follows);
            let duration = 0.5 * self.config.corrtimeratio * own.max(updates) / total.abs();
            self.slew_over(now, total, duration)
        };
        self.set_follow(now, follow);
        self.actions.frequency = Some(self.applied() * 1e6);
        Correction {
            rate: rate_change(before, self.applied()),
            step: None,
        }
    }

    /// Whether `makestep` allows a step of `offset` seconds now.
    fn makestep_allows(&self, offset: f64) -> bool {
        self.config.makestep.is_some_and(|m| {
            (m.limit < 0 || i64::from(self.measured_updates) < i64::from(m.limit))
                && offset.abs() > m.threshold
        })
    }

    /// Manual time input (`chronyc settime`): the drift estimate grows by
    /// `dfreq_ppm` (positive: the clock gains more than thought) and
    /// `offset` is corrected (positive: the clock is behind), stepped when
    /// `makestep` allows it, else slewed. Returns the change made.
    pub fn correct_manually(
        &mut self,
        now: NtpTimestamp,
        offset: f64,
        dfreq_ppm: f64,
    ) -> Correction {
        let before = self.applied();
        let limit = self
            .config
            .maxdrift_ppm
            .abs()
            .min(self.config.max_frequency_ppm.abs());
        self.base_ppm = (self.base_ppm - dfreq_ppm).clamp(-limit, limit);
        let once = self.correct_once(now, offset, self.makestep_allows(offset));
        let after = self.applied();
        self.actions.frequency = Some(after * 1e6);
        Correction {
            rate: rate_change(before, after),
            step: once.step,
        }
    }

    /// Corrects `offset` once at `now`, outside the updates (chronyd's
    /// `initstepslew`, `-q`): a step, or a slew as fast as `maxslewrate`
    /// and the clock allow. The frequency, the state and the update count
    /// are left as they are. Returns the change made.
    pub fn correct_once(&mut self, now: NtpTimestamp, offset: f64, step: bool) -> Correction {
        if offset == 0.0 || !offset.is_finite() {
            return Correction::default();
        }
        if step {
            self.queue_step(offset);
            if let Some(t) = &mut self.last_update {
                *t = *t + NtpDuration::from_seconds_f64(offset);
            }
            return Correction {
                rate: 0.0,
                step: Some(offset),
            };
        }
        let before = self.applied();
        let one = 1.0 + self.base();
        let reach = (self.config.max_frequency_ppm.abs() * 1e-6 - self.base().abs()).max(0.0);
        let rate = (self.config.maxslewrate_ppm.abs() * 1e-6)
            .min(reach)
            .copysign(offset);
        if rate == 0.0 {
            return Correction::default();
        }
        // Running at base + rate for `duration` gains `duration · rate /
        // (1 + base + rate)`.
        let duration = offset * (one + rate) / rate;
        let slew = Slew {
            end: now + NtpDuration::from_seconds_f64(duration),
            rate,
        };
        self.set_slew(now, Some(slew));
        let after = self.applied();
        self.actions.frequency = Some(after * 1e6);
        Correction {
            rate: rate_change(before, after),
            step: None,
        }
    }

    /// No source can be selected: keep the frequency and report the clock
    /// unsynchronised.
    pub fn lose_sync(&mut self, now: NtpTimestamp) {
        if self.is_synchronized() {
            self.state = DisciplineState::Holdover;
            self.leap = LeapIndicator::NoWarning;
            self.actions.status = Some(self.sync_status(now));
        }
    }

    /// The clock was stepped by `offset` seconds by someone else: the
    /// reference times move with it.
    pub fn clock_stepped(&mut self, offset: f64) {
        self.steps = self.steps.wrapping_add(1);
        let shift = NtpDuration::from_seconds_f64(offset);
        if let Some(t) = &mut self.last_update {
            *t = *t + shift;
        }
        if let Some(slew) = &mut self.slew {
            slew.end = slew.end + shift;
        }
        self.follow_stepped(offset);
    }

    /// Root dispersion at `now`: the one at the last update grown by the
    /// skew, the rate error left uncorrected and the clock's own error
    /// (as chrony's).
    pub fn root_dispersion(&self, now: NtpTimestamp) -> f64 {
        let age = self
            .last_update
            .map_or(0.0, |t| (now - t).to_seconds_f64().max(0.0));
        self.root_dispersion + self.dispersion_rate() * age
    }

    /// How fast the root dispersion grows, s/s: the skew, the rate error
    /// left uncorrected and the clock's own error.
    pub fn dispersion_rate(&self) -> f64 {
        self.skew_ppm.min(1e3) * 1e-6 + self.residual_frequency.min(1.0) + MAX_CLOCK_ERROR
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
            MAX_ERROR_LIMIT
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
            frequency_ppm: -self.base_ppm,
            skew_ppm: self.skew_ppm,
        }
    }

    /// How much faster than its estimated true rate the clock runs now
    /// for a slew in progress (a fraction; 0 without a slew): a length of
    /// time measured on the clock now reads `1 + slew_rate` times the
    /// true one.
    pub fn slew_rate(&self) -> f64 {
        rate_change(self.base(), self.applied())
    }

    /// The frequency correction the clock runs at now, slew included, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.applied() * 1e6
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
        Float::sqrt(self.mean_square_offset)
    }

    /// The leap second announced at the last update.
    pub fn leap(&self) -> LeapIndicator {
        self.leap
    }
}

/// How much faster, as a fraction of its old rate, a clock runs at
/// frequency `after` than at `before`.
pub(crate) fn rate_change(before: f64, after: f64) -> f64 {
    (after - before) / (1.0 + before)
}

#[cfg(test)]
mod tests;
