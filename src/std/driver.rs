//! The client driver: the engine's [`System`], one UDP socket per server, a
//! clock and the control socket, run by a `poll(2)` loop on one thread.
//!
//! It sends the requests the system asks for, hands it each response with
//! the kernel's receive time read on the disciplined clock, carries out the
//! clock actions, logs selection changes and steps, saves the drift to the
//! driftfile (hourly and on [`Driver::save_drift`]) and answers the control
//! socket.
//!
//! Embedding it takes a few lines:
//!
//! ```no_run
//! use ntpkit::std::clock::VirtualClock;
//! use ntpkit::std::driver::{Driver, DriverConfig, Server};
//! use ntpkit::system::SourceConfig;
//!
//! let config = DriverConfig {
//!     servers: vec![Server::resolve("pool.ntp.org", 123, SourceConfig { iburst: true, ..Default::default() })?],
//!     ..DriverConfig::default()
//! };
//! let mut driver = Driver::new(config, VirtualClock::new())?;
//! loop {
//!     driver.run_once(None)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand_core::OsRng;

use crate::clock::ClockAction;
use crate::report::{SourceState, TimedatectlReport};
use crate::std::client_socket::{ClientSocket, TimestampSource};
use crate::std::clock::DriverClock;
use crate::std::config::{Config, SourceKind};
use crate::std::control::{ControlServer, Snapshot, SourceName, DEFAULT_PATH};
use crate::std::serve::Served;
pub use crate::std::serve::Serving;
use crate::std::socket::Poller;
use crate::system::{Drift, MakeStep, ResponseError, SourceConfig, SourceId, System, SystemConfig};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

/// How many servers a driver follows at most.
pub const MAX_SOURCES: usize = 16;

/// How often the drift is saved while synchronised.
const DRIFT_SAVE_INTERVAL: Duration = Duration::from_secs(3600);

/// The longest the loop sleeps, so that unreachability and the control
/// socket stay timely even when no poll is due.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// One server to follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// The name the reports show (as configured).
    pub name: String,
    /// Where to send requests.
    pub address: SocketAddr,
    /// Polling and selection options.
    pub config: SourceConfig,
}

impl Server {
    /// `host` resolved (its first address, as chronyd uses) on `port`.
    pub fn resolve(host: &str, port: u16, config: SourceConfig) -> io::Result<Server> {
        let address = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
        })?;
        Ok(Server {
            name: host.to_owned(),
            address,
            config,
        })
    }
}

/// What a driver runs.
#[derive(Debug, Clone, Default)]
pub struct DriverConfig {
    /// The engine's settings.
    pub system: SystemConfig,
    /// The servers.
    pub servers: Vec<Server>,
    /// chrony's driftfile: read at start, written hourly and on request.
    pub driftfile: Option<PathBuf>,
    /// Where to answer report requests (none: no control socket).
    pub control_socket: Option<PathBuf>,
    /// Measure only: never change the clock (`chronyd -Q`).
    pub measure_only: bool,
}

impl DriverConfig {
    /// The driver a chrony.conf describes: its `server`/`pool` lines
    /// resolved (a pool gives up to `maxsources` addresses), `driftfile`,
    /// `bindcmdaddress` (default [`crate::std::control::DEFAULT_PATH`]) and
    /// the engine settings of [`system_config`]. `precision` is the
    /// clock's, log2 seconds.
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
        let mut servers = Vec::new();
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
            servers.extend(addresses.take(take).map(|address| Server {
                name: source.host.clone(),
                address,
                config: source.engine,
            }));
        }
        let driver = DriverConfig {
            system: system_config(config, precision),
            servers,
            driftfile: config.driftfile.clone(),
            control_socket: control_socket_path(config),
            measure_only: false,
        };
        (driver, unresolved)
    }
}

/// The engine settings of a chrony.conf: `makestep`, `maxupdateskew`,
/// `stratumweight` and `local stratum`, with the clock's `precision`.
pub fn system_config(config: &Config, precision: i8) -> SystemConfig {
    let defaults = SystemConfig::default();
    SystemConfig {
        makestep: config.makestep.map(|m| MakeStep {
            threshold: m.threshold,
            limit: m.limit,
        }),
        maxupdateskew_ppm: config.maxupdateskew.unwrap_or(defaults.maxupdateskew_ppm),
        stratumweight: config.stratumweight.unwrap_or(defaults.stratumweight),
        local_stratum: config.local.map(|local| local.stratum),
        precision,
        ..defaults
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
pub enum DriverError {
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
    Clock(String),
    /// More servers than [`MAX_SOURCES`].
    #[error("too many servers (at most {MAX_SOURCES})")]
    TooManyServers,
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> DriverError {
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
    /// A socket error that did not stop the driver.
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

/// Set by SIGINT or SIGTERM once [`stop_on_signals`] was called.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// Stop on SIGINT and SIGTERM, as chronyd does (saving the drift on the
/// way out is the caller's): from now on these signals set the flag
/// returned, which a loop checks between turns.
#[allow(unsafe_code)]
pub fn stop_on_signals() -> &'static AtomicBool {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
    &SIGNALLED
}

/// What a node following its upstreams with `system` on `clock` serves at
/// system time `now`: the system's reference at the clock's time, and the
/// correction that turns the system clock's time into the clock's corrected
/// time (the virtual clock's offset and the correction still being slewed).
pub fn served<const N: usize, C: DriverClock>(
    system: &System<N>,
    clock: &C,
    now: NtpTimestamp,
) -> Served {
    let clock_now = clock.at_system_time(now);
    Served {
        reference: system.reference(clock_now),
        correction: system.corrected_time(clock_now) - now,
        acquiring: system.is_acquiring(clock_now),
    }
}

/// A kernel transmit timestamp belongs to the request sent last when it
/// follows the send by no more than this (seconds).
const MAX_TRANSMIT_LAG: f64 = 0.05;

/// The client loop. See the [module documentation](self).
pub struct Driver<'a, C> {
    system: System<MAX_SOURCES>,
    peers: Vec<Peer>,
    clock: C,
    control: Option<ControlServer>,
    serving: Option<Serving<'a>>,
    driftfile: Option<PathBuf>,
    drift_saved: Instant,
    measure_only: bool,
    selected: Option<SourceId>,
    counts: TimestampCounts,
    log: Box<dyn FnMut(&Event)>,
}

impl<C> fmt::Debug for Driver<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("peers", &self.peers)
            .field("serving", &self.serving)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl<'a, C> Driver<'a, C>
where
    C: DriverClock,
    C::Error: fmt::Display,
{
    /// Open the sockets, read the driftfile and bind the control socket.
    /// Events go to standard error until [`Self::set_logger`].
    pub fn new(config: DriverConfig, clock: C) -> Result<Self, DriverError> {
        let drift = config
            .driftfile
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| Drift::parse(&text));
        let mut system = System::<MAX_SOURCES>::with_capacity(config.system, drift);
        let now = clock.now().map_err(|e| DriverError::Clock(e.to_string()))?;
        let mut peers = Vec::new();
        for server in config.servers {
            let socket = ClientSocket::connect(server.address)
                .map_err(io_error(format!("socket for {}", server.address)))?;
            let id = system
                .add_source(
                    server.config,
                    ReferenceId::from_ip(server.address.ip()),
                    now,
                )
                .map_err(|_| DriverError::TooManyServers)?;
            peers.push(Peer {
                name: server.name,
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
        Ok(Driver {
            system,
            peers,
            clock,
            control,
            serving: None,
            driftfile: config.driftfile,
            // The first save is an hour in (or on request), once the
            // estimate means something.
            drift_saved: Instant::now(),
            measure_only: config.measure_only,
            selected: None,
            counts: TimestampCounts::default(),
            log: Box::new(|event| eprintln!("ntpkit: {event}")),
        })
    }

    /// Also serve NTP (the system's reference, the disciplined clock's
    /// time) on `serving`'s sockets, in the same loop.
    pub fn serve(&mut self, serving: Serving<'a>) {
        self.serving = Some(serving);
    }

    /// What is being served, if anything.
    pub fn serving(&self) -> Option<&Serving<'a>> {
        self.serving.as_ref()
    }

    /// Send events somewhere else than standard error.
    pub fn set_logger(&mut self, log: impl FnMut(&Event) + 'static) {
        self.log = Box::new(log);
    }

    /// The engine.
    pub fn system(&self) -> &System<MAX_SOURCES> {
        &self.system
    }

    /// How the exchanges were timestamped so far.
    pub fn timestamp_counts(&self) -> TimestampCounts {
        self.counts
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn now(&self) -> Result<NtpTimestamp, DriverError> {
        self.clock
            .now()
            .map_err(|e| DriverError::Clock(e.to_string()))
    }

    /// One turn of the loop: send what is due, wait for responses (at most
    /// `max_wait`, or until the next poll; never over 1 s), handle them,
    /// carry out the clock actions and answer the control socket.
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> Result<(), DriverError> {
        self.transmit()?;
        let now = self.now()?;
        let until_poll = self.system.poll_timeout().map_or(MAX_WAIT, |next| {
            Duration::from_secs_f64((next - now).to_seconds_f64().max(0.0))
        });
        let until_clock = self.clock.poll_timeout().unwrap_or(MAX_WAIT);
        let wait = until_poll
            .min(until_clock)
            .min(max_wait.unwrap_or(MAX_WAIT))
            .min(MAX_WAIT);
        let mut poller = Poller::new();
        for peer in &self.peers {
            poller.add(&peer.socket.as_fd());
        }
        let control = self.control.as_ref().map(|c| poller.add(&c.as_fd()));
        let served: Vec<usize> = self
            .serving
            .iter()
            .flat_map(|s| s.sockets())
            .map(|socket| poller.add(socket))
            .collect();
        poller.wait(Some(wait)).map_err(io_error("poll"))?;
        for i in 0..self.peers.len() {
            if poller.is_ready(i) {
                self.receive(i)?;
            }
        }
        for (socket, &index) in served.iter().enumerate() {
            if poller.is_ready(index) {
                self.answer(socket)?;
            }
        }
        self.clock
            .handle_timeout()
            .map_err(|e| DriverError::Clock(e.to_string()))?;
        let now = self.now()?;
        self.system.handle_timeout(now);
        self.apply_actions()?;
        self.note_selection();
        if control.is_some_and(|index| poller.is_ready(index)) {
            let snapshot = self.snapshot()?;
            if let Some(control) = &self.control {
                control
                    .serve_pending(|request| snapshot.render(request))
                    .map_err(io_error("control socket"))?;
            }
        }
        if self.system.sync_status(now).synchronized
            && self.drift_saved.elapsed() >= DRIFT_SAVE_INTERVAL
        {
            self.save_drift();
        }
        Ok(())
    }

    /// Send every request that is due.
    fn transmit(&mut self) -> Result<(), DriverError> {
        let mut buf = [0u8; 48];
        loop {
            // T1 is the clock read just before the send, until the kernel's
            // transmit timestamp replaces it.
            let now = self.now()?;
            let Some((id, len)) = self.system.poll_transmit(now, &mut OsRng, &mut buf) else {
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
    fn receive(&mut self, i: usize) -> Result<(), DriverError> {
        let mut buf = [0u8; 1024];
        // The kernel's transmit timestamp of the last request becomes its T1.
        while let Ok(Some(tx)) = self.peers[i].socket.transmit_timestamp() {
            let tx = self.clock.at_system_time(tx);
            let peer = &mut self.peers[i];
            let lag = peer.sent.map(|sent| (tx - sent).to_seconds_f64());
            if lag.is_some_and(|lag| (0.0..=MAX_TRANSMIT_LAG).contains(&lag)) {
                self.system.set_transmit_time(peer.id, tx);
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
            match self
                .system
                .handle_response(rx, self.peers[i].id, &buf[..len])
            {
                Ok(()) => {}
                Err(ResponseError::PanicThreshold(offset)) => {
                    let name = self.peers[i].name.clone();
                    (self.log)(&Event::PanicThreshold { name, offset });
                }
                // Bad, late or duplicate packets are dropped silently, as
                // chronyd does.
                Err(_) => {}
            }
            self.apply_actions()?;
        }
    }

    /// Answer the requests waiting on server socket `index`: the system's
    /// reference (`local` applied by [`Serving::answer`]), on the
    /// disciplined clock's time with the correction in progress (chrony's
    /// "cooked" time).
    fn answer(&mut self, index: usize) -> Result<(), DriverError> {
        let (system, clock) = (&self.system, &self.clock);
        let Some(serving) = self.serving.as_mut() else {
            return Ok(());
        };
        serving
            .answer(index, |now| served(system, clock, now), None)
            .map_err(io_error("serving"))
    }

    /// Carry out the engine's clock actions (none in measure-only mode).
    fn apply_actions(&mut self) -> Result<(), DriverError> {
        while let Some(action) = self.system.poll_action() {
            if self.measure_only {
                continue;
            }
            self.clock
                .apply(&action)
                .map_err(|e| DriverError::Clock(e.to_string()))?;
            if let ClockAction::Step { offset } = action {
                (self.log)(&Event::Stepped(offset.to_seconds_f64()));
            }
        }
        Ok(())
    }

    /// Log a change of the selected server.
    fn note_selection(&mut self) {
        let Ok(now) = self.now() else { return };
        let selected = self.peers.iter().find(|p| {
            self.system
                .source_report(p.id, now)
                .is_some_and(|r| r.state == SourceState::Selected)
        });
        let id = selected.map(|p| p.id);
        if id == self.selected {
            return;
        }
        let event = match selected {
            Some(peer) => Event::Selected(peer.name.clone()),
            None => Event::Unselected,
        };
        self.selected = id;
        (self.log)(&event);
    }

    /// Write the drift to the driftfile (if configured), as chronyd does on
    /// exit.
    pub fn save_drift(&mut self) {
        let Some(path) = &self.driftfile else { return };
        let drift = self.system.drift();
        // Write a new file and rename it over the old: never a torn file.
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, format!("{drift}\n")).and_then(|()| std::fs::rename(&tmp, path));
        self.drift_saved = Instant::now();
        match written {
            Ok(()) => (self.log)(&Event::DriftSaved(drift)),
            Err(e) => (self.log)(&Event::Warning(format!(
                "driftfile {}: {e}",
                path.display()
            ))),
        }
    }

    /// Whether the clock has been updated from a server yet.
    pub fn has_synchronised(&self) -> bool {
        self.now()
            .is_ok_and(|now| !self.system.tracking(now).reference_time.is_zero())
    }

    /// A report row per server, in configuration order.
    fn rows<T>(&self, report: impl Fn(SourceId) -> Option<T>) -> Vec<(SourceName, T)> {
        self.peers
            .iter()
            .filter_map(|p| Some((p.source_name(), report(p.id)?)))
            .collect()
    }

    /// The reports as they stand now.
    pub fn snapshot(&self) -> Result<Snapshot, DriverError> {
        let now = self.now()?;
        let tracking = self.system.tracking(now);
        let reference = self
            .peers
            .iter()
            .find(|p| ReferenceId::from_ip(p.socket.server().ip()) == tracking.reference_id)
            .map(Peer::source_name)
            .unwrap_or_default();
        Ok(Snapshot {
            sources: self.rows(|id| self.system.source_report(id, now)),
            source_stats: self.rows(|id| self.system.source_stats(id, now)),
            reference,
            tracking,
            timedatectl: TimedatectlReport::from_status(&self.system.sync_status(now), Some(now)),
        })
    }
}

#[cfg(test)]
mod tests;
