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
//! `now` is always the time of the clock being disciplined; the system
//! knows that the actions it emits change that clock, and that the caller
//! carries them out (see [`crate::clock::Clock`]).
//!
//! The system holds at most `N` sources (default 8) in place, with no heap:
//! see [`SOURCE_STATE_BYTES`] for the size of one.

use crate::clock::{ClockAction, SyncStatus};
use crate::discipline::{Discipline, DisciplineError, DisciplineState, Estimate};
use crate::reference::Reference;
use crate::report::{SourceMode, SourceReport, SourceState, SourceStatsReport, TrackingReport};
use crate::sample::PHI;
use crate::select::{self, Candidate, Outcome, Settings};
use crate::source::Source;
pub use crate::source::{ResponseError, SourceConfig};
use crate::time::{NtpShort, NtpTimestamp};
use crate::wire::{LeapIndicator, ReferenceId};
use core::fmt;
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

/// chrony's `makestep THRESHOLD LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MakeStep {
    /// Step when the offset is larger than this, seconds.
    pub threshold: f64,
    /// During the first this many updates; -1: always.
    pub limit: i32,
}

/// System-wide settings. The default is chrony's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SystemConfig {
    /// Step instead of slewing (default: never).
    pub makestep: Option<MakeStep>,
    /// Frequency updates with a larger skew are ignored, ppm (1000).
    pub maxupdateskew_ppm: f64,
    /// Sources that must survive selection to synchronise (1).
    pub minsources: usize,
    /// Seconds of distance one stratum is worth in selection (0.001).
    pub stratumweight: f64,
    /// Largest frequency correction, ppm (500000).
    pub maxdrift_ppm: f64,
    /// Largest slew rate, ppm (83333.333).
    pub maxslewrate_ppm: f64,
    /// Offsets larger than this are refused once synchronised, seconds
    /// (1000; `None`: no limit).
    pub panic_threshold: Option<f64>,
    /// Serve `local stratum N` while unsynchronised (none).
    pub local_stratum: Option<u8>,
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
            makestep: None,
            maxupdateskew_ppm: 1000.0,
            minsources: 1,
            stratumweight: 1e-3,
            maxdrift_ppm: 500_000.0,
            maxslewrate_ppm: 83_333.333,
            panic_threshold: Some(1000.0),
            local_stratum: None,
            maxdistance: 3.0,
            maxjitter: 1.0,
            precision: -20,
            local_reference_id: None,
        }
    }
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

/// How long, from its first good response, a node with `local stratum`
/// withholds its time while it acquires synchronisation, seconds (16
/// polls at the default minpoll): past it, a node whose sources never
/// give a frequency serves its local stratum anyway.
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
            discipline: Discipline::new(drift, &config),
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
    /// [`ResponseError::PanicThreshold`] means the response was good but
    /// the offset it shows is over the panic threshold: the clock was left
    /// alone, and the caller decides what to do.
    pub fn handle_response(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        packet: &[u8],
    ) -> Result<(), ResponseError> {
        let pending = self.discipline.pending(now);
        let unslewed = self.unslewed(now);
        let src = self
            .sources
            .get_mut(source.0)
            .and_then(Option::as_mut)
            .ok_or(ResponseError::UnknownSource)?;
        let measurement = src.handle_response(
            now,
            packet,
            self.config.precision,
            self.config.local_reference_id,
        )?;
        // The sample is taken at `now`.
        let time = unslewed;
        let offset = measurement.sample.offset.to_seconds_f64() - pending;
        let delay = measurement.filter_delay();
        if src
            .stats
            .is_delay_outlier(time, offset, delay, src.config.maxdelaydevratio)
        {
            return Err(ResponseError::DelayOutlier(
                measurement.sample.delay.to_seconds_f64(),
            ));
        }
        if src.stats.is_jump(time, offset, delay) {
            src.stats.clear();
        }
        src.stats.add(time, offset, delay);
        src.record(&measurement);
        self.first_sample.get_or_insert(now);
        self.reselect(now, Some(source.0))
            .map_err(|DisciplineError::PanicThreshold { offset }| {
                ResponseError::PanicThreshold(offset)
            })
    }

    /// Handles the passing of time: sources that became unreachable are
    /// dropped from selection.
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
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
            .reduce(|a, b| if b < a { b } else { a })
    }

    /// The next action for the clock. Drain after every call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        self.discipline.poll_action()
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
        let (offset, offset_sd) = fit.predict(self.unslewed(now));
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
        };
        let stratum = info.stratum;
        let unslewed = self.unslewed(now);
        let correction = self.discipline.update(now, &estimate, &self.config)?;
        self.selected_stratum = stratum;
        for source in self.sources.iter_mut().flatten() {
            source
                .stats
                .correct(unslewed, correction.offset, correction.frequency);
            if let Some(step) = correction.step {
                source.clock_stepped(step);
            }
        }
        if let Some(step) = correction.step {
            self.shift_first_sample(step);
        }
        Ok(())
    }

    /// What a server following this clock serves at `now`: the selected
    /// source's stratum + 1 while synchronised, `local stratum N` when
    /// configured and unsynchronised, else unsynchronised.
    ///
    /// While the node is *acquiring* synchronisation (its sources are
    /// answering, or may still answer their first requests, but the
    /// clock's frequency is not measured yet: before the first update, and
    /// until an update's skew passes `maxupdateskew`),
    /// its clock is about to be corrected and may drift fast: it serves
    /// nothing (leap 3, stratum 0), not even its local stratum, so that
    /// its clients never learn a time that is about to jump or a drift
    /// that is about to change. A node whose sources never give a
    /// frequency serves its local stratum again [`ACQUIRE_LIMIT`] seconds
    /// after their first answer.
    pub fn reference(&self, now: NtpTimestamp) -> Reference {
        let serving = self
            .synchronized_to()
            .filter(|_| self.discipline.state() == DisciplineState::Tracking);
        match (serving, self.config.local_stratum) {
            (Some(reference_id), _) => Reference {
                leap: self.discipline.leap(),
                stratum: self.selected_stratum.saturating_add(1).min(16),
                reference_id,
                reference_time: self.discipline.last_update().unwrap_or(now),
                root_delay: NtpShort::from_seconds_f64(self.discipline.root_delay()),
                root_dispersion: NtpShort::from_seconds_f64(self.discipline.root_dispersion(now)),
            },
            (None, Some(stratum)) if !self.is_acquiring(now) => Reference::local(stratum, now),
            (None, _) => Reference::UNSYNCHRONIZED,
        }
    }

    /// Whether the node is acquiring synchronisation: the clock's
    /// frequency is not measured yet while a source has answered (within
    /// [`ACQUIRE_LIMIT`] of the first answer) or may still answer its first
    /// requests. A server following this system serves nothing then (see
    /// [`reference`](Self::reference)).
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
            *t = *t + crate::time::NtpDuration::from_seconds_f64(offset);
        }
    }

    /// The time scale of the statistics: local time less everything
    /// slewed, which runs at a constant rate between frequency changes (so
    /// that a slope measured in it is a rate).
    fn unslewed(&self, now: NtpTimestamp) -> NtpTimestamp {
        now - crate::time::NtpDuration::from_seconds_f64(self.discipline.slewed(now))
    }

    /// The time a server should put in its responses at local time `now`:
    /// the clock's time with the correction still in progress applied (as
    /// chrony's "cooked" time).
    pub fn corrected_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        now + crate::time::NtpDuration::from_seconds_f64(self.discipline.pending(now))
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
        Some(self.source(id)?.stats.report(self.unslewed(now)))
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

    /// The clock was stepped by `offset` seconds by someone else (an
    /// operator, a leap second): timers and stored samples move with it.
    pub fn clock_stepped(&mut self, offset: f64) {
        self.discipline.clock_stepped(offset);
        self.shift_first_sample(offset);
        for source in self.sources.iter_mut().flatten() {
            source.stats.correct(NtpTimestamp::ZERO, offset, 0.0);
            source.clock_stepped(offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockAction;
    use crate::sim::SimRng;
    use crate::time::NtpDuration;
    use crate::wire::{Header, Mode};

    /// A perfect stratum-1 server 0.25 s ahead of the local clock,
    /// answering 10 ms later.
    fn answer(request: &[u8], local_send: NtpTimestamp) -> ([u8; 48], NtpTimestamp) {
        let request = Header::decode(request).unwrap();
        let server_time = local_send + NtpDuration::from_seconds_f64(0.255);
        let mut reply = Reference::local(1, server_time);
        reply.reference_id = ReferenceId::from_bits(0x4750_5300);
        let header = Header {
            leap: reply.leap,
            version: 4,
            mode: Mode::Server,
            stratum: reply.stratum,
            poll: request.poll,
            precision: -20,
            root_delay: reply.root_delay,
            root_dispersion: reply.root_dispersion,
            reference_id: reply.reference_id,
            reference_timestamp: server_time,
            origin_timestamp: request.transmit_timestamp,
            receive_timestamp: server_time,
            transmit_timestamp: server_time,
        };
        let mut out = [0u8; 48];
        header.emit(&mut out).unwrap();
        (out, local_send + NtpDuration::from_seconds_f64(0.01))
    }

    #[test]
    fn per_source_state_is_fixed_and_small() {
        assert!(core::mem::size_of::<Source>() <= SOURCE_STATE_BYTES);
    }

    #[test]
    fn capacity() {
        let mut system = System::<2>::with_capacity(SystemConfig::default(), None);
        let now = NtpTimestamp::from_parts(3_900_000_000, 0);
        for _ in 0..2 {
            system
                .add_source(SourceConfig::default(), ReferenceId::NONE, now)
                .unwrap();
        }
        assert_eq!(
            system.add_source(SourceConfig::default(), ReferenceId::NONE, now),
            Err(CapacityError { capacity: 2 })
        );
        assert_eq!(system.sources().count(), 2);
    }

    #[test]
    fn synchronises_and_serves() {
        let config = SystemConfig {
            makestep: Some(MakeStep {
                threshold: 0.1,
                limit: 3,
            }),
            local_stratum: Some(10),
            ..SystemConfig::default()
        };
        let mut system = System::new(config, None);
        let mut rng = SimRng::new(1);
        let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
        assert_eq!(system.reference(now).stratum, 10);
        assert_eq!(
            system.poll_action(),
            Some(ClockAction::SetFrequency { ppm: 0.0 })
        );
        let id = system
            .add_source(
                SourceConfig {
                    iburst: true,
                    ..SourceConfig::default()
                },
                ReferenceId::from_bits(0xc0a8_0001),
                now,
            )
            .unwrap();
        assert!(system
            .poll_transmit(now, &mut rng, &mut [0u8; 48])
            .is_none());
        // Acquiring: the source may answer, so the clock that is about to
        // be corrected is not served, not even as the local stratum.
        assert_eq!(system.reference(now), Reference::UNSYNCHRONIZED);
        let mut steps = 0.0;
        for _ in 0..6 {
            now = system.poll_timeout().unwrap();
            system.handle_timeout(now);
            let mut buf = [0u8; 48];
            let (source, len) = system.poll_transmit(now, &mut rng, &mut buf).unwrap();
            assert_eq!((source, len), (id, 48));
            // The request hides our precision and time.
            assert_eq!(buf[3] as i8, 32);
            // The server runs 0.25 s ahead of our clock, less what we stepped.
            let (mut reply, rx) = answer(&buf, now);
            let server_time = Header::decode(&reply).unwrap().receive_timestamp
                - NtpDuration::from_seconds_f64(steps);
            reply[32..40].copy_from_slice(&server_time.to_bits().to_be_bytes());
            reply[40..48].copy_from_slice(&server_time.to_bits().to_be_bytes());
            system.handle_response(rx, id, &reply).unwrap();
            // A second copy is refused.
            assert_eq!(
                system.handle_response(rx, id, &reply),
                Err(ResponseError::BogusOrigin)
            );
            while let Some(action) = system.poll_action() {
                if let ClockAction::Step { offset } = action {
                    steps += offset.to_seconds_f64();
                }
            }
            now = rx;
        }
        assert!((steps - 0.25).abs() < 1e-6, "{steps}");
        let reference = system.reference(now);
        assert_eq!(reference.stratum, 2);
        assert_eq!(reference.reference_id, ReferenceId::from_bits(0xc0a8_0001));
        let report = system.source_report(id, now).unwrap();
        assert_eq!(report.state, SourceState::Selected);
        assert_eq!(report.reach, 0o77);
        assert!(report.adjusted_offset.abs() < 1e-6);
        let stats = system.source_stats(id, now).unwrap();
        assert!(stats.samples >= 4);
        let tracking = system.tracking(now);
        assert_eq!(tracking.stratum, 2);
        assert!(system.sync_status(now).synchronized);
        assert!(system.sync_status(now).max_error < 0.1);
        // Silence: after 8 unanswered polls the source is unreachable and
        // the node falls back to its local stratum.
        for _ in 0..8 {
            now = system.poll_timeout().unwrap();
            system.handle_timeout(now);
            system.poll_transmit(now, &mut rng, &mut [0u8; 48]).unwrap();
        }
        system.handle_timeout(now);
        assert_eq!(system.source_report(id, now).unwrap().reach, 0);
        assert!(!system.sync_status(now).synchronized);
        assert_eq!(system.reference(now).stratum, 10);
        assert_eq!(system.tracking(now).leap, LeapIndicator::Unsynchronized);
    }

    #[test]
    fn drift_file_round_trip() {
        let drift = Drift::parse("  -12.345678   0.250000\n").unwrap();
        assert_eq!(drift.frequency_ppm, -12.345678);
        assert_eq!(std::format!("{drift}"), "-12.345678 0.250000");
        assert_eq!(Drift::parse("1.0"), None);
        assert_eq!(Drift::parse("1.0 2.0 3.0"), None);
        assert_eq!(Drift::parse("nan 1"), None);
    }
}
