//! The Linux shell around a [`Node`]: one UDP socket per followed server,
//! the serving sockets, a clock and chronyc's command sockets, waited on with
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
//!   frequency estimate, as chronyd leaves it ([`Driver::finish`]);
//! - it authenticates the sources configured so ([`UpstreamAuth`]): a
//!   key's MAC is the node's to write and check; for NTS sources it runs
//!   NTS-KE in helper threads when the node asks (before the first poll,
//!   when the cookies run out, after a NAK, at `ntsrefresh`), follows the
//!   NTP server the handshake names, and keeps the cookies in `ntsdumpdir`
//!   across restarts ([`NtsSettings`]).
//!
//! Embedding it takes a few lines:
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ntpkit::linux::clock::VirtualClock;
//! use ntpkit::linux::driver::{Driver, DriverConfig, Upstream};
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

use std::borrow::ToOwned;
use std::boxed::Box;
use std::eprintln;
use std::fmt;
use std::format;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::string::String;
use std::string::ToString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::vec::Vec;

use rand_core::OsRng;

use crate::auth::Key;
use crate::chrony::config::{Config, SourceKind, ZONEINFO};
use crate::chrony::control::{Snapshot, SourceName};
use crate::chrony::keyfile::KeyFile;
use crate::chrony::logs::LogSettings;
use crate::cmdmon::{Action, CommandAccess, Provider, Status};
use crate::discipline::Drift;
use crate::leap::LeapTable;
use crate::linux::clock::DriverClock;
use crate::linux::cmdmon::{CmdmonServer, CmdmonSettings};
use crate::linux::nts::ke_client::{self, KeOutcome};
use crate::linux::socket::client::{ClientSocket, TimestampSource};
use crate::linux::socket::{realtime_now, Batch, NtpSocket, Poller, BATCH};
use crate::node::{self, Endpoint, Node, NodeConfig};
use crate::report::TimedatectlReport;
use crate::report::{
    AuthReport, NtpDataReport, ServerStatsReport, SourceActivity, SourceReport, SourceStatsReport,
    TimestampSource as ReportedTimestamps, TrackingReport,
};
use crate::server::Server;
use crate::system::{SourceAuth, SourceConfig, SourceId, MAX_REQUEST_LEN};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

mod nts;

pub use nts::NtsSettings;
use nts::{KeRunner, PeerNts};

/// How many servers a driver follows at most.
pub const MAX_SOURCES: usize = 16;

/// How an upstream's exchanges are authenticated.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum UpstreamAuth {
    /// Not at all.
    #[default]
    None,
    /// A MAC under this key (`key ID`).
    Key(Key),
    /// NTS (`nts`): NTS-KE with the server at `ke_address`, whose
    /// certificate must be valid for the upstream's name and signed by a
    /// CA of certificate set `certset` ([`NtsSettings::trusted_certs`]).
    Nts {
        /// The NTS-KE server (the upstream's address, `ntsport`).
        ke_address: SocketAddr,
        /// `certset`.
        certset: u32,
    },
}

/// One server to follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// The name the reports show (as configured); an NTS server's
    /// certificate must be valid for it.
    pub name: String,
    /// Where to send requests (an NTS server's NTS-KE may name another).
    pub address: SocketAddr,
    /// Polling and selection options.
    pub config: SourceConfig,
    /// Authentication.
    pub auth: UpstreamAuth,
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
            auth: UpstreamAuth::None,
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
    /// chronyc's command sockets (none: not answered).
    pub command: Option<CmdmonSettings>,
    /// Measure only: never change the clock (`chronyd -Q`).
    pub measure_only: bool,
    /// `leapsectz`'s leap seconds (see [`System::set_leap_table`]).
    ///
    /// [`System::set_leap_table`]: crate::system::System::set_leap_table
    pub leap_table: Option<LeapTable>,
    /// chronyd's log files to write (none: none).
    pub logs: Option<LogSettings>,
    /// The NTS sources' settings.
    pub nts: NtsSettings,
    /// What building it found worth a warning (a key file other users can
    /// read): the caller shows them.
    pub warnings: Vec<String>,
}

impl DriverConfig {
    /// The driver a chrony.conf describes: its `server`/`pool` lines
    /// resolved (a pool gives up to `maxsources` addresses) with their
    /// `key` (from the `keyfile`, read once) or `nts` (`ntsport`,
    /// `certset`), `driftfile`, the command sockets (`bindcmdaddress`,
    /// `cmdport`, `cmdallow`, `cmddeny`, with chronyd's defaults),
    /// `leapsectz`, the log files (`logdir`, `log`), the NTS settings
    /// (`ntstrustedcerts`, `nosystemcert`, `nocerttimecheck`,
    /// `ntsdumpdir`) and the node's settings ([`Config::node_config`]).
    /// `precision` is the clock's, log2 seconds.
    pub fn from_config(config: &Config, precision: i8) -> io::Result<DriverConfig> {
        let (driver, unresolved) = DriverConfig::resolving(config, precision);
        match unresolved.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(driver),
        }
    }

    /// As [`Self::from_config`], but a `server`/`pool` name that does not
    /// resolve is left out, and a `leapsectz` zone that cannot be read is
    /// not used, their errors returned beside (chronyd starts without
    /// them too, and serves meanwhile); so is a source whose key is not in
    /// the key file (or whose certificate set holds nothing), its error
    /// naming the line.
    pub fn resolving(config: &Config, precision: i8) -> (DriverConfig, Vec<io::Error>) {
        let mut upstreams = Vec::new();
        let mut unresolved = Vec::new();
        let mut warnings = Vec::new();
        let nts = NtsSettings {
            trusted_certs: config.auth.nts_trusted_certs.clone(),
            no_system_certs: config.auth.no_system_cert,
            no_cert_time_check: config.auth.no_cert_time_check.max(0) as u32,
            dump_dir: config.auth.nts_dump_dir.clone(),
            ..NtsSettings::default()
        };
        let keyed = config.sources.iter().any(|s| s.auth.key.is_some());
        let keys = match (&config.auth.keyfile, keyed) {
            (Some(path), true) => Some(
                KeyFile::load(path).inspect(|file| warnings.extend(file.warnings.iter().cloned())),
            ),
            _ => None,
        };
        for source in &config.sources {
            let auth = match upstream_auth(source, keys.as_ref(), config, &nts) {
                Ok(auth) => auth,
                Err(e) => {
                    unresolved.push(e);
                    continue;
                }
            };
            let addresses = match (source.host.as_str(), source.port).to_socket_addrs() {
                Ok(addresses) => addresses,
                Err(e) => {
                    unresolved.push(io::Error::new(
                        e.kind(),
                        format!("{}: not following {}: {e}", source.location, source.host),
                    ));
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
                auth: match auth {
                    ConfiguredAuth::None => UpstreamAuth::None,
                    ConfiguredAuth::Key(key) => UpstreamAuth::Key(key),
                    // The NTS-KE server is the host's address, `ntsport`.
                    ConfiguredAuth::Nts { certset } => UpstreamAuth::Nts {
                        ke_address: SocketAddr::new(address.ip(), source.auth.nts_port),
                        certset,
                    },
                },
            }));
        }
        let leap_table = match config.leap_table(Path::new(ZONEINFO)) {
            Some(Ok(table)) => Some(table),
            Some(Err(e)) => {
                unresolved.push(io::Error::new(
                    e.kind(),
                    format!("leapsectz: {e} (leap seconds come from the sources only)"),
                ));
                None
            }
            None => None,
        };
        let driver = DriverConfig {
            node: config.node_config(precision),
            upstreams,
            driftfile: config.driftfile.clone(),
            command: Some(command_settings(config)),
            measure_only: false,
            leap_table,
            logs: Some(LogSettings::of(config)).filter(LogSettings::any),
            nts,
            warnings,
        };
        (driver, unresolved)
    }
}

/// A source line's authentication, before its addresses are known.
#[derive(Clone, Copy)]
enum ConfiguredAuth {
    None,
    Key(Key),
    Nts { certset: u32 },
}

/// The authentication of `source`: its key from `keys` (the key file, if
/// one was read), or NTS with a certificate set that holds something.
fn upstream_auth(
    source: &crate::chrony::config::SourceConfig,
    keys: Option<&Result<KeyFile, crate::chrony::keyfile::KeyFileError>>,
    config: &Config,
    nts: &NtsSettings,
) -> io::Result<ConfiguredAuth> {
    let refused = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not following {}: {why}", source.location, source.host),
        )
    };
    if let Some(id) = source.auth.key {
        let keys = match keys {
            Some(Ok(file)) => file,
            Some(Err(e)) => return Err(refused(format!("key {id}: {e}"))),
            None => return Err(refused(format!("key {id}, but there is no keyfile"))),
        };
        let path = config
            .auth
            .keyfile
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        return match keys.keys.iter().find(|k| k.id() == id) {
            Some(key) => Ok(ConfiguredAuth::Key(*key)),
            None => Err(refused(format!("key {id} is not in {path}"))),
        };
    }
    if source.auth.nts {
        let certset = source.auth.certset;
        if nts.trust(certset).is_none() {
            return Err(refused(format!(
                "certset {certset} holds no trusted certificate (ntstrustedcerts {certset} …)"
            )));
        }
        return Ok(ConfiguredAuth::Nts { certset });
    }
    Ok(ConfiguredAuth::None)
}

/// chronyc's command sockets as `config` sets them: the Unix socket at
/// `bindcmdaddress PATH` (default `/run/chrony/chronyd.sock`, off with
/// `bindcmdaddress /`), UDP `cmdport` (default 323, off with 0) on the
/// `bindcmdaddress` addresses (default 127.0.0.1 and ::1), answering
/// localhost and what `cmdallow`/`cmddeny` allow.
pub fn command_settings(config: &Config) -> CmdmonSettings {
    let command = &config.command;
    let defaults = CmdmonSettings::default();
    let addresses = [
        command.bind_ipv4.map(IpAddr::V4),
        command.bind_ipv6.map(IpAddr::V6),
    ];
    CmdmonSettings {
        socket: command.socket.clone(),
        port: command.port,
        addresses: if addresses.iter().any(Option::is_some) {
            addresses.into_iter().flatten().collect()
        } else {
            defaults.addresses
        },
        access: CommandAccess::with_rules(&command.access),
    }
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError<E: fmt::Debug + fmt::Display> {
    /// A socket failed.
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
    /// An offset over `maxchange` once more than it ignores (chronyd exits
    /// too).
    #[error("adjustment of {offset:.6} seconds from {name} exceeds the allowed maximum, exiting")]
    MaxChange {
        /// The server.
        name: String,
        /// Its offset, seconds.
        offset: f64,
    },
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
    /// A server's offset is over `maxchange`: ignored.
    MaxChange {
        /// The server.
        name: String,
        /// Its offset, seconds (positive: the clock is behind).
        offset: f64,
    },
    /// The drift was saved.
    DriftSaved(Drift),
    /// An NTS source has a new session.
    NtsSession {
        /// The server.
        name: String,
        /// Its cookies.
        cookies: usize,
        /// Where it came from: `NTS-KE`, or the `ntsdumpdir` file.
        from: String,
    },
    /// NTS-KE with a server failed.
    NtsKeFailed {
        /// The server.
        name: String,
        /// Why.
        error: String,
        /// Seconds until the next attempt.
        retry_in: u64,
    },
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
            Event::MaxChange { name, offset } => write!(
                f,
                "Adjustment of {offset:.6} seconds from {name} exceeds the allowed maximum: ignored"
            ),
            Event::DriftSaved(drift) => write!(f, "Drift saved: {drift}"),
            Event::NtsSession {
                name,
                cookies,
                from,
            } => write!(f, "NTS session with {name}: {cookies} cookies from {from}"),
            Event::NtsKeFailed {
                name,
                error,
                retry_in,
            } => write!(
                f,
                "NTS-KE with {name} failed: {error}; next attempt in {retry_in} s"
            ),
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
    /// Where the last request's and response's timestamps came from.
    timestamps: (ReportedTimestamps, ReportedTimestamps),
    /// An NTS source's NTS-KE server and NTP server.
    nts: Option<PeerNts>,
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
/// rules, rate limiting, keys, counters) the node answers with.
#[derive(Debug)]
pub struct Serving<'a> {
    /// The sockets to answer on.
    pub sockets: Vec<NtpSocket>,
    /// The server.
    pub server: Server<'a>,
    /// The NTS-KE server's cookie keys, which it rotates (see
    /// [`Serving::set_nts`]).
    pub nts_keys: Option<std::sync::Arc<crate::linux::nts::server_keys::SharedKeys>>,
}

/// A serving socket.
#[derive(Debug)]
struct ServeSocket {
    socket: NtpSocket,
    /// Set after the socket failed: it is no longer waited on.
    failed: bool,
}

/// Stop on SIGINT, SIGTERM and SIGHUP, as chronyd does: from now on these
/// signals set `flag`, which [`Driver::run`] checks after every wakeup (a
/// signal interrupts `poll(2)`).
pub fn stop_on_signals(flag: &std::sync::Arc<AtomicBool>) -> io::Result<()> {
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
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
    cmdmon: Option<CmdmonServer>,
    serving: Vec<ServeSocket>,
    batch: Box<Batch>,
    /// The NTS-KE server's cookie keys and the generation last applied.
    nts_keys: Option<(
        std::sync::Arc<crate::linux::nts::server_keys::SharedKeys>,
        u64,
    )>,
    /// The NTS sources' handshakes (none without NTS sources).
    ke: Option<KeRunner>,
    driftfile: Option<PathBuf>,
    measure_only: bool,
    counts: TimestampCounts,
    logging: Option<Logging>,
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
            .field("cmdmon", &self.cmdmon)
            .finish_non_exhaustive()
    }
}

impl<'a, C: DriverClock> Driver<'a, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    /// Open the sockets, read the driftfile and bind the command sockets;
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
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| Drift::parse(&text));
        let (sockets, server, nts_keys) = match serving {
            Some(Serving {
                sockets,
                server,
                nts_keys,
            }) => (sockets, Some(server), nts_keys),
            None => (Vec::new(), None, None),
        };
        let mut node = Node::new(config.node, drift, server);
        node.system_mut().set_leap_table(config.leap_table);
        let now = clock.now().map_err(DriverError::Clock)?;
        let mut peers = Vec::new();
        let nts_sources = config
            .upstreams
            .iter()
            .any(|u| matches!(u.auth, UpstreamAuth::Nts { .. }));
        let mut ke = if nts_sources {
            Some(KeRunner::new(config.nts.clone()).map_err(io_error("NTS-KE wake-up socket"))?)
        } else {
            None
        };
        for upstream in config.upstreams {
            let id = node
                .add_source(
                    upstream.config,
                    ReferenceId::from_ip(upstream.address.ip()),
                    now,
                )
                .map_err(|_| DriverError::TooManyServers)?;
            let mut address = upstream.address;
            let nts = match upstream.auth {
                UpstreamAuth::None => None,
                UpstreamAuth::Key(key) => {
                    // Every source fits: MAX_SOURCES of each kind.
                    let _ = node.set_source_auth(id, SourceAuth::Key(key));
                    None
                }
                UpstreamAuth::Nts {
                    ke_address,
                    certset,
                } => {
                    let _ = node.set_source_auth(id, SourceAuth::Nts);
                    let mut nts = PeerNts {
                        host: upstream.name.clone(),
                        ke_address,
                        certset,
                        ntp_server: upstream.name.clone(),
                        ntp_port: upstream.address.port(),
                    };
                    if let (Some(dir), Some(ke)) = (&config.nts.dump_dir, &mut ke) {
                        match load_dump(dir, &mut nts) {
                            Ok(Some((outcome, ntp))) => {
                                ke.note(Event::NtsSession {
                                    name: upstream.name.clone(),
                                    cookies: outcome.session.cookies(),
                                    from: ke_client::dump_path(dir, &nts.dump_name())
                                        .display()
                                        .to_string(),
                                });
                                let _ = node.set_nts_session(id, outcome.session, now);
                                address = ntp;
                            }
                            Ok(None) => {}
                            Err(e) => ke.note(Event::Warning(format!(
                                "NTS cookies of {}: {e}; NTS-KE instead",
                                upstream.name
                            ))),
                        }
                    }
                    Some(nts)
                }
            };
            let socket = ClientSocket::connect(address)
                .map_err(io_error(format!("socket for {address}")))?;
            // The loop test: our address as this server sees it (not on
            // loopback, where every node has the same address).
            if let Some(local) = socket.local_addr().ok().filter(|a| !a.ip().is_loopback()) {
                node.set_own_reference_id(id, ReferenceId::from_ip(local.ip()));
            }
            peers.push(Peer {
                name: upstream.name,
                socket,
                id,
                sent: None,
                timestamps: (ReportedTimestamps::Daemon, ReportedTimestamps::Daemon),
                nts,
            });
        }
        let cmdmon = match &config.command {
            Some(settings) => Some(CmdmonServer::bind(settings).map_err(|e| DriverError::Io {
                what: "chronyc's command sockets".into(),
                source: io::Error::other(e.to_string()),
            })?),
            None => None,
        };
        let logging = match &config.logs {
            Some(settings) => Logging::open(settings)
                .map_err(io_error(format!("log files in {}", settings.dir.display())))?,
            None => None,
        };
        let mut driver = Driver {
            node,
            peers,
            clock,
            cmdmon,
            serving: sockets
                .into_iter()
                .map(|socket| ServeSocket {
                    socket,
                    failed: false,
                })
                .collect(),
            batch: Batch::new(),
            nts_keys: nts_keys.map(|keys| {
                let generation = keys.generation();
                (keys, generation)
            }),
            ke,
            driftfile: config.driftfile,
            measure_only: config.measure_only,
            counts: TimestampCounts::default(),
            logging,
            finished: false,
            log: Box::new(|event| eprintln!("ntpkit: {event}")),
        };
        let warnings: Vec<String> = driver
            .cmdmon
            .iter()
            .flat_map(|c| c.warnings().iter().cloned())
            .collect();
        for warning in warnings {
            (driver.log)(&Event::Warning(format!("command sockets: {warning}")));
        }
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

    /// The followed servers, in configuration order: each one's name, the
    /// address its requests go to (an NTS server's as its NTS-KE said),
    /// and its id in the node (for [`crate::system::System`]'s reports:
    /// `source_report`, `auth_counters`, `auth_report`, `nts_state`).
    pub fn sources(&self) -> impl Iterator<Item = (&str, SocketAddr, SourceId)> {
        self.peers
            .iter()
            .map(|p| (p.name.as_str(), p.socket.server(), p.id))
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
    /// out the clock actions and answer chronyc's commands.
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
            poller.add_with_error_queue(&peer.socket.as_fd());
        }
        let commands: Vec<usize> = self
            .cmdmon
            .iter()
            .flat_map(|c| c.fds())
            .map(|fd| poller.add(&fd))
            .collect();
        // A handshake that finishes wakes the loop (handled in transmit()).
        if let Some(ke) = &self.ke {
            poller.add(&ke.wake_fd());
        }
        let served: Vec<Option<usize>> = self
            .serving
            .iter()
            .map(|s| (!s.failed).then(|| poller.add(&s.socket)))
            .collect();
        poller.wait(wait).map_err(io_error("poll"))?;
        for i in 0..self.peers.len() {
            if poller.has_error_queue(i) {
                self.transmit_timestamp(i);
            }
            if poller.is_readable(i) {
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
        let ready: Vec<bool> = commands.iter().map(|&i| poller.is_ready(i)).collect();
        if ready.contains(&true) {
            self.answer_commands(&ready)?;
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
        self.save_nts_dumps();
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
                node::Event::MaxChange {
                    source,
                    offset,
                    give_up,
                } => {
                    let name = self.name(source);
                    if give_up {
                        return Err(DriverError::MaxChange { name, offset });
                    }
                    Event::MaxChange { name, offset }
                }
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

    /// Send every request that is due (after taking in the NTS-KE
    /// handshakes that finished and starting those the node wants).
    fn transmit(&mut self) -> Result<(), DriverError<C::Error>> {
        self.nts_ke()?;
        let mut buf = [0u8; MAX_REQUEST_LEN];
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
                Ok(_) => {
                    peer.sent = Some(now);
                    peer.timestamps.0 = ReportedTimestamps::Daemon;
                }
                Err(e) => {
                    let text = format!("sending to {}: {e}", peer.name);
                    (self.log)(&Event::Warning(text));
                }
            }
        }
    }

    /// Takes the kernel's transmit timestamps waiting on peer `i`'s error
    /// queue: that of the last request becomes its T1.
    fn transmit_timestamp(&mut self, i: usize) {
        while let Ok(Some(tx)) = self.peers[i].socket.transmit_timestamp() {
            let tx = self.clock.at_system_time(tx);
            let peer = &mut self.peers[i];
            let lag = peer.sent.map(|sent| (tx - sent).to_seconds_f64());
            if lag.is_some_and(|lag| (0.0..=MAX_TRANSMIT_LAG).contains(&lag)) {
                self.node.handle_tx_timestamp(peer.id, tx);
                peer.sent = None;
                peer.timestamps.0 = ReportedTimestamps::Kernel;
                self.counts.kernel_tx += 1;
            }
        }
    }

    /// Handles the datagram waiting on peer `i`'s socket: one per wakeup
    /// (poll(2) reports the socket again while more wait), so that a socket
    /// is read only when it was reported readable.
    fn receive(&mut self, i: usize) -> Result<(), DriverError<C::Error>> {
        // Responses are never longer than the requests.
        let mut buf = [0u8; MAX_REQUEST_LEN];
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
        self.peers[i].timestamps.1 = match rx.source {
            TimestampSource::Kernel => {
                self.counts.kernel_rx += 1;
                ReportedTimestamps::Kernel
            }
            TimestampSource::User => {
                self.counts.user_rx += 1;
                ReportedTimestamps::Daemon
            }
        };
        let rx = self.clock.at_system_time(rx.time);
        let id = self.peers[i].id;
        let _ = self
            .node
            .handle_datagram(rx, Endpoint::Source(id), &buf[..len], &mut [], || rx);
        self.write_logs(i, rx);
        self.settle()
    }

    /// Takes in the NTS-KE handshakes that finished (the session for the
    /// node, the socket moved to the NTP server they name) and starts, in
    /// helper threads, those the node wants now.
    fn nts_ke(&mut self) -> Result<(), DriverError<C::Error>> {
        let Some(ke) = &mut self.ke else {
            return Ok(());
        };
        let now = self.clock.now().map_err(DriverError::Clock)?;
        let mut events = ke.take_notes();
        for done in ke.finished() {
            let Some(peer) = self.peers.get_mut(done.peer) else {
                continue;
            };
            let name = peer.name.clone();
            let moved = done.result.and_then(|(outcome, address)| {
                if address != peer.socket.server() {
                    peer.socket = ClientSocket::connect(address)
                        .map_err(|e| format!("socket for {address}: {e}"))?;
                }
                if let Some(nts) = &mut peer.nts {
                    nts.ntp_server = outcome.ntp_server;
                    nts.ntp_port = outcome.ntp_port;
                }
                Ok(outcome.session)
            });
            match moved {
                Ok(session) => {
                    events.push(Event::NtsSession {
                        name,
                        cookies: session.cookies(),
                        from: "NTS-KE".into(),
                    });
                    let _ = self.node.set_nts_session(peer.id, session, now);
                }
                Err(error) => {
                    let retry_in = self.node.nts_ke_failed(peer.id, now).unwrap_or(0);
                    events.push(Event::NtsKeFailed {
                        name,
                        error,
                        retry_in,
                    });
                }
            }
        }
        let updates = self.node.system().clock_updates();
        while let Some(id) = self.node.poll_nts_ke(now) {
            let Some((index, peer)) = self.peers.iter().enumerate().find(|(_, p)| p.id == id)
            else {
                continue;
            };
            let Some(nts) = &peer.nts else {
                continue;
            };
            if let Err(error) = ke.start(index, nts, updates) {
                let retry_in = self.node.nts_ke_failed(id, now).unwrap_or(0);
                events.push(Event::NtsKeFailed {
                    name: peer.name.clone(),
                    error,
                    retry_in,
                });
            }
        }
        for event in &events {
            (self.log)(event);
        }
        Ok(())
    }

    /// Saves the NTS sources' cookies in `ntsdumpdir` (on the way out).
    fn save_nts_dumps(&mut self) {
        let Some(dir) = self
            .ke
            .as_ref()
            .and_then(|ke| ke.settings().dump_dir.clone())
        else {
            return;
        };
        let system = self.node.system();
        let mut warnings = Vec::new();
        for peer in &self.peers {
            let (Some(nts), Some(session)) = (
                &peer.nts,
                system.nts_state(peer.id).and_then(|s| s.session()),
            ) else {
                continue;
            };
            if session.cookies() == 0 {
                continue;
            }
            let outcome = KeOutcome {
                session: session.clone(),
                ntp_server: nts.ntp_server.clone(),
                ntp_port: nts.ntp_port,
            };
            let saved = std::fs::create_dir_all(&dir)
                .and_then(|()| ke_client::save(&dir, &nts.dump_name(), &outcome));
            if let Err(e) = saved {
                warnings.push(Event::Warning(format!(
                    "saving the NTS cookies of {} in {}: {e}",
                    peer.name,
                    dir.display()
                )));
            }
        }
        for warning in &warnings {
            (self.log)(warning);
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
        // A rotation of the NTS cookie keys, before the batch.
        if let Some((keys, applied)) = &mut self.nts_keys {
            let generation = keys.generation();
            if generation != *applied {
                *applied = generation;
                if let Some(nts) = self.node.server_mut().and_then(|s| s.nts_mut()) {
                    nts.set_keys(keys.get());
                }
            }
        }
        let (node, clock, batch) = (&mut self.node, &self.clock, &mut self.batch);
        let result = loop {
            let received = match serve.socket.recv_batch(batch) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            batch.answer(|datagram, reply| {
                let now = clock.at_system_time(datagram.receive);
                // An authenticated reply is sealed in the node with its
                // transmit time; plain ones get theirs just before sending.
                let transmit = || clock.at_system_time(realtime_now());
                node.handle_datagram(
                    now,
                    Endpoint::Client(datagram.from),
                    datagram.data,
                    reply,
                    transmit,
                )
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

    /// Answers what waits on the command sockets, and carries out what the
    /// commands ask (`burst`, `online`/`offline`, `makestep`, `reselect`).
    fn answer_commands(&mut self, ready: &[bool]) -> Result<(), DriverError<C::Error>> {
        let now = self.now()?;
        // The sockets are lent out while the view borrows the driver.
        let Some(mut cmdmon) = self.cmdmon.take() else {
            return Ok(());
        };
        let served = cmdmon.serve_ready(&NodeView { driver: self, now }, ready);
        self.cmdmon = Some(cmdmon);
        let actions = match served {
            Ok(served) => served.actions,
            Err(e) => {
                (self.log)(&Event::Warning(format!("command sockets: {e}")));
                return Ok(());
            }
        };
        for action in actions {
            let system = self.node.system_mut();
            let matching = |selector: &crate::cmdmon::SourceSelector, peers: &[Peer]| {
                peers
                    .iter()
                    .filter(|p| selector.matches(p.socket.server().ip()))
                    .map(|p| p.id)
                    .collect::<Vec<_>>()
            };
            match action {
                Action::Online(selector) | Action::Offline(selector) => {
                    let online = matches!(action, Action::Online(_));
                    for id in matching(&selector, &self.peers) {
                        system.set_online(id, online, now);
                    }
                }
                Action::Burst { sources, total, .. } => {
                    for id in matching(&sources, &self.peers) {
                        system.burst(id, total.clamp(1, 8) as u8, now);
                    }
                }
                Action::MakeStep if !self.measure_only => system.make_step(now),
                Action::MakeStep => {}
                Action::Reselect => system.reselect_now(now),
                // No client log: nothing to reset.
                Action::ResetClients => {}
            }
        }
        self.settle()
    }

    /// Writes the log lines for `peers[index]`'s response handled at `now`;
    /// a file that cannot be written is reported and logging stops (not
    /// to report it on every response).
    fn write_logs(&mut self, index: usize, now: NtpTimestamp) {
        let Some(logging) = &mut self.logging else {
            return;
        };
        if let Err(e) = logging.after_response(self.node.system(), &self.peers, index, now) {
            self.logging = None;
            (self.log)(&Event::Warning(format!(
                "log files: {e}; no more lines are written"
            )));
        }
    }

    /// Writes `drift` to the driftfile (if configured); the event to log.
    fn save_drift(&mut self, drift: Drift) -> Option<Event> {
        let path = self.driftfile.as_ref()?;
        // Write a new file and rename it over the old: never a torn file.
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, format!("{drift}\n")).and_then(|()| std::fs::rename(&tmp, path));
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
        let tracking = self.node.tracking(now);
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

/// The node as chronyc sees it at one moment.
struct NodeView<'d, 'a, C: DriverClock>
where
    C::Error: fmt::Debug + fmt::Display,
{
    driver: &'d Driver<'a, C>,
    now: NtpTimestamp,
}

impl<C: DriverClock> NodeView<'_, '_, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    fn peer(&self, index: usize) -> Option<&Peer> {
        self.driver.peers.get(index)
    }
}

impl<C: DriverClock> Provider for NodeView<'_, '_, C>
where
    C::Error: fmt::Debug + fmt::Display,
{
    fn source_count(&self) -> usize {
        self.driver.peers.len()
    }

    fn source_address(&self, index: usize) -> Option<IpAddr> {
        Some(self.peer(index)?.socket.server().ip())
    }

    fn source_name(&self, index: usize) -> Option<&str> {
        Some(&self.peer(index)?.name)
    }

    fn source(&self, index: usize) -> Option<SourceReport> {
        let id = self.peer(index)?.id;
        self.driver.node.system().source_report(id, self.now)
    }

    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        let id = self.peer(index)?.id;
        self.driver.node.system().source_stats(id, self.now)
    }

    fn source_activity(&self, index: usize) -> SourceActivity {
        match self.peer(index) {
            Some(peer) if !self.driver.node.system().is_online(peer.id) => SourceActivity::Offline,
            _ => SourceActivity::Online,
        }
    }

    fn tracking(&self) -> TrackingReport {
        self.driver.node.tracking(self.now)
    }

    fn ntp_data(&self, index: usize) -> Option<NtpDataReport> {
        let peer = self.peer(index)?;
        let system = self.driver.node.system();
        let (exchange, counts) = system.exchange(peer.id)?;
        let exchange = exchange?;
        let header = exchange.header;
        let sample = exchange.sample;
        let seconds = |d: crate::time::NtpDuration| d.to_seconds_f64();
        Some(NtpDataReport {
            remote_address: peer.socket.server().ip(),
            remote_port: peer.socket.server().port(),
            local_address: peer.socket.local_addr().ok().map(|a| a.ip()),
            leap: header.leap,
            version: header.version,
            mode: header.mode as u8,
            stratum: header.stratum,
            poll: header.poll,
            precision: header.precision,
            root_delay: header.root_delay.to_seconds_f64(),
            root_dispersion: header.root_dispersion.to_seconds_f64(),
            reference_id: header.reference_id,
            reference_time: header.reference_timestamp,
            offset: sample.map_or(0.0, |s| seconds(s.offset)),
            peer_delay: sample.map_or(0.0, |s| seconds(s.delay)),
            peer_dispersion: sample.map_or(0.0, |s| seconds(s.dispersion)),
            response_time: seconds(header.transmit_timestamp - header.receive_timestamp),
            jitter_asymmetry: 0.0,
            tests: exchange.tests,
            interleaved: false,
            // An authenticating source takes only authenticated responses.
            authenticated: system
                .source_auth(peer.id)
                .is_some_and(|a| *a != SourceAuth::None),
            tx_timestamping: Some(peer.timestamps.0),
            rx_timestamping: Some(peer.timestamps.1),
            total_tx: system.requests(peer.id).unwrap_or(0),
            total_rx: counts.received,
            total_valid_rx: counts.valid,
            total_good_rx: counts.used,
        })
    }

    fn auth_data(&self, index: usize) -> AuthReport {
        self.peer(index)
            .and_then(|peer| self.driver.node.system().auth_report(peer.id, self.now))
            .unwrap_or_default()
    }

    fn server_stats(&self) -> ServerStatsReport {
        let counters = self
            .driver
            .node
            .server_counters()
            .copied()
            .unwrap_or_default();
        ServerStatsReport {
            ntp_hits: counters.received,
            ntp_drops: counters.rate_limited,
            ntp_auth_hits: counters.mac_answered + counters.nts_answered,
            ..ServerStatsReport::default()
        }
    }

    fn action_status(&self, action: &Action) -> Status {
        match action {
            // Measuring only: the clock is not ours to step.
            Action::MakeStep if self.driver.measure_only => Status::FAILED,
            _ => Status::SUCCESS,
        }
    }
}

/// The cookies saved for `nts` in `dir`, and the NTP address they are for
/// (`nts` learns its NTP server); the file is removed once read, so that
/// no cookie is sent twice (the way out saves those left).
fn load_dump(
    dir: &std::path::Path,
    nts: &mut PeerNts,
) -> io::Result<Option<(KeOutcome, SocketAddr)>> {
    let name = nts.dump_name();
    let Some(outcome) = ke_client::load(dir, &name)? else {
        return Ok(None);
    };
    std::fs::remove_file(ke_client::dump_path(dir, &name))?;
    let address = nts.ntp_address(&outcome)?;
    nts.ntp_server = outcome.ntp_server.clone();
    nts.ntp_port = outcome.ntp_port;
    Ok(Some((outcome, address)))
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

mod logging;
use logging::Logging;

#[cfg(test)]
mod tests;
