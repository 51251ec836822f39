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
//! see [`SOURCE_STATE_BYTES`] for the size of one. A source's exchanges may
//! be authenticated ([`System::set_source_auth`]): with a symmetric key,
//! or with NTS, whose sessions (keys and up to 8 cookies, about 2.2 KiB
//! each) the system keeps in `S` slots of their own beside the sources
//! (`System<N, S>`, `S` = `N` by default), so that a system built for
//! fewer NTS sources, or none (`System<8, 0>`), does not pay for them. The
//! shell runs NTS-KE when [`System::poll_nts_ke`] says so and hands the
//! session back with [`System::set_nts_session`].

use num_traits::Float;

use crate::clock::{ClockAction, SyncStatus};
use crate::discipline::{
    Correction, Discipline, DisciplineConfig, DisciplineError, DisciplineState, Estimate,
};
pub use crate::discipline::{Drift, MakeStep};
use crate::filter::Fit;
use crate::leap::{LeapMode, LeapTable, PendingLeap, DAY};
use crate::manual::{Manual, ManualCorrection, ManualError};
use crate::nts::client::KeEnding;
use crate::nts::NtsSession;
use crate::random::Random;
use crate::refclock::Refclock;
pub use crate::refclock::{
    Accepted, Filtered, PulseReference, Reading, ReadingError, RefclockConfig,
};
use crate::reference::Reference;
use crate::report::{AuthMode, AuthReport, TimestampSource};
use crate::report::{
    SelectOptions, SelectReport, SourceMode, SourceReport, SourceStatsReport, TrackingReport,
};
use crate::sample::MAX_CLOCK_ERROR;
pub use crate::select::AuthSelectMode;
use crate::select::{self, Candidate, Outcome, Settings, SourceState};
use crate::server::{current_reference, LocalReference};
use crate::smooth::Smoother;
pub use crate::smooth::{SmoothConfig, SmoothingReport};
pub use crate::source::{
    AuthCounters, NtsState, RequestNumber, RestoreError, SourceAuth, SourceConfig, SourceHistory,
};
use crate::source::{Exchange, Ourselves, ResponseCounts, ResponseError, Source};
use crate::time::{NtpDuration, NtpShort, NtpTimestamp, UnixTime};
use crate::wire::{LeapIndicator, ReferenceId};

/// An upper bound of the size of one source's whole state (association,
/// statistics of up to 64 samples of 24 bytes, the last 64 delays for
/// `maxdelayquant`, up to 16 samples waiting in `filter`, server values,
/// the last response for `chronyc ntpdata`, the last exchange the
/// interleaved mode completes, a symmetric peer's last packets, its key
/// and authentication counters, the F323 field's last monotonic
/// timestamp, the scores of its wander models and whether the clock is
/// held to a steady standard), bytes: 3208 on 64-bit targets today. A
/// test checks it; nothing is on the heap. An NTS source's session is
/// kept apart (see the [module documentation](self)).
pub const SOURCE_STATE_BYTES: usize = 3208;

/// Identifies a source of a [`System`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SourceId(pub usize);

/// No room for another source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no room for another source (capacity {capacity})")]
#[non_exhaustive]
pub struct CapacityError {
    /// How many sources the system holds.
    pub capacity: usize,
}

/// Why a source's authentication was not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No source has this id.
    #[error("no such source")]
    UnknownSource,
    /// Every NTS slot holds another source's session.
    #[error("no room for another NTS source (capacity {capacity})")]
    NtsCapacity {
        /// How many NTS sources the system holds.
        capacity: usize,
    },
    /// The source does not use NTS.
    #[error("the source does not use NTS")]
    NotNts,
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
    /// The response was good, but the offset it shows (seconds, positive:
    /// the clock is behind) is over the panic threshold: the clock was
    /// left alone and the caller decides.
    #[error("offset of {0} s exceeds the panic threshold")]
    PanicThreshold(f64),
    /// The response was good, but the offset (seconds, positive: the clock
    /// is behind) is over `maxchange`: not corrected; with `give_up`, one
    /// too many (chronyd exits).
    #[error("offset of {offset} s exceeds maxchange")]
    MaxChange {
        /// The offset, seconds.
        offset: f64,
        /// More offsets over the limit than `maxchange` ignores.
        give_up: bool,
    },
}

/// Why no source is selected: chronyd's "Can't synchronise: …" reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Unselected {
    /// The system has no source at all.
    NoSources,
    /// No source is selectable (none has usable measurements, or every one
    /// is unreachable, too far or too variable).
    NoSelectableSources,
    /// The deepest intersection holds no strict majority of the sources.
    NoMajority,
    /// Fewer sources survived selection than `minsources`.
    NotEnoughSources,
    /// A source has the `require` option and none with it survived.
    NoRequiredSource,
}

impl core::fmt::Display for Unselected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Unselected::NoSources => "no sources",
            Unselected::NoSelectableSources => "no selectable sources",
            Unselected::NoMajority => "no majority",
            Unselected::NotEnoughSources => "not enough selectable sources",
            Unselected::NoRequiredSource => "no required source in selectable sources",
        })
    }
}

/// What a selection saw of a source (chronyd's selection.log).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelectionInterval {
    /// The local clock's offset the source measures, seconds (positive:
    /// the clock is fast, as chronyd's logs have it).
    pub offset: f64,
    /// The root distance around it, seconds: the true offset is expected
    /// within `offset ± distance`.
    pub distance: f64,
    /// Seconds since the source's last sample.
    pub last_sample_ago: f64,
}

/// The engine's timers (see [`System::timers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// A source's next request.
    Poll(SourceId),
    /// A reference clock's next reading
    /// ([`poll_refclock`](System::poll_refclock)).
    Refclock(SourceId),
    /// The end of the slew in progress (the discipline's timer).
    Discipline,
    /// Midnight, when a leap second is made (see
    /// [`SystemConfig::leap_mode`]).
    Leap,
    /// The hourly save of the drift (a [`crate::node::Node`]'s).
    SaveDrift,
}

/// What the end of a reference clock's driver poll made
/// ([`System::refclock_polled`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub enum RefclockPolled {
    /// No reference clock has that id.
    Unknown,
    /// Its polling interval goes on.
    Polling,
    /// The interval ended without a sample (too few readings, or too
    /// spread).
    NoSample,
    /// The interval's sample, and what it did.
    Sample(Filtered, Result<Used, HandleError>),
}

/// What a response that was used changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// Its sample entered the source's statistics.
    Sampled,
    /// Its sample entered the statistics, and the clock was updated from
    /// the selection it changed.
    ClockUpdated,
}

/// What the system made of a response ([`System::handle_response`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct Handled {
    /// The response as recorded now for reports and logs (see
    /// [`crate::source::Response::exchange`]), if it was.
    pub exchange: Option<Exchange>,
    /// What it changed, or why it was not used.
    pub result: Result<Used, HandleError>,
}

/// What the first clock update does: chronyd's reference modes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReferenceMode {
    /// Every update corrects the clock (the daemon).
    #[default]
    Normal,
    /// `chronyd -q`: the first update steps the clock by the whole
    /// offset, and the mode ends.
    UpdateOnce,
    /// `chronyd -Q`: the first update only measures the offset.
    PrintOnce,
    /// `initstepslew`: the first update steps the clock if the offset is
    /// at least `threshold` seconds, and slews it otherwise; the node then
    /// runs normally.
    InitStepSlew {
        /// Seconds.
        threshold: f64,
    },
}

/// How a [`ReferenceMode`] other than normal ended (the node runs
/// normally from then on).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeEnd {
    /// The first update came.
    Updated {
        /// The mode it ended.
        mode: ReferenceMode,
        /// The offset measured, seconds (positive: the clock was behind).
        offset: f64,
        /// Whether the clock was stepped (else slewed, or left alone by
        /// [`ReferenceMode::PrintOnce`]).
        stepped: bool,
    },
    /// No source can give an update any more: each has been polled
    /// [`MODE_POLLS`] times without [`MODE_SAMPLES`] samples, or none is
    /// configured.
    NoSource {
        /// The mode it ended.
        mode: ReferenceMode,
    },
}

/// Polls after which a source that gave no update cannot end a
/// [`ReferenceMode`] other than normal (chronyd's: seven, the reach
/// register less the request in flight).
pub const MODE_POLLS: u32 = 7;

/// Selections in a row after a source's own samples that must find it a
/// falseticker, too variable or too distant before it is to be replaced
/// ([`System::wants_replacement`]; chronyd's threshold).
pub const BAD_SELECTIONS: u8 = 4;

/// Samples a source needs to be selected in a [`ReferenceMode`] other
/// than normal (chronyd's, for every selection), unless it keeps fewer
/// (`maxsamples`): its one correction is never corrected later, so it is
/// made from a regression, not from one exchange.
pub const MODE_SAMPLES: usize = 3;

/// Samples `source` needs in a reference mode: [`MODE_SAMPLES`], or
/// fewer if it keeps fewer (`maxsamples`).
fn mode_samples(source: &Source) -> usize {
    MODE_SAMPLES.min(source.stats().max_samples())
}

/// Samples a `local` reference clock keeps at least, unless its
/// `minsamples` says otherwise: the clock follows the line through them
/// once it has them (chronyd's default `minsamples`, which it waits for
/// there).
pub const FOLLOW_SAMPLES: usize = 6;

/// The line through a `local` reference clock's samples, once it has
/// enough to follow (its `minsamples`, [`FOLLOW_SAMPLES`] unless set).
fn follow_fit(source: &Source) -> Option<Fit> {
    let stats = source.stats();
    let wanted = usize::from(source.config().min_samples).max(1);
    stats.fit().copied().filter(|_| stats.len() >= wanted)
}

/// System-wide settings. The default is chrony's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SystemConfig {
    /// How the clock is corrected.
    pub discipline: DisciplineConfig,
    /// Sources that must survive selection to synchronise (1).
    pub minsources: usize,
    /// Seconds of distance one stratum is worth in selection (0.001).
    pub stratumweight: f64,
    /// How much better another source must be to replace the selected
    /// one, seconds of distance (`reselectdist`, 0.0001).
    pub reselect_distance: f64,
    /// Sources with a larger root distance are unusable, seconds (3).
    pub maxdistance: f64,
    /// Sources whose offsets vary more are too variable, seconds (1).
    pub maxjitter: f64,
    /// Precision of the local clock, log2 seconds (-20).
    pub precision: i8,
    /// How authentication weighs in selection (chrony's `authselectmode`,
    /// default mix).
    pub auth_select: AuthSelectMode,
    /// NTS-KE is repeated this long after the last, seconds (chrony's
    /// `ntsrefresh`, default 2419200: four weeks).
    pub nts_refresh: f64,
    /// What the first update does (normally: correct the clock like every
    /// other).
    pub mode: ReferenceMode,
    /// Manual time input on from the start (chrony's `manual`).
    pub manual: bool,
    /// Smoothing of the time served (chrony's `smoothtime`; none: the
    /// clock's time is served as it is corrected).
    pub smoothing: Option<SmoothConfig>,
    /// Who makes a leap second (chrony's `leapsecmode`).
    pub leap_mode: LeapMode,
    /// Serve a leap second smeared linearly over the 24 hours around it
    /// (beyond chrony: see [`served_time`](System::served_time)). The
    /// node then makes the second itself by slewing, whatever
    /// `leap_mode` says, and tells its clients of no leap.
    pub leap_smear: bool,
}

setters!(impl [] SystemConfig {
    with_discipline => discipline: DisciplineConfig,
    with_minsources => minsources: usize,
    with_stratumweight => stratumweight: f64,
    with_reselect_distance => reselect_distance: f64,
    with_maxdistance => maxdistance: f64,
    with_maxjitter => maxjitter: f64,
    with_precision => precision: i8,
    with_auth_select => auth_select: AuthSelectMode,
    with_nts_refresh => nts_refresh: f64,
    with_mode => mode: ReferenceMode,
    with_manual => manual: bool,
    with_smoothing => smoothing: Option<SmoothConfig>,
    with_leap_mode => leap_mode: LeapMode,
    with_leap_smear => leap_smear: bool,
});

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            discipline: DisciplineConfig::default(),
            minsources: 1,
            stratumweight: 1e-3,
            reselect_distance: crate::select::RESELECT_DISTANCE,
            maxdistance: 3.0,
            maxjitter: 1.0,
            precision: -20,
            auth_select: AuthSelectMode::Mix,
            nts_refresh: 2_419_200.0,
            mode: ReferenceMode::Normal,
            manual: false,
            smoothing: None,
            leap_mode: LeapMode::System,
            leap_smear: false,
        }
    }
}

/// The client engine: sources, selection and discipline; `N` sources of
/// which up to `S` use NTS and up to `R` are reference clocks.
#[derive(Debug, Clone)]
pub struct System<
    const N: usize = DEFAULT_CAPACITY,
    const S: usize = N,
    const R: usize = DEFAULT_REFCLOCKS,
> {
    config: SystemConfig,
    sources: [Option<Source>; N],
    /// The NTS sources' sessions, in the slots their sources name.
    nts: [Option<NtsState>; S],
    /// The reference clocks' filters, in the slots their sources name.
    refclocks: [Option<Refclock>; R],
    states: [SourceState; N],
    /// Selections in a row, each after the source's own sample, that found
    /// it a falseticker, too variable or too distant.
    bad_selections: [u8; N],
    discipline: Discipline,
    selected: Option<usize>,
    /// The source, reference ID and stratum of the last update: what the
    /// clock is synchronised to, kept while no source is selectable, as
    /// chronyd keeps it.
    last_reference: Option<(usize, ReferenceId, u8)>,
    /// Why nothing is selected, after a selection that selected nothing.
    unselected: Option<Unselected>,
    /// A source's reachability changed since the last selection.
    reselect_due: bool,
    /// Mixed into the monotonic scale's epoch in our packets to symmetric
    /// peers (drawn with the first), so that a restart gives another.
    epoch_seed: Option<u32>,
    /// What a `filter` median used at a poll did (see
    /// [`take_filtered_use`](Self::take_filtered_use)).
    filtered_use: Option<(SourceId, Result<Used, HandleError>)>,
    /// Selections made so far (wrapping): a shell logging each one
    /// (chronyd's selection.log) compares it.
    selections: u32,
    /// What the last selection saw of each source.
    intervals: [Option<SelectionInterval>; N],
    /// The reference mode in force.
    mode: ReferenceMode,
    /// How the last reference mode ended, until taken.
    mode_end: Option<ModeEnd>,
    /// Local time of the first good response (moved with steps).
    first_sample: Option<NtpTimestamp>,
    /// `leapsectz`'s leap seconds, if given.
    leap_table: Option<LeapTable>,
    /// `local ... orphan`: the local stratum (see
    /// [`set_orphan_stratum`](Self::set_orphan_stratum)).
    orphan_stratum: Option<u8>,
    /// The clock's frequency after its last updates (local time, s/s),
    /// oldest first: how fast it wanders ([`error_bound`](Self::error_bound)).
    frequencies: FrequencyHistory,
    /// Manual time input (`chronyc settime`).
    manual: Manual,
    /// The smoothing of the time served (`smoothtime`).
    smoother: Option<Smoother>,
    /// The leap second announced for the end of the day, until it is made
    /// (and, with the smear, until the smear is over).
    leap: Option<PendingLeap>,
}

/// How long, from its first good response, a node withholds its time
/// while it acquires synchronisation, seconds (16 polls at the default
/// minpoll): past it, a node whose sources never give a frequency serves
/// its local stratum anyway.
pub const ACQUIRE_LIMIT: f64 = 1024.0;

/// How many sources a [`System`] holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 8;

/// How many of them may be reference clocks unless told otherwise (each
/// takes a filter of [`MAX_FILTER`](crate::refclock::MAX_FILTER) readings,
/// 1.5 KiB).
pub const DEFAULT_REFCLOCKS: usize = 2;

/// The longest request a source writes (an NTS request asking for 7
/// cookies of the longest length kept, with chrony's F323 field): the
/// buffer [`System::poll_transmit`] needs for any source.
pub const MAX_REQUEST_LEN: usize =
    crate::nts::client::MAX_REQUEST_LEN + crate::wire::exp1::WIRE_LEN;

/// The clock's frequency at its last updates, in a fixed ring.
#[derive(Debug, Clone, Copy, Default)]
struct FrequencyHistory {
    entries: [(NtpTimestamp, f64); FREQUENCY_HISTORY],
    len: usize,
}

/// Updates whose frequencies measure the wander.
const FREQUENCY_HISTORY: usize = 16;

impl FrequencyHistory {
    fn push(&mut self, time: NtpTimestamp, frequency: f64) {
        if self.len == FREQUENCY_HISTORY {
            self.entries.copy_within(1.., 0);
            self.len -= 1;
        }
        self.entries[self.len] = (time, frequency);
        self.len += 1;
    }

    /// The random walk of the frequency, s/s per √s: the frequency's
    /// changes between updates, squared, over the time they took (the
    /// estimate's own noise counts as wander: the bound only widens).
    fn wander(&self) -> f64 {
        let (squares, seconds) = self.entries[..self.len]
            .windows(2)
            .map(|w| {
                let change = w[1].1 - w[0].1;
                (change * change, (w[1].0 - w[0].0).to_seconds_f64())
            })
            .filter(|&(_, dt)| dt > 0.0)
            .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
        if seconds > 0.0 {
            Float::sqrt(squares / seconds)
        } else {
            0.0
        }
    }
}

/// Student's t quantile with the coverage of three standard deviations of
/// a normal law (99.73 %, two-sided) for `dof` degrees of freedom; `None`
/// for none. Tabulated to 30 (computed to four places); beyond, the
/// first Cornish-Fisher term, fitted to meet the table at 30.
fn three_sigma(dof: usize) -> Option<f64> {
    const T: [f64; 30] = [
        235.799, 19.207, 9.219, 6.620, 5.507, 4.904, 4.530, 4.277, 4.094, 3.957, 3.850, 3.764,
        3.694, 3.636, 3.586, 3.544, 3.507, 3.475, 3.447, 3.422, 3.400, 3.380, 3.361, 3.345, 3.330,
        3.316, 3.303, 3.291, 3.280, 3.270,
    ];
    match dof {
        0 => None,
        1..=30 => Some(T[dof - 1]),
        _ => Some(3.0 + 8.1 / dof as f64),
    }
}

/// The NTS state in `slot`, if the source has one.
fn nts_slot<const S: usize>(
    nts: &mut [Option<NtsState>; S],
    slot: Option<usize>,
) -> Option<&mut NtsState> {
    nts.get_mut(slot?)?.as_mut()
}

impl System {
    /// A system for up to [`DEFAULT_CAPACITY`] sources, starting from a
    /// saved drift (or none). [`System::with_capacity`] gives other sizes.
    pub fn new(config: SystemConfig, drift: Option<Drift>) -> Self {
        System::with_capacity(config, drift)
    }
}

impl<const N: usize, const S: usize, const R: usize> System<N, S, R> {
    /// A system for up to `N` sources (`System::<16>::with_capacity(..)`),
    /// `S` of them NTS sources and `R` reference clocks, starting from a
    /// saved drift (or none).
    pub fn with_capacity(config: SystemConfig, drift: Option<Drift>) -> Self {
        System {
            discipline: Discipline::new(drift, config.discipline),
            config,
            sources: core::array::from_fn(|_| None),
            nts: core::array::from_fn(|_| None),
            refclocks: core::array::from_fn(|_| None),
            states: [SourceState::Unusable; N],
            bad_selections: [0; N],
            selected: None,
            last_reference: None,
            unselected: None,
            reselect_due: false,
            epoch_seed: None,
            filtered_use: None,
            selections: 0,
            intervals: [None; N],
            mode: config.mode,
            mode_end: None,
            first_sample: None,
            leap_table: None,
            orphan_stratum: None,
            frequencies: FrequencyHistory::default(),
            manual: Manual::new(config.manual),
            smoother: config.smoothing.and_then(Smoother::new),
            leap: None,
        }
    }

    /// Takes the leap seconds of a time zone (chrony's `leapsectz`): a leap
    /// second the table has at the coming midnight is announced, to the
    /// clock and to clients, whatever the sources say; otherwise the
    /// sources' vote stands.
    pub fn set_leap_table(&mut self, table: Option<LeapTable>) {
        self.leap_table = table;
    }

    /// chrony's orphan mode with this local stratum (`local stratum N
    /// orphan`), or none: sources of stratum `N` or above are taken to
    /// serve no real time and are not selected, except those of stratum
    /// `N` whose reference ID is smaller than ours (our address as they
    /// see it, [`set_own_reference_id`](Self::set_own_reference_id)),
    /// and only while no other source is selectable.
    pub fn set_orphan_stratum(&mut self, stratum: Option<u8>) {
        self.orphan_stratum = stratum;
    }

    /// Whether orphan mode never follows `source`: its stratum is the
    /// local one or above, and (at the local one) its reference ID is not
    /// smaller than ours.
    fn is_lesser_orphan(&self, source: &Source) -> bool {
        let (Some(orphan), Some(info)) = (self.orphan_stratum, source.info()) else {
            return false;
        };
        info.stratum >= orphan && !(info.stratum == orphan && Self::has_smaller_id(source))
    }

    /// Whether `source`'s reference ID is smaller than ours as it sees us.
    fn has_smaller_id(source: &Source) -> bool {
        source
            .own_reference_id()
            .is_some_and(|own| source.reference_id().to_bits() < own.to_bits())
    }

    /// Orphan mode's rule over the candidates (`index` by slot): real
    /// sources (below the local stratum) if there are any, else the orphan
    /// (at the local stratum) with the smallest reference ID, if smaller
    /// than ours. Those it rules out are removed (their state is
    /// unusable); returns how many remain.
    fn orphan_filter(&mut self, candidates: &mut [Candidate], index: &mut [usize]) -> usize {
        let n = candidates.len();
        let Some(orphan) = self.orphan_stratum else {
            return n;
        };
        // 0: ruled out; 1: an orphan of a smaller ID; 2: a real source.
        let rank = |system: &Self, k: usize| -> u8 {
            if candidates[k].stratum < orphan {
                return 2;
            }
            let Some(source) = system.sources[index[k]].as_ref() else {
                return 0;
            };
            u8::from(candidates[k].stratum == orphan && Self::has_smaller_id(source))
        };
        let mut ranks: [u8; N] = core::array::from_fn(|k| if k < n { rank(self, k) } else { 0 });
        let wanted = if ranks[..n].contains(&2) { 2 } else { 1 };
        if wanted == 1 {
            // Of the orphans, only the one with the smallest reference ID
            // (as chronyd): two orphans each serving its own local time
            // would disagree, and the group would not settle on one root.
            let id = |k: usize| {
                self.sources[index[k]]
                    .as_ref()
                    .map_or(u32::MAX, |s| s.reference_id().to_bits())
            };
            let root = (0..n).filter(|&k| ranks[k] == 1).min_by_key(|&k| id(k));
            for (k, r) in ranks[..n].iter_mut().enumerate() {
                if *r == 1 && Some(k) != root {
                    *r = 0;
                }
            }
        }
        let mut kept = 0;
        for k in 0..n {
            if ranks[k] == wanted {
                candidates[kept] = candidates[k];
                index[kept] = index[k];
                kept += 1;
            } else {
                self.states[index[k]] = SourceState::Unusable;
                self.intervals[index[k]] = None;
            }
        }
        kept
    }

    /// The leap second to announce at `now` for the sources' `vote`.
    fn leap_at(&self, now: NtpTimestamp, vote: LeapIndicator) -> LeapIndicator {
        let from_table = self
            .leap_table
            .as_ref()
            .map(|table| table.pending(now.to_unix(NtpTimestamp::DEFAULT_PIVOT).secs));
        match from_table {
            Some(leap @ (LeapIndicator::InsertSecond | LeapIndicator::DeleteSecond)) => leap,
            _ => vote,
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
        let mut source = Source::new(config, reference_id, now);
        source.set_timestamp_noise(crate::time::log2_to_seconds(self.config.precision));
        self.sources[slot] = Some(source);
        self.states[slot] = SourceState::Unusable;
        self.bad_selections[slot] = 0;
        self.note_steadiness();
        Ok(SourceId(slot))
    }

    /// Adds a reference clock (chrony's `refclock`) known by
    /// `reference_id` (its `refid`): `config` gives its selection options
    /// and sample limits, `refclock` how it is polled. Its driver is due
    /// to be read at `now` ([`poll_refclock`](Self::poll_refclock)).
    pub fn add_refclock(
        &mut self,
        config: SourceConfig,
        refclock: RefclockConfig,
        reference_id: ReferenceId,
        now: NtpTimestamp,
    ) -> Result<SourceId, CapacityError> {
        let slot = self
            .sources
            .iter()
            .position(Option::is_none)
            .ok_or(CapacityError { capacity: N })?;
        // (A source names its slot in a byte.)
        let clock_slot = self
            .refclocks
            .iter()
            .take(256)
            .position(Option::is_none)
            .ok_or(CapacityError {
                capacity: R.min(256),
            })?;
        let precision = crate::time::log2_to_seconds(self.config.precision);
        self.refclocks[clock_slot] = Some(Refclock::new(refclock, precision));
        // A local standard's line is made of at least FOLLOW_SAMPLES.
        let config = match config.min_samples {
            0 if refclock.local => SourceConfig {
                min_samples: FOLLOW_SAMPLES as u8,
                ..config
            },
            _ => config,
        };
        let mut source = Source::new_refclock(
            config,
            reference_id,
            (refclock.poll, refclock.delay),
            clock_slot,
            now,
        );
        source.set_followed(refclock.local);
        self.sources[slot] = Some(source);
        self.states[slot] = SourceState::Unusable;
        self.bad_selections[slot] = 0;
        Ok(SourceId(slot))
    }

    /// A reference clock whose driver is due to be read at `now`, if any
    /// ([`Timer::Refclock`]); its next reading is then timed. The shell
    /// reads it, gives the reading to
    /// [`refclock_reading`](Self::refclock_reading) (if it had one), then
    /// calls [`refclock_polled`](Self::refclock_polled). (A driver whose
    /// samples arrive by themselves, chrony's SOCK, is "read" on this
    /// timer too: its readings are given as they come.)
    pub fn poll_refclock(&mut self, now: NtpTimestamp) -> Option<SourceId> {
        let (index, source) = self.sources.iter_mut().enumerate().find(|(_, s)| {
            s.as_ref().is_some_and(|s| {
                s.refclock_slot().is_some() && s.next_poll().is_some_and(|due| due <= now)
            })
        })?;
        let source = source.as_mut()?;
        let dpoll = source
            .refclock_slot()
            .and_then(|slot| self.refclocks.get(slot)?.as_ref())
            .map_or(0, |clock| clock.config.timer_poll());
        source.refclock_polled(now, dpoll);
        Some(SourceId(index))
    }

    /// A reading of reference clock `id`'s driver, taken at `now` (local
    /// time, read after the driver): checked and put in its filter. What
    /// was taken is what chrony's `refclocks` log prints.
    pub fn refclock_reading(
        &mut self,
        now: NtpTimestamp,
        id: SourceId,
        reading: &Reading,
    ) -> Result<Accepted, ReadingError> {
        self.refclock_reading_as(now, id, reading, None)
    }

    /// [`refclock_reading`](Self::refclock_reading) on a node with
    /// chrony's `local` reference (`local`): a reference clock whose
    /// readings are pulses (`pps`) has them numbered as
    /// [`refclock_pulse_as`](Self::refclock_pulse_as) numbers a pulse
    /// device's.
    pub fn refclock_reading_as(
        &mut self,
        now: NtpTimestamp,
        id: SourceId,
        reading: &Reading,
        local: Option<&LocalReference>,
    ) -> Result<Accepted, ReadingError> {
        let slot = self
            .source(id)
            .and_then(Source::refclock_slot)
            .ok_or(ReadingError::UnknownRefclock)?;
        let clock = self
            .refclocks
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(ReadingError::UnknownRefclock)?;
        if clock.config.pps || clock.config.local {
            // Only where the reference's second falls counts.
            let second = reading.time.second_fraction() - reading.reference.second_fraction();
            return self.refclock_pulse_as(now, id, reading.time, second, local);
        }
        let table = self.leap_table.as_ref();
        let lookup = |time: NtpTimestamp| {
            let unix = time.to_unix(NtpTimestamp::DEFAULT_PIVOT).secs;
            table.map(|table| table.tai_offset(unix))
        };
        let lookup: Option<&dyn Fn(NtpTimestamp) -> Option<i32>> =
            table.is_some().then_some(&lookup);
        clock.read(now, reading, lookup, self.discipline.pending(reading.time))
    }

    /// A pulse of reference clock `id` (a PPS signal) at local time `time`,
    /// taken at `now`; `second`: how far past the reference's second the
    /// local clock read at it (a PPS device: `time`'s fraction of a
    /// second). It is numbered by the reference clock it is `lock`ed to,
    /// or by the system's own time when that is synchronised within half
    /// a pulse interval, and put in its filter (see
    /// [`Refclock::pulse`](crate::refclock)).
    pub fn refclock_pulse(
        &mut self,
        now: NtpTimestamp,
        id: SourceId,
        time: NtpTimestamp,
        second: f64,
    ) -> Result<Accepted, ReadingError> {
        self.refclock_pulse_as(now, id, time, second, None)
    }

    /// [`refclock_pulse`](Self::refclock_pulse) on a node with chrony's
    /// `local` reference (`local`), which stands in for the system's time
    /// while it is not synchronised (whether or not the node serves it
    /// yet): an unlocked pulse source is numbered by what the node serves
    /// then, and takes its stratum while followed or while the local
    /// reference stands in.
    pub fn refclock_pulse_as(
        &mut self,
        now: NtpTimestamp,
        id: SourceId,
        time: NtpTimestamp,
        second: f64,
        local: Option<&LocalReference>,
    ) -> Result<Accepted, ReadingError> {
        // The system's reference, worked out once, and what numbers the
        // pulse.
        let own = self.reference(now);
        let ours = current_reference(local, &own, false, now);
        let followed = self.last_reference.is_some_and(|(i, _, _)| i == id.0);
        let standing_in =
            own.leap == LeapIndicator::Unsynchronized && ours.leap != LeapIndicator::Unsynchronized;
        let stratum = if followed || standing_in {
            ours.stratum.saturating_sub(1)
        } else {
            0
        };
        let slot = self
            .source(id)
            .and_then(Source::refclock_slot)
            .ok_or(ReadingError::UnknownRefclock)?;
        let config = self
            .refclocks
            .get(slot)
            .and_then(Option::as_ref)
            .ok_or(ReadingError::UnknownRefclock)?
            .config;
        let by = match config.lock {
            _ if config.local => PulseReference::Own,
            Some(lock) => PulseReference::Locked(
                self.refclock_named(lock)
                    .and_then(|slot| self.refclocks.get(slot)?.as_ref()?.last_reading()),
            ),
            None => {
                let distance =
                    ours.root_delay.to_seconds_f64() / 2.0 + ours.root_dispersion.to_seconds_f64();
                PulseReference::System(ours.leap, distance, stratum)
            }
        };
        let pending = self.discipline.pending(time);
        let clock = self
            .refclocks
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(ReadingError::UnknownRefclock)?;
        let taken = clock.pulse(now, time, second, by, pending);
        if taken == Err(ReadingError::LostLock) {
            // A local reference clock starts again from its next reading.
            if let Some(source) = self.sources.get_mut(id.0).and_then(Option::as_mut) {
                source.lost_lock();
            }
            self.note_steadiness();
            self.reselect_due = true;
        }
        taken
    }

    /// The filter slot of the reference clock known by `id` (its `refid`).
    fn refclock_named(&self, id: ReferenceId) -> Option<usize> {
        self.sources
            .iter()
            .flatten()
            .find(|s| s.refclock_slot().is_some() && s.reference_id() == id)?
            .refclock_slot()
    }

    /// Reference clock `id`'s driver poll at `now` is over. At the end of
    /// its polling interval the readings make a sample, which enters its
    /// statistics, selection and the discipline as a server's would.
    pub fn refclock_polled(&mut self, now: NtpTimestamp, id: SourceId) -> RefclockPolled {
        let Some(source) = self.sources.get_mut(id.0).and_then(Option::as_mut) else {
            return RefclockPolled::Unknown;
        };
        let Some(clock) = source
            .refclock_slot()
            .and_then(|slot| self.refclocks.get_mut(slot)?.as_mut())
        else {
            return RefclockPolled::Unknown;
        };
        let Some(sample) = clock.poll_done() else {
            return RefclockPolled::Polling;
        };
        let (mut stratum, delay) = (clock.config.stratum, clock.config.delay);
        // Pulses numbered by the system's time carry its stratum while it
        // follows them (or its local reference), else none of their own.
        if let Some(pulse_stratum) = clock.pulse_stratum() {
            stratum = pulse_stratum;
        }
        let reachable = !source.is_unreachable();
        let local = clock.config.local;
        let before = local.then(|| follow_fit(source)).flatten();
        source.refclock_interval_done(sample.as_ref(), stratum, delay);
        let reach_changed = reachable == source.is_unreachable();
        if local {
            self.follow_local(now, id, before);
            self.note_steadiness();
        }
        let result = match sample {
            Some(sample) => RefclockPolled::Sample(sample, self.use_sample(now, id)),
            None => {
                if reach_changed {
                    self.reselect_due = true;
                }
                RefclockPolled::NoSample
            }
        };
        self.check_mode_sources();
        result
    }

    /// The clock follows `local` reference clock `id` at `now` (chrony's
    /// `refclock ... local`): the change of the line through its samples
    /// since `before` (the line before its last sample), once both have
    /// [`follow_fit`]'s samples, is made to the clock (see
    /// [`Discipline::follow`]); its own samples and readings take the
    /// change, the other sources find it in theirs. Its offset is kept
    /// within a second by whole seconds (the readings count within the
    /// second).
    fn follow_local(&mut self, now: NtpTimestamp, id: SourceId, before: Option<Fit>) {
        let Some(source) = self.sources.get_mut(id.0).and_then(Option::as_mut) else {
            return;
        };
        let (Some(before), Some(after)) = (before, follow_fit(source)) else {
            return;
        };
        let (predicted, _) = before.predict(after.time);
        let whole = -Float::round(after.offset);
        if whole != 0.0 {
            source.shift_offsets(whole);
            if let Some(clock) = source
                .refclock_slot()
                .and_then(|slot| self.refclocks.get_mut(slot)?.as_mut())
            {
                clock.shift_offsets(whole);
            }
        }
        let correction = self.discipline.follow(
            now,
            after.offset - predicted,
            after.frequency - before.frequency,
        );
        self.correct_followed(now, &correction);
    }

    /// Tells the other sources' statistics whether the clock follows a
    /// `local` reference clock now (one heard from, whose line it follows,
    /// see [`follow_fit`]): it is then taken not to wander (see
    /// [`Stats::set_steady`](crate::filter::Stats::set_steady)).
    fn note_steadiness(&mut self) {
        let steady = self.sources.iter().flatten().any(|source| {
            source
                .refclock_slot()
                .and_then(|slot| self.refclocks.get(slot)?.as_ref())
                .is_some_and(|clock| clock.config.local)
                && source.reach() != 0
                && follow_fit(source).is_some()
        });
        for source in self.sources.iter_mut().flatten() {
            if source.refclock_slot().is_none() {
                source.set_steady(steady);
            }
        }
    }

    /// Keeps the samples and readings of the `local` reference clocks (one,
    /// as chrony's documentation asks) as if the clock had always run as
    /// a following slew's `correction` leaves it at `now`; the other
    /// sources are not told (see [`Discipline::follow`]).
    fn correct_followed(&mut self, now: NtpTimestamp, correction: &Correction) {
        if correction.is_none() {
            return;
        }
        for source in self.sources.iter_mut().flatten() {
            let Some(clock) = source
                .refclock_slot()
                .and_then(|slot| self.refclocks.get_mut(slot)?.as_mut())
                .filter(|clock| clock.config.local)
            else {
                continue;
            };
            clock.correct(now, correction.rate);
            source.correct(now, correction.rate);
        }
    }

    /// A reference clock's configuration, if `id` is one.
    pub fn refclock_config(&self, id: SourceId) -> Option<&RefclockConfig> {
        let slot = self.source(id)?.refclock_slot()?;
        Some(&self.refclocks.get(slot)?.as_ref()?.config)
    }

    /// Stops following `source` (its id may be given to a source added
    /// later): if it was selected, nothing is until selection is made
    /// again, at the next timeout or poll, and the clock keeps its
    /// reference meanwhile (as chronyd). Whether there was one.
    pub fn remove_source(&mut self, source: SourceId) -> bool {
        let Some(removed) = self.sources.get_mut(source.0).and_then(Option::take) else {
            return false;
        };
        if let Some(state) = removed.nts_slot().and_then(|slot| self.nts.get_mut(slot)) {
            *state = None;
        }
        if let Some(clock) = removed
            .refclock_slot()
            .and_then(|slot| self.refclocks.get_mut(slot))
        {
            *clock = None;
        }
        self.states[source.0] = SourceState::Unusable;
        self.bad_selections[source.0] = 0;
        if self.selected == Some(source.0) {
            self.selected = None;
            self.unselected = Some(if self.sources.iter().all(Option::is_none) {
                Unselected::NoSources
            } else {
                Unselected::NoSelectableSources
            });
        }
        // The others are judged again at the next turn (several may go
        // at once).
        self.reselect_due = true;
        self.note_steadiness();
        true
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

    /// Why no source is selected, when the last selection selected none
    /// (see [`Unselected`]).
    pub fn unselected(&self) -> Option<Unselected> {
        self.selected()
            .is_none()
            .then_some(self.unselected)
            .flatten()
    }

    /// The reference ID a server would announce if it followed us over
    /// `source`'s path: the address it sees our requests come from. A
    /// response carrying it (above stratum 1) is refused: the server is
    /// synchronised to us, a loop.
    pub fn set_own_reference_id(&mut self, source: SourceId, own: ReferenceId) {
        if let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) {
            src.set_own_reference_id(own);
        }
    }

    /// `source` is this node itself: an address and port the node serves
    /// at, configured as a server. While acquiring, the node does not wait
    /// for it to answer (see [`is_acquiring`](Self::is_acquiring)).
    pub fn set_ourselves(&mut self, source: SourceId) {
        if let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) {
            src.set_ourselves();
        }
    }

    /// Request `number` of `source` left at `time` (local; a kernel or
    /// network card transmit timestamp, as `stamped` says): it replaces
    /// that request's T1, if the request still waits for its answer (see
    /// [`Source::set_transmit_time`]).
    pub fn set_transmit_time(
        &mut self,
        source: SourceId,
        number: RequestNumber,
        time: NtpTimestamp,
        stamped: TimestampSource,
    ) -> bool {
        self.sources
            .get_mut(source.0)
            .and_then(Option::as_mut)
            .is_some_and(|src| src.set_transmit_time(number, time, stamped))
    }

    /// Authenticates source `id`'s exchanges with `auth` from its next
    /// request on: a symmetric key, or NTS (the source then sends nothing
    /// until [`set_nts_session`](Self::set_nts_session) gives it a session:
    /// its first poll wants NTS-KE, which [`poll_nts_ke`](Self::poll_nts_ke)
    /// hands out). Leaving NTS frees the source's NTS slot.
    pub fn set_source_auth(&mut self, id: SourceId, auth: SourceAuth) -> Result<(), AuthError> {
        let source = self
            .sources
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .ok_or(AuthError::UnknownSource)?;
        match (auth, source.nts_slot()) {
            (SourceAuth::Nts, None) => {
                let slot = self
                    .nts
                    .iter()
                    .position(Option::is_none)
                    .ok_or(AuthError::NtsCapacity { capacity: S })?;
                self.nts[slot] = Some(NtsState::new());
                source.set_nts_slot(Some(slot));
            }
            (SourceAuth::Nts, Some(_)) => {}
            (_, Some(slot)) => {
                self.nts[slot] = None;
                source.set_nts_slot(None);
            }
            (_, None) => {}
        }
        source.set_auth(auth);
        Ok(())
    }

    /// How source `id`'s exchanges are authenticated.
    pub fn source_auth(&self, id: SourceId) -> Option<&SourceAuth> {
        Some(self.source(id)?.auth())
    }

    /// What authentication made of source `id`'s responses so far.
    pub fn auth_counters(&self, id: SourceId) -> Option<AuthCounters> {
        Some(self.source(id)?.auth_counters())
    }

    /// The NTS state of source `id` (its session, to save the cookies;
    /// its NTS-KE schedule), if it uses NTS.
    pub fn nts_state(&self, id: SourceId) -> Option<&NtsState> {
        let slot = self.source(id)?.nts_slot()?;
        self.nts.get(slot)?.as_ref()
    }

    /// An NTS source whose poll wanted NTS-KE (no session, no cookie left,
    /// a NAK, or the refresh due; see [`NtsState`]), now marked as being in
    /// NTS-KE; call until `None` after every call that may change it (as
    /// for [`poll_transmit`](Self::poll_transmit)). Answer each with
    /// [`set_nts_session`](Self::set_nts_session) or
    /// [`nts_ke_failed`](Self::nts_ke_failed).
    pub fn poll_nts_ke(&mut self) -> Option<SourceId> {
        let nts = &mut self.nts;
        self.sources.iter().enumerate().find_map(|(i, s)| {
            let state = nts_slot(nts, s.as_ref()?.nts_slot())?;
            state.wants_ke().then(|| {
                state.start();
                SourceId(i)
            })
        })
    }

    /// NTS-KE for source `id` gave `session` at `now`: the source uses it
    /// from its next poll on, and wants NTS-KE again when its cookies run
    /// out, after a NAK, or `nts_refresh` seconds after its first request.
    pub fn set_nts_session(
        &mut self,
        id: SourceId,
        session: NtsSession,
        now: NtpTimestamp,
    ) -> Result<(), AuthError> {
        let refresh = self.config.nts_refresh;
        self.nts_state_mut(id)?.established(session, now, refresh);
        Ok(())
    }

    /// A session source `id` saved in an earlier run (its `number`th,
    /// made at `made`, local time) is in use again: its refresh is due
    /// `nts_refresh` seconds after `made`.
    pub fn restore_nts_session(
        &mut self,
        id: SourceId,
        session: NtsSession,
        made: NtpTimestamp,
        number: u32,
    ) -> Result<(), AuthError> {
        let refresh = self.config.nts_refresh;
        self.nts_state_mut(id)?
            .restored(session, made, refresh, number);
        Ok(())
    }

    /// NTS-KE for source `id` failed at `now`, ending as `ending`: the
    /// next attempt comes with a poll after the [`KeBackoff`]'s wait, in
    /// seconds, which is returned.
    ///
    /// [`KeBackoff`]: crate::nts::client::KeBackoff
    pub fn nts_ke_failed(
        &mut self,
        id: SourceId,
        now: NtpTimestamp,
        ending: KeEnding,
    ) -> Result<u64, AuthError> {
        Ok(self.nts_state_mut(id)?.failed(now, ending))
    }

    fn nts_state_mut(&mut self, id: SourceId) -> Result<&mut NtsState, AuthError> {
        let source = self
            .sources
            .get(id.0)
            .and_then(Option::as_ref)
            .ok_or(AuthError::UnknownSource)?;
        nts_slot(&mut self.nts, source.nts_slot()).ok_or(AuthError::NotNts)
    }

    /// The `chronyc authdata` line of source `id` at `now`.
    pub fn auth_report(&self, id: SourceId, now: NtpTimestamp) -> Option<AuthReport> {
        let source = self.source(id)?;
        Some(match source.auth() {
            SourceAuth::None => AuthReport::default(),
            SourceAuth::Key(key) => AuthReport {
                mode: AuthMode::SymmetricKey,
                key_type: key.key_type().chrony_id(),
                key_id: key.id(),
                key_length: (key.bytes().len() * 8) as u16,
                ..AuthReport::default()
            },
            &SourceAuth::MissingKey(key_id) => AuthReport {
                mode: AuthMode::SymmetricKey,
                key_id,
                ..AuthReport::default()
            },
            SourceAuth::Nts => {
                let state = self.nts_state(id)?;
                let session = state.session();
                AuthReport {
                    mode: AuthMode::Nts,
                    key_type: session.map_or(0, |s| s.keys().algorithm().id()),
                    key_id: state.sessions(),
                    key_length: session.map_or(0, |s| (s.keys().c2s.bytes().len() * 8) as u16),
                    ke_attempts: state.attempts(),
                    last_ke_ago: state
                        .last_ke()
                        .map(|t| (now - t).to_seconds_f64().clamp(0.0, u32::MAX as f64) as u32),
                    cookies: state.cookies() as u16,
                    cookie_length: session
                        .and_then(|s| s.iter_cookies().next())
                        .map_or(0, |c| c.len() as u16),
                    nak: state.nak(),
                }
            }
        })
    }

    /// Writes into `buf` a request that is due at `now`, and says for which
    /// source. Call until `None`. `buf` needs 48 bytes for a plain request
    /// (76 with `extfield F323`), [`MAX_REQUEST_LEN`] for any (a MAC or
    /// the NTS fields); a poll whose
    /// request does not fit is missed.
    ///
    /// A symmetric peer's packet carries the system's own
    /// [`reference`](Self::reference); a node serving another (its local
    /// reference) uses [`poll_transmit_as`](Self::poll_transmit_as).
    pub fn poll_transmit(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl Random,
        buf: &mut [u8],
    ) -> Option<(SourceId, usize, RequestNumber)> {
        let ours = self.reference(now);
        self.poll_transmit_as(now, rng, buf, &ours)
    }

    /// [`poll_transmit`](Self::poll_transmit) on a node that serves `ours`:
    /// what its packets to symmetric peers say of it.
    pub fn poll_transmit_as(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl Random,
        buf: &mut [u8],
        ours: &Reference,
    ) -> Option<(SourceId, usize, RequestNumber)> {
        // (Drawn only for a peer that sends the F323 field: other nodes'
        // random numbers go on as before.)
        let gives_mono = self
            .sources
            .iter()
            .flatten()
            .any(|s| s.config().peer && s.config().exp1);
        let mono = if gives_mono {
            let seed = *self.epoch_seed.get_or_insert_with(|| rng.next_u32());
            self.monotonic(now)
                .map(|(offset, steps)| (offset, steps ^ seed))
        } else {
            None
        };
        let ourselves = Ourselves {
            reference: ours,
            time: self.corrected_time(now),
            precision: self.config.precision,
            discipline: Some(&self.discipline),
            mono,
        };
        let nts = &mut self.nts;
        let reselect_due = &mut self.reselect_due;
        let sent = self.sources.iter_mut().enumerate().find_map(|(i, s)| {
            let source = s.as_mut()?;
            let slot = nts_slot(nts, source.nts_slot());
            let before = (source.is_unreachable(), source.is_waiting());
            let sent = source.poll_transmit_as(now, rng, buf, slot, ourselves);
            if (source.is_unreachable(), source.is_waiting()) != before {
                *reselect_due = true;
            }
            let (len, number) = sent?;
            Some((SourceId(i), len, number))
        });
        if let Some((SourceId(sent_to), ..)) = sent {
            for (i, source) in self.sources.iter_mut().enumerate() {
                if let Some(source) = source.as_mut().filter(|_| i != sent_to) {
                    let separation = NtpDuration::from_seconds_f64(source.separation());
                    source.defer_poll(now + separation);
                }
            }
        }
        // A poll whose request went unanswered may end a `filter` span:
        // its median is used now (see take_filtered_use).
        let filtered = (0..self.sources.len()).find(|&i| {
            self.sources[i]
                .as_mut()
                .is_some_and(|source| source.take_filtered())
        });
        if let Some(i) = filtered {
            let used = self.use_sample(now, SourceId(i));
            self.filtered_use = Some((SourceId(i), used));
        }
        // A poll settles the request before it.
        self.check_mode_sources();
        sent
    }

    /// What came of a sample used at the last
    /// [`poll_transmit`](Self::poll_transmit): the median a source's
    /// `filter` made when a poll found the request before unanswered and
    /// so ended its span, used as any sample is (selection, the clock's
    /// update). `None` when there was none; taken once.
    pub fn take_filtered_use(&mut self) -> Option<(SourceId, Result<Used, HandleError>)> {
        self.filtered_use.take()
    }

    /// Handles a response from `source` received at local time `now`
    /// (`receive`: where that time came from): the source's tests, its
    /// statistics, selection and the discipline.
    ///
    /// [`HandleError::PanicThreshold`] means the response was good but
    /// the offset it shows is over the panic threshold: the clock was left
    /// alone, and the caller decides what to do.
    ///
    /// A response that says what the system's own
    /// [`reference`](Self::reference) says came from this node itself and
    /// is refused as a loop ([`ResponseError::Loop`]); a node serving
    /// another (its local reference) uses
    /// [`handle_response_as`](Self::handle_response_as).
    pub fn handle_response(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        packet: &[u8],
        receive: TimestampSource,
    ) -> Handled {
        let ours = self.reference(now);
        self.handle_response_as(now, source, packet, receive, &ours)
    }

    /// [`handle_response`](Self::handle_response) on a node that serves
    /// `ours`: a response saying the same came from this node itself. (A
    /// symmetric peer's packet is noted at the time the node serves: see
    /// [`corrected_time`](Self::corrected_time).)
    pub fn handle_response_as(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        packet: &[u8],
        receive: TimestampSource,
        ours: &Reference,
    ) -> Handled {
        let precision = self.config.precision;
        let corrected = self.corrected_time(now);
        let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) else {
            return Handled {
                exchange: None,
                result: Err(HandleError::UnknownSource),
            };
        };
        let slot = nts_slot(&mut self.nts, src.nts_slot());
        let ourselves = Some(Ourselves {
            reference: ours,
            time: corrected,
            precision,
            discipline: Some(&self.discipline),
            mono: None,
        });
        let response = src.handle_response_as(now, packet, precision, slot, receive, ourselves);
        // A refused answer may end a `filter` span: its median is used.
        let filtered = src.take_filtered();
        let result = match response.result {
            Ok(_) => self.use_sample(now, source),
            Err(_) if filtered => self.use_sample(now, source),
            Err(e) => Err(HandleError::Response(e)),
        };
        self.check_mode_sources();
        Handled {
            exchange: response.exchange,
            result,
        }
    }

    /// A sample of `source` entered its statistics at `now`: selection is
    /// made again and the clock updated from it.
    fn use_sample(&mut self, now: NtpTimestamp, source: SourceId) -> Result<Used, HandleError> {
        self.first_sample.get_or_insert(now);
        match self.reselect(now, Some(source.0)) {
            Ok(true) => Ok(Used::ClockUpdated),
            Ok(false) => Ok(Used::Sampled),
            Err(DisciplineError::PanicThreshold { offset }) => {
                Err(HandleError::PanicThreshold(offset))
            }
            Err(DisciplineError::MaxChange { offset, give_up }) => {
                Err(HandleError::MaxChange { offset, give_up })
            }
        }
    }

    /// Handles the passing of time: a slew that is done ends. (Selection
    /// is made again when a source's sample or reachability changes, as
    /// chronyd makes it, not as time passes: a source whose uncertainty
    /// grows between its polls is judged with its next sample.)
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        self.check_leap(now);
        let correction = self.discipline.handle_timeout(now);
        self.correct(now, &correction);
        let followed = self.discipline.end_due_follow(now);
        self.correct_followed(now, &followed);
        self.reselect_if_due(now);
    }

    /// The reference mode in force.
    pub fn mode(&self) -> ReferenceMode {
        self.mode
    }

    /// How the reference mode ended, once (then `None` until another
    /// ends).
    pub fn take_mode_end(&mut self) -> Option<ModeEnd> {
        self.mode_end.take()
    }

    /// Ends a reference mode other than normal with the first update's
    /// `offset` at `now`: a step, a slew or nothing, as the mode says.
    fn end_mode(&mut self, now: NtpTimestamp, offset: f64) {
        let mode = self.mode;
        let stepped = match mode {
            ReferenceMode::Normal => return,
            ReferenceMode::PrintOnce => false,
            ReferenceMode::UpdateOnce => true,
            ReferenceMode::InitStepSlew { threshold } => offset.abs() >= threshold,
        };
        if mode != ReferenceMode::PrintOnce {
            let before = self.served_state(now);
            let correction = self.discipline.correct_once(now, offset, stepped);
            self.correct(now, &correction);
            self.smooth(now, before, &correction);
        }
        self.mode = ReferenceMode::Normal;
        self.mode_end = Some(ModeEnd::Updated {
            mode,
            offset,
            stepped,
        });
    }

    /// Ends a reference mode other than normal when no source can give
    /// its update any more: none can have [`MODE_SAMPLES`] samples within
    /// its first [`MODE_POLLS`] polls (or is stopped, or there is none).
    fn check_mode_sources(&mut self) {
        if self.mode == ReferenceMode::Normal {
            return;
        }
        let hopeful = self
            .sources
            .iter()
            .flatten()
            .any(|s| s.may_reach_samples(mode_samples(s), MODE_POLLS));
        if !hopeful {
            self.mode_end = Some(ModeEnd::NoSource { mode: self.mode });
            self.mode = ReferenceMode::Normal;
        }
    }

    /// Selects again at `now` if a source became unreachable, or stopped
    /// waiting for its first answers, since the last selection.
    pub fn reselect_if_due(&mut self, now: NtpTimestamp) {
        if core::mem::take(&mut self.reselect_due) {
            // Without an updated source, selection cannot fail on a panic.
            let _ = self.reselect(now, None);
        }
    }

    /// Each timer that is set, and when it is due (local time): a source's
    /// next request, an NTS source's next NTS-KE, the discipline's.
    pub fn timers(&self) -> impl Iterator<Item = (Timer, NtpTimestamp)> + '_ {
        let polls = self.sources.iter().enumerate().filter_map(|(i, s)| {
            let source = s.as_ref()?;
            let timer = if source.refclock_slot().is_some() {
                Timer::Refclock(SourceId(i))
            } else {
                Timer::Poll(SourceId(i))
            };
            Some((timer, source.next_poll()?))
        });
        // Midnight, when the node makes the leap second or serves it
        // slowly (the kernel's own needs no wake-up).
        let leap = self
            .leap
            .filter(|leap| {
                leap.made.is_none()
                    && (self.leap_mode() != LeapMode::System || self.smoother.is_some())
            })
            .map(|leap| {
                (
                    Timer::Leap,
                    NtpTimestamp::from_unix(UnixTime::new(leap.at, 0)),
                )
            });
        polls.chain(leap).chain(
            self.discipline
                .poll_timeout()
                .map(|due| (Timer::Discipline, due)),
        )
    }

    /// When to call [`handle_timeout`](Self::handle_timeout),
    /// [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_nts_ke`](Self::poll_nts_ke) again (local time): the earliest
    /// of the [`timers`](Self::timers).
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        self.timers()
            .map(|(_, due)| due)
            .reduce(|a, b| if b < a { b } else { a })
    }

    /// A source's polling interval now, log2 seconds.
    pub fn poll(&self, source: SourceId) -> Option<i8> {
        Some(self.source(source)?.poll())
    }

    /// The next action for the clock. Drain after every call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        match self.discipline.poll_action()? {
            // A leap second the node makes itself is not the kernel's.
            ClockAction::SetStatus(status) if self.leap_mode() != LeapMode::System => {
                Some(ClockAction::SetStatus(SyncStatus {
                    leap: LeapIndicator::NoWarning,
                    ..status
                }))
            }
            action => Some(action),
        }
    }

    /// Who makes a leap second: the configured mode, or the node by
    /// slewing when it smears the leap for its clients.
    fn leap_mode(&self) -> LeapMode {
        match self.config.leap_mode {
            LeapMode::System if self.config.leap_smear => LeapMode::Slew,
            mode => mode,
        }
    }

    /// Whether the leap second is kept from clients: the served time takes
    /// it slowly (`smoothtime` with a leap the node makes, or the smear),
    /// so clients must not make it themselves.
    pub fn hides_leap(&self) -> bool {
        self.config.leap_smear
            || (self.smoother.is_some()
                && matches!(self.leap_mode(), LeapMode::Slew | LeapMode::Step))
    }

    /// Notes the leap second announced for the end of the day at `now`,
    /// and makes it when midnight has come (as [`leap_mode`] says).
    fn check_leap(&mut self, now: NtpTimestamp) {
        let unix = now.to_unix(NtpTimestamp::DEFAULT_PIVOT);
        let secs = unix.secs;
        let local = secs as f64 + f64::from(unix.nanos) * 1e-9;
        match self.leap {
            Some(leap) if leap.made.is_none() && secs >= leap.at => {
                self.make_leap(now, leap, local)
            }
            Some(leap)
                if leap
                    .made
                    .is_some_and(|made| local >= made + (DAY / 2) as f64) =>
            {
                self.leap = None;
            }
            Some(leap) if leap.made.is_none() => {
                // Withdrawn before midnight.
                let announced = self.discipline.sync_status(now).leap;
                if PendingLeap::announced(announced, secs).map(|l| (l.at, l.seconds))
                    != Some((leap.at, leap.seconds))
                {
                    self.leap = None;
                }
            }
            Some(_) => {}
            None => {
                let announced = self.discipline.sync_status(now).leap;
                self.leap = PendingLeap::announced(announced, secs);
            }
        }
    }

    /// Makes `leap` at `now` (`local`: POSIX seconds on the clock).
    fn make_leap(&mut self, now: NtpTimestamp, leap: PendingLeap, local: f64) {
        let seconds = f64::from(leap.seconds);
        let mode = self.leap_mode();
        match mode {
            // The kernel made it, on the same time scale as the sources.
            LeapMode::System => {}
            LeapMode::Step | LeapMode::Slew => {
                let before = self.served_state(now);
                let correction =
                    self.discipline
                        .correct_once(now, -seconds, mode == LeapMode::Step);
                self.correct(now, &correction);
                self.leap_sources(seconds);
                self.smooth(now, before, &correction);
            }
            // The sources' next samples show the second, and the updates
            // correct it as any offset (as chronyd).
            LeapMode::Ignore => {}
        }
        let at = self.smoothing_time(now);
        if let Some(smoother) = &mut self.smoother {
            // Unless the smoothing took it as the correction it is.
            if smoother.config().leap_only || mode != LeapMode::Slew {
                smoother.leap(at, -seconds);
            }
        }
        self.leap = Some(PendingLeap {
            made: Some(local),
            ..leap
        });
    }

    /// UTC went back by `seconds` (forward for −1) against the clock: what
    /// the sources measured before is moved with it.
    fn leap_sources(&mut self, seconds: f64) {
        for source in self.sources.iter_mut().flatten() {
            source.shift_offsets(-seconds);
        }
        for clock in self.refclocks.iter_mut().flatten() {
            clock.shift_offsets(-seconds);
        }
    }

    /// Ends the slew in progress at `now` and leaves the clock running at
    /// the frequency estimate: what a program does on its way out, so that
    /// the kernel is not left slewing (the actions come out of
    /// [`poll_action`](Self::poll_action)).
    pub fn shutdown(&mut self, now: NtpTimestamp) {
        let correction = self.discipline.end_slew(now);
        self.correct(now, &correction);
        let followed = self.discipline.end_follow(now);
        self.correct_followed(now, &followed);
    }

    /// `chronyc makestep`: steps the clock at `now` by what the slew in
    /// progress has still to correct.
    pub fn make_step(&mut self, now: NtpTimestamp) {
        let correction = self.discipline.step_remaining(now);
        self.correct(now, &correction);
    }

    /// `chronyc reselect`: selects again at `now`.
    pub fn reselect_now(&mut self, now: NtpTimestamp) {
        let _ = self.reselect(now, None);
    }

    /// `chronyc online`/`offline`: polls a source again from `now`, or
    /// stops polling it.
    pub fn set_online(&mut self, source: SourceId, online: bool, now: NtpTimestamp) {
        if let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) {
            src.set_online(online, now);
        }
    }

    /// Whether a source is polled.
    pub fn is_online(&self, source: SourceId) -> bool {
        self.source(source).is_some_and(Source::is_online)
    }

    /// `chronyc burst`: `total` requests 2 s apart to a source from `now`.
    pub fn burst(&mut self, source: SourceId, total: u8, now: NtpTimestamp) {
        if let Some(src) = self.sources.get_mut(source.0).and_then(Option::as_mut) {
            src.burst(total, now);
        }
    }

    /// The last response of a source and its counts (`chronyc ntpdata`).
    pub fn exchange(&self, source: SourceId) -> Option<(Option<Exchange>, ResponseCounts)> {
        let src = self.source(source)?;
        Some((src.exchange().copied(), src.counts()))
    }

    /// Keeps every source's samples as if the clock had always run as
    /// `correction` leaves it at `now`.
    fn correct(&mut self, now: NtpTimestamp, correction: &Correction) {
        if correction.is_none() {
            return;
        }
        self.manual.correct(now, correction.rate, correction.step);
        for source in self.sources.iter_mut().flatten() {
            source.correct(now, correction.rate);
            if let Some(step) = correction.step {
                source.clock_stepped(step);
            }
        }
        for clock in self.refclocks.iter_mut().flatten() {
            clock.correct(now, correction.rate);
            if let Some(step) = correction.step {
                clock.step(step);
            }
        }
        if let Some(step) = correction.step {
            self.shift_first_sample(step);
            self.shift_nts(step);
            let at = self.smoothing_time(now);
            if let Some(smoother) = &mut self.smoother {
                smoother.reset(at);
            }
        }
    }

    /// The corrected time's state at `now` before a correction: what it
    /// is still to be corrected by, and the frequency estimate (ppm).
    fn served_state(&self, now: NtpTimestamp) -> (f64, f64) {
        (
            self.discipline.pending(now),
            self.discipline.drift().frequency_ppm,
        )
    }

    /// The corrected time changed at `now` from `before`
    /// ([`served_state`](Self::served_state)): the smoothing of the time
    /// served takes the change (a step resets it instead).
    fn smooth(&mut self, now: NtpTimestamp, before: (f64, f64), correction: &Correction) {
        if correction.step.is_some() {
            return;
        }
        let after = self.served_state(now);
        let skew = self.discipline.drift().skew_ppm * 1e-6;
        let at = self.smoothing_time(now);
        if let Some(smoother) = &mut self.smoother {
            // The estimate is the clock's error (positive: fast): the
            // corrected time runs faster by what it fell, as a fraction
            // of its old rate (owed as the bare difference, swings of the
            // frequency to and fro would leave the served time off its
            // rate by their products).
            let rate = crate::discipline::rate_change(-before.1 * 1e-6, -after.1 * 1e-6);
            smoother.clock_corrected(at, after.0 - before.0, rate, skew);
        }
    }

    /// The time scale smoothing runs on at `now`: the monotonic one (the
    /// corrected time less every offset correction: see
    /// [`Discipline::monotonic`]), which a slew does not speed up. On the
    /// clock's own time, a slew 8 % fast would pay a frequency owed 8 %
    /// faster while it lasts, and the served time would jump by that.
    fn smoothing_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        self.corrected_time(now) + NtpDuration::from_seconds_f64(self.discipline.monotonic().0)
    }

    /// Whether any source is authenticated, and whether any is not.
    fn auth_mix(&self) -> (bool, bool) {
        let mut sources = self.sources.iter().flatten();
        let authenticated = sources.clone().any(|s| s.auth().is_authenticated());
        (authenticated, sources.any(|s| !s.auth().is_authenticated()))
    }

    /// What [`AuthSelectMode`] makes of a source: whether it may be
    /// selected at all, and whether it is trusted and required.
    fn auth_selection(&self, source: &Source, mix: (bool, bool)) -> (bool, bool) {
        let authenticated = source.auth().is_authenticated();
        match self.config.auth_select {
            AuthSelectMode::Require => (authenticated, false),
            AuthSelectMode::Prefer => (authenticated || !mix.0, false),
            AuthSelectMode::Mix => (true, authenticated && mix.1),
            AuthSelectMode::Ignore => (true, false),
        }
    }

    fn candidate(
        &self,
        index: usize,
        now: NtpTimestamp,
        mix: (bool, bool),
    ) -> Result<Candidate, SourceState> {
        let source = self.sources[index].as_ref().ok_or(SourceState::Unusable)?;
        let (selectable, required) = self.auth_selection(source, mix);
        if !selectable {
            return Err(SourceState::Unusable);
        }
        if self.mode != ReferenceMode::Normal && source.stats().len() < mode_samples(source) {
            return Err(SourceState::Unusable);
        }
        let candidate = source.candidate(
            now,
            self.discipline.slew_rate(),
            (self.config.maxjitter, self.config.maxdistance),
        )?;
        Ok(Candidate {
            trust: candidate.trust || required,
            require: required || source.config().require,
            was_selected: self.selected == Some(index),
            ..candidate
        })
    }

    /// chronyd's wait at start: the candidates (`selectable`, by slot) have
    /// been polled fewer than 8 times, and another selectable source with
    /// too few samples to be a candidate is only one poll behind the best
    /// of them (its reach register is theirs shifted by one; no answer yet
    /// while they have one). Selecting now would judge without it.
    fn waits_for_stats(&self, selectable: &[usize], mix: (bool, bool)) -> bool {
        let candidates = selectable.iter().filter_map(|&i| self.sources[i].as_ref());
        let best_reach = candidates.clone().map(Source::reach).max().unwrap_or(0);
        let young = candidates.clone().all(|s| s.requests() < 8);
        let behind = self
            .sources
            .iter()
            .enumerate()
            .filter(|(i, _)| !selectable.contains(i))
            .filter_map(|(_, s)| s.as_ref())
            .filter(|s| {
                !s.config().noselect && self.auth_selection(s, mix).0 && s.stats().fit().is_none()
            })
            .map(Source::reach)
            .max();
        young && behind.is_some_and(|reach| reach == best_reach >> 1)
    }

    /// Selects at `now` after source `updated` took a sample (if any);
    /// whether the clock was updated. The updated source's bad selections
    /// in a row are counted (see [`wants_replacement`](Self::wants_replacement)).
    fn reselect(
        &mut self,
        now: NtpTimestamp,
        updated: Option<usize>,
    ) -> Result<bool, DisciplineError> {
        let result = self.select_and_update(now, updated);
        if let Some(i) = updated {
            let bad = matches!(
                self.states[i],
                SourceState::Falseticker | SourceState::TooVariable | SourceState::TooDistant
            );
            self.bad_selections[i] = if bad {
                self.bad_selections[i].saturating_add(1)
            } else {
                0
            };
        }
        result
    }

    /// [`reselect`](Self::reselect)'s selection and clock update.
    fn select_and_update(
        &mut self,
        now: NtpTimestamp,
        updated: Option<usize>,
    ) -> Result<bool, DisciplineError> {
        self.selections = self.selections.wrapping_add(1);
        let placeholder = Candidate {
            offset: 0.0,
            distance: 0.0,
            frequency: 0.0,
            skew: 0.0,
            offset_sd: 0.0,
            sample_sd: 0.0,
            stratum: 0,
            leap: LeapIndicator::NoWarning,
            prefer: false,
            trust: false,
            require: false,
            was_selected: false,
        };
        let mut candidates = [placeholder; N];
        let mut index = [0usize; N];
        let mut states = [SourceState::Unusable; N];
        let mut n = 0;
        let mix = self.auth_mix();
        for i in 0..N {
            match self.candidate(i, now, mix) {
                Ok(c) => {
                    candidates[n] = c;
                    index[n] = i;
                    n += 1;
                    let info = self.sources[i].as_ref().and_then(Source::info);
                    self.intervals[i] = info.map(|info| SelectionInterval {
                        offset: -c.offset,
                        distance: c.distance,
                        last_sample_ago: (now - info.time).to_seconds_f64().max(0.0),
                    });
                }
                Err(state) => {
                    self.states[i] = state;
                    self.intervals[i] = None;
                }
            }
        }
        let n = self.orphan_filter(&mut candidates[..n], &mut index[..n]);
        // In a reference mode, a source still gathering its samples is
        // waited for like one that has not answered yet.
        let gathering = |s: &Source| {
            self.mode != ReferenceMode::Normal
                && s.stats().len() < mode_samples(s)
                && s.may_reach_samples(mode_samples(s), MODE_POLLS)
        };
        let waiting = self
            .sources
            .iter()
            .flatten()
            .filter(|s| {
                (s.is_waiting() || gathering(s))
                    && !s.config().noselect
                    && self.auth_selection(s, mix).0
            })
            .count();
        if self.selected.is_none() && n > 0 && self.waits_for_stats(&index[..n], mix) {
            // As chronyd: nothing is selected yet while a source answering
            // as long as the others has too few samples to be judged.
            for &i in &index[..n] {
                self.states[i] = SourceState::Unusable;
            }
            return Ok(false);
        }
        let settings = Settings {
            minsources: self.config.minsources,
            stratumweight: self.config.stratumweight,
            reselect_distance: self.config.reselect_distance,
            waiting,
            require: (self.config.auth_select == AuthSelectMode::Mix && mix.0 && mix.1)
                || self
                    .sources
                    .iter()
                    .flatten()
                    .any(|s| s.config().require && !s.config().noselect),
        };
        let outcome = select::select(&candidates[..n], &settings, &mut states);
        for k in 0..n {
            self.states[index[k]] = states[k];
        }
        let combined = match outcome {
            Outcome::Selected(combined) => combined,
            other => {
                self.unselected = Some(match other {
                    _ if self.sources.iter().all(Option::is_none) => Unselected::NoSources,
                    Outcome::NoMajority => Unselected::NoMajority,
                    Outcome::TooFewSources => Unselected::NotEnoughSources,
                    Outcome::NoRequiredSource => Unselected::NoRequiredSource,
                    _ => Unselected::NoSelectableSources,
                });
                self.selected = None;
                // As chronyd: only a lost majority unsynchronises the
                // clock; with no selectable source it keeps its reference
                // and its root dispersion grows.
                if other == Outcome::NoMajority {
                    self.discipline.lose_sync(now);
                }
                return Ok(false);
            }
        };
        self.unselected = None;
        let selected = index[combined.selected];
        self.selected = Some(selected);
        let Some(updated) = updated else {
            return Ok(false);
        };
        if !matches!(
            self.states[updated],
            SourceState::Selected | SourceState::Combined
        ) {
            return Ok(false);
        }
        let Some(source) = self.sources[selected].as_ref() else {
            return Ok(false);
        };
        let Some(info) = source.info() else {
            return Ok(false);
        };
        let min_delay = source.path_delay(info);
        let estimate = Estimate {
            offset: combined.offset,
            offset_sd: combined.offset_sd,
            sample_sd: combined.sample_sd,
            frequency: combined.frequency,
            skew: combined.skew,
            root_delay: info.root_delay + min_delay,
            root_dispersion: info.root_dispersion + info.dispersion + combined.offset_sd,
            leap: self.leap_at(now, combined.leap),
            interval: source.regular_interval(),
        };
        if self.mode != ReferenceMode::Normal {
            self.end_mode(now, estimate.offset);
            return Ok(false);
        }
        let reference = Self::reference_of(source).map(|(id, stratum)| (selected, id, stratum));
        let before = self.served_state(now);
        let correction = self.discipline.update(now, &estimate)?;
        self.frequencies
            .push(now, self.discipline.drift().frequency_ppm * 1e-6);
        self.last_reference = reference;
        self.correct(now, &correction);
        self.smooth(now, before, &correction);
        Ok(true)
    }

    /// The reference ID and stratum a source gives the clock when it is
    /// synchronised to it: the source's address (as a reference ID) and
    /// its stratum + 1, or with `copy` the source's own.
    fn reference_of(source: &Source) -> Option<(ReferenceId, u8)> {
        let info = source.info()?;
        Some(if source.config().copy {
            (info.reference_id, info.stratum)
        } else {
            (
                source.reference_id(),
                info.stratum.saturating_add(1).min(16),
            )
        })
    }

    /// The source the clock's reference comes from: the selected one, or
    /// with none selectable the one of the last update, while it is
    /// followed.
    pub fn reference_source(&self) -> Option<SourceId> {
        let id = self.selected.or(self.last_reference.map(|(i, _, _)| i))?;
        self.source(SourceId(id)).map(|_| SourceId(id))
    }

    /// The clock's own reference at `now` while it is synchronised: the
    /// selected source's reference ID and stratum ([`Self::reference_of`],
    /// as the source says now, not as it was at the last update; with none
    /// selectable, the last update's), the root delay and the root
    /// dispersion grown since the last update.
    fn own_reference(&self, now: NtpTimestamp) -> Option<Reference> {
        if !self.discipline.is_synchronized() {
            return None;
        }
        // The selected source as it says now; with none selectable, the
        // last update's (chronyd keeps its reference until it has no
        // majority).
        let (reference_id, stratum) = self
            .selected
            .and_then(|i| self.sources[i].as_ref())
            .and_then(Self::reference_of)
            .or(self.last_reference.map(|(_, id, stratum)| (id, stratum)))?;
        Some(Reference {
            leap: self.discipline.leap(),
            stratum,
            reference_id,
            reference_time: self.discipline.last_update().unwrap_or(now),
            root_delay: NtpShort::from_seconds_f64(self.discipline.root_delay()),
            root_dispersion: NtpShort::from_seconds_f64(self.discipline.root_dispersion(now)),
        })
    }

    /// What a server following this clock serves at `now`: its own
    /// reference while it is synchronised and its frequency is known (see
    /// [`is_acquiring`](Self::is_acquiring) for what is withheld before),
    /// [`Reference::UNSYNCHRONIZED`] otherwise (what is served then,
    /// `local stratum` included, is [`crate::server::LocalReference`]'s to
    /// decide).
    pub fn reference(&self, now: NtpTimestamp) -> Reference {
        self.own_reference(now)
            .filter(|_| self.discipline.state() == DisciplineState::Tracking)
            .unwrap_or(Reference::UNSYNCHRONIZED)
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
        // In orphan mode, an answer only from orphans we cannot follow
        // (the servers that follow us, or ourselves) is no sign of a
        // source to come: the local reference is served at once.
        // Nor is one from a source never selected, and a reference clock
        // not heard yet is no reason to wait (a pulse source may need the
        // local reference served to number its pulses).
        // Nor is this node itself, configured as a server: it waits for
        // nothing but this node's own answers.
        let answered = self
            .first_sample
            .is_some_and(|t| (now - t).to_seconds_f64() < ACQUIRE_LIMIT)
            && self.sources.iter().flatten().any(|s| {
                s.info().is_some()
                    && !s.config().noselect
                    && !self.is_lesser_orphan(s)
                    && !s.is_ourselves()
            });
        let waiting = self.sources.iter().flatten().any(|s| {
            s.is_waiting()
                && !s.config().noselect
                && s.refclock_slot().is_none()
                && !s.is_ourselves()
        });
        measuring && (answered || waiting)
    }

    fn shift_first_sample(&mut self, offset: f64) {
        if let Some(t) = &mut self.first_sample {
            *t = *t + NtpDuration::from_seconds_f64(offset);
        }
    }

    fn shift_nts(&mut self, offset: f64) {
        let shift = NtpDuration::from_seconds_f64(offset);
        for state in self.nts.iter_mut().flatten() {
            state.step(shift);
        }
    }

    /// The time a server should put in its responses at local time `now`:
    /// the clock's time with the correction still being slewed applied (as
    /// chrony's "cooked" time).
    pub fn corrected_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        now + NtpDuration::from_seconds_f64(self.discipline.pending(now))
    }

    /// The time served at `now` (local time): the
    /// [`corrected_time`](Self::corrected_time), plus what smoothing
    /// holds back.
    ///
    /// With the leap smear, a leap second is served over the 24 hours
    /// around it (from noon to noon UTC, 11.6 ppm slow for an inserted
    /// second), as public smearing servers serve it: the served time is
    /// half a second behind UTC at midnight, and never steps.
    pub fn served_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        self.corrected_time(now) + NtpDuration::from_seconds_f64(self.smoothing_offset(now))
    }

    /// The served time's monotonic scale at `now` (what chrony's
    /// `extfield F323` answers give): what to add to the served time for
    /// it, and the clock's steps so far (each starts another); `None`
    /// while smoothing or the leap smear move the served time, as chronyd
    /// gives none then (see [`Discipline::monotonic`]).
    pub fn monotonic(&self, now: NtpTimestamp) -> Option<(f64, u32)> {
        (self.smoothing_offset(now) == 0.0).then(|| self.discipline.monotonic())
    }

    /// What smoothing and the leap smear add to the corrected time at
    /// `now`, seconds (0 without either).
    pub fn smoothing_offset(&self, now: NtpTimestamp) -> f64 {
        // Every answer served asks for this: the time scale is worked out
        // only when there is a smoothing.
        let spline = self
            .smoother
            .as_ref()
            .map_or(0.0, |s| s.offset(self.smoothing_time(now)));
        let smear = match (&self.leap, self.config.leap_smear) {
            (Some(leap), true) => {
                let unix = now.to_unix(NtpTimestamp::DEFAULT_PIVOT);
                crate::smooth::leap_smear(leap, unix.secs as f64 + f64::from(unix.nanos) * 1e-9)
            }
            _ => 0.0,
        };
        spline + smear
    }

    /// `chronyc smoothing` at `now` (none without `smoothtime`).
    pub fn smoothing_report(&self, now: NtpTimestamp) -> Option<SmoothingReport> {
        Some(self.smoother.as_ref()?.report(self.smoothing_time(now)))
    }

    /// `chronyc smoothtime reset` (`activate`: `smoothtime activate`) at
    /// `now`; whether smoothing is configured.
    pub fn smoothtime(&mut self, now: NtpTimestamp, activate: bool) -> bool {
        let at = self.smoothing_time(now);
        let Some(smoother) = &mut self.smoother else {
            return false;
        };
        if activate {
            smoother.activate(at);
        } else {
            smoother.reset(at);
        }
        true
    }

    /// The `chronyc sources` line of a source at `now`.
    pub fn source_report(&self, id: SourceId, now: NtpTimestamp) -> Option<SourceReport> {
        let source = self.source(id)?;
        let info = source.info().unwrap_or_default();
        Some(SourceReport {
            mode: if source.refclock_slot().is_some() {
                SourceMode::LocalClock
            } else if source.config().peer {
                SourceMode::Peer
            } else {
                SourceMode::Server
            },
            state: self.states[id.0],
            stratum: info.stratum,
            poll: source.poll(),
            reach: source.reach(),
            last_rx: source
                .info()
                .map(|info| (now - info.time).to_seconds_f64().max(0.0) as u64),
            adjusted_offset: -source.stats().newest_offset().unwrap_or(0.0),
            measured_offset: -info.measured_offset,
            error: (info.root_delay + info.delay) / 2.0 + info.root_dispersion + info.dispersion,
        })
    }

    /// Whether server or peer `id` is one to replace, as chronyd replaces
    /// such a source by looking its name up again: no answer to its last
    /// 8 polls, or found a falseticker (`x`), too variable (`~`) or too
    /// distant (`d`) by the last [`BAD_SELECTIONS`] selections made after
    /// its own samples (chronyd's newer rule: one such selection may be a
    /// passing one). A reference clock never is.
    pub fn wants_replacement(&self, id: SourceId) -> bool {
        let Some(source) = self.source(id) else {
            return false;
        };
        if source.refclock_slot().is_some() {
            return false;
        }
        let unreachable = source.reach() == 0 && source.polls() >= 8;
        unreachable || self.bad_selections[id.0] >= BAD_SELECTIONS
    }

    /// How the last selection saw a source (`chronyc selectdata`), at
    /// `now`.
    pub fn select_report(&self, id: SourceId, now: NtpTimestamp) -> Option<SelectReport> {
        let source = self.source(id)?;
        let config = source.config();
        let info = source.info();
        let interval = self.intervals[id.0];
        let option = |set: bool, flag: u16| if set { flag } else { 0 };
        let configured = SelectOptions(
            option(config.noselect, SelectOptions::NOSELECT)
                | option(config.prefer, SelectOptions::PREFER)
                | option(config.trust, SelectOptions::TRUST)
                | option(config.require, SelectOptions::REQUIRE),
        );
        let (selectable, required) = self.auth_selection(source, self.auth_mix());
        let effective = SelectOptions(
            configured.0
                | option(!selectable, SelectOptions::NOSELECT)
                | option(required, SelectOptions::TRUST | SelectOptions::REQUIRE),
        );
        let state = match self.states[id.0] {
            SourceState::Selected => '*',
            SourceState::Combined => '+',
            SourceState::NotCombined => 'D',
            SourceState::Falseticker => 'x',
            SourceState::TooVariable => '~',
            SourceState::TooDistant => 'd',
            SourceState::Unusable if effective.0 & SelectOptions::NOSELECT != 0 => 'N',
            SourceState::Unusable
                if info.is_some_and(|i| i.leap == LeapIndicator::Unsynchronized) =>
            {
                's'
            }
            SourceState::Unusable if source.stats().fit().is_none() => 'M',
            SourceState::Unusable if source.reach() == 0 => 'S',
            SourceState::Unusable => 'd',
        };
        let last_sample_ago = interval
            .map(|i| i.last_sample_ago)
            .or_else(|| info.map(|i| (now - i.time).to_seconds_f64()));
        let (lo_limit, hi_limit) = interval.map_or((0.0, 0.0), |i| {
            (i.offset - i.distance, i.offset + i.distance)
        });
        Some(SelectReport {
            state,
            authenticated: source.auth().is_authenticated(),
            leap: if source.refclock_slot().is_some() {
                info.map_or(LeapIndicator::Unsynchronized, |i| i.leap)
            } else {
                source.announced_leap()
            },
            configured,
            effective,
            last_sample_ago: last_sample_ago.map_or(0, |s| s.max(0.0) as u32),
            score: 1.0,
            lo_limit,
            hi_limit,
        })
    }

    /// Manual time input: its samples and whether it is on.
    pub fn manual(&self) -> &Manual {
        &self.manual
    }

    /// `chronyc manual on|off`.
    pub fn set_manual(&mut self, enabled: bool) {
        self.manual.set_enabled(enabled);
    }

    /// `chronyc manual reset`.
    pub fn reset_manual(&mut self) {
        self.manual.reset();
    }

    /// `chronyc manual delete INDEX`.
    pub fn delete_manual(&mut self, index: usize) -> Result<(), ManualError> {
        self.manual.delete(index)
    }

    /// What [`settime`](Self::settime) would do at `now`: the correction,
    /// and the drift after it, ppm (positive: the clock gains).
    pub fn settime_preview(
        &self,
        now: NtpTimestamp,
        true_time: NtpTimestamp,
    ) -> Result<(ManualCorrection, f64), ManualError> {
        let correction = self.manual.clone().accept(now, true_time)?;
        Ok((
            correction,
            self.drift().frequency_ppm + correction.dfreq_ppm,
        ))
    }

    /// `chronyc settime`: the true time is `true_time` when the clock reads
    /// `now`. The offset is corrected (stepped when `makestep` allows it,
    /// else slewed) and the drift estimate changed by what the samples
    /// show; as chronyd's manual reference, the clock is then not
    /// synchronised to any source.
    pub fn settime(
        &mut self,
        now: NtpTimestamp,
        true_time: NtpTimestamp,
    ) -> Result<ManualCorrection, ManualError> {
        let correction = self.manual.accept(now, true_time)?;
        let before = self.served_state(now);
        // The offset is the clock's (positive: fast): corrected backwards.
        let change =
            self.discipline
                .correct_manually(now, -correction.offset, correction.dfreq_ppm);
        self.discipline.lose_sync(now);
        self.correct(now, &change);
        self.smooth(now, before, &change);
        Ok(correction)
    }

    /// `chronyc doffset`: the clock is slewed by `offset` seconds more
    /// (positive: back) than the slew in progress corrects, as fast as
    /// `maxslewrate` and the clock allow, from `now` on. The estimates are
    /// left alone: the sources then find the clock that far off and the
    /// loop corrects it back (how chronyd's is tested). A clock that
    /// cannot slew (`maxslewrate 0`, or its frequency at the limit) is
    /// stepped instead: the offset is never dropped.
    pub fn accumulate_offset(&mut self, now: NtpTimestamp, offset: f64) {
        if !offset.is_finite() {
            return;
        }
        let before = self.served_state(now);
        let total = self.discipline.update_pending(now) - offset;
        let change = if total == 0.0 {
            self.discipline.end_slew(now)
        } else {
            let slewed = self.discipline.correct_once(now, total, false);
            // (A slew that could not be planned left the one before.)
            if (self.discipline.update_pending(now) - total).abs() > 1e-9 {
                // (What was still pending is stepped first.)
                let remaining = self.discipline.step_remaining(now);
                self.correct(now, &remaining);
                self.discipline.correct_once(now, -offset, true)
            } else {
                slewed
            }
        };
        self.correct(now, &change);
        self.smooth(now, before, &change);
    }

    /// `chronyc dfreq`: the estimate of the clock's drift grows by `ppm`
    /// (within `maxdrift`; positive: the clock is taken to gain more), and
    /// the clock is corrected for it (slowed by as much), as chronyd's; the
    /// sources then find the error and correct it back (how chronyd's is
    /// tested).
    pub fn accumulate_frequency(&mut self, now: NtpTimestamp, ppm: f64) {
        if !ppm.is_finite() {
            return;
        }
        let before = self.served_state(now);
        let change = self.discipline.correct_manually(now, 0.0, ppm);
        self.correct(now, &change);
        self.smooth(now, before, &change);
    }

    /// How many selections were made so far (wrapping): each one leaves
    /// every source's state as [`source_report`](Self::source_report)
    /// gives it, until the next.
    pub fn selections(&self) -> u32 {
        self.selections
    }

    /// How a source is polled and used.
    pub fn source_config(&self, id: SourceId) -> Option<&SourceConfig> {
        self.source(id).map(Source::config)
    }

    /// Polls and uses a source as `config` says from now on; selection is
    /// made again at the next turn. Whether there is such a source.
    pub fn reconfigure_source(&mut self, id: SourceId, config: SourceConfig) -> bool {
        let Some(source) = self.sources.get_mut(id.0).and_then(Option::as_mut) else {
            return false;
        };
        source.reconfigure(config);
        self.reselect_due = true;
        true
    }

    /// Every source forgets its samples (chronyc's `reset sources`): the
    /// clock keeps its frequency and nothing is selected until new
    /// samples come.
    pub fn reset_sources(&mut self, now: NtpTimestamp) {
        for source in self.sources.iter_mut().flatten() {
            source.reset_samples();
        }
        for clock in self.refclocks.iter_mut().flatten() {
            clock.clear();
        }
        self.reselect_due = true;
        self.reselect_if_due(now);
    }

    /// `chronyc makestep THRESHOLD LIMIT` (the limit counts from now).
    pub fn set_makestep(&mut self, makestep: crate::discipline::MakeStep) {
        self.discipline.set_makestep(makestep);
        self.config.discipline.makestep = self.discipline.config().makestep;
    }

    /// `chronyc maxupdateskew PPM`.
    pub fn set_maxupdateskew(&mut self, ppm: f64) {
        self.discipline.set_maxupdateskew(ppm);
        self.config.discipline.maxupdateskew_ppm = ppm;
    }

    /// A source replaces the selected one only when it is better by more
    /// than this, seconds of distance (chronyc's `reselectdist`).
    pub fn set_reselect_distance(&mut self, distance: f64) {
        self.config.reselect_distance = distance;
    }

    /// What the last selection saw of a source: none when it was not a
    /// candidate (no sample yet, or unusable, too variable).
    pub fn selection_interval(&self, id: SourceId) -> Option<SelectionInterval> {
        self.source(id)?;
        self.intervals[id.0]
    }

    /// The `chronyc sourcestats` line of a source at `now`.
    pub fn source_stats(&self, id: SourceId, now: NtpTimestamp) -> Option<SourceStatsReport> {
        let stats = self.source(id)?.stats();
        Some(match stats.fit() {
            Some(fit) => {
                let (offset, offset_error) = fit.predict(now);
                SourceStatsReport {
                    samples: stats.len() as u32,
                    runs: fit.runs as u32,
                    span: fit.span.max(0.0) as u64,
                    frequency_ppm: -fit.frequency * 1e6,
                    skew_ppm: fit.skew * 1e6,
                    offset: -offset,
                    std_dev: fit.std_dev,
                    offset_error,
                }
            }
            // No regression yet (too few samples): chronyd's values for
            // it (a skew of 2000 ppm and a standard deviation of 4 s).
            None => SourceStatsReport {
                samples: stats.len() as u32,
                runs: 0,
                span: 0,
                frequency_ppm: 0.0,
                skew_ppm: 2000.0,
                offset: 0.0,
                std_dev: 4.0,
                offset_error: 0.0,
            },
        })
    }

    /// Requests sent to a source so far.
    pub fn requests(&self, id: SourceId) -> Option<u32> {
        Some(self.source(id)?.requests())
    }

    /// The jitter asymmetry a source's offsets are corrected for, estimated
    /// or configured (`chronyc ntpdata`, statistics.log).
    pub fn jitter_asymmetry(&self, id: SourceId) -> Option<f64> {
        Some(self.source(id)?.stats().asymmetry())
    }

    /// A source's polls so far, whether or not they sent a request (an
    /// NTS source waiting for NTS-KE, a missing key send nothing).
    pub fn polls(&self, id: SourceId) -> Option<u32> {
        Some(self.source(id)?.polls())
    }

    /// The `chronyc tracking` values at `now`.
    pub fn tracking(&self, now: NtpTimestamp) -> TrackingReport {
        // The clock's state, as the sync status says it: synchronised (even
        // while its frequency is still being measured) or not.
        let own = self.own_reference(now);
        let reference = own.unwrap_or(Reference::UNSYNCHRONIZED);
        let residual = own
            .and(self.selected)
            .and_then(|i| self.sources[i].as_ref())
            .and_then(|s| s.stats().fit())
            .map_or(0.0, |fit| -fit.frequency * 1e6);
        // Unsynchronised, chronyd reports no reference time, no skew, and
        // 1 s of root delay and dispersion.
        TrackingReport {
            reference_id: reference.reference_id,
            stratum: reference.stratum,
            reference_time: own.map_or(NtpTimestamp::ZERO, |_| {
                self.discipline.last_update().unwrap_or(NtpTimestamp::ZERO)
            }),
            system_offset: -self.discipline.pending(now),
            last_offset: -self.discipline.last_offset(),
            rms_offset: self.discipline.rms_offset(),
            frequency_ppm: self.discipline.drift().frequency_ppm,
            residual_frequency_ppm: residual,
            skew_ppm: own.map_or(0.0, |_| self.discipline.drift().skew_ppm),
            // Unrounded (the reference rounds them up to NTP's 2^-16 s).
            root_delay: own.map_or(1.0, |_| self.discipline.root_delay()),
            root_dispersion: own.map_or(1.0, |_| self.discipline.root_dispersion(now)),
            update_interval: self.discipline.update_interval(),
            leap: reference.leap,
        }
    }

    /// How far the clock may be from true time at `now`, seconds: `None`
    /// until it follows a source with a measured frequency.
    ///
    /// Each sample of the source the clock follows says where true time
    /// was when it was taken: within half its round trip plus the
    /// server's own root distance (half its root delay, its root
    /// dispersion) of its offset, which the statistics
    /// keep as if every correction made since had been in effect. From
    /// then to `now` the clock can only have drifted by the source's
    /// residual frequency, three standard errors of it, and the clock's
    /// own instability ([`MAX_CLOCK_ERROR`]);
    /// three standard deviations of the regression's residuals cover what
    /// the straight line does not model, and the random walk of the
    /// clock's frequency, measured over its last updates, grows with
    /// `age^1.5` (wander a straight line cannot foresee). "Three" is the coverage
    /// of three standard deviations (99.73 %), taken from Student's t for
    /// the regression's degrees of freedom: a fit of few samples knows its
    /// own error poorly (with 3 samples the factor is 236). The bound is the
    /// tightest of the samples'. It holds as far as the server is truthful
    /// and the clock is not stepped from outside (a shell that notices
    /// such a step says so with [`clock_jumped`](Self::clock_jumped)).
    ///
    /// This is ClockBound's idea over chronyd's tracking values, taken
    /// from the samples themselves: in every simulated world it contains
    /// the true time (see README).
    pub fn error_bound(&self, now: NtpTimestamp) -> Option<f64> {
        if self.discipline.state() != DisciplineState::Tracking {
            return None;
        }
        let source = self.source(self.reference_source()?)?;
        let info = source.info()?;
        let fit = source.stats().fit()?;
        let k = three_sigma(usize::from(fit.samples).checked_sub(2)?)?;
        let drift_rate = fit.frequency.abs() + k * fit.skew + MAX_CLOCK_ERROR;
        // A stored delay is the round trip plus twice the server's root
        // dispersion (`Measurement::filter_delay`): half of it holds both.
        let floor = info.root_delay / 2.0 + k * fit.std_dev;
        // A frequency that walks at random (variance `wander²` a second)
        // moves the time by `wander · age^1.5 / √3` (one deviation) after
        // `age` seconds, which no straight line foresees.
        let wander = k * self.frequencies.wander() / Float::sqrt(3.0);
        let bound = source
            .stats()
            .samples()
            .map(|s| {
                let age = (now - s.time).to_seconds_f64().max(0.0);
                let walk = wander * Float::powf(age, 1.5);
                s.offset.abs() + s.delay / 2.0 + floor + drift_rate * age + walk
            })
            .fold(f64::INFINITY, f64::min);
        bound.is_finite().then_some(bound)
    }

    /// The drift to save (chrony's driftfile values).
    pub fn drift(&self) -> Drift {
        self.discipline.drift()
    }

    /// The synchronisation status at `now` (what the kernel is told).
    pub fn sync_status(&self, now: NtpTimestamp) -> SyncStatus {
        self.discipline.sync_status(now)
    }

    /// How many times the clock was updated from the sources so far.
    pub fn clock_updates(&self) -> u32 {
        self.discipline.updates()
    }

    /// The discipline's state.
    pub fn discipline_state(&self) -> DisciplineState {
        self.discipline.state()
    }

    /// The offset the last clock update corrected, seconds (positive: the
    /// clock was behind).
    pub fn last_offset(&self) -> f64 {
        self.discipline.last_offset()
    }

    /// The frequency correction the clock runs at now, slew included, ppm.
    pub fn frequency_ppm(&self) -> f64 {
        self.discipline.frequency_ppm()
    }

    /// The clock was stepped by about `offset` seconds by someone else at
    /// `now` (an operator, a virtual machine resumed: see
    /// [`StepWatch`](crate::clock::StepWatch)). Timers, requests in flight
    /// and reference times move with it. What was measured before says
    /// nothing of the clock now (the step may have set it right, or
    /// wrong), so every source's samples are dropped, as chronyd drops
    /// them, and selection is made again: nothing is selected until the
    /// sources answer again.
    pub fn clock_jumped(&mut self, now: NtpTimestamp, offset: f64) {
        self.discipline.clock_stepped(offset);
        self.shift_first_sample(offset);
        self.shift_nts(offset);
        for source in self.sources.iter_mut().flatten() {
            source.clock_jumped(offset);
        }
        for clock in self.refclocks.iter_mut().flatten() {
            clock.clear();
        }
        let at = self.smoothing_time(now);
        if let Some(smoother) = &mut self.smoother {
            smoother.reset(at);
        }
        // The clock is no longer known to be right (chronyd: an unknown
        // step unsynchronises it).
        self.discipline.lose_sync(now);
        let _ = self.reselect(now, None);
    }
}

mod history;

#[cfg(test)]
mod tests;
