//! What the keeper's thread and task share: the node, its software clock,
//! and what to do with each datagram and timer. The two runtimes only
//! wait differently.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use std::vec::Vec;

use super::base::Base;
use super::BoundedTime;
use crate::access::AccessControl;
use crate::clock::{Clock, ClockAction, StepWatch, VirtualClock};
use crate::discipline::{DisciplineConfig, MakeStep};
use crate::node::{Datagram, Event, Node, NodeConfig};
use crate::report::{TimestampSource, TrackingReport};
use crate::server::{Server, ServerConfig};
use crate::source::SourceConfig;
use crate::system::{SourceId, SystemConfig, MAX_REQUEST_LEN};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

/// The longest wait between two looks at the node: the system clock may be
/// stepped meanwhile, which is noticed when it looks.
const MAX_WAIT: Duration = Duration::from_secs(64);

/// The node, its software clock and what the runtimes need to drive it.
#[derive(Debug)]
pub(super) struct Engine {
    node: Node<'static>,
    clock: VirtualClock<Base>,
    /// Steps of the system clock by others, where the base follows it.
    jumps: StepWatch,
    /// The monotonic clock's origin, for `jumps`.
    origin: Instant,
    /// Each source's address.
    sources: Vec<(SourceId, SocketAddr)>,
    /// Where the node serves, once bound.
    pub(super) serving_on: Option<SocketAddr>,
}

/// What a keeper's node runs: chrony's defaults for servers with `iburst`,
/// and `makestep 1 -1`: the software clock is stepped whenever it is more
/// than a second off (after a step of the system clock by someone else, a
/// slew of a hundred seconds would take days; nobody else is stepped).
fn node_config() -> NodeConfig {
    NodeConfig {
        system: SystemConfig {
            discipline: DisciplineConfig {
                makestep: Some(MakeStep {
                    threshold: 1.0,
                    limit: -1,
                }),
                ..DisciplineConfig::default()
            },
            ..SystemConfig::default()
        },
        ..NodeConfig::default()
    }
}

impl Engine {
    /// A node following `servers`, serving when `serve` (everyone may ask).
    pub(super) fn new(servers: &[SocketAddr], serve: bool) -> Engine {
        let server = serve.then(|| {
            Server::without_client_log(ServerConfig {
                access: AccessControl::allow_everyone(),
                ..ServerConfig::default()
            })
            .expect("no rate limit, so no client log is needed")
        });
        let base = Base::new();
        let mut engine = Engine {
            node: Node::new(node_config(), None, server),
            clock: VirtualClock::with_source(base),
            jumps: StepWatch::default(),
            origin: Instant::now(),
            sources: Vec::new(),
            serving_on: None,
        };
        let now = engine.clock_now();
        for &address in servers {
            let config = SourceConfig {
                iburst: true,
                ..SourceConfig::default()
            };
            // `addresses` keeps to MAX_SERVERS, the node's capacity.
            if let Ok(id) = engine
                .node
                .add_source(config, ReferenceId::from_ip(address.ip()), now)
            {
                engine.sources.push((id, address));
            }
        }
        engine.watch_jumps();
        engine
    }

    fn clock_now(&self) -> NtpTimestamp {
        let Ok(now) = self.clock.now();
        now
    }

    /// What a datagram's arrival is stamped with: the base time now (it
    /// becomes the software clock's time when the node takes it in).
    pub(super) fn base(&self) -> Base {
        *self.clock.source()
    }

    /// Tells the node when the system clock was stepped by someone else
    /// since it last looked, where the base follows the system clock.
    fn watch_jumps(&mut self) {
        if !Base::follows_system_clock() {
            return;
        }
        let (wall, monotonic) = self.readings();
        if let Some(jump) = self.jumps.observe(wall, monotonic) {
            log::warn!("System clock stepped by {jump:+.3} seconds by another process");
            let now = self.clock_now();
            self.node.clock_jumped(now, jump);
            self.settle();
        }
    }

    /// The system and monotonic clocks now, seconds.
    fn readings(&self) -> (f64, f64) {
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        (wall, self.origin.elapsed().as_secs_f64())
    }

    /// The time now and its error bound.
    pub(super) fn now(&mut self) -> BoundedTime {
        self.watch_jumps();
        let now = self.clock_now();
        BoundedTime {
            time: now.to_system_time(SystemTime::now()),
            error: self
                .node
                .error_bound(now)
                .map(|bound| Duration::from_secs_f64(bound.min(1e9))),
        }
    }

    /// `chronyc tracking`'s values now.
    pub(super) fn tracking(&self) -> TrackingReport {
        self.node.tracking(self.clock_now())
    }

    /// The requests due now, each with its server's address.
    fn transmits(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_REQUEST_LEN];
        loop {
            let now = self.clock_now();
            let Some(transmit) =
                self.node
                    .poll_transmit(now, &mut crate::random::OsRandom, &mut buf)
            else {
                break;
            };
            if let Some(&(_, address)) = self.sources.iter().find(|(id, _)| *id == transmit.source)
            {
                out.push((address, transmit.bytes.to_vec()));
            }
        }
        self.settle();
        out
    }

    /// A datagram from `from`, received at base time `received`, on a
    /// source's socket.
    pub(super) fn response(&mut self, from: SocketAddr, bytes: &[u8], received: NtpTimestamp) {
        let Some(&(source, _)) = self.sources.iter().find(|(_, a)| *a == from) else {
            return;
        };
        let now = self.clock.at(received);
        let datagram = Datagram {
            source,
            bytes,
            receive: TimestampSource::Daemon,
        };
        if let crate::node::DatagramEvent::Rejected(reason) = self.node.handle(now, datagram) {
            log::debug!("Response from {from} not used: {reason}");
        }
        self.settle();
    }

    /// A request from `from`, received at base time `received`, on the
    /// serving socket: the answer, if any (its transmit time is read as it
    /// is written).
    pub(super) fn request(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        received: NtpTimestamp,
    ) -> Option<Vec<u8>> {
        let now = self.clock.at(received);
        let mut reply = [0u8; 1024];
        let clock = &self.clock;
        let answer = self.node.serve(now, from, bytes, &mut reply, || {
            let Ok(now) = clock.now();
            now
        })?;
        Some(reply[..answer.len].to_vec())
    }

    /// One turn of the runtimes' loop: the timers that are due first (also
    /// while datagrams keep coming), then the requests due, and how long
    /// to wait for the next datagram.
    pub(super) fn turn(&mut self) -> (Vec<(SocketAddr, Vec<u8>)>, Duration) {
        self.watch_jumps();
        self.wake();
        let transmits = self.transmits();
        (transmits, self.wait())
    }

    /// Runs the node's timers that are due.
    fn wake(&mut self) {
        let now = self.clock_now();
        if self.node.poll_timeout().is_some_and(|due| due <= now) {
            self.node.handle_timeout(now);
        }
        self.settle();
    }

    /// How long to wait before the node wants to be woken (at most
    /// [`MAX_WAIT`]).
    fn wait(&self) -> Duration {
        let now = self.clock_now();
        self.node.poll_timeout().map_or(MAX_WAIT, |due| {
            let seconds = (due - now)
                .to_seconds_f64()
                .clamp(0.0, MAX_WAIT.as_secs_f64());
            Duration::from_secs_f64(seconds)
        })
    }

    /// Carries out the node's clock actions and logs its events.
    fn settle(&mut self) {
        while let Some(action) = self.node.poll_action() {
            let Ok(()) = self.clock.apply(&action);
            if let ClockAction::Step { offset } = action {
                // A step of our own is no jump.
                let (wall, monotonic) = self.readings();
                self.jumps.rebase(wall, monotonic);
                let offset = offset.to_seconds_f64();
                log::info!("Software clock stepped by {offset:+.6} seconds");
            }
        }
        while let Some(event) = self.node.poll_event() {
            match event {
                Event::Selected(source) => {
                    if let Some((_, address)) = self.sources.iter().find(|(id, _)| *id == source) {
                        log::info!("Selected source {address}");
                    }
                }
                Event::Unselected(reason) => log::warn!("Can't synchronise: {reason}"),
                Event::PanicThreshold { offset, .. } => {
                    log::warn!("Offset {offset:+.3} seconds over the panic threshold: ignored");
                }
                _ => {}
            }
        }
    }
}
