//! The node: everything a time daemon does, sans-IO. It owns the client
//! engine ([`System`]), the NTP server ([`Server`]) and chrony's `local`
//! reference, decides what is served, keeps the drift file's schedule and
//! says what is worth a log line. Two shells drive the same node: the
//! Linux one (`std::driver`: sockets, `poll(2)`, adjtimex, files) and the
//! simulator (`sim`: a simulated kernel and network). What the tests prove
//! is therefore the program users run.
//!
//! The shape is quinn-proto's: the shell hands in what happened and asks
//! what to do, always with the clock's time `now`.
//!
//! ```text
//! loop {
//!     while let Some((source, len)) = node.poll_transmit(now, &mut rng, &mut buf) { send(source, &buf[..len]) }
//!     a datagram:  node.handle_datagram(now_rx, Endpoint::Source(id) | Endpoint::Client(addr), bytes, &mut reply)
//!                  (a reply to a client: stamp it with node.transmit_time(now) and send it)
//!     a transmit timestamp of a request: node.handle_tx_timestamp(source, time)
//!     the timer:   node.handle_timeout(now)
//!     while let Some(action) = node.poll_action() { clock.apply(&action) }   // at once
//!     while let Some(event) = node.poll_event() { log or save }
//!     while let Some(source) = node.poll_nts_ke(now) { start NTS-KE for it }
//!     an NTS-KE finished: node.set_nts_session(source, session, now) or node.nts_ke_failed(source, now)
//!     sleep until node.poll_timeout(), or a datagram
//! }
//! on the way out: node.shutdown(now), then the actions and events once more
//! ```
//!
//! Every action must be carried out before time moves on: the engine
//! keeps its statistics as if the clock had always run as it was last
//! told (see [`crate::discipline`]).

use core::net::SocketAddr;

use crate::clock::ClockAction;
use crate::discipline::Drift;
use crate::nts::NtsSession;
use crate::reference::Reference;
use crate::server::{served_reference, Counters, LocalReference, Server};
use crate::system::{
    AuthError, CapacityError, HandleError, SourceAuth, SourceConfig, SourceId, System, SystemConfig,
};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ReferenceId;
use rand_core::RngCore;

/// How often the drift is saved while synchronised, seconds (chronyd:
/// hourly).
pub const DRIFT_SAVE_INTERVAL: f64 = 3600.0;

/// Events a node keeps for the shell at most; older ones are dropped (and
/// counted) if the shell does not drain them after every call.
const EVENTS: usize = 8;

/// Where a datagram came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A server this node follows (the response came on its socket).
    Source(SourceId),
    /// A client of this node's server.
    Client(SocketAddr),
}

/// Something worth a log line or a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// The clock now follows this source.
    Selected(SourceId),
    /// No source is selected any more.
    Unselected,
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
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeConfig {
    /// The client engine's settings.
    pub system: SystemConfig,
    /// chrony's `local stratum N distance D`: serve the own clock while
    /// unsynchronised or farther than D.
    pub local: Option<LocalReference>,
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

/// A time daemon's whole state: `N` sources, up to `S` of them NTS
/// sources (see [`System`]). See the [module documentation](self).
#[derive(Debug)]
pub struct Node<'a, const N: usize = { crate::system::DEFAULT_CAPACITY }, const S: usize = N> {
    system: System<N, S>,
    server: Option<Server<'a>>,
    local: Option<LocalReference>,
    events: Events,
    selected: Option<SourceId>,
    /// When the drift is saved next (while synchronised).
    drift_due: Option<NtpTimestamp>,
}

impl<'a, const N: usize, const S: usize> Node<'a, N, S> {
    /// A node with `config`, starting from a saved drift (or none), serving
    /// with `server` (or not serving).
    pub fn new(config: NodeConfig, drift: Option<Drift>, server: Option<Server<'a>>) -> Self {
        Node {
            system: System::with_capacity(config.system, drift),
            server,
            local: config.local,
            events: Events::new(),
            selected: None,
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

    /// Our address as `source`'s server sees it, as a reference ID: a
    /// server that announces it follows us (see
    /// [`System::set_own_reference_id`]).
    pub fn set_own_reference_id(&mut self, source: SourceId, own: ReferenceId) {
        self.system.set_own_reference_id(source, own);
    }

    /// Authenticates `source`'s exchanges (see
    /// [`System::set_source_auth`]).
    pub fn set_source_auth(&mut self, source: SourceId, auth: SourceAuth) -> Result<(), AuthError> {
        self.system.set_source_auth(source, auth)
    }

    /// An NTS source to run NTS-KE for now (see [`System::poll_nts_ke`]).
    /// Call until `None` after every call.
    pub fn poll_nts_ke(&mut self, now: NtpTimestamp) -> Option<SourceId> {
        self.system.poll_nts_ke(now)
    }

    /// NTS-KE for `source` (or a saved dump) gave `session` at `now`.
    pub fn set_nts_session(
        &mut self,
        source: SourceId,
        session: NtsSession,
        now: NtpTimestamp,
    ) -> Result<(), AuthError> {
        self.system.set_nts_session(source, session, now)
    }

    /// NTS-KE for `source` failed at `now`: seconds until the next try.
    pub fn nts_ke_failed(&mut self, source: SourceId, now: NtpTimestamp) -> Result<u64, AuthError> {
        self.system.nts_ke_failed(source, now)
    }

    /// The client engine (for reports).
    pub fn system(&self) -> &System<N, S> {
        &self.system
    }

    /// The `chronyc tracking` values at `now`: the engine's, or, while it
    /// is not synchronised and `local stratum` is configured, the local
    /// reference's (reference ID 127.127.1.1, its stratum, no leap), as
    /// chronyd reports them.
    pub fn tracking(&self, now: NtpTimestamp) -> crate::report::TrackingReport {
        let mut tracking = self.system.tracking(now);
        if let (crate::wire::LeapIndicator::Unsynchronized, Some(local)) =
            (tracking.leap, self.local)
        {
            tracking.reference_id = ReferenceId::LOCAL;
            tracking.stratum = local.stratum();
            tracking.leap = crate::wire::LeapIndicator::NoWarning;
        }
        tracking
    }

    /// The client engine, for what an operator asks of it (`chronyc
    /// burst`, `online`/`offline`, `makestep`, `reselect`); drain the
    /// actions and events afterwards.
    pub fn system_mut(&mut self) -> &mut System<N, S> {
        &mut self.system
    }

    /// The server, to change its keys (none when not serving).
    pub fn server_mut(&mut self) -> Option<&mut Server<'a>> {
        self.server.as_mut()
    }

    /// What the server did so far (none when not serving).
    pub fn server_counters(&self) -> Option<&Counters> {
        self.server.as_ref().map(Server::counters)
    }

    /// Whether this node serves NTP.
    pub fn is_serving(&self) -> bool {
        self.server.is_some()
    }

    /// Events dropped because the shell did not drain them.
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped
    }

    /// Writes into `buf` a request that is due at `now`, and says for which
    /// source. Call until `None`. `buf` needs
    /// [`MAX_REQUEST_LEN`](crate::system::MAX_REQUEST_LEN) bytes for an
    /// authenticated source (48 for plain ones).
    pub fn poll_transmit(
        &mut self,
        now: NtpTimestamp,
        rng: &mut impl RngCore,
        buf: &mut [u8],
    ) -> Option<(SourceId, usize)> {
        self.system.poll_transmit(now, rng, buf)
    }

    /// The last request to `source` left at `time` on the clock (the
    /// kernel's transmit timestamp): it becomes the request's T1.
    pub fn handle_tx_timestamp(&mut self, source: SourceId, time: NtpTimestamp) {
        self.system.set_transmit_time(source, time);
    }

    /// A datagram arrived at `now` (its receive timestamp, on the clock).
    /// From a source, it is a response for the engine. From a client, it
    /// is a request: the reply is written into `reply` and its length
    /// returned (never longer than the request). A plain reply carries the
    /// receive time as its transmit time: stamp it with
    /// [`transmit_time`](Self::transmit_time) right before it leaves
    /// ([`crate::server::set_transmit_timestamp`]). An authenticated one is
    /// sealed here, so its transmit time is asked of `clock_now` (the
    /// clock's time at that moment) and corrected as `transmit_time` does.
    pub fn handle_datagram(
        &mut self,
        now: NtpTimestamp,
        from: Endpoint,
        bytes: &[u8],
        reply: &mut [u8],
        clock_now: impl FnOnce() -> NtpTimestamp,
    ) -> Option<usize> {
        match from {
            Endpoint::Source(source) => {
                // Bad, late, duplicate and outlying packets are dropped
                // silently, as chronyd does.
                match self.system.handle_response(now, source, bytes) {
                    Err(HandleError::PanicThreshold(offset)) => {
                        self.events.push(Event::PanicThreshold { source, offset });
                    }
                    Err(HandleError::MaxChange { offset, give_up }) => {
                        self.events.push(Event::MaxChange {
                            source,
                            offset,
                            give_up,
                        });
                    }
                    _ => {}
                }
                self.note_state(now);
                None
            }
            Endpoint::Client(client) => {
                let reference = self.served(now);
                let receive = self.system.corrected_time(now);
                let system = &self.system;
                let transmit = || system.corrected_time(clock_now());
                self.server
                    .as_mut()?
                    .respond_with_transmit(bytes, client, receive, &reference, reply, transmit)
            }
        }
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

    /// The time to put in a reply's transmit timestamp when it leaves at
    /// `now` (the clock's time): with the correction still being slewed
    /// applied, as chrony's "cooked" time.
    pub fn transmit_time(&self, now: NtpTimestamp) -> NtpTimestamp {
        self.system.corrected_time(now)
    }

    /// Handles the passing of time (call when [`poll_timeout`](Self::poll_timeout) is due,
    /// or at any time).
    pub fn handle_timeout(&mut self, now: NtpTimestamp) {
        self.system.handle_timeout(now);
        self.note_state(now);
    }

    /// When to call [`handle_timeout`](Self::handle_timeout),
    /// [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_nts_ke`](Self::poll_nts_ke) next, on the clock's time.
    pub fn poll_timeout(&self) -> Option<NtpTimestamp> {
        [self.system.poll_timeout(), self.drift_due]
            .into_iter()
            .flatten()
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

    /// The clock was stepped by `offset` seconds by someone else: timers
    /// and samples move with it.
    pub fn clock_stepped(&mut self, offset: f64) {
        self.system.clock_stepped(offset);
        if let Some(due) = &mut self.drift_due {
            *due = *due + NtpDuration::from_seconds_f64(offset);
        }
    }

    /// Notes selection changes and the drift file's schedule.
    fn note_state(&mut self, now: NtpTimestamp) {
        let selected = self.system.selected();
        if selected != self.selected {
            self.selected = selected;
            self.events.push(match selected {
                Some(source) => Event::Selected(source),
                None => Event::Unselected,
            });
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
