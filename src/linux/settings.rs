//! What a node runs with, and the one place chrony.conf becomes it:
//! [`Settings::resolve`] takes a parsed [`Config`] and gives the engine's
//! settings, the servers to follow (names resolved, keys and NTS set up),
//! what and where to serve, chronyc's command sockets, the files, and the
//! NTS client's trust. Every default the configuration leaves open is
//! chrony's, and is written here once.

use std::borrow::ToOwned;
use std::boxed::Box;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use crate::auth::Key;
use crate::chrony::config::{
    Config, HwTimestampLine, LeapSecMode, SourceKind, TempCompConfig, ZONEINFO,
};
use crate::chrony::keyfile::{KeyFile, KeyFileError};
use crate::chrony::logs::LogSettings;
use crate::cmdmon::{AddKind, AddSource, CommandAccess, SourceFlags, Status};
use crate::discipline::{DisciplineConfig, MakeStep, MaxChange};
use crate::leap::{LeapMode, LeapTable};
use crate::linux::cmdmon::CmdmonSettings;
use crate::linux::nts::ke_client::NtsSettings;
use crate::linux::nts::ke_server::NtsServerConfig;
use crate::node::NodeConfig;
use crate::refclock::RefclockConfig;
use crate::server::{ServerConfig, NTP_PORT};
use crate::system::{ReferenceMode, SourceConfig, SystemConfig};
use crate::wire::ReferenceId;

/// How an upstream's exchanges are authenticated.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum UpstreamAuth {
    /// Not at all.
    #[default]
    None,
    /// A MAC under this key (`key ID`).
    Key(Key),
    /// `key ID` of a key the key file does not have (or with no key file):
    /// the source is kept, as chronyd keeps it, and sends nothing until
    /// chronyc's `rekey` finds the key.
    MissingKey(u32),
    /// NTS (`nts`): NTS-KE with the server at `ke_address`, whose
    /// certificate must be valid for the upstream's name and signed by a
    /// CA of certificate set `certset` ([`NtsSettings::trust`]).
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
    /// From a `sourcedir` file (`chronyc reload sources` reads them
    /// again).
    pub from_sourcedir: bool,
}

/// An address family, as chronyd's `-4` and `-6` keep to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

impl Family {
    /// Whether `ip` is of the family (IPv4-mapped IPv6 addresses are IPv6
    /// sockets' addresses: IPv6).
    pub fn has(self, ip: IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    /// Its name in messages.
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// Whether `ip` may be used with `family` (any with none).
fn in_family(family: Option<Family>, ip: IpAddr) -> bool {
    family.is_none_or(|f| f.has(ip))
}

impl Upstream {
    /// `host` resolved (its first address, as chronyd uses) on `port`.
    pub fn resolve(host: &str, port: u16, config: SourceConfig) -> io::Result<Upstream> {
        Upstream::resolve_in(host, port, config, None)
    }

    /// [`Upstream::resolve`] keeping to `family` (chronyd's `-4`, `-6`):
    /// the first address of that family.
    pub fn resolve_in(
        host: &str,
        port: u16,
        config: SourceConfig,
        family: Option<Family>,
    ) -> io::Result<Upstream> {
        let address = (host, port)
            .to_socket_addrs()?
            .find(|a| in_family(family, a.ip()))
            .ok_or_else(|| {
                let what = family.map_or(String::new(), |f| format!(" {}", f.name()));
                io::Error::new(io::ErrorKind::NotFound, format!("{host}: no{what} address"))
            })?;
        Ok(Upstream {
            name: host.to_owned(),
            address,
            config,
            auth: UpstreamAuth::None,
            from_sourcedir: false,
        })
    }
}

/// What `chronyc add` asks for, as the servers to follow: the name
/// resolved (a pool's first `maxsources` addresses, a server's first
/// address; of `family` only), with the options the engine acts on; the
/// others are named in `ignored` (a warning each, as for the same options
/// in chrony.conf). Keys and NTS are not taken from chronyc
/// ([`add_refusal`] says so first).
pub fn upstreams_from_add(
    add: &AddSource,
    family: Option<Family>,
    ignored: &mut Vec<&'static str>,
) -> io::Result<Vec<Upstream>> {
    let name = std::str::from_utf8(add.name())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the name is not UTF-8"))?;
    let port = u16::try_from(add.port)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?;
    let flags = add.flags;
    let config = SourceConfig {
        minpoll: add.minpoll.clamp(-7, 24) as i8,
        maxpoll: add.maxpoll.clamp(-7, 24) as i8,
        iburst: flags.has(SourceFlags::IBURST),
        burst: flags.has(SourceFlags::BURST),
        prefer: flags.has(SourceFlags::PREFER),
        noselect: flags.has(SourceFlags::NOSELECT),
        trust: flags.has(SourceFlags::TRUST),
        maxdelay: add.max_delay,
        maxdelaydevratio: add.max_delay_dev_ratio,
        poll_target: add.poll_target.clamp(1, 255) as u8,
        min_samples: u8::try_from(add.min_samples).unwrap_or(0),
        max_samples: u8::try_from(add.max_samples).unwrap_or(0),
        copy: flags.has(SourceFlags::COPY),
        offline: !flags.has(SourceFlags::ONLINE),
        require: flags.has(SourceFlags::REQUIRE),
        maxdelayratio: add.max_delay_ratio.max(0.0),
        min_stratum: add.min_stratum.min(15) as u8,
        offset: add.offset,
        mindelay: add.min_delay.max(0.0),
        peer: matches!(add.kind, Some(AddKind::Peer)),
        filter: add.filter.clamp(0, 16) as u8,
        // chronyc sends 100 for "no presend".
        presend: (-7..=24)
            .contains(&add.presend)
            .then_some(add.presend as i8),
        maxdelayquant: if add.max_delay_quant > 0.0 {
            add.max_delay_quant.clamp(0.05, 0.95)
        } else {
            0.0
        },
        // Outside ±0.5 (chronyc's default, 1.0), estimated.
        asymmetry: add.asymmetry,
        xleave: flags.has(SourceFlags::INTERLEAVED),
        exp1: flags.has(SourceFlags::EXT_MONO_ROOT),
    };
    for (set, option) in [
        (add.version != 0, "version"),
        (add.filter > 16, "filter beyond 16 polls (16 used)"),
        (add.max_unreach != 0, "maxunreach"),
        (flags.has(SourceFlags::AUTO_OFFLINE), "auto_offline"),
        (flags.has(SourceFlags::EXT_NET_CORRECTION), "extfield F324"),
    ] {
        if set {
            ignored.push(option);
        }
    }
    let family = match (flags.has(SourceFlags::IPV4), flags.has(SourceFlags::IPV6)) {
        (true, false) => Some(Family::V4),
        (false, true) => Some(Family::V6),
        _ => family,
    };
    let take = match add.kind {
        Some(AddKind::Pool) => add.max_sources.clamp(1, 16) as usize,
        _ => 1,
    };
    let upstreams: Vec<Upstream> = (name, port)
        .to_socket_addrs()?
        .filter(|a| in_family(family, a.ip()))
        .take(take)
        .map(|address| Upstream {
            name: name.to_owned(),
            address,
            config,
            auth: UpstreamAuth::None,
            from_sourcedir: false,
        })
        .collect();
    if upstreams.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name}: no address"),
        ));
    }
    Ok(upstreams)
}

/// Why `chronyc add` is refused before anything is resolved, as chronyd's
/// status: a kind this version does not know or a port beyond 65535, an
/// empty or unreadable name, an address of the family the node keeps away
/// from (`-4`/`-6`), a key or NTS (the key file and the certificates are
/// chrony.conf's).
pub fn add_refusal(add: &AddSource, family: Option<Family>) -> Option<Status> {
    if add.kind.is_none() || u16::try_from(add.port).is_err() {
        return Some(Status::INVALID);
    }
    let name = match std::str::from_utf8(add.name()) {
        Ok(name) if !name.is_empty() && !name.contains(char::is_whitespace) => name,
        _ => return Some(Status::INVALID_NAME),
    };
    if let (Ok(ip), Some(family)) = (name.parse::<IpAddr>(), family) {
        if !family.has(ip) {
            return Some(Status::INVALID_AF);
        }
    }
    if add.key != 0 || add.flags.has(SourceFlags::NTS) {
        return Some(Status::NOT_ENABLED);
    }
    None
}

/// What the `sourcedir` files list, resolved ([`sourcedir_upstreams`]).
#[derive(Debug)]
pub struct DirSources {
    /// The sources to follow.
    pub upstreams: Vec<Upstream>,
    /// Those that cannot be followed, and why.
    pub unresolved: Vec<io::Error>,
    /// The key file's warnings.
    pub warnings: Vec<String>,
}

/// The sources the `sourcedir` files of the configuration at `path` list
/// now (what `chronyc reload sources` reads), resolved as at start.
pub fn sourcedir_upstreams(
    path: &Path,
    family: Option<Family>,
    nts: &NtsSettings,
) -> Result<DirSources, crate::chrony::config::ConfigError> {
    let mut config = Config::load(path)?;
    config.sources.retain(|s| s.from_sourcedir);
    let mut unresolved = Vec::new();
    let mut warnings = Vec::new();
    let upstreams = upstreams(&config, nts, family, &mut unresolved, &mut warnings);
    Ok(DirSources {
        upstreams,
        unresolved,
        warnings,
    })
}

/// What and where a node serves (`port`, `bindaddress`, `allow`/`deny`,
/// `ratelimit`, `keyfile`, the NTS-KE server's directives).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The NTP port (`port`).
    pub port: u16,
    /// The addresses to serve on: the `bindaddress` lines at `port`, or
    /// the IPv4 and IPv6 wildcards.
    pub addresses: Vec<SocketAddr>,
    /// Who is served and how (the clock's precision is the driver's to
    /// fill in).
    pub server: Box<ServerConfig>,
    /// The key file whose keys authenticated requests may use.
    pub keyfile: Option<PathBuf>,
    /// The NTS-KE server, with `ntsservercert`/`ntsserverkey`.
    pub nts: Option<NtsServerConfig>,
    /// The client log's memory, bytes (`clientloglimit`; 0 with
    /// `noclientlog`).
    pub client_log_bytes: u64,
    /// `ptpport`: the same addresses at this port, where NTP goes over PTP
    /// (see [`crate::wire::ptp`]).
    pub ptp_port: Option<u16>,
}

/// chronyd's default `clientloglimit`, bytes.
pub const DEFAULT_CLIENT_LOG_BYTES: u64 = 524_288;

impl ServeSettings {
    /// Whether anybody is served: a port, and an `allow`.
    pub fn serves_anybody(&self) -> bool {
        self.port != 0 && self.server.access.allows_any()
    }

    /// Whether the server limits clients' rates (`ratelimit`).
    pub fn rate_limited(&self) -> bool {
        self.server.rate_limit.is_some()
    }
}

/// Where the requests to the followed servers leave from, and their
/// responses arrive (chronyd's `acquisitionport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientSockets {
    /// A socket of its own per server, on a port the system picks and
    /// connected to the server (no `acquisitionport`, chronyd's default).
    #[default]
    Separate,
    /// One socket per address family for every server, bound to `port`
    /// (0: a port the system picks; `acquisitionport N` where N is not
    /// the NTP server port).
    Shared {
        /// The port the requests leave from.
        port: u16,
    },
    /// The NTP server's own sockets (`acquisitionport` equal to `port`):
    /// they are opened even when nobody is served ([`Settings::serve`]
    /// has them then, with rules that allow nobody).
    Server,
}

/// Everything a node runs with. [`Settings::resolve`] gives it from a
/// chrony.conf; a program may also build it.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The node's settings (engine, `local`, `leapsectz`).
    pub node: NodeConfig,
    /// The servers to follow.
    pub upstreams: Vec<Upstream>,
    /// What and where to serve (none: the file serves nobody, and its
    /// requests do not leave from the server's sockets).
    pub serve: Option<ServeSettings>,
    /// Where the requests to the servers leave from (`acquisitionport`).
    pub client_sockets: ClientSockets,
    /// The addresses they leave from, one per family (`bindacqaddress`;
    /// none: the system picks).
    pub client_addresses: Vec<IpAddr>,
    /// chrony's driftfile: read at start, written hourly and on the way out.
    pub driftfile: Option<PathBuf>,
    /// chronyc's command sockets (none: not answered).
    pub command: Option<CmdmonSettings>,
    /// Measure only: never change the clock (`chronyd -Q`).
    pub measure_only: bool,
    /// chronyd's log files to write (none: none).
    pub logs: Option<LogSettings>,
    /// The NTS sources' settings.
    pub nts: NtsSettings,
    /// `maxchange`, as the log lines tell it.
    pub maxchange: Option<MaxChange>,
    /// The `leapsectz` zone whose leap seconds the node has (none when not
    /// given or not readable).
    pub leap_zone: Option<String>,
    /// `initstepslew`'s hosts (with `iburst`): followed alone until the
    /// first update ends the node's [`ReferenceMode::InitStepSlew`], then
    /// replaced by the [`upstreams`](Self::upstreams).
    pub init_sources: Vec<Upstream>,
    /// `logchange`: a clock update correcting more than this many seconds
    /// is logged ("System clock wrong by ..."); none: chronyd's default,
    /// [`DEFAULT_LOGCHANGE`](crate::chrony::config::DEFAULT_LOGCHANGE).
    pub logchange: Option<f64>,
    /// `rtcsync`: the kernel copies the system time to the RTC.
    pub rtcsync: bool,
    /// `tempcomp`: a temperature sensor and the frequency compensation
    /// made of it.
    pub tempcomp: Option<TempCompConfig>,
    /// `dumpdir`: the sources' measurement histories are saved there on
    /// the way out, and the files found there at start are removed.
    pub dumpdir: Option<PathBuf>,
    /// Restore the histories in `dumpdir` at start (chronyd's `-r`).
    pub reload: bool,
    /// What resolving found worth a warning (a key file other users can
    /// read): the caller shows them.
    pub warnings: Vec<String>,
    /// The one address family kept to (`-4`, `-6`), also by sources added
    /// later (`chronyc add`).
    pub family: Option<Family>,
    /// The configuration file, whose `sourcedir` files `chronyc reload
    /// sources` reads again (none: the configuration came from elsewhere,
    /// and `reload sources` is refused).
    pub config_path: Option<PathBuf>,
    /// The key file (`keyfile`), which `chronyc rekey` reads again.
    pub keyfile: Option<PathBuf>,
    /// `broadcast`: where the node broadcasts its time, and how often.
    pub broadcasts: Vec<Broadcast>,
    /// `refclock`: the reference clocks to follow.
    pub refclocks: Vec<Refclock>,
    /// `hwtimestamp`: the interfaces whose network cards timestamp NTP
    /// packets.
    pub hwtimestamps: Vec<HwTimestampLine>,
}

/// A reference clock to follow (a `refclock` line).
#[derive(Debug, Clone, PartialEq)]
pub struct Refclock {
    /// The driver: `PHC`, `SHM`, `SOCK` or `PPS`.
    pub driver: String,
    /// Its parameter as written (`/dev/ptp0:nocrossts`, `0`, a path).
    pub parameter: String,
    /// Its reference ID (`refid`), also its name in reports and logs.
    pub reference_id: ReferenceId,
    /// Its selection options and sample limits.
    pub config: SourceConfig,
    /// How the engine polls and filters it.
    pub refclock: RefclockConfig,
    /// Where it was configured (`file:line`), for errors.
    pub origin: String,
}

/// A `broadcast` destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// Where the packets go.
    pub to: SocketAddr,
    /// Seconds between them (at least 1).
    pub interval: u32,
}

impl Settings {
    /// The settings a chrony.conf describes, with the clock's `precision`
    /// (log2 seconds). A `server`/`pool` name that does not resolve is left
    /// out, and a `leapsectz` zone that cannot be read is not used, their
    /// errors returned beside (chronyd starts without them too, and serves
    /// meanwhile). A source whose key the key file does not have is kept
    /// and sends nothing (a warning naming the line), as chronyd keeps it,
    /// until chronyc's `rekey` finds the key; an NTS source whose
    /// certificate set holds nothing is kept too (a warning): its
    /// handshakes fail at the server's certificate, as chronyd's do.
    pub fn resolve(config: &Config, precision: i8) -> (Settings, Vec<io::Error>) {
        Settings::resolve_in(config, precision, None)
    }

    /// [`Settings::resolve`] keeping to one address `family`, as chronyd
    /// with `-4` or `-6`: sources use their addresses of that family only
    /// (one without any is not followed, its error returned), and the NTP,
    /// NTS-KE and command sockets are opened on that family's addresses
    /// only.
    pub fn resolve_in(
        config: &Config,
        precision: i8,
        family: Option<Family>,
    ) -> (Settings, Vec<io::Error>) {
        let mut unresolved = Vec::new();
        let mut warnings = Vec::new();
        let nts = NtsSettings {
            trusted_certs: config.auth.nts_trusted_certs.clone(),
            no_system_certs: config.auth.no_system_cert,
            no_cert_time_check: config.auth.no_cert_time_check.max(0) as u32,
            dump_dir: config.auth.nts_dump_dir.clone(),
            ..NtsSettings::default()
        };
        let upstreams = upstreams(config, &nts, family, &mut unresolved, &mut warnings);
        let has_peers = upstreams.iter().any(|u| u.config.peer);
        let init_sources = init_sources(config, family, &mut unresolved);
        let leap_table = match leap_table(config, Path::new(ZONEINFO)) {
            Some(Ok(table)) => Some(table),
            Some(Err(e)) => {
                // chronyd's words, then why.
                let zone = config.leapsectz.as_deref().unwrap_or_default();
                unresolved.push(io::Error::new(
                    e.kind(),
                    format!(
                        "Timezone {zone} failed leap second check, ignoring \
                         (leapsectz: {e}; leap seconds come from the sources only)"
                    ),
                ));
                None
            }
            None => None,
        };
        let leap_zone = leap_table.as_ref().and(config.leapsectz.clone());
        let refclocks = refclocks(config, &mut warnings);
        let mut serve = serve_settings(config);
        if family.is_some() {
            serve.addresses.retain(|a| in_family(family, a.ip()));
            if let Some(nts) = &mut serve.nts {
                nts.addresses.retain(|&ip| in_family(family, ip));
            }
        }
        let mut command = command_settings(config);
        command.addresses.retain(|&ip| in_family(family, ip));
        let client_sockets = client_sockets(config);
        let mut node = NodeConfig {
            leap_table,
            ..node_config(config, precision)
        };
        if let (Some(init), false) = (&config.initstepslew, init_sources.is_empty()) {
            node.system.mode = ReferenceMode::InitStepSlew {
                threshold: init.threshold,
            };
        }
        let settings = Settings {
            config_path: None,
            keyfile: config.auth.keyfile.clone(),
            family,
            node,
            upstreams,
            // Requests that leave from the server's sockets (all of them,
            // or a peer's) and broadcasts need them open, whoever is served.
            serve: ((serve.serves_anybody()
                || client_sockets == ClientSockets::Server
                || has_peers
                || !config.broadcasts.is_empty()
                || config.ptpport.is_some())
                && !serve.addresses.is_empty())
            .then_some(serve),
            client_sockets,
            client_addresses: config.bind_acq_addresses.clone(),
            driftfile: config.driftfile.clone(),
            command: Some(command),
            measure_only: false,
            logs: Some(log_settings(config)).filter(LogSettings::any),
            nts,
            maxchange: config.maxchange,
            init_sources,
            leap_zone,
            logchange: Some(config.logchange),
            rtcsync: config.rtcsync,
            tempcomp: config.tempcomp.clone(),
            dumpdir: config.dumpdir.clone(),
            reload: false,
            warnings,
            broadcasts: config
                .broadcasts
                .iter()
                .map(|b| Broadcast {
                    to: SocketAddr::new(b.address, b.port),
                    interval: b.interval,
                })
                .collect(),
            refclocks,
            hwtimestamps: config.hwtimestamps.clone(),
        };
        (settings, unresolved)
    }
}

/// `initstepslew`'s hosts, each its first address on port 123, polled
/// with `iburst` (as chronyd adds them); what does not resolve goes to
/// `unresolved`.
fn init_sources(
    config: &Config,
    family: Option<Family>,
    unresolved: &mut Vec<io::Error>,
) -> Vec<Upstream> {
    let Some(init) = &config.initstepslew else {
        return Vec::new();
    };
    let engine = SourceConfig {
        iburst: true,
        ..SourceConfig::default()
    };
    init.hosts
        .iter()
        .filter_map(
            |host| match Upstream::resolve_in(host, NTP_PORT, engine, family) {
                Ok(upstream) => Some(upstream),
                Err(e) => {
                    unresolved.push(io::Error::new(
                        e.kind(),
                        format!("Could not resolve address of initstepslew server {host}: {e}"),
                    ));
                    None
                }
            },
        )
        .collect()
}

/// The servers to follow: each `server` line's first address, each
/// `pool` line's first `maxsources`, with its key or NTS; what cannot be
/// followed goes to `unresolved`, the key file's warnings to `warnings`.
fn upstreams(
    config: &Config,
    nts: &NtsSettings,
    family: Option<Family>,
    unresolved: &mut Vec<io::Error>,
    warnings: &mut Vec<String>,
) -> Vec<Upstream> {
    let keyed = config
        .sources
        .iter()
        .chain(&config.peers)
        .any(|s| s.auth.key.is_some());
    let keys = match (&config.auth.keyfile, keyed) {
        (Some(path), true) => {
            Some(KeyFile::load(path).inspect(|file| warnings.extend(file.warnings.iter().cloned())))
        }
        _ => None,
    };
    let mut upstreams = Vec::new();
    for source in config.sources.iter().chain(&config.peers) {
        let auth = upstream_auth(source, keys.as_ref(), config, nts, warnings);
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
        let mut engine = source.engine;
        if engine.max_samples == 0 {
            engine.max_samples = config.maxsamples.unwrap_or(0);
        }
        if engine.min_samples == 0 {
            engine.min_samples = config.minsamples.unwrap_or(0);
        }
        let mut addresses = addresses.filter(|a| in_family(family, a.ip())).peekable();
        if let (Some(family), None) = (family, addresses.peek()) {
            unresolved.push(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: not following {}: no {} address",
                    source.location,
                    source.host,
                    family.name()
                ),
            ));
            continue;
        }
        upstreams.extend(addresses.take(take).map(|address| Upstream {
            from_sourcedir: source.from_sourcedir,
            name: source.host.clone(),
            address,
            config: engine,
            auth: match auth {
                ConfiguredAuth::None => UpstreamAuth::None,
                ConfiguredAuth::Key(key) => UpstreamAuth::Key(key),
                ConfiguredAuth::MissingKey(id) => UpstreamAuth::MissingKey(id),
                // The NTS-KE server is the host's address, `ntsport`.
                ConfiguredAuth::Nts { certset } => UpstreamAuth::Nts {
                    ke_address: SocketAddr::new(address.ip(), source.auth.nts_port),
                    certset,
                },
            },
        }));
    }
    upstreams
}

/// The `refclock` lines, with `minsamples` and `maxsamples` defaulting to
/// the directives'; a `lock` that names no other reference clock is warned
/// of (its pulses are never used), as chronyd warns of it.
fn refclocks(config: &Config, warnings: &mut Vec<String>) -> Vec<Refclock> {
    for (i, line) in config.refclocks.iter().enumerate() {
        let Some(lock) = line.refclock.lock else {
            continue;
        };
        let known = config
            .refclocks
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.reference_id == lock);
        if !known {
            let name: String = lock
                .to_bytes()
                .iter()
                .filter(|b| (0x20..0x7f).contains(*b))
                .map(|&b| char::from(b))
                .collect();
            warnings.push(format!(
                "{}: Invalid lock refid {name}: no other reference clock has it, \
                 so its pulses are not used",
                line.location
            ));
        }
    }
    config
        .refclocks
        .iter()
        .map(|line| {
            let mut source = line.source;
            if source.max_samples == 0 {
                source.max_samples = config.maxsamples.unwrap_or(0);
            }
            if source.min_samples == 0 {
                source.min_samples = config.minsamples.unwrap_or(0);
            }
            Refclock {
                driver: line.driver.clone(),
                parameter: line.parameter.clone(),
                reference_id: line.reference_id,
                config: source,
                refclock: line.refclock,
                origin: line.location.to_string(),
            }
        })
        .collect()
}

/// A source line's authentication, before its addresses are known.
#[derive(Clone, Copy)]
enum ConfiguredAuth {
    None,
    Key(Key),
    MissingKey(u32),
    Nts { certset: u32 },
}

/// The authentication of `source`: its key from `keys` (the key file, if
/// one was read; a key it does not have is kept as missing, as chronyd
/// keeps it, with a warning in `warnings`), or NTS (a certificate set that
/// holds nothing is warned about: its handshakes fail, as chronyd's).
fn upstream_auth(
    source: &crate::chrony::config::SourceConfig,
    keys: Option<&Result<KeyFile, KeyFileError>>,
    config: &Config,
    nts: &NtsSettings,
    warnings: &mut Vec<String>,
) -> ConfiguredAuth {
    if let Some(id) = source.auth.key {
        let path = config
            .auth
            .keyfile
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        let why = match keys {
            Some(Ok(file)) => match file.keys.iter().find(|k| k.id() == id) {
                Some(key) => return ConfiguredAuth::Key(*key),
                None => format!("key {id} is not in {path}"),
            },
            Some(Err(e)) => format!("key {id}: {e}"),
            None => format!("key {id}, but there is no keyfile"),
        };
        warnings.push(format!(
            "{}: {}: {why}: it sends nothing until the key is there (chronyc rekey)",
            source.location, source.host
        ));
        return ConfiguredAuth::MissingKey(id);
    }
    if source.auth.nts {
        let certset = source.auth.certset;
        if nts.trust(certset).is_none() {
            warnings.push(format!(
                "{}: {}: certset {certset} holds no trusted certificate (ntstrustedcerts \
                 {certset} …): its NTS-KE fails until it does",
                source.location, source.host
            ));
        }
        return ConfiguredAuth::Nts { certset };
    }
    ConfiguredAuth::None
}

/// The node's settings from `config` with the clock's `precision` (log2
/// seconds): the engine's ([`system_config`]) and `local`; the leap table
/// of `leapsectz` is [`Settings::resolve`]'s to read.
pub fn node_config(config: &Config, precision: i8) -> NodeConfig {
    NodeConfig {
        system: system_config(config, precision),
        local: config.local.map(|local| local.reference()),
        leap_table: None,
    }
}

/// The engine settings: `makestep`, `maxupdateskew`, `maxdrift`,
/// `maxslewrate`, `corrtimeratio`, `maxchange`, `minsources`, `stratumweight`, `reselectdist`,
/// `maxdistance`, `maxjitter`, `authselectmode` and `ntsrefresh`, with the
/// clock's `precision` (log2 seconds). What the file does not set keeps
/// the engine's (chrony's) default.
pub fn system_config(config: &Config, precision: i8) -> SystemConfig {
    let defaults = SystemConfig::default();
    let discipline = defaults.discipline;
    SystemConfig {
        discipline: DisciplineConfig {
            makestep: config.makestep.map(|m| MakeStep {
                threshold: m.threshold,
                limit: m.limit,
            }),
            maxupdateskew_ppm: config.maxupdateskew.unwrap_or(discipline.maxupdateskew_ppm),
            maxdrift_ppm: config.maxdrift.unwrap_or(discipline.maxdrift_ppm),
            maxslewrate_ppm: config.maxslewrate.unwrap_or(discipline.maxslewrate_ppm),
            corrtimeratio: config
                .corrtimeratio
                .filter(|r| r.is_finite())
                .map_or(discipline.corrtimeratio, |r| r.max(0.0)),
            maxchange: config.maxchange,
            fallbackdrift: config.fallbackdrift,
            ..discipline
        },
        minsources: config.minsources.unwrap_or(defaults.minsources),
        stratumweight: config.stratumweight.unwrap_or(defaults.stratumweight),
        reselect_distance: config.reselectdist.unwrap_or(defaults.reselect_distance),
        manual: config.manual,
        maxdistance: config.maxdistance.unwrap_or(defaults.maxdistance),
        maxjitter: config.maxjitter.unwrap_or(defaults.maxjitter),
        precision,
        auth_select: config.auth.select_mode.unwrap_or(defaults.auth_select),
        // chrony's range is 1 to 2^31 - 1 seconds.
        nts_refresh: f64::from(config.auth.nts_refresh.max(1)),
        // `initstepslew` is [`Settings::resolve`]'s to set: it needs its
        // hosts resolved.
        mode: ReferenceMode::Normal,
        smoothing: config.smoothtime,
        leap_mode: match config.leapsecmode {
            None | Some(LeapSecMode::System) => LeapMode::System,
            Some(LeapSecMode::Step) => LeapMode::Step,
            Some(LeapSecMode::Slew) => LeapMode::Slew,
            Some(LeapSecMode::Ignore) => LeapMode::Ignore,
        },
        leap_smear: config.leapsmear,
    }
}

/// What `config` serves, and where.
fn serve_settings(config: &Config) -> ServeSettings {
    let port = config.port;
    let ips = if config.bind_addresses.is_empty() {
        std::vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        ]
    } else {
        config.bind_addresses.clone()
    };
    let addresses: Vec<SocketAddr> = ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect();
    let auth = &config.auth;
    let nts = (!auth.nts_server_certs.is_empty()).then(|| {
        let mut ips = ips.clone();
        ips.dedup();
        NtsServerConfig {
            certificates: auth
                .nts_server_certs
                .iter()
                .cloned()
                .zip(auth.nts_server_keys.iter().cloned())
                .collect(),
            addresses: ips,
            port: auth.nts_port,
            ntp_port: port,
            ntp_server: auth.nts_ntp_server.clone(),
            rotate: Duration::from_secs(auth.nts_rotate.max(0) as u64),
            dump_dir: auth.nts_dump_dir.clone(),
            max_connections: auth.max_nts_connections.max(1) as usize,
            processes: auth.nts_processes.max(1) as usize,
            ..NtsServerConfig::default()
        }
    });
    ServeSettings {
        client_log_bytes: if config.noclientlog {
            0
        } else {
            config.clientloglimit.unwrap_or(DEFAULT_CLIENT_LOG_BYTES)
        },
        port,
        addresses,
        server: Box::new(ServerConfig {
            access: (*config.access).clone(),
            rate_limit: config.rate_limit,
            precision: -20,
            deny_kod: false,
        }),
        keyfile: auth.keyfile.clone(),
        nts,
        ptp_port: config.ptpport,
    }
}

/// Where `config`'s requests leave from: chronyd's rules for
/// `acquisitionport` (the server's sockets only when it equals a `port`
/// that is not 0).
fn client_sockets(config: &Config) -> ClientSockets {
    match config.acquisition_port {
        None => ClientSockets::Separate,
        Some(port) if port != 0 && port == config.port => ClientSockets::Server,
        Some(port) => ClientSockets::Shared { port },
    }
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
        access: Box::new(CommandAccess::with_rules(&command.access)),
    }
}

/// The log files `config` asks for, in `logdir` (chronyd's default is its
/// working directory).
fn log_settings(config: &Config) -> LogSettings {
    LogSettings {
        dir: config.logdir.clone().unwrap_or_else(|| PathBuf::from(".")),
        log: config.log,
        banner: config.logbanner,
    }
}

/// The leap seconds of the `leapsectz` time zone, read from `zoneinfo`
/// (normally [`ZONEINFO`]) as chronyd reads them; `None` without
/// `leapsectz`.
fn leap_table(config: &Config, zoneinfo: &Path) -> Option<io::Result<LeapTable>> {
    let zone = config.leapsectz.as_ref()?;
    Some(LeapTable::load(&zoneinfo.join(zone)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chrony::config::Isolated;
    use crate::server::LocalReference;
    use std::vec;

    fn parse(text: &str) -> Config {
        Config::parse_with(text, "chrony.conf", &Isolated).unwrap()
    }

    #[test]
    fn the_engine_gets_what_the_file_sets_and_chronys_defaults_otherwise() {
        let config = parse(
            "makestep 0.1 -1\nmaxupdateskew 50\nminsources 2\nstratumweight 0.01\nmaxdrift 100\n\
             maxslewrate 1000\nmaxdistance 16\nmaxjitter 0.5\nlocal stratum 7\nmaxchange 10 2 -1\n\
             corrtimeratio 100\n\
             authselectmode prefer\nntsrefresh 3600\nreselectdist 0.002\n\
             smoothtime 400 0.001 leaponly\nleapsecmode slew\nleapsmear\n",
        );
        let system = system_config(&config, -23);
        assert_eq!(
            system,
            SystemConfig {
                discipline: DisciplineConfig {
                    makestep: Some(MakeStep {
                        threshold: 0.1,
                        limit: -1
                    }),
                    maxupdateskew_ppm: 50.0,
                    maxdrift_ppm: 100.0,
                    maxslewrate_ppm: 1000.0,
                    corrtimeratio: 100.0,
                    maxchange: Some(MaxChange {
                        offset: 10.0,
                        start: 2,
                        ignore: -1
                    }),
                    ..Default::default()
                },
                minsources: 2,
                stratumweight: 0.01,
                reselect_distance: 0.002,
                manual: false,
                maxdistance: 16.0,
                maxjitter: 0.5,
                precision: -23,
                auth_select: crate::system::AuthSelectMode::Prefer,
                nts_refresh: 3600.0,
                mode: ReferenceMode::Normal,
                smoothing: Some(crate::smooth::SmoothConfig {
                    max_freq_ppm: 400.0,
                    max_wander_ppm: 0.001,
                    leap_only: true,
                }),
                leap_mode: LeapMode::Slew,
                leap_smear: true,
            }
        );
        let (settings, _) = Settings::resolve(&config, -23);
        assert_eq!(settings.node.system, system);
        assert_eq!(settings.node.local.map(|l| l.stratum()), Some(7));
        assert_eq!(settings.maxchange, config.maxchange);
        // Without the directives: the engine's defaults.
        assert_eq!(system_config(&parse(""), -20), SystemConfig::default());
    }

    #[test]
    fn maxsamples_directive_is_the_default_of_every_source() {
        let config =
            parse("maxsamples 4\nminsamples 8\nserver 127.0.0.2 maxsamples 1\nserver 127.0.0.3\n");
        let (settings, _) = Settings::resolve(&config, -20);
        let limits: Vec<_> = settings
            .upstreams
            .iter()
            .map(|u| (u.config.min_samples, u.config.max_samples))
            .collect();
        assert_eq!(limits, [(8, 1), (8, 4)]);
    }

    #[test]
    fn initstepslew_hosts_come_first_and_logchange_is_kept() {
        let config = parse("initstepslew 5 127.0.0.1 ::1\nserver 127.0.0.2\nlogchange 0.5\n");
        let (settings, unresolved) = Settings::resolve(&config, -20);
        assert!(unresolved.is_empty(), "{unresolved:?}");
        assert_eq!(
            settings.node.system.mode,
            ReferenceMode::InitStepSlew { threshold: 5.0 }
        );
        let init: Vec<_> = settings.init_sources.iter().map(|u| u.address).collect();
        assert_eq!(
            init,
            [
                "127.0.0.1:123".parse().unwrap(),
                "[::1]:123".parse().unwrap()
            ]
        );
        assert!(settings.init_sources.iter().all(|u| u.config.iburst));
        assert_eq!(settings.upstreams.len(), 1);
        assert_eq!(settings.logchange, Some(0.5));
        // No host resolves: nothing to wait for, the sources start at once.
        let config = parse("initstepslew 5 nonexistent.invalid\n");
        let (settings, unresolved) = Settings::resolve(&config, -20);
        assert_eq!(unresolved.len(), 1);
        assert_eq!(settings.node.system.mode, ReferenceMode::Normal);
    }

    #[test]
    fn serving_needs_an_allow_and_a_port() {
        let (settings, _) = Settings::resolve(&parse("local stratum 10\n"), -20);
        assert!(settings.serve.is_none());
        let (settings, _) = Settings::resolve(&parse("allow\nport 0\n"), -20);
        assert!(settings.serve.is_none());
        let (settings, _) = Settings::resolve(
            &parse("allow 10.0.0.0/8\nport 11123\nbindaddress 127.0.0.1\n"),
            -20,
        );
        let serve = settings.serve.unwrap();
        assert_eq!(serve.addresses, ["127.0.0.1:11123".parse().unwrap()]);
        assert!(serve.server.access.allows("10.1.2.3".parse().unwrap()));
        assert!(!serve.rate_limited());
        let (settings, _) = Settings::resolve(&parse("allow\nport 11123\n"), -20);
        let serve = settings.serve.unwrap();
        assert_eq!(
            serve.addresses,
            [
                "0.0.0.0:11123".parse().unwrap(),
                "[::]:11123".parse().unwrap()
            ]
        );
    }

    #[test]
    fn acquisitionport_chooses_where_the_requests_leave_from() {
        let cases = [
            ("", ClientSockets::Separate, false),
            (
                "acquisitionport 0\n",
                ClientSockets::Shared { port: 0 },
                false,
            ),
            (
                "acquisitionport 1123\n",
                ClientSockets::Shared { port: 1123 },
                false,
            ),
            // The server port: the server's sockets, open whoever is served.
            ("acquisitionport 123\n", ClientSockets::Server, true),
            (
                "port 11123\nacquisitionport 11123\n",
                ClientSockets::Server,
                true,
            ),
            (
                "port 11124\nacquisitionport 123\n",
                ClientSockets::Shared { port: 123 },
                false,
            ),
            // No server port: never the server's.
            (
                "port 0\nacquisitionport 0\n",
                ClientSockets::Shared { port: 0 },
                false,
            ),
            (
                "port 0\nacquisitionport 123\n",
                ClientSockets::Shared { port: 123 },
                false,
            ),
        ];
        for (text, client_sockets, serve) in cases {
            let (settings, _) = Settings::resolve(&parse(text), -20);
            assert_eq!(settings.client_sockets, client_sockets, "{text}");
            assert_eq!(settings.serve.is_some(), serve, "{text}");
        }
        // Without `allow` the server's sockets open to serve nobody.
        let (settings, _) = Settings::resolve(&parse("acquisitionport 123\n"), -20);
        let serve = settings.serve.unwrap();
        assert!(!serve.server.access.allows_any());
        assert_eq!(serve.port, 123);
        let (settings, _) = Settings::resolve(&parse("bindacqaddress 127.0.0.1\n"), -20);
        assert_eq!(
            settings.client_addresses,
            ["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn local_stratum_and_log_files() {
        let (settings, _) = Settings::resolve(
            &parse("local stratum 8 distance 0.5\nlogdir /var/log/x\nlog tracking\n"),
            -20,
        );
        assert_eq!(settings.node.local.unwrap().stratum(), 8);
        let logs = settings.logs.unwrap();
        assert_eq!(logs.dir, PathBuf::from("/var/log/x"));
        assert!(logs.log.tracking);
        let (settings, _) = Settings::resolve(&parse("logdir /var/log/x\n"), -20);
        assert!(settings.logs.is_none(), "no file asked for");
    }

    #[test]
    fn leap_seconds_from_the_time_zone() {
        assert!(leap_table(&parse(""), Path::new(ZONEINFO)).is_none());
        // A zone of the tz database's format (tests/data has a copy of
        // right/UTC's leap records).
        let config = parse("leapsectz right/UTC\n");
        let table = leap_table(&config, Path::new("tests/data/zoneinfo"))
            .unwrap()
            .unwrap();
        // 2016-12-31 ended with 23:59:60; TAI - UTC has been 37 s since.
        assert_eq!(
            table.pending(1_483_228_800 - 1),
            crate::wire::LeapIndicator::InsertSecond
        );
        assert_eq!(table.tai_offset(1_700_000_000), 37);
    }

    #[test]
    fn a_missing_leap_zone_is_an_error_beside_the_settings() {
        let config = parse("leapsectz no/such/zone\n");
        assert!(leap_table(&config, Path::new("/nonexistent")).is_some_and(|r| r.is_err()));
        let (settings, unresolved) = Settings::resolve(&config, -20);
        assert!(settings.node.leap_table.is_none());
        assert_eq!(settings.leap_zone, None);
        assert!(
            unresolved[0]
                .to_string()
                .starts_with("Timezone no/such/zone failed leap second check, ignoring"),
            "{:?}",
            unresolved
        );
    }

    #[test]
    fn upstreams_resolve_to_their_first_address() {
        let upstream = Upstream::resolve("localhost", 11123, SourceConfig::default()).unwrap();
        assert_eq!(upstream.name, "localhost");
        assert!(upstream.address.ip().is_loopback());
        assert_eq!(upstream.address.port(), 11123);
    }

    #[test]
    fn kubeasz_client_config_maps_onto_the_settings() {
        let text = include_str!("../../tests/data/kubeasz-client.conf");
        let config = Config::parse(text, "client.conf").unwrap();
        let (driver, unresolved) = Settings::resolve(&config, -23);
        assert!(unresolved.is_empty(), "{unresolved:?}");
        assert_eq!(driver.upstreams.len(), 1);
        let upstream = &driver.upstreams[0];
        assert_eq!(upstream.name, "192.168.1.1");
        assert_eq!(upstream.address, "192.168.1.1:123".parse().unwrap());
        assert!(upstream.config.iburst);
        assert_eq!((upstream.config.minpoll, upstream.config.maxpoll), (6, 10));
        let system = &driver.node.system;
        assert_eq!(
            system.discipline.makestep,
            Some(MakeStep {
                threshold: 1.0,
                limit: 3
            })
        );
        assert_eq!(system.discipline.maxupdateskew_ppm, 100.0);
        assert_eq!(system.stratumweight, 0.0);
        assert_eq!(driver.node.local, None);
        assert_eq!(system.precision, -23);
        assert_eq!(
            driver.driftfile,
            Some(PathBuf::from("/var/lib/chrony/drift"))
        );
        // chronyd's command sockets, as it opens them.
        let command = driver.command.as_ref().unwrap();
        assert_eq!(
            command.socket,
            Some(PathBuf::from(crate::chrony::config::DEFAULT_CMD_SOCKET))
        );
        assert_eq!(command.port, 323);
        assert_eq!(
            command.addresses,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );

        let config = Config::parse(
            "server 127.0.0.1 port 11123 minpoll -2 maxpoll 0\nbindcmdaddress /\nlocal stratum 10\n",
            "x.conf",
        )
        .unwrap();
        let (driver, unresolved) = Settings::resolve(&config, -20);
        assert!(unresolved.is_empty(), "{unresolved:?}");
        let upstream = &driver.upstreams[0];
        assert_eq!(upstream.address, "127.0.0.1:11123".parse().unwrap());
        assert_eq!((upstream.config.minpoll, upstream.config.maxpoll), (-2, 0));
        assert_eq!(driver.command.unwrap().socket, None);
        assert_eq!(driver.node.local, Some(LocalReference::new(10, 1.0)));
        // An address is where the UDP port is bound: the Unix socket stays put.
        let config = Config::parse("bindcmdaddress 127.0.0.2\ncmdport 10323\n", "x.conf").unwrap();
        let command = command_settings(&config);
        assert_eq!(
            command.socket,
            Some(PathBuf::from(crate::chrony::config::DEFAULT_CMD_SOCKET))
        );
        assert_eq!(
            (command.port, command.addresses.as_slice()),
            (10323, &["127.0.0.2".parse::<IpAddr>().unwrap()][..])
        );
    }

    #[test]
    fn one_address_family_with_4_or_6() {
        let text = "server 127.0.0.1 port 1234\nserver ::1 port 1235\n\
                    initstepslew 1 127.0.0.2 ::2\nallow\nport 11123\n\
                    bindcmdaddress 127.0.0.1\nbindcmdaddress ::1\n";
        let config = Config::parse(text, "f.conf").unwrap();
        let (both, errors) = Settings::resolve(&config, -20);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(both.upstreams.len(), 2);
        assert_eq!(both.serve.as_ref().unwrap().addresses.len(), 2);
        for (family, source, first, wildcard, command, refused) in [
            (
                Family::V4,
                "127.0.0.1:1234",
                "127.0.0.2:123",
                "0.0.0.0:11123",
                "127.0.0.1",
                "f.conf:2: not following ::1: no IPv4 address",
            ),
            (
                Family::V6,
                "[::1]:1235",
                "[::2]:123",
                "[::]:11123",
                "::1",
                "f.conf:1: not following 127.0.0.1: no IPv6 address",
            ),
        ] {
            let (settings, errors) = Settings::resolve_in(&config, -20, Some(family));
            let addresses: Vec<SocketAddr> = settings.upstreams.iter().map(|u| u.address).collect();
            assert_eq!(addresses, [source.parse::<SocketAddr>().unwrap()]);
            let init: Vec<SocketAddr> = settings.init_sources.iter().map(|u| u.address).collect();
            assert_eq!(init, [first.parse::<SocketAddr>().unwrap()]);
            assert_eq!(
                settings.serve.unwrap().addresses,
                [wildcard.parse::<SocketAddr>().unwrap()]
            );
            assert_eq!(
                settings.command.unwrap().addresses,
                [command.parse::<IpAddr>().unwrap()]
            );
            let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert_eq!(errors[0], refused);
            assert!(errors[1].starts_with("Could not resolve address of initstepslew server"));
        }
    }

    #[test]
    fn sources_take_their_key_or_nts_from_the_configuration() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-settings-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let keys = dir.join("keys");
        std::fs::write(
            &keys,
            "2 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n",
        )
        .unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "keyfile {}\nserver 127.0.0.1 port 1234 key 2\nserver 127.0.0.2 nts ntsport 4461\n\
             server 127.0.0.3 key 5\nserver 127.0.0.4 nts certset 3\nserver 127.0.0.5 nts certset 1\n\
             ntstrustedcerts 1 /x.pem\nnocerttimecheck 2\nntsdumpdir {}\n",
            keys.display(),
            dir.display()
        );
        let config = Config::parse(&text, "t.conf").unwrap();
        let (driver, errors) = Settings::resolve(&config, -20);
        let auth: Vec<(SocketAddr, UpstreamAuth)> = driver
            .upstreams
            .iter()
            .map(|u| (u.address, u.auth.clone()))
            .collect();
        let key = crate::chrony::keyfile::KeyFile::load(&keys).unwrap().keys[0];
        assert_eq!(
            auth,
            [
                ("127.0.0.1:1234".parse().unwrap(), UpstreamAuth::Key(key)),
                (
                    "127.0.0.2:123".parse().unwrap(),
                    UpstreamAuth::Nts {
                        ke_address: "127.0.0.2:4461".parse().unwrap(),
                        certset: 0
                    }
                ),
                // A key the file does not hold, a certificate set that holds
                // nothing: kept, as chronyd keeps them.
                (
                    "127.0.0.3:123".parse().unwrap(),
                    UpstreamAuth::MissingKey(5)
                ),
                (
                    "127.0.0.4:123".parse().unwrap(),
                    UpstreamAuth::Nts {
                        ke_address: "127.0.0.4:4460".parse().unwrap(),
                        certset: 3
                    }
                ),
                (
                    "127.0.0.5:123".parse().unwrap(),
                    UpstreamAuth::Nts {
                        ke_address: "127.0.0.5:4460".parse().unwrap(),
                        certset: 1
                    }
                ),
            ]
        );
        assert!(errors.is_empty(), "{errors:?}");
        // The key file is readable by others, the missing key and the
        // empty certificate set: warnings naming the line.
        assert_eq!(driver.warnings.len(), 3, "{:?}", driver.warnings);
        assert!(driver.warnings[0].contains("readable by other users"));
        assert!(
            driver.warnings[1].starts_with("t.conf:4: 127.0.0.3: key 5 is not in ")
                && driver.warnings[1]
                    .ends_with("it sends nothing until the key is there (chronyc rekey)"),
            "{:?}",
            driver.warnings
        );
        assert!(
            driver.warnings[2].starts_with("t.conf:5: 127.0.0.4: certset 3 holds no trusted")
                && driver.warnings[2].ends_with("its NTS-KE fails until it does"),
            "{:?}",
            driver.warnings
        );
        assert_eq!(
            driver.nts,
            NtsSettings {
                trusted_certs: vec![(1, PathBuf::from("/x.pem"))],
                no_cert_time_check: 2,
                dump_dir: Some(dir.to_path_buf()),
                ..NtsSettings::default()
            }
        );
        // Without a key file, a keyed source is kept as missing its key.
        let config = Config::parse("server 127.0.0.1 key 2\n", "u.conf").unwrap();
        let (settings, errors) = Settings::resolve(&config, -20);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(settings.upstreams[0].auth, UpstreamAuth::MissingKey(2));
        assert!(
            settings.warnings[0].starts_with("u.conf:1: 127.0.0.1: key 2, but there is no keyfile"),
            "{:?}",
            settings.warnings
        );
        // A key ID given twice: a warning, and the source is followed
        // with the first key (chronyd warns and keeps the source).
        std::fs::write(
            &keys,
            "2 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n2 MD5 otherkeyotherkey\n",
        )
        .unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!("keyfile {}\nserver 127.0.0.1 key 2\n", keys.display());
        let config = Config::parse(&text, "d.conf").unwrap();
        let (driver, errors) = Settings::resolve(&config, -20);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(driver.upstreams.len(), 1);
        assert_eq!(driver.upstreams[0].auth, UpstreamAuth::Key(key));
        assert_eq!(
            driver.warnings,
            [format!(
                "{}:2: Detected duplicate key 2: the key on line 1 is used",
                keys.display()
            )]
        );
    }

    /// `chronyc add` is refused as chronyd refuses it, before any lookup.
    #[test]
    fn add_refusals() {
        use crate::cmdmon::{AddKind, AddSource, SourceFlags, Status};
        let add = |name: &str| AddSource::new(AddKind::Server, name);
        assert_eq!(add_refusal(&add("192.0.2.1"), None), None);
        assert_eq!(add_refusal(&add(""), None), Some(Status::INVALID_NAME));
        assert_eq!(add_refusal(&add("a b"), None), Some(Status::INVALID_NAME));
        assert_eq!(
            add_refusal(&add("2001:db8::1"), Some(Family::V4)),
            Some(Status::INVALID_AF)
        );
        let mut port = add("192.0.2.1");
        port.port = 70_000;
        assert_eq!(add_refusal(&port, None), Some(Status::INVALID));
        let mut keyed = add("192.0.2.1");
        keyed.key = 3;
        assert_eq!(add_refusal(&keyed, None), Some(Status::NOT_ENABLED));
        let mut nts = add("192.0.2.1");
        nts.flags = SourceFlags(SourceFlags::NTS);
        assert_eq!(add_refusal(&nts, None), Some(Status::NOT_ENABLED));
    }

    /// `chronyc add` carries the delay and filter options chrony.conf
    /// carries, and names what it cannot take as asked.
    #[test]
    fn add_carries_the_source_options() {
        let mut add = AddSource::new(AddKind::Server, "127.0.0.1");
        add.min_delay = 2e-4;
        add.asymmetry = 0.25;
        add.max_delay_quant = 0.2;
        add.presend = 9;
        add.filter = 8;
        let mut ignored = Vec::new();
        let upstreams = upstreams_from_add(&add, None, &mut ignored).unwrap();
        let config = &upstreams[0].config;
        assert_eq!(
            (config.mindelay, config.asymmetry, config.maxdelayquant),
            (2e-4, 0.25, 0.2)
        );
        assert_eq!((config.presend, config.filter), (Some(9), 8));
        assert!(ignored.is_empty(), "{ignored:?}");
        // chronyc's "none" for presend, chronyd's "estimate" for the
        // asymmetry (carried to the statistics, which estimate it), and a
        // filter longer than ntpkit keeps.
        add.presend = 100;
        add.asymmetry = 1.0;
        add.filter = 20;
        let upstreams = upstreams_from_add(&add, None, &mut ignored).unwrap();
        let config = &upstreams[0].config;
        assert_eq!(
            (config.presend, config.asymmetry, config.filter),
            (None, 1.0, 16)
        );
        assert_eq!(ignored, ["filter beyond 16 polls (16 used)"]);
    }
}
