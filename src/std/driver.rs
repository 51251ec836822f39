//! The Linux shell around a [`Node`]: one UDP socket per followed server,
//! the serving sockets, a clock and the control socket, waited on with
//! `poll(2)` on one thread. All the logic is the node's (the simulator
//! drives the same node); the shell only moves bytes, timestamps, clock
//! actions and files:
//!
//! - it sends the requests the node asks for, with the kernel's transmit
//!   timestamps, and hands it each response with the kernel's receive
//!   time read on the disciplined clock;
//! - it answers clients in batches (`recvmmsg`, the node's replies,
//!   transmit timestamps, `sendmmsg`);
//! - it carries out the clock actions at once, logs selection changes and
//!   steps, and writes the drift file when the node says so;
//! - it sleeps until the node's next deadline or a datagram, never longer
//!   and never in a busy loop (waits are rounded up to whole
//!   milliseconds, `poll(2)`'s unit);
//! - on every way out (a stop, an error, a panic unwinding through it) the
//!   node ends the slew in progress and the clock is left at the
//!   frequency estimate, as chronyd leaves it ([`Driver::finish`]).
//!
//! Embedding it takes a few lines:
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ntpkit::std::clock::VirtualClock;
//! use ntpkit::std::driver::{Driver, DriverConfig, Upstream};
//! use ntpkit::system::SourceConfig;
//!
//! let config = DriverConfig {
//!     upstreams: vec![Upstream::resolve("pool.ntp.org", 123, SourceConfig { iburst: true, ..Default::default() })?],
//!     ..DriverConfig::default()
//! };
//! let mut driver = Driver::new(config, VirtualClock::new(), None)?;
//! let stop = AtomicBool::new(false);
//! driver.run(&stop)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use libstd::borrow::ToOwned;
use libstd::boxed::Box;
use libstd::eprintln;
use libstd::fmt;
use libstd::format;
use libstd::io;
use libstd::net::{SocketAddr, ToSocketAddrs};
use libstd::os::fd::AsFd;
use libstd::path::PathBuf;
use libstd::string::String;
use libstd::string::ToString;
use libstd::sync::atomic::{AtomicBool, Ordering};
use libstd::time::Duration;
use libstd::vec::Vec;

use rand_core::OsRng;

use crate::discipline::Drift;
use crate::node::{self, Endpoint, Node, NodeConfig};
use crate::report::TimedatectlReport;
use crate::server::Server;
use crate::std::client_socket::{ClientSocket, TimestampSource};
use crate::std::clock::DriverClock;
use crate::std::config::{Config, SourceKind};
use crate::std::control::{ControlServer, Snapshot, SourceName, DEFAULT_PATH};
use crate::std::socket::{realtime_now, Batch, NtpSocket, Poller, BATCH};
use crate::system::{SourceConfig, SourceId};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

/// How many servers a driver follows at most.
pub const MAX_SOURCES: usize = 16;

/// One server to follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// The name the reports show (as configured).
    pub name: String,
    /// Where to send requests.
    pub address: SocketAddr,
    /// Polling and selection options.
    pub config: SourceConfig,
}

impl Upstream {
    /// `host` resolved (its first address, as chronyd uses) on `port`.
    pub fn resolve(host: &str, port: u16, config: SourceConfig) -> io::Result<Upstream> {
        let address = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
        })?;
        Ok(Upstream {
            name: host.to_owned(),
            address,
            config,
        })
    }
}

/// What a driver runs.
#[derive(Debug, Clone, Default)]
pub struct DriverConfig {
    /// The node's settings (engine, `local`).
    pub node: NodeConfig,
    /// The servers to follow.
    pub upstreams: Vec<Upstream>,
    /// chrony's driftfile: read at start, written hourly and on the way out.
    pub driftfile: Option<PathBuf>,
    /// Where to answer report requests (none: no control socket).
    pub control_socket: Option<PathBuf>,
    /// Measure only: never change the clock (`chronyd -Q`).
    pub measure_only: bool,
}

impl DriverConfig {
    /// The driver a chrony.conf describes: its `server`/`pool` lines
    /// resolved (a pool gives up to `maxsources` addresses), `driftfile`,
    /// `bindcmdaddress` (default [`crate::std::control::DEFAULT_PATH`]),
    /// and the node's settings ([`Config::node_config`]). `precision` is
    /// the clock's, log2 seconds.
    pub fn from_config(config: &Config, precision: i8) -> io::Result<DriverConfig> {
        let (driver, unresolved) = DriverConfig::resolving(config, precision);
        match unresolved.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(driver),
        }
    }

    /// As [`Self::from_config`], but a `server`/`pool` name that does not
    /// resolve is left out, its error returned beside (chronyd starts
    /// without it too, and serves meanwhile).
    pub fn resolving(config: &Config, precision: i8) -> (DriverConfig, Vec<io::Error>) {
        let mut upstreams = Vec::new();
        let mut unresolved = Vec::new();
        for source in &config.sources {
            let addresses = match (source.host.as_str(), source.port).to_socket_addrs() {
                Ok(addresses) => addresses,
                Err(e) => {
                    unresolved.push(io::Error::new(e.kind(), format!("{}: {e}", source.host)));
                    continue;
                }
            };
            let take = match source.kind {
                SourceKind::Server => 1,
                SourceKind::Pool => usize::from(source.maxsources),
            };
            upstreams.extend(addresses.take(take).map(|address| Upstream {
                name: source.host.clone(),
                address,
                config: source.engine,
            }));
        }
        let driver = DriverConfig {
            node: config.node_config(precision),
            upstreams,
            driftfile: config.driftfile.clone(),
            control_socket: control_socket_path(config),
            measure_only: false,
        };
        (driver, unresolved)
    }
}

/// Where the control socket of a node configured by `config` is: its
/// `bindcmdaddress` path, or [`DEFAULT_PATH`] (when there is none, or it
/// names an IP address: that is chrony's UDP command port, which ntpkit
/// does not open). `bindcmdaddress /` turns the socket off, as in chrony.
pub fn control_socket_path(config: &Config) -> Option<PathBuf> {
    match config.bind_cmd_address.as_deref() {
        Some("/") => None,
        Some(path) if path.starts_with('/') => Some(PathBuf::from(path)),
        _ => Some(PathBuf::from(DEFAULT_PATH)),
    }
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError<E: fmt::Debug + fmt::Display> {
    /// A socket or the control socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        source: io::Error,
    },
    /// The clock refused an action.
    #[error("clock: {0}")]
    Clock(E),
    /// More servers than [`MAX_SOURCES`].
    #[error("too many servers (at most {MAX_SOURCES})")]
    TooManyServers,
}

fn io_error<E: fmt::Debug + fmt::Display>(
    what: impl Into<String>,
) -> impl FnOnce(io::Error) -> DriverError<E> {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}

/// Something worth a log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The clock now follows this server.
    Selected(String),
    /// No server is selected any more.
    Unselected,
    /// The clock was stepped by this many seconds (positive: forward).
    Stepped(f64),
    /// A server's offset is over the panic threshold: ignored.
    PanicThreshold {
        /// The server.
        name: String,
        /// Its offset, seconds (positive: the clock is behind).
        offset: f64,
    },
    /// The drift was saved.
    DriftSaved(Drift),
    /// Something failed without stopping the driver.
    Warning(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Selected(name) => write!(f, "Selected source {name}"),
            Event::Unselected => write!(f, "Can't synchronise: no selectable sources"),
            Event::Stepped(offset) => {
                write!(f, "System clock wrong by {offset:.6} seconds, stepped")
            }
            Event::PanicThreshold { name, offset } => write!(
                f,
                "Offset of {offset:.6} seconds from {name} exceeds the panic threshold: ignored"
            ),
            Event::DriftSaved(drift) => write!(f, "Drift saved: {drift}"),
            Event::Warning(text) => f.write_str(text),
        }
    }
}

/// How the exchanges were timestamped so far (chronyc `ntpdata`'s
/// "Total kernel TX/RX").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampCounts {
    /// Requests whose T1 is the kernel's transmit timestamp.
    pub kernel_tx: u64,
    /// Responses whose T4 is the kernel's receive timestamp.
    pub kernel_rx: u64,
    /// Responses timestamped in user space.
    pub user_rx: u64,
}

/// One followed server: its socket and engine id.
#[derive(Debug)]
struct Peer {
    name: String,
    socket: ClientSocket,
    id: SourceId,
    /// When the last request was handed to the kernel (clock time), until
    /// its kernel transmit timestamp is read.
    sent: Option<NtpTimestamp>,
}

impl Peer {
    fn source_name(&self) -> SourceName {
        SourceName {
            name: self.name.clone(),
            address: self.socket.server().ip().to_string(),
        }
    }
}

/// Serving NTP from a set of sockets: the sockets, and the server (access
/// rules, rate limiting, counters) the node answers with.
#[derive(Debug)]
pub struct Serving<'a> {
    /// The sockets to answer on.
    pub sockets: Vec<NtpSocket>,
    /// The server.
    pub server: Server<'a>,
}

/// A serving socket.
#[derive(Debug)]
struct ServeSocket {
    socket: NtpSocket,
    /// Set after the socket failed: it is no longer waited on.
    failed: bool,
}

/// Stop on SIGINT and SIGTERM, as chronyd does: from now on these signals
/// set `flag`, which [`Driver::run`] checks after every wakeup (a signal
/// interrupts `poll(2)`).
pub fn stop_on_signals(flag: &libstd::sync::Arc<AtomicBool>) -> io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(())
}

/// A kernel transmit timestamp belongs to the request sent last when it
/// follows the send by no more than this (seconds).
const MAX_TRANSMIT_LAG: f64 = 0.05;

/// The Linux shell. See the [module documentation](self).
pub struct Driver<'a, C: DriverClock>
where
    C::Error: fmt::Debug + fmt::Display,
{
    node: Node<'a, MAX_SOURCES>,
    peers: Vec<Peer>,
    clock: C,
    control: Option<ControlServer>,
    serving: Vec<ServeSocket>,
    batch: Box<Batch>,
    driftfile: Option<PathBuf>,
    measure_only: bool,
    counts: TimestampCounts,
    finished: bool,
    log: Box<dyn FnMut(&Event)>,
}

impl<C: DriverClock> fmt::Debug for Driver<'_, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("peers", &self.peers)
            .field("serving", &self.serving)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl<'a, C: DriverClock> Driver<'a, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    /// Open the sockets, read the driftfile and bind the control socket;
    /// serve on `serving` too when given. Events go to standard error
    /// until [`Self::set_logger`].
    pub fn new(
        config: DriverConfig,
        clock: C,
        serving: Option<Serving<'a>>,
    ) -> Result<Self, DriverError<C::Error>> {
        let drift = config
            .driftfile
            .as_ref()
            .and_then(|path| libstd::fs::read_to_string(path).ok())
            .and_then(|text| Drift::parse(&text));
        let (sockets, server) = match serving {
            Some(Serving { sockets, server }) => (sockets, Some(server)),
            None => (Vec::new(), None),
        };
        let mut node = Node::new(config.node, drift, server);
        let now = clock.now().map_err(DriverError::Clock)?;
        let mut peers = Vec::new();
        for upstream in config.upstreams {
            let socket = ClientSocket::connect(upstream.address)
                .map_err(io_error(format!("socket for {}", upstream.address)))?;
            let id = node
                .add_source(
                    upstream.config,
                    ReferenceId::from_ip(upstream.address.ip()),
                    now,
                )
                .map_err(|_| DriverError::TooManyServers)?;
            peers.push(Peer {
                name: upstream.name,
                socket,
                id,
                sent: None,
            });
        }
        let control = match &config.control_socket {
            Some(path) => Some(
                ControlServer::bind(path)
                    .map_err(io_error(format!("control socket {}", path.display())))?,
            ),
            None => None,
        };
        let mut driver = Driver {
            node,
            peers,
            clock,
            control,
            serving: sockets
                .into_iter()
                .map(|socket| ServeSocket {
                    socket,
                    failed: false,
                })
                .collect(),
            batch: Batch::new(),
            driftfile: config.driftfile,
            measure_only: config.measure_only,
            counts: TimestampCounts::default(),
            finished: false,
            log: Box::new(|event| eprintln!("ntpkit: {event}")),
        };
        driver.settle()?;
        Ok(driver)
    }

    /// Send events somewhere else than standard error.
    pub fn set_logger(&mut self, log: impl FnMut(&Event) + 'static) {
        self.log = Box::new(log);
    }

    /// The node (engine, server counters).
    pub fn node(&self) -> &Node<'a, MAX_SOURCES> {
        &self.node
    }

    /// The sockets served on.
    pub fn serving_sockets(&self) -> impl Iterator<Item = &NtpSocket> {
        self.serving.iter().map(|s| &s.socket)
    }

    /// How the exchanges were timestamped so far.
    pub fn timestamp_counts(&self) -> TimestampCounts {
        self.counts
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn now(&self) -> Result<NtpTimestamp, DriverError<C::Error>> {
        self.clock.now().map_err(DriverError::Clock)
    }

    /// Runs until `stop` is set (or an error), then [`finishes`](Self::finish).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), DriverError<C::Error>> {
        let result = (|| {
            while !stop.load(Ordering::Relaxed) {
                self.run_once(None)?;
            }
            Ok(())
        })();
        let finished = self.finish();
        result.and(finished)
    }

    /// One turn of the loop: send what is due, wait for datagrams (at most
    /// until the node's next deadline, or `max_wait`), handle them, carry
    /// out the clock actions and answer the control socket.
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> Result<(), DriverError<C::Error>> {
        self.transmit()?;
        let now = self.now()?;
        let until_due = self.node.poll_timeout().map(|due| {
            let seconds = self.clock.system_interval((due - now).to_seconds_f64());
            Duration::from_secs_f64(seconds.clamp(0.0, 1e9))
        });
        let wait = match (until_due, max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut poller = Poller::new();
        for peer in &self.peers {
            poller.add(&peer.socket.as_fd());
        }
        let control = self.control.as_ref().map(|c| poller.add(&c.as_fd()));
        let served: Vec<Option<usize>> = self
            .serving
            .iter()
            .map(|s| (!s.failed).then(|| poller.add(&s.socket)))
            .collect();
        poller.wait(wait).map_err(io_error("poll"))?;
        for i in 0..self.peers.len() {
            if poller.is_ready(i) {
                self.receive(i)?;
            }
        }
        for (socket, index) in served.iter().enumerate() {
            if index.is_some_and(|index| poller.is_ready(index)) {
                self.answer(socket)?;
            }
        }
        let now = self.now()?;
        self.node.handle_timeout(now);
        self.settle()?;
        if control.is_some_and(|index| poller.is_ready(index)) {
            let snapshot = self.snapshot()?;
            if let Some(control) = &self.control {
                if let Err(e) = control.serve_pending(|request| snapshot.render(request)) {
                    (self.log)(&Event::Warning(format!("control socket: {e}")));
                }
            }
        }
        Ok(())
    }

    /// The way out: the node ends the slew in progress and leaves the
    /// clock at the frequency estimate, and the drift is saved. Called by
    /// [`run`](Self::run), and on drop (a panic unwinding through the
    /// driver included) if not before.
    pub fn finish(&mut self) -> Result<(), DriverError<C::Error>> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let now = self.now()?;
        self.node.shutdown(now);
        self.settle()
    }

    /// Carries out the node's actions at once (none in measure-only mode)
    /// and logs its events.
    fn settle(&mut self) -> Result<(), DriverError<C::Error>> {
        while let Some(action) = self.node.poll_action() {
            if self.measure_only {
                continue;
            }
            self.clock.apply(&action).map_err(DriverError::Clock)?;
        }
        while let Some(event) = self.node.poll_event() {
            let event = match event {
                node::Event::Selected(id) => Event::Selected(self.name(id)),
                node::Event::Unselected => Event::Unselected,
                node::Event::Stepped(offset) => Event::Stepped(offset),
                node::Event::PanicThreshold { source, offset } => Event::PanicThreshold {
                    name: self.name(source),
                    offset,
                },
                node::Event::SaveDrift(drift) => match self.save_drift(drift) {
                    Some(event) => event,
                    None => continue,
                },
            };
            (self.log)(&event);
        }
        Ok(())
    }

    fn name(&self, id: SourceId) -> String {
        self.peers
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| format!("source {}", id.0), |p| p.name.clone())
    }

    /// Send every request that is due.
    fn transmit(&mut self) -> Result<(), DriverError<C::Error>> {
        let mut buf = [0u8; 48];
        loop {
            // T1 is the clock read just before the send, until the kernel's
            // transmit timestamp replaces it.
            let now = self.now()?;
            let Some((id, len)) = self.node.poll_transmit(now, &mut OsRng, &mut buf) else {
                return Ok(());
            };
            let Some(peer) = self.peers.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            match peer.socket.send(&buf[..len]) {
                Ok(_) => peer.sent = Some(now),
                Err(e) => {
                    let text = format!("sending to {}: {e}", peer.name);
                    (self.log)(&Event::Warning(text));
                }
            }
        }
    }

    /// Handle everything waiting on peer `i`'s socket.
    fn receive(&mut self, i: usize) -> Result<(), DriverError<C::Error>> {
        let mut buf = [0u8; 1024];
        // The kernel's transmit timestamp of the last request becomes its T1.
        while let Ok(Some(tx)) = self.peers[i].socket.transmit_timestamp() {
            let tx = self.clock.at_system_time(tx);
            let peer = &mut self.peers[i];
            let lag = peer.sent.map(|sent| (tx - sent).to_seconds_f64());
            if lag.is_some_and(|lag| (0.0..=MAX_TRANSMIT_LAG).contains(&lag)) {
                self.node.handle_tx_timestamp(peer.id, tx);
                peer.sent = None;
                self.counts.kernel_tx += 1;
            }
        }
        loop {
            let received = self.peers[i].socket.recv(&mut buf);
            let (len, rx) = match received {
                Ok(Some(packet)) => packet,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let text = format!("receiving from {}: {e}", self.peers[i].name);
                    (self.log)(&Event::Warning(text));
                    return Ok(());
                }
            };
            match rx.source {
                TimestampSource::Kernel => self.counts.kernel_rx += 1,
                TimestampSource::User => self.counts.user_rx += 1,
            }
            let rx = self.clock.at_system_time(rx.time);
            let id = self.peers[i].id;
            let _ = self
                .node
                .handle_datagram(rx, Endpoint::Source(id), &buf[..len], &mut []);
            self.settle()?;
        }
    }

    /// Answer the requests waiting on serving socket `index`, batch after
    /// batch while they come full: each request gets the node's reply on
    /// the disciplined clock's time (the kernel's receive timestamp mapped
    /// onto it), and each batch's replies their transmit timestamp right
    /// before `sendmmsg`. A socket that fails is reported and no longer
    /// served on: serving never takes the node's own time-keeping down.
    fn answer(&mut self, index: usize) -> Result<(), DriverError<C::Error>> {
        let Some(serve) = self.serving.get_mut(index) else {
            return Ok(());
        };
        let (node, clock, batch) = (&mut self.node, &self.clock, &mut self.batch);
        let result = loop {
            let received = match serve.socket.recv_batch(batch) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            batch.answer(|datagram, reply| {
                let now = clock.at_system_time(datagram.receive);
                node.handle_datagram(now, Endpoint::Client(datagram.from), datagram.data, reply)
            });
            batch.set_transmit_timestamps(node.transmit_time(clock.at_system_time(realtime_now())));
            if let Err(e) = serve.socket.send_replies(batch) {
                break Err(e);
            }
            if received < BATCH {
                break Ok(());
            }
        };
        if let Err(e) = result {
            serve.failed = true;
            let address = serve
                .socket
                .local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string());
            (self.log)(&Event::Warning(format!(
                "serving on {address}: {e}; no longer serving on it"
            )));
        }
        Ok(())
    }

    /// Writes `drift` to the driftfile (if configured); the event to log.
    fn save_drift(&mut self, drift: Drift) -> Option<Event> {
        let path = self.driftfile.as_ref()?;
        // Write a new file and rename it over the old: never a torn file.
        let tmp = path.with_extension("tmp");
        let written = libstd::fs::write(&tmp, format!("{drift}\n"))
            .and_then(|()| libstd::fs::rename(&tmp, path));
        Some(match written {
            Ok(()) => Event::DriftSaved(drift),
            Err(e) => Event::Warning(format!("driftfile {}: {e}", path.display())),
        })
    }

    /// Whether the clock has been updated from a server yet.
    pub fn has_synchronised(&self) -> bool {
        self.now()
            .is_ok_and(|now| !self.node.system().tracking(now).reference_time.is_zero())
    }

    /// A report row per server, in configuration order.
    fn rows<T>(&self, report: impl Fn(SourceId) -> Option<T>) -> Vec<(SourceName, T)> {
        self.peers
            .iter()
            .filter_map(|p| Some((p.source_name(), report(p.id)?)))
            .collect()
    }

    /// The reports as they stand now.
    pub fn snapshot(&self) -> Result<Snapshot, DriverError<C::Error>> {
        let now = self.now()?;
        let system = self.node.system();
        let tracking = system.tracking(now);
        let reference = self
            .peers
            .iter()
            .find(|p| ReferenceId::from_ip(p.socket.server().ip()) == tracking.reference_id)
            .map(Peer::source_name)
            .unwrap_or_default();
        Ok(Snapshot {
            sources: self.rows(|id| system.source_report(id, now)),
            source_stats: self.rows(|id| system.source_stats(id, now)),
            reference,
            tracking,
            timedatectl: TimedatectlReport::from_status(&system.sync_status(now), Some(now)),
        })
    }
}

impl<C: DriverClock> Drop for Driver<'_, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("ntpkit: on the way out: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
