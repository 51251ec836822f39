//! The client engine as a whole: a fixed set of sources, selection and the
//! discipline, driven by `now`.
//!
//! ```text
//! loop {
//!     while let Some((id, len)) = system.poll_transmit(now, &mut rng, &mut buf) { send(id, &buf[..len]) }
//!     on response:  system.handle_response(rx_time, id, bytes)
//!     on timeout:   system.handle_timeout(now)
//!     while let Some(action) = system.poll_action() { clock.apply(&action) }
//!     sleep until system.poll_timeout()
//! }
//! ```
//!
//! `now` is always the time of the clock being disciplined, and the
//! caller carries out every action at the `now` of the call that produced
//! it (see [`crate::clock::ClockAction`]): the system then knows exactly
//! how the clock ran, and keeps every source's samples as if the clock had
//! always run as it does now. [`crate::node::Node`] wraps it with a server,
//! events and the drift file's schedule; that is what programs drive.
//!
//! The system holds at most `N` sources (default 8) in place, with no heap:
//! see [`SOURCE_STATE_BYTES`] for the size of one.

use crate::clock::{ClockAction, SyncStatus};
use crate::discipline::{
    Correction, Discipline, DisciplineConfig, DisciplineError, DisciplineState, Estimate,
};
pub use crate::discipline::{Drift, MakeStep};
use crate::reference::Reference;
use crate::report::{SourceMode, SourceReport, SourceStatsReport, TrackingReport};
use crate::sample::PHI;
use crate::select::{self, Candidate, Outcome, Settings, SourceState};
pub use crate::source::SourceConfig;
use crate::source::{ResponseError, Source};
use crate::time::{NtpDuration, NtpShort, NtpTimestamp};
use crate::wire::{LeapIndicator, ReferenceId};
use num_traits::Float;
use rand_core::RngCore;

/// An upper bound of the size of one source's whole state (association,
/// statistics of up to 64 samples of 24 bytes, server values), bytes: 1768
/// on 64-bit targets today. A test checks it; nothing is on the heap.
pub const SOURCE_STATE_BYTES: usize = 1792;

/// Identifies a source of a [`System`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceId(pub usize);

/// No room for another source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no room for another source (capacity {capacity})")]
pub struct CapacityError {
    /// How many sources the system holds.
    pub capacity: usize,
}

/// Why the system did not use a response.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The source refused it (see [`ResponseError`]).
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// No source has this id.
    #[error("no such source")]
    UnknownSource,
    /// The delay is an outlier against the source's statistics, seconds.
    #[error("delay {0} s is an outlier")]
    DelayOutlier(f64),
    /// The response was good, but the offset it shows (seconds, positive:
    /// the clock is behind) is over the panic threshold: the clock was
    /// left alone and the caller decides.
    #[error("offset of {0} s exceeds the panic threshold")]
    PanicThreshold(f64),
}

/// System-wide settings. The default is chrony's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SystemConfig {
    /// How the clock is corrected.
    pub discipline: DisciplineConfig,
    /// Sources that must survive selection to synchronise (1).
    pub minsources: usize,
    /// Seconds of distance one stratum is worth in selection (0.001).
    pub stratumweight: f64,
    /// Sources with a larger root distance are unusable, seconds (3).
    pub maxdistance: f64,
    /// Sources whose offsets vary more are too variable, seconds (1).
    pub maxjitter: f64,
    /// Precision of the local clock, log2 seconds (-20).
    pub precision: i8,
    /// The reference ID a server following us would announce (our own
    /// address), for the loop test.
    pub local_reference_id: Option<ReferenceId>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            discipline: DisciplineConfig::default(),
            minsources: 1,
            stratumweight: 1e-3,
            maxdistance: 3.0,
            maxjitter: 1.0,
            precision: -20,
            local_reference_id: None,
        }
    }
}

/// The client engine: sources, selection and discipline.
#[derive(Debug, Clone)]
pub struct System<const N: usize = DEFAULT_CAPACITY> {
    config: SystemConfig,
    sources: [Option<Source>; N],
    states: [SourceState; N],
    discipline: Discipline,
    selected: Option<usize>,
    /// Stratum of the selected source when the clock was last updated.
    selected_stratum: u8,
    /// Local time of the first good response (moved with steps).
    first_sample: Option<NtpTimestamp>,
}

/// How long, from its first good response, a node withholds its time
/// while it acquires synchronisation, seconds (16 polls at the default
/// minpoll): past it, a node whose sources never give a frequency serves
/// its local stratum anyway.
pub const ACQUIRE_LIMIT: f64 = 1024.0;

/// How many sources a [`System`] holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 8;

impl System {
    /// A system for up to [`DEFAULT_CAPACITY`] sources, starting from a
    /// saved drift (or none). [`System::with_capacity`] gives other sizes.
    pub fn new(config: SystemConfig, drift: Option<Drift>) -> Self {
        System::with_capacity(config, drift)
    }
}

impl<const N: usize> System<N> {
    /// A system for up to `N` sources (`System::<16>::with_capacity(..)`),
    /// starting from a saved drift (or none).
    pub fn with_capacity(config: SystemConfig, drift: Option<Drift>) -> Self {
        System {
            discipline: Discipline::new(drift, config.discipline),
            config,
            sources: core::array::from_fn(|_| None),
            states: [SourceState::Unusable; N],
            selected: None,
            selected_stratum: 0,
            first_sample: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SystemConfig {
        &self.config
    }

    /// Adds a server whose address has `reference_id`; its first request
    /// is due shortly after `now`.
    pub fn add_source(
        &mut self,
        config: SourceConfig,
        reference_id: ReferenceId,
        now: NtpTimestamp,
    ) -> Result<SourceId, CapacityError> {
        let slot = self
            .sources
            .iter()
            .position(Option::is_none)
            .ok_or(CapacityError { capacity: N })?;
        self.sources[slot] = Some(Source::new(config, reference_id, now));
        self.states[slot] = SourceState::Unusable;
        Ok(SourceId(slot))
    }

    /// The ids of the sources.
    pub fn sources(&self) -> impl Iterator<Item = SourceId> + '_ {
        self.sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| SourceId(i))
    }

    fn source(&self, id: SourceId) -> Option<&Source> {
        self.sources.get(id.0).and_then(Option::as_ref)
    }

    /// The source the clock is synchronised to, if any.
    pub fn selected(&self) -> Option<SourceId> {
        self.selected
            .filter(|&i| self.states[i] == SourceState::Selected)
            .map(SourceId)
    }

    /// The request last sent to `source` left at `time` (local; a kernel
    /// transmit timestamp): it replaces that request's T1.
    pub fn set_transmit_time(&mut self, source: SourceId, time: NtpTimestamp) {
        if let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) {
            src.set_transmit_time(time);
        }
    }

    /// Writes into `buf` (at least 48 bytes) a request that is due at
    /// `now`, and says for which source. Call until `None`.
    pub fn poll_transmit(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl RngCore,
        buf: &mut [u8],
    ) -> Option<(SourceId, usize)> {
        self.sources.iter_mut().enumerate().find_map(|(i, s)| {
            let len = s.as_mut()?.poll_transmit(now, rng, buf)?;
            Some((SourceId(i), len))
        })
    }

    /// Handles a response from `source` received at local time `now`.
    ///
    /// [`HandleError::PanicThreshold`] means the response was good but
    /// the offset it shows is over the panic threshold: the clock was left
    /// alone, and the caller decides what to do.
    pub fn handle_response(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        packet: &[u8],
    ) -> Result<(), HandleError> {
        let (precision, local_id) = (self.config.precision, self.config.local_reference_id);
        let src = self
            .sources
            .get_mut(source.0)
            .and_then(Option::as_mut)
            .ok_or(HandleError::UnknownSource)?;
        let measurement = src.handle_response(now, packet, precision, local_id)?;
        let time = measurement.midpoint();
        let offset = measurement.sample.offset.to_seconds_f64();
        let delay = measurement.filter_delay();
        if src
            .stats
            .is_delay_outlier(time, offset, delay, src.config.maxdelaydevratio)
        {
            return Err(HandleError::DelayOutlier(
                measurement.sample.delay.to_seconds_f64(),
            ));
        }
        if src.stats.is_jump(time, offset, delay) {
            src.stats.clear();
        }
        let excess = delay - src.stats.min_delay().unwrap_or(delay).min(delay);
        let innovation = src.stats.fit().filter(|fit| fit.samples >= 3).map(|fit| {
            let (predicted, sd) = fit.predict(time);
            // The sample's own error: uniform within half its excess.
            (
                offset - predicted,
                Float::sqrt(sd * sd + excess * excess / 12.0),
            )
        });
        src.stats.add(time, offset, delay);
        src.record(&measurement, innovation);
        self.first_sample.get_or_insert(now);
        self.reselect(now, Some(source.0))
            .map_err(|DisciplineError::PanicThreshold { offset }| {
                HandleError::PanicThreshold(offset)
            })
    }

    /// Handles the passing of time: a slew that is done ends, and sources
    /// that became unreachable are dropped from selection.
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        let correction = self.discipline.handle_timeout(now);
        self.correct(now, &correction);
        // Without an updated source, selection cannot fail on a panic.
        let _ = self.reselect(now, None);
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and
    /// [`poll_transmit`](Self::poll_transmit) again (local time).
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        self.sources
            .iter()
            .flatten()
            .filter_map(Source::next_poll)
            .chain(self.discipline.poll_timeout())
            .reduce(|a, b| if b < a { b } else { a })
    }

    /// The next action for the clock. Drain after every call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        self.discipline.poll_action()
    }

    /// Ends the slew in progress at `now` and leaves the clock running at
    /// the frequency estimate: what a program does on its way out, so that
    /// the kernel is not left slewing (the actions come out of
    /// [`poll_action`](Self::poll_action)).
    pub fn shutdown(&mut self, now: NtpTimestamp) {
        let correction = self.discipline.end_slew();
        self.correct(now, &correction);
    }

    /// Keeps every source's samples as if the clock had always run as
    /// `correction` leaves it at `now`.
    fn correct(&mut self, now: NtpTimestamp, correction: &Correction) {
        if correction.is_none() {
            return;
        }
        for source in self.sources.iter_mut().flatten() {
            source.stats.correct(now, correction.rate);
            if let Some(step) = correction.step {
                source.clock_stepped(step);
            }
        }
        if let Some(step) = correction.step {
            self.shift_first_sample(step);
        }
    }

    fn candidate(&self, index: usize, now: NtpTimestamp) -> Result<Candidate, SourceState> {
        let source = self.sources[index].as_ref().ok_or(SourceState::Unusable)?;
        let (Some(info), Some(fit)) = (source.info, source.stats.fit()) else {
            return Err(SourceState::Unusable);
        };
        if source.config.noselect
            || source.is_stopped()
            || source.is_unreachable()
            || info.leap == LeapIndicator::Unsynchronized
        {
            return Err(SourceState::Unusable);
        }
        if fit.std_dev > self.config.maxjitter {
            return Err(SourceState::TooVariable);
        }
        let (offset, offset_sd) = fit.predict(now);
        let age = (now - info.time).to_seconds_f64().max(0.0);
        let min_delay = source.stats.min_delay().unwrap_or(info.delay);
        let distance = (info.root_delay + min_delay) / 2.0
            + info.root_dispersion
            + info.dispersion
            + offset_sd
            + PHI * age;
        if distance > self.config.maxdistance {
            return Err(SourceState::Unusable);
        }
        Ok(Candidate {
            offset,
            distance,
            frequency: fit.frequency,
            skew: fit.skew,
            offset_sd,
            stratum: info.stratum,
            leap: info.leap,
            prefer: source.config.prefer,
            trust: source.config.trust,
            was_selected: self.selected == Some(index),
        })
    }

    fn reselect(
        &mut self,
        now: NtpTimestamp,
        updated: Option<usize>,
    ) -> Result<(), DisciplineError> {
        let placeholder = Candidate {
            offset: 0.0,
            distance: 0.0,
            frequency: 0.0,
            skew: 0.0,
            offset_sd: 0.0,
            stratum: 0,
            leap: LeapIndicator::NoWarning,
            prefer: false,
            trust: false,
            was_selected: false,
        };
        let mut candidates = [placeholder; N];
        let mut index = [0usize; N];
        let mut states = [SourceState::Unusable; N];
        let mut n = 0;
        for i in 0..N {
            match self.candidate(i, now) {
                Ok(c) => {
                    candidates[n] = c;
                    index[n] = i;
                    n += 1;
                }
                Err(state) => self.states[i] = state,
            }
        }
        let waiting = self
            .sources
            .iter()
            .flatten()
            .filter(|s| s.is_waiting() && !s.config.noselect)
            .count();
        let settings = Settings {
            minsources: self.config.minsources,
            stratumweight: self.config.stratumweight,
            waiting,
        };
        let outcome = select::select(&candidates[..n], &settings, &mut states);
        for k in 0..n {
            self.states[index[k]] = states[k];
        }
        let Outcome::Selected(combined) = outcome else {
            self.selected = None;
            self.discipline.lose_sync(now);
            return Ok(());
        };
        let selected = index[combined.selected];
        self.selected = Some(selected);
        let Some(updated) = updated else {
            return Ok(());
        };
        if !matches!(
            self.states[updated],
            SourceState::Selected | SourceState::Combined
        ) {
            return Ok(());
        }
        let Some(source) = self.sources[selected].as_ref() else {
            return Ok(());
        };
        let Some(info) = source.info else {
            return Ok(());
        };
        let min_delay = source.stats.min_delay().unwrap_or(info.delay);
        let estimate = Estimate {
            offset: combined.offset,
            offset_sd: combined.offset_sd,
            frequency: combined.frequency,
            skew: combined.skew,
            root_delay: info.root_delay + min_delay,
            root_dispersion: info.root_dispersion + info.dispersion + combined.offset_sd,
            leap: combined.leap,
            interval: source.regular_interval(),
        };
        let stratum = info.stratum;
        let correction = self.discipline.update(now, &estimate)?;
        self.selected_stratum = stratum;
        self.correct(now, &correction);
        Ok(())
    }

    /// What a server following this clock serves at `now` while it is
    /// synchronised and its frequency is known: the selected source's
    /// stratum + 1, its reference ID, the root delay and the root
    /// dispersion grown since the last update. [`Reference::UNSYNCHRONIZED`]
    /// otherwise (what is served then, `local stratum` included, is
    /// [`crate::server::LocalReference`]'s to decide).
    pub fn reference(&self, now: NtpTimestamp) -> Reference {
        let serving = self
            .synchronized_to()
            .filter(|_| self.discipline.state() == DisciplineState::Tracking);
        match serving {
            Some(reference_id) => Reference {
                leap: self.discipline.leap(),
                stratum: self.selected_stratum.saturating_add(1).min(16),
                reference_id,
                reference_time: self.discipline.last_update().unwrap_or(now),
                root_delay: NtpShort::from_seconds_f64(self.discipline.root_delay()),
                root_dispersion: NtpShort::from_seconds_f64(self.discipline.root_dispersion(now)),
            },
            None => Reference::UNSYNCHRONIZED,
        }
    }

    /// Whether the node is acquiring synchronisation: the clock's
    /// frequency is not measured yet while a source has answered (within
    /// [`ACQUIRE_LIMIT`] of the first answer) or may still answer its first
    /// requests. Its clock is about to be corrected and may drift fast
    /// then, so a server following this system serves nothing, not even
    /// its local stratum, so that its clients never learn a time that is
    /// about to jump or a drift that is about to change.
    pub fn is_acquiring(&self, now: NtpTimestamp) -> bool {
        let measuring = matches!(
            self.discipline.state(),
            DisciplineState::Unset | DisciplineState::MeasuringFrequency
        );
        let answered = self
            .first_sample
            .is_some_and(|t| (now - t).to_seconds_f64() < ACQUIRE_LIMIT);
        let waiting = self
            .sources
            .iter()
            .flatten()
            .any(|s| s.is_waiting() && !s.config.noselect);
        measuring && (answered || waiting)
    }

    fn shift_first_sample(&mut self, offset: f64) {
        if let Some(t) = &mut self.first_sample {
            *t = *t + NtpDuration::from_seconds_f64(offset);
        }
    }

    /// The time a server should put in its responses at local time `now`:
    /// the clock's time with the correction still being slewed applied (as
    /// chrony's "cooked" time).
    pub fn corrected_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        now + NtpDuration::from_seconds_f64(self.discipline.pending(now))
    }

    fn synchronized_to(&self) -> Option<ReferenceId> {
        if !self.discipline.is_synchronized() {
            return None;
        }
        Some(self.source(SourceId(self.selected?))?.reference_id)
    }

    /// The `chronyc sources` line of a source at `now`.
    pub fn source_report(&self, id: SourceId, now: NtpTimestamp) -> Option<SourceReport> {
        let source = self.source(id)?;
        let info = source.info.unwrap_or_default();
        Some(SourceReport {
            mode: SourceMode::Server,
            state: self.states[id.0],
            stratum: info.stratum,
            poll: source.poll(),
            reach: source.reach(),
            last_rx: source
                .info
                .map(|info| (now - info.time).to_seconds_f64().max(0.0) as u64),
            adjusted_offset: -source.stats.newest_offset().unwrap_or(0.0),
            measured_offset: -info.measured_offset,
            error: (info.root_delay + info.delay) / 2.0 + info.root_dispersion + info.dispersion,
        })
    }

    /// The `chronyc sourcestats` line of a source at `now`.
    pub fn source_stats(&self, id: SourceId, now: NtpTimestamp) -> Option<SourceStatsReport> {
        let stats = &self.source(id)?.stats;
        Some(match stats.fit() {
            Some(fit) => SourceStatsReport {
                samples: stats.len() as u32,
                runs: fit.runs as u32,
                span: fit.span.max(0.0) as u64,
                frequency_ppm: -fit.frequency * 1e6,
                skew_ppm: fit.skew * 1e6,
                offset: -fit.predict(now).0,
                std_dev: fit.std_dev,
            },
            None => SourceStatsReport {
                samples: 0,
                runs: 0,
                span: 0,
                frequency_ppm: 0.0,
                skew_ppm: 0.0,
                offset: 0.0,
                std_dev: 0.0,
            },
        })
    }

    /// Requests sent to a source so far.
    pub fn requests(&self, id: SourceId) -> Option<u32> {
        Some(self.source(id)?.requests())
    }

    /// The `chronyc tracking` values at `now`.
    pub fn tracking(&self, now: NtpTimestamp) -> TrackingReport {
        let reference = self.reference(now);
        let residual = self
            .synchronized_to()
            .and(self.selected)
            .and_then(|i| self.sources[i].as_ref())
            .and_then(|s| s.stats.fit())
            .map_or(0.0, |fit| -fit.frequency * 1e6);
        TrackingReport {
            reference_id: reference.reference_id,
            stratum: reference.stratum,
            reference_time: self.discipline.last_update().unwrap_or(NtpTimestamp::ZERO),
            system_offset: -self.discipline.pending(now),
            last_offset: -self.discipline.last_offset(),
            rms_offset: self.discipline.rms_offset(),
            frequency_ppm: self.discipline.drift().frequency_ppm,
            residual_frequency_ppm: residual,
            skew_ppm: self.discipline.drift().skew_ppm,
            root_delay: reference.root_delay.to_seconds_f64(),
            root_dispersion: reference.root_dispersion.to_seconds_f64(),
            update_interval: self.discipline.update_interval(),
            leap: if self.discipline.is_synchronized() {
                self.discipline.leap()
            } else {
                LeapIndicator::Unsynchronized
            },
        }
    }

    /// The drift to save (chrony's driftfile values).
    pub fn drift(&self) -> Drift {
        self.discipline.drift()
    }

    /// The synchronisation status at `now` (what the kernel is told).
    pub fn sync_status(&self, now: NtpTimestamp) -> SyncStatus {
        self.discipline.sync_status(now)
    }

    /// The discipline's state.
    pub fn discipline_state(&self) -> DisciplineState {
        self.discipline.state()
    }

    /// The frequency correction the clock runs at now, slew included, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.discipline.frequency_ppm()
    }

    /// The clock was stepped by `offset` seconds by someone else (an
    /// operator, a leap second): timers and stored samples move with it.
    pub fn clock_stepped(&mut self, offset: f64) {
        self.discipline.clock_stepped(offset);
        self.shift_first_sample(offset);
        for source in self.sources.iter_mut().flatten() {
            source.clock_stepped(offset);
        }
    }
}

#[cfg(test)]
mod tests;
