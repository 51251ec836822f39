//! The node: everything a time daemon does, sans-IO. It owns the client
//! engine ([`System`]), the NTP server ([`Server`]) and chrony's `local`
//! reference, decides what is served, keeps the drift file's schedule and
//! reports what happened as [`Event`]s. Two shells drive the same node:
//! the Linux one (`linux::driver`: sockets, `poll(2)`, adjtimex, files)
//! and the simulator (`sim`: a simulated kernel and network). What the
//! tests prove is therefore the program users run.
//!
//! The shape is quinn-proto's: the shell hands in what happened and asks
//! what to do, always with the clock's time `now`.
//!
//! ```text
//! loop {
//!     while let Some(t) = node.poll_transmit(now, &mut rng, &mut buf) { send to t.source: t.bytes, remember t.token }
//!     a response on a source's socket:  node.handle(rx_time, Datagram { source, bytes, receive })
//!     a request from a client:          node.serve(rx_time, client, bytes, &mut reply, clock_now) → reply
//!     once it left, if reply.keep:      node.reply_transmitted(token, tx_time)
//!     a kernel transmit timestamp:      node.handle_tx_timestamp(token, time, TimestampSource::Kernel)
//!     what an operator asks:            node.handle_command(now, Command::…)
//!     the timer:                        node.handle_timeout(now)
//!     while let Some(action) = node.poll_action() { clock.apply(&action) }   // at once
//!     while let Some(event) = node.poll_event() { log it, write files }
//!     while let Some(source) = node.poll_nts_ke() { start NTS-KE for it }   // after the polls
//!     an NTS-KE finished: node.set_nts_session(source, session, now) or node.nts_ke_failed(source, now, ending)
//!     sleep until node.poll_timeout(), or a datagram
//! }
//! on the way out: node.shutdown(now), then the actions and events once more
//! ```
//!
//! Every action must be carried out before time moves on: the engine
//! keeps its statistics as if the clock had always run as it was last
//! told (see [`crate::discipline`]).

use core::net::SocketAddr;

mod setting;

use crate::access::{AccessError, Subnet};
use crate::clock::ClockAction;
use crate::discipline::{DisciplineError, Drift, MakeStep};
use crate::filter::StoredSample;
use crate::leap::LeapTable;
use crate::manual::ManualError;
use crate::nts::client::KeEnding;
use crate::nts::{CookieKeys, NtsSession};
use crate::random::Random;
use crate::refclock::{Accepted, Filtered, Reading, ReadingError, RefclockConfig};
use crate::reference::Reference;
use crate::report::{SourceStatsReport, TimestampSource, TrackingReport};
use crate::server::{
    current_reference, served_reference, Counters, LocalReference, Reply, ReplyToken, Server,
};
use crate::source::Exchange;
pub use crate::system::Timer;
use crate::system::{
    AuthError, CapacityError, HandleError, ModeEnd, RefclockPolled, RequestNumber, RestoreError,
    SourceAuth, SourceConfig, SourceHistory, SourceId, System, SystemConfig, Unselected, Used,
};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::{LeapIndicator, ReferenceId};
pub use setting::{SourceFlags, SourceSetting};

/// How often the drift is saved while synchronised, seconds (chronyd:
/// hourly).
pub const DRIFT_SAVE_INTERVAL: f64 = 3600.0;

/// Events a node keeps for the shell at most; older ones are dropped (and
/// counted) if the shell does not drain them after every call.
const EVENTS: usize = 16;

/// A response that arrived on a source's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'d> {
    /// The source whose socket it came on.
    pub source: SourceId,
    /// Its bytes.
    pub bytes: &'d [u8],
    /// Where its receive time (the `now` it is handled at) came from.
    pub receive: TimestampSource,
}

/// What [`Node::handle`] made of a response (the details, for logs, come
/// as [`Event`]s).
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub enum DatagramEvent {
    /// Its sample entered the source's statistics.
    Used(Used),
    /// It was not used, for this reason.
    Rejected(HandleError),
}

/// Names one request handed out by [`Node::poll_transmit`]: give it back
/// with the request's kernel transmit timestamp
/// ([`Node::handle_tx_timestamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransmitToken {
    /// The source the request went to.
    pub source: SourceId,
    /// Which of its requests.
    pub request: RequestNumber,
}

/// A request to send.
#[derive(Debug, PartialEq, Eq)]
pub struct Transmit<'b> {
    /// The source to send it to (on its own socket).
    pub source: SourceId,
    /// The request.
    pub bytes: &'b [u8],
    /// Its name, for its transmit timestamp.
    pub token: TransmitToken,
}

/// What an operator asks of the node (chronyc's commands, and the shell's
/// own changes of its settings).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// Poll a source again (`chronyc online`).
    Online(SourceId),
    /// Stop polling a source (`chronyc offline`).
    Offline(SourceId),
    /// Send `total` requests to a source 2 s apart (`chronyc burst`).
    Burst {
        /// The source.
        source: SourceId,
        /// The requests.
        total: u8,
    },
    /// Step the clock by what the slew in progress has still to correct
    /// (`chronyc makestep`).
    MakeStep,
    /// Select again now (`chronyc reselect`).
    Reselect,
    /// The server's NTS cookie keys (after a rotation).
    ServerNtsKeys(CookieKeys),
    /// Change one setting of a source (chronyc's `minpoll`, `maxpoll`,
    /// `maxdelay`, `maxdelaydevratio`, `polltarget`, `selectopts`; see
    /// [`apply_setting`]).
    SetSource {
        /// The source.
        source: SourceId,
        /// The new value.
        setting: SourceSetting,
    },
    /// `chronyc makestep THRESHOLD LIMIT` (the limit counts from now).
    SetMakeStep(MakeStep),
    /// `chronyc maxupdateskew PPM`.
    SetMaxUpdateSkew(f64),
    /// `chronyc reselectdist SECONDS`.
    SetReselectDistance(f64),
    /// `chronyc local ...` (`Some`) or `local off` (`None`).
    SetLocal(Option<LocalReference>),
    /// `chronyc allow|deny [all] SUBNET`: a rule for the server's clients.
    Access {
        /// The subnet.
        subnet: Subnet,
        /// Allow (or deny).
        allow: bool,
        /// `all`: the rule replaces the more specific ones inside it.
        all: bool,
    },
    /// `chronyc reset sources`: every source forgets its samples.
    ResetSources,
    /// `chronyc clients -r`: the client log's counts start again.
    ResetClients,
    /// `chronyc manual on` (`true`) or `manual off`.
    Manual(bool),
    /// `chronyc manual reset`.
    ManualReset,
    /// `chronyc manual delete INDEX`.
    ManualDelete(usize),
    /// `chronyc settime`: the true time when the clock reads `now`.
    SetTime(NtpTimestamp),
    /// `chronyc doffset`: slew the clock by this many seconds (positive:
    /// back), the estimates left alone ([`System::accumulate_offset`]).
    Doffset(f64),
    /// `chronyc dfreq`: the clock's drift estimate grows by this many ppm
    /// ([`System::accumulate_frequency`]).
    Dfreq(f64),
}

/// A source's configuration with chronyc's `setting` applied.
pub fn apply_setting(config: &SourceConfig, setting: &SourceSetting) -> SourceConfig {
    let mut config = *config;
    let poll = |n: i32| n.clamp(-7, 24) as i8;
    match *setting {
        SourceSetting::MinPoll(n) => config.minpoll = poll(n),
        SourceSetting::MaxPoll(n) => config.maxpoll = poll(n),
        SourceSetting::MaxDelay(s) => config.maxdelay = s,
        SourceSetting::MaxDelayDevRatio(r) => config.maxdelaydevratio = r,
        SourceSetting::PollTarget(n) => config.poll_target = n.clamp(1, 255) as u8,
        SourceSetting::SelectOptions { mask, options } => {
            let set = |flag| options.has(flag);
            if mask.has(SourceFlags::REQUIRE) {
                config.require = set(SourceFlags::REQUIRE);
            }
            if mask.has(SourceFlags::PREFER) {
                config.prefer = set(SourceFlags::PREFER);
            }
            if mask.has(SourceFlags::NOSELECT) {
                config.noselect = set(SourceFlags::NOSELECT);
            }
            if mask.has(SourceFlags::TRUST) {
                config.trust = set(SourceFlags::TRUST);
            }
        }
        SourceSetting::MaxDelayRatio(r) => config.maxdelayratio = r.max(0.0),
        SourceSetting::MinStratum(n) => config.min_stratum = n.clamp(0, 15) as u8,
        SourceSetting::Offset(s) => config.offset = s,
    }
    config
}

/// Why a [`Command`] was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No source has this id.
    #[error("no such source")]
    UnknownSource,
    /// The node does not serve (or not NTS).
    #[error("the node does not serve (NTS)")]
    NotServing,
    /// The server's access table is full.
    #[error("access rules: {0}")]
    Access(AccessError),
    /// Manual input refused it.
    #[error("manual input: {0}")]
    Manual(ManualError),
}

/// What happened, for log lines and files: chronyd's log messages and its
/// `measurements`, `statistics`, `tracking` and `selection` logs can be
/// written from these alone.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A response to one of a source's requests (one whose origin matched,
    /// and that authenticated if the source authenticates): the packet,
    /// the tests it passed, and our polling interval then (log2 s).
    Measured {
        /// The source.
        source: SourceId,
        /// The response and what it measured.
        exchange: Exchange,
        /// Our polling interval of the source, log2 seconds.
        poll: i8,
    },
    /// A reference clock's reading was taken into its filter (chronyd's
    /// `refclocks` log prints one line for each).
    RefclockReading {
        /// The reference clock.
        source: SourceId,
        /// The reading as taken.
        accepted: Accepted,
    },
    /// A reference clock's polling interval made a sample (a line with
    /// `-` in chronyd's `refclocks` log); what it did follows as for a
    /// response.
    RefclockSample {
        /// The reference clock.
        source: SourceId,
        /// The sample.
        sample: Filtered,
    },
    /// A response was not used (the reason is typed; a forged one counts).
    Rejected {
        /// The source whose socket it came on.
        source: SourceId,
        /// Why.
        reason: HandleError,
    },
    /// A sample entered a source's statistics: the regression before and
    /// after it.
    Sampled {
        /// The source.
        source: SourceId,
        /// The regression before (none before the first sample).
        before: Option<SourceStatsReport>,
        /// And after.
        after: SourceStatsReport,
    },
    /// The clock was updated from the selection (its new values are the
    /// node's [`tracking`](Node::tracking) now).
    ClockUpdated {
        /// The offset the update corrects, seconds (positive: the clock
        /// was behind): what chronyd's `logchange` compares.
        offset: f64,
    },
    /// A selection was made: every source's state (in
    /// [`System::source_report`]) is as it left it (chronyd's
    /// selection.log).
    SelectionMade,
    /// The clock now follows this source.
    Selected(SourceId),
    /// No source is selected any more, for this reason.
    Unselected(Unselected),
    /// The clock was stepped by this many seconds (positive: forward).
    Stepped(f64),
    /// A source's offset is over the panic threshold: ignored.
    PanicThreshold {
        /// The source.
        source: SourceId,
        /// Its offset, seconds (positive: the clock is behind).
        offset: f64,
    },
    /// Save this drift to the drift file (hourly while synchronised, and on
    /// the way out).
    SaveDrift(Drift),
    /// A reference mode (`-q`, `-Q`, `initstepslew`) ended: the node runs
    /// normally from now on.
    ModeEnded(ModeEnd),
    /// An offset over `maxchange`: not corrected. With `give_up`, it was
    /// one too many: chronyd exits here.
    MaxChange {
        /// The source.
        source: SourceId,
        /// Its offset, seconds (positive: the clock is behind).
        offset: f64,
        /// One too many.
        give_up: bool,
    },
}

/// What a node runs.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The client engine's settings.
    pub system: SystemConfig,
    /// chrony's `local stratum N distance D`: serve the own clock while
    /// unsynchronised or farther than D.
    pub local: Option<LocalReference>,
    /// `leapsectz`'s leap seconds (see [`System::set_leap_table`]).
    pub leap_table: Option<LeapTable>,
}

setters!(impl [] NodeConfig {
    with_system => system: SystemConfig,
    with_local => local: Option<LocalReference>,
    with_leap_table => leap_table: Option<LeapTable>,
});

/// The stratum at and above which sources are orphans, with `local
/// ... orphan`.
fn orphan_stratum(local: &Option<LocalReference>) -> Option<u8> {
    local.filter(LocalReference::is_orphan).map(|l| l.stratum())
}

/// A fixed ring of events.
#[derive(Debug, Clone)]
struct Events {
    queue: [Option<Event>; EVENTS],
    head: usize,
    len: usize,
    dropped: u64,
}

impl Events {
    fn new() -> Self {
        Events {
            queue: [None; EVENTS],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, event: Event) {
        if self.len == EVENTS {
            self.head = (self.head + 1) % EVENTS;
            self.len -= 1;
            self.dropped += 1;
        }
        self.queue[(self.head + self.len) % EVENTS] = Some(event);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let event = self.queue[self.head].take();
        self.head = (self.head + 1) % EVENTS;
        self.len -= 1;
        event
    }
}

/// The reference ID of a server whose served time smoothing holds back:
/// 127.127.1.255.
pub const SMOOTHING_REFID: u32 = 0x7f7f_01ff;

/// A time daemon's whole state: `N` sources, up to `S` of them NTS
/// sources and `R` reference clocks (see [`System`]). See the [module
/// documentation](self).
#[derive(Debug)]
pub struct Node<
    'a,
    const N: usize = { crate::system::DEFAULT_CAPACITY },
    const S: usize = N,
    const R: usize = { crate::system::DEFAULT_REFCLOCKS },
> {
    system: System<N, S, R>,
    server: Option<Server<'a>>,
    local: Option<LocalReference>,
    events: Events,
    selected: Option<SourceId>,
    /// The system's selections told so far.
    selections: u32,
    /// When the drift is saved next (while synchronised).
    drift_due: Option<NtpTimestamp>,
}

impl<'a, const N: usize, const S: usize, const R: usize> Node<'a, N, S, R> {
    /// A node with `config`, starting from a saved drift (or none), serving
    /// with `server` (or not serving).
    pub fn new(config: NodeConfig, drift: Option<Drift>, server: Option<Server<'a>>) -> Self {
        let mut system = System::with_capacity(config.system, drift);
        system.set_leap_table(config.leap_table);
        system.set_orphan_stratum(orphan_stratum(&config.local));
        Node {
            system,
            server,
            local: config.local,
            events: Events::new(),
            selected: None,
            selections: 0,
            drift_due: None,
        }
    }

    /// Adds a server to follow, whose address has `reference_id`; its first
    /// request is due shortly after `now`.
    pub fn add_source(
        &mut self,
        config: SourceConfig,
        reference_id: ReferenceId,
        now: NtpTimestamp,
    ) -> Result<SourceId, CapacityError> {
        self.system.add_source(config, reference_id, now)
    }

    /// Stops following `source` (see [`System::remove_source`]); whether
    /// there was one.
    pub fn remove_source(&mut self, source: SourceId, now: NtpTimestamp) -> bool {
        let removed = self.system.remove_source(source);
        self.note_state(now);
        removed
    }

    /// Our address as `source`'s server sees it, as a reference ID: a
    /// server that announces it follows us (see
    /// [`System::set_own_reference_id`]).
    pub fn set_own_reference_id(&mut self, source: SourceId, own: ReferenceId) {
        self.system.set_own_reference_id(source, own);
    }

    /// `source` is this node itself (see [`System::set_ourselves`]).
    pub fn set_ourselves(&mut self, source: SourceId) {
        self.system.set_ourselves(source);
    }

    /// Authenticates `source`'s exchanges (see
    /// [`System::set_source_auth`]).
    pub fn set_source_auth(&mut self, source: SourceId, auth: SourceAuth) -> Result<(), AuthError> {
        self.system.set_source_auth(source, auth)
    }

    /// An NTS source to run NTS-KE for now (see [`System::poll_nts_ke`]).
    /// Call until `None` after every [`poll_transmit`](Self::poll_transmit)
    /// (a poll wants it).
    pub fn poll_nts_ke(&mut self) -> Option<SourceId> {
        self.system.poll_nts_ke()
    }

    /// NTS-KE for `source` gave `session` at `now`.
    pub fn set_nts_session(
        &mut self,
        source: SourceId,
        session: NtsSession,
        now: NtpTimestamp,
    ) -> Result<(), AuthError> {
        self.system.set_nts_session(source, session, now)
    }

    /// A session `source` saved in an earlier run, made at `made` (see
    /// [`System::restore_nts_session`]).
    pub fn restore_nts_session(
        &mut self,
        source: SourceId,
        session: NtsSession,
        made: NtpTimestamp,
        number: u32,
    ) -> Result<(), AuthError> {
        self.system
            .restore_nts_session(source, session, made, number)
    }

    /// NTS-KE for `source` failed at `now`, ending as `ending`: seconds
    /// until the next attempt may start.
    pub fn nts_ke_failed(
        &mut self,
        source: SourceId,
        now: NtpTimestamp,
        ending: KeEnding,
    ) -> Result<u64, AuthError> {
        self.system.nts_ke_failed(source, now, ending)
    }

    /// The client engine (for reports).
    pub fn system(&self) -> &System<N, S, R> {
        &self.system
    }

    /// The `chronyc tracking` values at `now`: the engine's, or, while it
    /// is not synchronised and `local stratum` is configured, the local
    /// reference's (reference ID 127.127.1.1, its stratum, no leap), as
    /// chronyd reports them.
    pub fn tracking(&self, now: NtpTimestamp) -> TrackingReport {
        let mut tracking = self.system.tracking(now);
        let Some(local) = &self.local else {
            return tracking;
        };
        // The local reference when it is what is served (unsynchronised, or
        // further than its distance), as chronyd reports it: its stratum
        // and reference time, no skew, no root delay or dispersion.
        let served = local.reference(&self.system.reference(now), now);
        if served.reference_id == ReferenceId::LOCAL {
            tracking.reference_id = ReferenceId::LOCAL;
            tracking.stratum = served.stratum;
            tracking.reference_time = served.reference_time;
            tracking.leap = LeapIndicator::NoWarning;
            tracking.skew_ppm = 0.0;
            tracking.residual_frequency_ppm = 0.0;
            tracking.root_delay = 0.0;
            tracking.root_dispersion = 0.0;
        }
        tracking
    }

    /// How far the clock may be from true time at `now`, seconds (see
    /// [`System::error_bound`]); `None` while unsynchronised.
    pub fn error_bound(&self, now: NtpTimestamp) -> Option<f64> {
        self.system.error_bound(now)
    }

    /// What the server did so far (none when not serving).
    pub fn server_counters(&self) -> Option<&Counters> {
        self.server.as_ref().map(Server::counters)
    }

    /// Whether this node serves NTP.
    pub fn is_serving(&self) -> bool {
        self.server.is_some()
    }

    /// Whether the server would answer `client` (`chronyc accheck`): never
    /// when the node does not serve.
    pub fn serves(&self, client: core::net::IpAddr) -> bool {
        self.server
            .as_ref()
            .is_some_and(|server| server.access().allows(client))
    }

    /// How many symmetric keys the server answers with (0 when not serving).
    pub fn server_key_count(&self) -> usize {
        self.server.as_ref().map_or(0, Server::key_count)
    }

    /// The server's client log (none when not serving).
    pub fn client_log(&self) -> Option<&crate::server::ClientLog<'a>> {
        self.server.as_ref().map(Server::client_log)
    }

    /// The local reference served when unsynchronised (`local`).
    pub fn local(&self) -> Option<&LocalReference> {
        self.local.as_ref()
    }

    /// Events dropped because the shell did not drain them.
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped
    }

    /// Writes into `buf` a request that is due at `now`, and says for which
    /// source. Call until `None`. `buf` needs
    /// [`MAX_REQUEST_LEN`](crate::system::MAX_REQUEST_LEN) bytes for an
    /// authenticated source (48 for plain ones, 76 with `extfield F323`).
    pub fn poll_transmit<'b>(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl Random,
        buf: &'b mut [u8],
    ) -> Option<Transmit<'b>> {
        // A symmetric peer's packets say what this node serves.
        let ours = self.served(now);
        let polled = self.system.poll_transmit_as(now, rng, buf, &ours);
        // A poll may end a `filter` span with its median: a sample used.
        if let Some((source, used)) = self.system.take_filtered_use() {
            let _ = self.note_result(now, source, None, used);
        }
        // A poll may find a source unreachable: select again at once.
        self.system.reselect_if_due(now);
        self.note_state(now);
        let (source, len, request) = polled?;
        Some(Transmit {
            source,
            bytes: &buf[..len],
            token: TransmitToken { source, request },
        })
    }

    /// The request `token` names left at `time` on the clock (the kernel's
    /// transmit timestamp, or the network card's: `stamped`): it becomes
    /// the request's T1, if the request still waits for its answer.
    /// Whether it was taken.
    pub fn handle_tx_timestamp(
        &mut self,
        token: TransmitToken,
        time: NtpTimestamp,
        stamped: TimestampSource,
    ) -> bool {
        self.system
            .set_transmit_time(token.source, token.request, time, stamped)
    }

    /// A response arrived at `now` (its receive timestamp, on the clock) on
    /// a source's socket. Bad, late, duplicate and outlying packets are
    /// dropped, as chronyd drops them; the events say what came of it.
    pub fn handle(&mut self, now: NtpTimestamp, datagram: Datagram<'_>) -> DatagramEvent {
        let source = datagram.source;
        let before = self
            .system
            .source_stats(source, now)
            .filter(|stats| stats.samples > 0);
        // What this node's own responses say (the loop test).
        let ours = self.reference_now(now);
        let handled =
            self.system
                .handle_response_as(now, source, datagram.bytes, datagram.receive, &ours);
        if let Some(exchange) = handled.exchange {
            let poll = self.system.poll(source).unwrap_or(0);
            self.events.push(Event::Measured {
                source,
                exchange,
                poll,
            });
        }
        let event = match self.note_result(now, source, before, handled.result) {
            Ok(used) => DatagramEvent::Used(used),
            Err(reason) => DatagramEvent::Rejected(reason),
        };
        self.note_state(now);
        event
    }

    /// The events of what a source's sample did (or why it was not
    /// used); `before`: its regression before the sample.
    fn note_result(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        before: Option<SourceStatsReport>,
        result: Result<Used, HandleError>,
    ) -> Result<Used, HandleError> {
        match result {
            Ok(used) => {
                if let Some(after) = self.system.source_stats(source, now) {
                    self.events.push(Event::Sampled {
                        source,
                        before,
                        after,
                    });
                }
                if used == Used::ClockUpdated {
                    // The selection that made the update is told first.
                    self.note_state(now);
                    self.events.push(Event::ClockUpdated {
                        offset: self.system.last_offset(),
                    });
                }
            }
            Err(reason) => {
                self.events.push(match reason {
                    HandleError::PanicThreshold(offset) => Event::PanicThreshold { source, offset },
                    HandleError::MaxChange { offset, give_up } => Event::MaxChange {
                        source,
                        offset,
                        give_up,
                    },
                    reason => Event::Rejected { source, reason },
                });
            }
        }
        result
    }

    /// Adds a reference clock (see [`System::add_refclock`]).
    pub fn add_refclock(
        &mut self,
        config: SourceConfig,
        refclock: RefclockConfig,
        reference_id: ReferenceId,
        now: NtpTimestamp,
    ) -> Result<SourceId, CapacityError> {
        self.system
            .add_refclock(config, refclock, reference_id, now)
    }

    /// A reference clock whose driver is due to be read at `now` (see
    /// [`System::poll_refclock`]). Call until `None`; for each, read the
    /// driver, give what it read to
    /// [`handle_refclock_reading`](Self::handle_refclock_reading), then
    /// call [`refclock_polled`](Self::refclock_polled).
    pub fn poll_refclock(&mut self, now: NtpTimestamp) -> Option<SourceId> {
        self.system.poll_refclock(now)
    }

    /// A reading of reference clock `source`, taken before `now` (see
    /// [`System::refclock_reading`]); one taken is told by
    /// [`Event::RefclockReading`].
    pub fn handle_refclock_reading(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        reading: &Reading,
    ) -> Result<Accepted, ReadingError> {
        let accepted =
            self.system
                .refclock_reading_as(now, source, reading, self.local.as_ref())?;
        self.events
            .push(Event::RefclockReading { source, accepted });
        Ok(accepted)
    }

    /// A pulse of reference clock `source` at local time `time` (see
    /// [`System::refclock_pulse`]); one taken is told by
    /// [`Event::RefclockReading`].
    pub fn handle_refclock_pulse(
        &mut self,
        now: NtpTimestamp,
        source: SourceId,
        time: NtpTimestamp,
        second: f64,
    ) -> Result<Accepted, ReadingError> {
        let accepted =
            self.system
                .refclock_pulse_as(now, source, time, second, self.local.as_ref())?;
        self.events
            .push(Event::RefclockReading { source, accepted });
        Ok(accepted)
    }

    /// Reference clock `source`'s driver poll at `now` is over (see
    /// [`System::refclock_polled`]); its interval's sample is told by
    /// [`Event::RefclockSample`], and what it did as a server's response
    /// is told.
    pub fn refclock_polled(&mut self, now: NtpTimestamp, source: SourceId) -> RefclockPolled {
        let before = self
            .system
            .source_stats(source, now)
            .filter(|stats| stats.samples > 0);
        let polled = self.system.refclock_polled(now, source);
        if let RefclockPolled::Sample(sample, result) = polled {
            self.events.push(Event::RefclockSample { source, sample });
            let _ = self.note_result(now, source, before, result);
        }
        self.system.reselect_if_due(now);
        self.note_state(now);
        polled
    }

    /// A source's history to save on the way out (chronyd's `dumpdir`),
    /// while it has samples; with [`source_samples`](Self::source_samples).
    pub fn source_history(&self, source: SourceId) -> Option<SourceHistory> {
        self.system.source_history(source)
    }

    /// A source's samples, oldest first: local time, offset (as if every
    /// clock correction since had been in effect), delay.
    pub fn source_samples(&self, source: SourceId) -> impl Iterator<Item = StoredSample> + '_ {
        self.system.source_samples(source)
    }

    /// Restores a source's saved history at `now`, in place of what it
    /// had: its samples (oldest first), reachability and server's values.
    /// Refused, and nothing changed, when the source authenticates and the
    /// history was not authenticated, when the server was unsynchronised,
    /// or when a sample is bad or newer than `now` (the clock was set back
    /// since). Call [`select_restored`](Self::select_restored) once every
    /// source is restored.
    ///
    /// The samples are taken in the clock's time scale of then, made to
    /// fit the frequency the clock runs at now (they were kept at
    /// [`SourceHistory::frequency_ppm`]): right when the clock ran on at
    /// the frequency it was left at meanwhile, as chronyd assumes; a clock
    /// set since shows as a jump at the next sample, which drops them.
    pub fn restore_source(
        &mut self,
        source: SourceId,
        history: &SourceHistory,
        samples: impl IntoIterator<Item = StoredSample>,
        now: NtpTimestamp,
    ) -> Result<(), RestoreError> {
        self.system.restore_source(source, history, samples, now)
    }

    /// Selects at `now` among the restored sources and updates the clock
    /// from the selection at once, as after a sample; drain the actions
    /// and events afterwards.
    pub fn select_restored(&mut self, now: NtpTimestamp) {
        let result = self.system.select_restored(now);
        self.note_state(now);
        let source = self.system.selected();
        match (result, source) {
            (Ok(true), _) => self.events.push(Event::ClockUpdated {
                offset: self.system.last_offset(),
            }),
            (Err(DisciplineError::PanicThreshold { offset }), Some(source)) => {
                self.events.push(Event::PanicThreshold { source, offset });
            }
            (Err(DisciplineError::MaxChange { offset, give_up }), Some(source)) => {
                self.events.push(Event::MaxChange {
                    source,
                    offset,
                    give_up,
                });
            }
            _ => {}
        }
        self.note_state(now);
    }

    /// A request from `client` arrived at `now` (its receive timestamp, on
    /// the clock): the reply is written into `reply` and its length
    /// returned (never longer than the request; none when the node does
    /// not serve, or does not answer this request). A plain reply carries
    /// the receive time as its transmit time: stamp it with
    /// [`transmit_time`](Self::transmit_time) right before it leaves
    /// ([`crate::wire::stamp_reply`]). An authenticated one is
    /// sealed here, so its transmit time is asked of `clock_now` (the
    /// clock's time at that moment) and corrected as `transmit_time` does.
    /// When the reply's transmit time is to be kept for the client's next
    /// interleaved request ([`Reply::keep`]), tell it with
    /// [`reply_transmitted`](Self::reply_transmitted) once the reply left.
    pub fn serve(
        &mut self,
        now: NtpTimestamp,
        client: SocketAddr,
        request: &[u8],
        reply: &mut [u8],
        clock_now: impl FnOnce() -> NtpTimestamp,
    ) -> Option<Reply> {
        let served = self.served(now);
        let reference = self.smoothed(served, now);
        let receive = self.system.served_time(now);
        let system = &self.system;
        let transmit = || system.served_time(clock_now());
        let server = self.server.as_mut()?;
        server.set_monotonic(system.monotonic(now));
        server.respond_with_transmit(request, client, receive, &reference, reply, transmit)
    }

    /// Carries out what an operator asks, at `now`; drain the actions and
    /// events afterwards.
    pub fn handle_command(
        &mut self,
        now: NtpTimestamp,
        command: Command,
    ) -> Result<(), CommandError> {
        let known = |system: &System<N, S, R>, source: SourceId| {
            system
                .sources()
                .any(|id| id == source)
                .then_some(())
                .ok_or(CommandError::UnknownSource)
        };
        match command {
            Command::Online(source) | Command::Offline(source) => {
                known(&self.system, source)?;
                let online = matches!(command, Command::Online(_));
                self.system.set_online(source, online, now);
            }
            Command::Burst { source, total } => {
                known(&self.system, source)?;
                self.system.burst(source, total, now);
            }
            Command::MakeStep => self.system.make_step(now),
            Command::Reselect => self.system.reselect_now(now),
            Command::ServerNtsKeys(keys) => self
                .server
                .as_mut()
                .and_then(Server::nts_mut)
                .ok_or(CommandError::NotServing)?
                .set_keys(keys),
            Command::SetSource { source, setting } => {
                let config = self
                    .system
                    .source_config(source)
                    .ok_or(CommandError::UnknownSource)?;
                let config = apply_setting(config, &setting);
                self.system.reconfigure_source(source, config);
            }
            Command::SetMakeStep(makestep) => self.system.set_makestep(makestep),
            Command::SetMaxUpdateSkew(ppm) => self.system.set_maxupdateskew(ppm),
            Command::SetReselectDistance(d) => self.system.set_reselect_distance(d),
            Command::SetLocal(local) => {
                self.system.set_orphan_stratum(orphan_stratum(&local));
                self.local = local;
            }
            Command::Access { subnet, allow, all } => self
                .server
                .as_mut()
                .ok_or(CommandError::NotServing)?
                .access_mut()
                .add(subnet, allow, all)
                .map_err(CommandError::Access)?,
            Command::ResetSources => self.system.reset_sources(now),
            Command::Manual(enabled) => self.system.set_manual(enabled),
            Command::ManualReset => self.system.reset_manual(),
            Command::ManualDelete(index) => self
                .system
                .delete_manual(index)
                .map_err(CommandError::Manual)?,
            Command::SetTime(true_time) => {
                self.system
                    .settime(now, true_time)
                    .map_err(CommandError::Manual)?;
            }
            Command::Doffset(offset) => self.system.accumulate_offset(now, offset),
            Command::Dfreq(ppm) => self.system.accumulate_frequency(now, ppm),
            Command::ResetClients => self
                .server
                .as_mut()
                .ok_or(CommandError::NotServing)?
                .client_log_mut()
                .reset_counts(),
        }
        self.note_state(now);
        Ok(())
    }

    /// What this node serves at `now` (the clock's time): the system's
    /// reference while it is synchronised, else `local stratum` when
    /// configured, else unsynchronised; nothing synchronised while the
    /// system is acquiring (see [`System::is_acquiring`]).
    pub fn served(&mut self, now: NtpTimestamp) -> Reference {
        let system = self.system.reference(now);
        let acquiring = self.system.is_acquiring(now);
        served_reference(self.local.as_mut(), &system, acquiring, now)
    }

    /// What [`served`](Self::served) would give at `now`, without
    /// refreshing the local reference's time.
    fn reference_now(&self, now: NtpTimestamp) -> Reference {
        let system = self.system.reference(now);
        let acquiring = self.system.is_acquiring(now);
        current_reference(self.local.as_ref(), &system, acquiring, now)
    }

    /// A broadcast packet (NTP mode 5, chrony's `broadcast`) of what this
    /// node serves at `now`, for clients that hear one every 2^`poll` s,
    /// written into `buf` (48 bytes); its length, or `None` when `buf` is
    /// too short. Like a plain reply, it carries `now` as its transmit
    /// time: stamp it with [`transmit_time`](Self::transmit_time) right
    /// before it leaves.
    pub fn broadcast(&mut self, now: NtpTimestamp, poll: i8, buf: &mut [u8]) -> Option<usize> {
        let served = self.served(now);
        let reference = self.smoothed(served, now);
        let precision = self.system.config().precision;
        let header = crate::wire::Header {
            transmit_timestamp: self.system.served_time(now),
            ..reference.header(crate::wire::Mode::Broadcast, poll, precision)
        };
        header.emit(buf).ok()
    }

    /// The reply [`serve`](Self::serve) returned `token` with
    /// ([`Reply::keep`]) left at `transmit` (the time stamped into it, or
    /// the kernel's transmit timestamp): the client's next interleaved
    /// request is answered with it (see [`Server::transmitted`]). Whether
    /// it was kept.
    pub fn reply_transmitted(&mut self, token: ReplyToken, transmit: NtpTimestamp) -> bool {
        self.server
            .as_mut()
            .is_some_and(|server| server.transmitted(token, transmit))
    }

    /// How many replies' transmit times the server keeps for interleaved
    /// requests (0 when not serving).
    pub fn server_timestamps_held(&self) -> usize {
        self.server.as_ref().map_or(0, Server::timestamps_held)
    }

    /// The time to put in a reply's (or a broadcast's) transmit timestamp
    /// when it leaves at `now` (the clock's time): with the correction
    /// still being slewed applied, as chrony's "cooked" time, and what
    /// `smoothtime` holds back ([`System::served_time`]).
    pub fn transmit_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        self.system.served_time(now)
    }

    /// What a client is told of `reference` at `now`: no leap second when
    /// the served time takes it slowly ([`System::hides_leap`]); while
    /// smoothing holds the served time back by more than the clock's
    /// precision, its reference time moved as much, and reference ID
    /// 127.127.1.255 (chronyd's), so that clients can tell.
    fn smoothed(&self, mut reference: Reference, now: NtpTimestamp) -> Reference {
        if self.system.hides_leap()
            && matches!(
                reference.leap,
                LeapIndicator::InsertSecond | LeapIndicator::DeleteSecond
            )
        {
            reference.leap = LeapIndicator::NoWarning;
        }
        let offset = self.system.smoothing_offset(now);
        let precision = crate::time::log2_to_seconds(self.system.config().precision);
        if offset.abs() <= precision || reference.reference_time.is_zero() {
            return reference;
        }
        Reference {
            reference_id: ReferenceId::from_bits(SMOOTHING_REFID),
            reference_time: reference.reference_time + NtpDuration::from_seconds_f64(offset),
            ..reference
        }
    }

    /// `chronyc smoothing` at `now` (none without `smoothtime`).
    pub fn smoothing(&self, now: NtpTimestamp) -> Option<crate::smooth::SmoothingReport> {
        self.system.smoothing_report(now)
    }

    /// `chronyc smoothtime reset|activate` at `now`; whether smoothing is
    /// configured.
    pub fn smoothtime(&mut self, now: NtpTimestamp, activate: bool) -> bool {
        self.system.smoothtime(now, activate)
    }

    /// Handles the passing of time (call when [`poll_timeout`](Self::poll_timeout) is due,
    /// or at any time).
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        self.system.handle_timeout(now);
        self.note_state(now);
    }

    /// Each timer that is set, and when it is due on the clock's time.
    pub fn timers(&self) -> impl Iterator<Item = (Timer, NtpTimestamp)> + '_ {
        self.system
            .timers()
            .chain(self.drift_due.map(|due| (Timer::SaveDrift, due)))
    }

    /// When to call [`handle_timeout`](Self::handle_timeout),
    /// [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_nts_ke`](Self::poll_nts_ke) next, on the clock's time: the
    /// earliest of the [`timers`](Self::timers).
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        self.timers()
            .map(|(_, due)| due)
            .reduce(|a, b| if b < a { b } else { a })
    }

    /// The next action for the clock; carry it out at once. Drain after
    /// every call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<ClockAction> {
        let action = self.system.poll_action()?;
        if let ClockAction::Step { offset } = action {
            self.events.push(Event::Stepped(offset.to_seconds_f64()));
        }
        Some(action)
    }

    /// The next event. Drain after every call.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The way out, at `now`: the slew in progress ends and the clock is
    /// left at the frequency estimate (as chronyd leaves it), and the
    /// drift is saved. Drain the actions and events afterwards.
    pub fn shutdown(&mut self, now: NtpTimestamp) {
        self.system.shutdown(now);
        self.events.push(Event::SaveDrift(self.system.drift()));
        self.drift_due = None;
    }

    /// The clock was stepped by about `offset` seconds by someone else,
    /// as a [`StepWatch`](crate::clock::StepWatch) saw at `now` (on the
    /// clock's new time): timers move with it, every source's samples are
    /// dropped and selection starts again (see
    /// [`System::clock_jumped`]).
    pub fn clock_jumped(&mut self, now: NtpTimestamp, offset: f64) {
        self.system.clock_jumped(now, offset);
        if let Some(due) = &mut self.drift_due {
            *due = *due + NtpDuration::from_seconds_f64(offset);
        }
        self.note_state(now);
    }

    /// Notes selections and their changes, the end of a reference mode
    /// and the drift file's schedule.
    fn note_state(&mut self, now: NtpTimestamp) {
        let selections = self.system.selections();
        if selections != self.selections {
            self.selections = selections;
            self.events.push(Event::SelectionMade);
        }
        let selected = self.system.selected();
        if selected != self.selected {
            // As chronyd, losing the selection is told once, with why.
            let event = match (selected, self.system.unselected()) {
                (Some(source), _) => Some(Event::Selected(source)),
                (None, Some(reason)) => Some(Event::Unselected(reason)),
                (None, None) => None,
            };
            self.selected = selected;
            if let Some(event) = event {
                self.events.push(event);
            }
        }
        // The selection that ended a reference mode is told first.
        if let Some(end) = self.system.take_mode_end() {
            self.events.push(Event::ModeEnded(end));
        }
        let synchronized = self.system.sync_status(now).synchronized;
        match self.drift_due {
            None if synchronized => {
                self.drift_due = Some(now + NtpDuration::from_seconds_f64(DRIFT_SAVE_INTERVAL));
            }
            Some(due) if now >= due => {
                self.events.push(Event::SaveDrift(self.system.drift()));
                self.drift_due =
                    synchronized.then(|| now + NtpDuration::from_seconds_f64(DRIFT_SAVE_INTERVAL));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
