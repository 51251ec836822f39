//! A chrony.conf parser: the subset kubeasz renders for its server and
//! client nodes, plus what a server needs (`port`, `bindaddress`, `deny`,
//! `ratelimit`) — one parser for every ntpkit program.
//!
//! Lines are chrony's: a directive and its arguments separated by white
//! space, blank lines, and comments starting with `#`, `%`, `!` or `;`.
//! Directive names are case-insensitive. An unknown directive, an unknown
//! option or a bad value is an error naming the file and line. Directives
//! that ntpkit accepts but does not act on yet ([`NOT_ACTED_ON`]) are
//! listed in [`Config::warnings`], one per line that used them.
//!
//! ```
//! use ntpkit::std::config::Config;
//!
//! let config = Config::parse(
//!     "server ntp1.aliyun.com iburst\nallow 10.0.0.0/8\nlocal stratum 10\nport 11123\n",
//!     "chrony.conf",
//! )?;
//! assert_eq!(config.sources[0].host, "ntp1.aliyun.com");
//! assert!(config.sources[0].engine.iburst);
//! assert_eq!(config.local.unwrap().stratum, 10);
//! assert!(config.access.allows("10.1.2.3".parse().unwrap()));
//! assert_eq!(config.port, 11123);
//! # Ok::<(), ntpkit::std::config::ConfigError>(())
//! ```

use ::std::fmt;
use ::std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use ::std::path::{Path, PathBuf};
use ::std::str::FromStr;
use ::std::string::{String, ToString};
use ::std::vec::Vec;

use crate::server::{AccessControl, AccessError, LocalReference, RateLimit, ServerConfig, Subnet};
use crate::system::SourceConfig as EngineSourceConfig;

/// Directives accepted but not acted on yet: each use gives a warning.
/// (`maxupdateskew` and `stratumweight` go to the client engine through
/// `std::driver::DriverConfig::from_config`.)
pub const NOT_ACTED_ON: &[&str] = &["dumpdir", "logdir", "log", "noclientlog"];

/// chrony's default NTP port.
pub const DEFAULT_PORT: u16 = 123;

/// `server` or `pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `server HOST`: one server.
    Server,
    /// `pool HOST`: every address the name resolves to, up to `maxsources`.
    Pool,
}

/// A `server` or `pool` line.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Server or pool.
    pub kind: SourceKind,
    /// The host name or address, as written.
    pub host: String,
    /// `port N` (default 123).
    pub port: u16,
    /// `maxsources N`: how many addresses of a pool to use (default 4).
    pub maxsources: u8,
    /// What the engine does with each address: chrony's options `iburst`,
    /// `burst`, `minpoll N`, `maxpoll N`, `prefer`, `noselect`, `trust`,
    /// `maxdelay S`, `maxdelaydevratio R` and `polltarget N`, and ntpkit's
    /// own `earlyexchanges N` (1..=8; 1 is chrony's one request per poll).
    pub engine: EngineSourceConfig,
}

impl SourceConfig {
    /// A source with the engine's defaults (chrony's, and 4 early
    /// exchanges).
    pub fn new(kind: SourceKind, host: &str) -> SourceConfig {
        SourceConfig {
            kind,
            host: host.to_string(),
            port: DEFAULT_PORT,
            maxsources: 4,
            engine: EngineSourceConfig::default(),
        }
    }
}

/// The `local` directive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalConfig {
    /// `stratum N` (1 to 15, default 10).
    pub stratum: u8,
    /// `distance D`: the root distance in seconds above which the local
    /// reference takes over from the system's (default 1).
    pub distance: f64,
    /// `orphan`: chrony's orphan mode (accepted; ntpkit serves the local
    /// reference the same way).
    pub orphan: bool,
}

impl LocalConfig {
    /// The reference state that serves this directive.
    pub fn reference(&self) -> LocalReference {
        LocalReference::new(self.stratum, self.distance)
    }
}

/// `makestep THRESHOLD LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MakeStep {
    /// Step when the offset is larger than this many seconds...
    pub threshold: f64,
    /// ...in the first LIMIT updates (negative: always).
    pub limit: i32,
}

/// A directive that was accepted but is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub path: String,
    /// The line number, from 1.
    pub line: usize,
    /// The directive.
    pub directive: &'static str,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning: {}:{}: `{}` is accepted but ntpkit does not act on it yet",
            self.path, self.line, self.directive
        )
    }
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A directive ntpkit does not know.
    #[error("unknown directive `{0}`")]
    UnknownDirective(String),
    /// An option a directive does not take.
    #[error("`{directive}` has no option `{option}`")]
    UnknownOption {
        /// The directive.
        directive: &'static str,
        /// The option.
        option: String,
    },
    /// A required argument is missing.
    #[error("`{directive}` needs {what}")]
    Missing {
        /// The directive.
        directive: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// More arguments than the directive takes.
    #[error("`{directive}` takes no more arguments, found `{extra}`")]
    Extra {
        /// The directive.
        directive: &'static str,
        /// The first extra word.
        extra: String,
    },
    /// A value that does not parse or is out of range.
    #[error("`{directive}`: bad {what} `{value}`")]
    BadValue {
        /// The directive.
        directive: &'static str,
        /// What the value is.
        what: &'static str,
        /// The value as written.
        value: String,
    },
    /// A bad subnet in `allow` or `deny`.
    #[error("`{directive}`: {error} (`{value}`)")]
    Subnet {
        /// The directive.
        directive: &'static str,
        /// What is wrong.
        error: AccessError,
        /// The subnet as written.
        value: String,
    },
    /// A combination chrony refuses.
    #[error("{0}")]
    Conflict(&'static str),
}

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: ::std::io::Error,
    },
    /// A line is wrong.
    #[error("{path}:{line}: {error}")]
    Line {
        /// The file.
        path: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        error: LineError,
    },
}

/// A parsed chrony.conf.
#[derive(Debug, Clone)]
pub struct Config {
    /// `server` and `pool` lines, in order.
    pub sources: Vec<SourceConfig>,
    /// `local`.
    pub local: Option<LocalConfig>,
    /// `allow` and `deny`, in order (nobody is served without an `allow`).
    pub access: AccessControl,
    /// `ratelimit` (off without it).
    pub rate_limit: Option<RateLimit>,
    /// `port`: the NTP server port (default 123; 0 disables serving).
    pub port: u16,
    /// `bindaddress`: the addresses to serve on (default: every IPv4 and
    /// IPv6 address).
    pub bind_addresses: Vec<IpAddr>,
    /// `bindcmdaddress`: the control socket's path (or address).
    pub bind_cmd_address: Option<String>,
    /// `driftfile`.
    pub driftfile: Option<PathBuf>,
    /// `makestep`.
    pub makestep: Option<MakeStep>,
    /// `rtcsync`.
    pub rtcsync: bool,
    /// `dumpdir`.
    pub dumpdir: Option<PathBuf>,
    /// `logdir`.
    pub logdir: Option<PathBuf>,
    /// `log`: what to log (`statistics`, `measurements`, `tracking`, ...).
    pub log: Vec<String>,
    /// `maxupdateskew`, in ppm.
    pub maxupdateskew: Option<f64>,
    /// `stratumweight`, in seconds.
    pub stratumweight: Option<f64>,
    /// `noclientlog`.
    pub noclientlog: bool,
    /// Directives accepted but not acted on, one per line that used them.
    pub warnings: Vec<Warning>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            local: None,
            access: AccessControl::DENY_ALL,
            rate_limit: None,
            port: DEFAULT_PORT,
            bind_addresses: Vec::new(),
            bind_cmd_address: None,
            driftfile: None,
            makestep: None,
            rtcsync: false,
            dumpdir: None,
            logdir: None,
            log: Vec::new(),
            maxupdateskew: None,
            stratumweight: None,
            noclientlog: false,
            warnings: Vec::new(),
        }
    }
}

const LOG_KINDS: &[&str] = &[
    "measurements",
    "statistics",
    "tracking",
    "rtc",
    "refclocks",
    "tempcomp",
    "rawmeasurements",
    "selection",
];

/// The words of one line after its directive.
struct Args<'a> {
    directive: &'static str,
    words: ::std::str::SplitWhitespace<'a>,
}

impl<'a> Args<'a> {
    fn next(&mut self) -> Option<&'a str> {
        self.words.next()
    }

    fn required(&mut self, what: &'static str) -> Result<&'a str, LineError> {
        self.next().ok_or(LineError::Missing {
            directive: self.directive,
            what,
        })
    }

    fn value<T: FromStr>(&mut self, what: &'static str) -> Result<T, LineError> {
        let word = self.required(what)?;
        self.parse(word, what)
    }

    fn parse<T: FromStr>(&self, word: &str, what: &'static str) -> Result<T, LineError> {
        word.parse().map_err(|_| self.bad(word, what))
    }

    fn ranged<T: FromStr + PartialOrd>(
        &mut self,
        what: &'static str,
        range: ::std::ops::RangeInclusive<T>,
    ) -> Result<T, LineError> {
        let word = self.required(what)?;
        let value: T = self.parse(word, what)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(self.bad(word, what))
        }
    }

    fn bad(&self, word: &str, what: &'static str) -> LineError {
        LineError::BadValue {
            directive: self.directive,
            what,
            value: word.to_string(),
        }
    }

    fn unknown(&self, option: &str) -> LineError {
        LineError::UnknownOption {
            directive: self.directive,
            option: option.to_string(),
        }
    }

    fn end(mut self) -> Result<(), LineError> {
        match self.next() {
            None => Ok(()),
            Some(extra) => Err(LineError::Extra {
                directive: self.directive,
                extra: extra.to_string(),
            }),
        }
    }
}

/// The directives the parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Server,
    Pool,
    Local,
    Allow,
    Deny,
    Ratelimit,
    Port,
    BindAddress,
    BindCmdAddress,
    Driftfile,
    Makestep,
    Rtcsync,
    Dumpdir,
    Logdir,
    Log,
    MaxUpdateSkew,
    StratumWeight,
    NoClientLog,
}

const DIRECTIVES: &[(&str, Directive)] = &[
    ("server", Directive::Server),
    ("pool", Directive::Pool),
    ("local", Directive::Local),
    ("allow", Directive::Allow),
    ("deny", Directive::Deny),
    ("ratelimit", Directive::Ratelimit),
    ("port", Directive::Port),
    ("bindaddress", Directive::BindAddress),
    ("bindcmdaddress", Directive::BindCmdAddress),
    ("driftfile", Directive::Driftfile),
    ("makestep", Directive::Makestep),
    ("rtcsync", Directive::Rtcsync),
    ("dumpdir", Directive::Dumpdir),
    ("logdir", Directive::Logdir),
    ("log", Directive::Log),
    ("maxupdateskew", Directive::MaxUpdateSkew),
    ("stratumweight", Directive::StratumWeight),
    ("noclientlog", Directive::NoClientLog),
];

impl Config {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = ::std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: name.clone(),
            source,
        })?;
        Config::parse(&text, &name)
    }

    /// Parses `text`; `path` names it in errors and warnings.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut ratelimit_line = 0;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let at = |error| ConfigError::Line {
                path: path.to_string(),
                line: number,
                error,
            };
            let mut words = line.split_whitespace();
            let Some(first) = words.next() else { continue };
            if first.starts_with(['#', '%', '!', ';']) {
                continue;
            }
            let (name, directive) = DIRECTIVES
                .iter()
                .copied()
                .find(|(name, _)| name.eq_ignore_ascii_case(first))
                .ok_or_else(|| at(LineError::UnknownDirective(first.to_string())))?;
            let args = Args {
                directive: name,
                words,
            };
            config.directive(directive, args).map_err(at)?;
            if directive == Directive::Ratelimit {
                ratelimit_line = number;
            }
            if NOT_ACTED_ON.contains(&name) {
                config.warnings.push(Warning {
                    path: path.to_string(),
                    line: number,
                    directive: name,
                });
            }
        }
        if config.noclientlog && config.rate_limit.is_some() {
            return Err(ConfigError::Line {
                path: path.to_string(),
                line: ratelimit_line,
                error: LineError::Conflict("ratelimit cannot be used with noclientlog"),
            });
        }
        Ok(config)
    }

    fn directive(&mut self, directive: Directive, mut args: Args<'_>) -> Result<(), LineError> {
        match directive {
            Directive::Server => self.source(SourceKind::Server, args)?,
            Directive::Pool => self.source(SourceKind::Pool, args)?,
            Directive::Local => self.local(args)?,
            Directive::Allow => self.access_rule(true, args)?,
            Directive::Deny => self.access_rule(false, args)?,
            Directive::Ratelimit => self.ratelimit(args)?,
            Directive::Port => {
                self.port = args.value("port number")?;
                args.end()?;
            }
            Directive::BindAddress => {
                let address = args.value("IP address")?;
                self.bind_addresses.push(address);
                args.end()?;
            }
            Directive::BindCmdAddress => {
                self.bind_cmd_address = Some(args.required("path")?.to_string());
                args.end()?;
            }
            Directive::Driftfile => self.driftfile = Some(path_arg(args)?),
            Directive::Dumpdir => self.dumpdir = Some(path_arg(args)?),
            Directive::Logdir => self.logdir = Some(path_arg(args)?),
            Directive::Makestep => {
                let threshold = args.ranged("threshold", 0.0..=f64::MAX)?;
                let limit = args.value("limit")?;
                self.makestep = Some(MakeStep { threshold, limit });
                args.end()?;
            }
            Directive::Rtcsync => {
                self.rtcsync = true;
                args.end()?;
            }
            Directive::NoClientLog => {
                self.noclientlog = true;
                args.end()?;
            }
            Directive::Log => {
                let mut any = false;
                while let Some(kind) = args.next() {
                    if !LOG_KINDS.contains(&kind) {
                        return Err(args.unknown(kind));
                    }
                    self.log.push(kind.to_string());
                    any = true;
                }
                if !any {
                    return Err(LineError::Missing {
                        directive: "log",
                        what: "what to log",
                    });
                }
            }
            Directive::MaxUpdateSkew => {
                self.maxupdateskew = Some(args.ranged("skew in ppm", 0.0..=f64::MAX)?);
                args.end()?;
            }
            Directive::StratumWeight => {
                self.stratumweight = Some(args.ranged("weight in seconds", 0.0..=f64::MAX)?);
                args.end()?;
            }
        }
        Ok(())
    }

    fn source(&mut self, kind: SourceKind, mut args: Args<'_>) -> Result<(), LineError> {
        let host = args.required("a host name or address")?;
        let mut source = SourceConfig::new(kind, host);
        let engine = &mut source.engine;
        while let Some(option) = args.next() {
            match option.to_ascii_lowercase().as_str() {
                "iburst" => engine.iburst = true,
                "burst" => engine.burst = true,
                "prefer" => engine.prefer = true,
                "noselect" => engine.noselect = true,
                "trust" => engine.trust = true,
                "minpoll" => engine.minpoll = args.ranged("minpoll", -7..=24)?,
                "maxpoll" => engine.maxpoll = args.ranged("maxpoll", -7..=24)?,
                "maxdelay" => engine.maxdelay = args.ranged("maxdelay", 0.0..=f64::MAX)?,
                "maxdelaydevratio" => {
                    engine.maxdelaydevratio = args.ranged("maxdelaydevratio", 0.0..=f64::MAX)?
                }
                "polltarget" => engine.poll_target = args.ranged("polltarget", 6..=64)?,
                "earlyexchanges" => {
                    engine.early_exchanges = args.ranged("earlyexchanges", 1..=8)?
                }
                "port" => source.port = args.value("port number")?,
                "maxsources" => source.maxsources = args.ranged("maxsources", 1..=16)?,
                _ => return Err(args.unknown(option)),
            }
        }
        self.sources.push(source);
        Ok(())
    }

    fn local(&mut self, mut args: Args<'_>) -> Result<(), LineError> {
        let mut local = LocalConfig {
            stratum: 10,
            distance: 1.0,
            orphan: false,
        };
        while let Some(option) = args.next() {
            match option.to_ascii_lowercase().as_str() {
                "stratum" => local.stratum = args.ranged("stratum", 1..=15)?,
                "distance" => local.distance = args.ranged("distance", 0.0..=f64::MAX)?,
                "orphan" => local.orphan = true,
                _ => return Err(args.unknown(option)),
            }
        }
        self.local = Some(local);
        Ok(())
    }

    fn access_rule(&mut self, allow: bool, mut args: Args<'_>) -> Result<(), LineError> {
        let directive = args.directive;
        let mut word = args.next();
        let all = word.is_some_and(|w| w.eq_ignore_ascii_case("all"));
        if all {
            word = args.next();
        }
        let subnets = match word {
            None => [Some(Subnet::ALL_V4), Some(Subnet::ALL_V6)],
            Some(text) => [
                Some(text.parse::<Subnet>().map_err(|error| LineError::Subnet {
                    directive,
                    error,
                    value: text.to_string(),
                })?),
                None,
            ],
        };
        args.end()?;
        for subnet in subnets.into_iter().flatten() {
            let added = match (all, allow) {
                (true, _) => self.access.set_all(subnet, allow),
                (false, true) => self.access.allow(subnet),
                (false, false) => self.access.deny(subnet),
            };
            added.map_err(|error| LineError::Subnet {
                directive,
                error,
                value: subnet.to_string(),
            })?;
        }
        Ok(())
    }

    fn ratelimit(&mut self, mut args: Args<'_>) -> Result<(), LineError> {
        let mut limit = RateLimit::default();
        while let Some(option) = args.next() {
            match option.to_ascii_lowercase().as_str() {
                "interval" => limit.interval = args.ranged("interval", -19..=12)?,
                "burst" => limit.burst = args.ranged("burst", 1..=255)?,
                "leak" => limit.leak = args.ranged("leak", 1..=4)?,
                "kod" => limit.kod = args.ranged("kod", 0..=4)?,
                _ => return Err(args.unknown(option)),
            }
        }
        self.rate_limit = Some(limit);
        Ok(())
    }

    /// The addresses to serve on at `port`: the `bindaddress` lines, or
    /// the IPv4 and IPv6 wildcards.
    pub fn serve_addresses(&self, port: u16) -> Vec<SocketAddr> {
        let ips = if self.bind_addresses.is_empty() {
            ::std::vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            ]
        } else {
            self.bind_addresses.clone()
        };
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect()
    }

    /// The server settings this configuration gives, with the clock's
    /// measured `precision` (log2 seconds).
    pub fn server_config(&self, precision: i8) -> ServerConfig {
        ServerConfig {
            access: self.access.clone(),
            rate_limit: self.rate_limit,
            precision,
            deny_kod: false,
        }
    }
}

fn path_arg(mut args: Args<'_>) -> Result<PathBuf, LineError> {
    let path = PathBuf::from(args.required("a path")?);
    args.end()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = include_str!("../../tests/data/kubeasz-server.conf");
    const CLIENT: &str = include_str!("../../tests/data/kubeasz-client.conf");

    fn error_of(text: &str) -> String {
        Config::parse(text, "test.conf").unwrap_err().to_string()
    }

    #[test]
    fn kubeasz_server_config_as_is() {
        let config = Config::parse(SERVER, "server.conf").unwrap();
        let hosts: Vec<_> = config
            .sources
            .iter()
            .map(|s| (s.kind, s.host.as_str()))
            .collect();
        assert_eq!(
            hosts,
            [
                (SourceKind::Server, "ntp1.aliyun.com"),
                (SourceKind::Server, "time1.cloud.tencent.com"),
                (SourceKind::Pool, "0.cn.pool.ntp.org"),
            ]
        );
        assert!(config
            .sources
            .iter()
            .all(|s| s.engine.iburst && s.port == 123));
        assert_eq!(
            config.driftfile.as_deref(),
            Some(Path::new("/var/lib/chrony/drift"))
        );
        assert_eq!(
            config.makestep,
            Some(MakeStep {
                threshold: 1.0,
                limit: 3
            })
        );
        assert!(config.rtcsync && config.noclientlog);
        assert_eq!(
            config.dumpdir.as_deref(),
            Some(Path::new("/var/lib/chrony"))
        );
        assert_eq!(config.logdir.as_deref(), Some(Path::new("/var/log/chrony")));
        assert_eq!(config.local.unwrap().stratum, 10);
        assert_eq!(config.local.unwrap().distance, 1.0);
        assert!(config.access.allows("192.168.1.20".parse().unwrap()));
        assert!(!config.access.allows("::1".parse().unwrap()));
        assert_eq!(config.maxupdateskew, Some(100.0));
        assert_eq!(config.stratumweight, Some(0.0));
        assert_eq!(config.log, ["statistics", "measurements", "tracking"]);
        assert_eq!(config.port, 123);
        assert!(config.rate_limit.is_none());
        let warned: Vec<_> = config.warnings.iter().map(|w| w.directive).collect();
        assert_eq!(warned, ["dumpdir", "logdir", "log", "noclientlog"]);
        assert!(config.warnings[0]
            .to_string()
            .starts_with("warning: server.conf:"));
    }

    #[test]
    fn kubeasz_client_config_as_is() {
        let config = Config::parse(CLIENT, "client.conf").unwrap();
        assert_eq!(config.sources.len(), 1);
        assert_eq!(config.sources[0].host, "192.168.1.1");
        assert!(config.sources[0].engine.iburst);
        assert!(config.local.is_none());
        assert!(config.access.allows("10.0.0.1".parse().unwrap()));
        assert_eq!(config.warnings.len(), 4);
    }

    #[test]
    fn server_options() {
        let config = Config::parse(
            "server 127.0.0.1 iburst minpoll -2 maxpoll 0 port 11123 prefer noselect maxsources 2\n\
             pool pool.example maxsources 8 burst trust maxdelay 0.5 maxdelaydevratio 4 \
             polltarget 16 earlyexchanges 1\n\
             bindcmdaddress /run/ntpkit/ntpkit.sock\n\
             port 11123\nbindaddress 127.0.0.1\nbindaddress ::1\n\
             LOCAL stratum 8 distance 0.5 orphan\n",
            "t",
        )
        .unwrap();
        let s = &config.sources[0];
        let e = &s.engine;
        assert_eq!((e.minpoll, e.maxpoll, s.port), (-2, 0, 11123));
        assert!(e.iburst && e.prefer && e.noselect && !e.burst && !e.trust);
        assert_eq!(s.maxsources, 2);
        assert_eq!(config.sources[1].kind, SourceKind::Pool);
        assert_eq!(config.sources[1].maxsources, 8);
        let e = &config.sources[1].engine;
        assert!(e.burst && e.trust);
        assert_eq!(
            (
                e.maxdelay,
                e.maxdelaydevratio,
                e.poll_target,
                e.early_exchanges
            ),
            (0.5, 4.0, 16, 1)
        );
        assert_eq!(
            config.bind_cmd_address.as_deref(),
            Some("/run/ntpkit/ntpkit.sock")
        );
        assert_eq!(config.port, 11123);
        assert_eq!(
            config.bind_addresses,
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(
            config.local,
            Some(LocalConfig {
                stratum: 8,
                distance: 0.5,
                orphan: true
            })
        );
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn access_and_ratelimit() {
        let config = Config::parse(
            "allow 10/8\ndeny 10.1\nallow ::1\nallow all 10.1.2.0/24\nratelimit interval 1 burst 16 kod 2\n",
            "t",
        )
        .unwrap();
        assert!(config.access.allows("10.9.9.9".parse().unwrap()));
        assert!(!config.access.allows("10.1.9.9".parse().unwrap()));
        assert!(config.access.allows("10.1.2.9".parse().unwrap()));
        assert!(config.access.allows("::1".parse().unwrap()));
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                interval: 1,
                burst: 16,
                leak: 2,
                kod: 2
            })
        );
        let everyone = Config::parse("allow\n", "t").unwrap();
        assert!(everyone.access.allows("2001:db8::1".parse().unwrap()));
        let nobody = Config::parse("allow\ndeny all\n", "t").unwrap();
        assert!(!nobody.access.allows("127.0.0.1".parse().unwrap()));
        let defaults = Config::parse("ratelimit\n", "t").unwrap();
        assert_eq!(defaults.rate_limit, Some(RateLimit::default()));
        let server = defaults.server_config(-24);
        assert_eq!(server.precision, -24);
        assert_eq!(server.rate_limit, Some(RateLimit::default()));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panic(text in "\\PC{0,200}") {
            let _ = Config::parse(&text, "t");
        }

        #[test]
        fn directive_shaped_lines_parse_or_name_their_line(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(DIRECTIVES.iter().map(|(name, _)| *name).collect::<Vec<_>>()),
                    proptest::collection::vec("[a-z0-9./:-]{1,12}", 0..5),
                ),
                1..6,
            )
        ) {
            let text: String = lines
                .iter()
                .map(|(directive, args)| format!("{directive} {}\n", args.join(" ")))
                .collect();
            if let Err(ConfigError::Line { line, .. }) = Config::parse(&text, "t") {
                proptest::prop_assert!((1..=lines.len()).contains(&line));
            }
        }
    }

    #[test]
    fn comments_and_blank_lines() {
        let config = Config::parse("# c\n% c\n! c\n; c\n\n   \n\tport 1\n", "t").unwrap();
        assert_eq!(config.port, 1);
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            error_of("port 1\nfrobnicate 3\n"),
            "test.conf:2: unknown directive `frobnicate`"
        );
        assert_eq!(
            error_of("server a.example iburst fast\n"),
            "test.conf:1: `server` has no option `fast`"
        );
        assert_eq!(
            error_of("server\n"),
            "test.conf:1: `server` needs a host name or address"
        );
        assert_eq!(
            error_of("\nserver a minpoll\n"),
            "test.conf:2: `server` needs minpoll"
        );
        assert_eq!(
            error_of("server a minpoll 99\n"),
            "test.conf:1: `server`: bad minpoll `99`"
        );
        assert_eq!(
            error_of("port 70000\n"),
            "test.conf:1: `port`: bad port number `70000`"
        );
        assert_eq!(
            error_of("port 1 2\n"),
            "test.conf:1: `port` takes no more arguments, found `2`"
        );
        assert_eq!(
            error_of("local stratum 16\n"),
            "test.conf:1: `local`: bad stratum `16`"
        );
        assert_eq!(
            error_of("allow 10.0.0.0/33\n"),
            "test.conf:1: `allow`: prefix length 33 is too long (at most 32) (`10.0.0.0/33`)"
        );
        assert_eq!(
            error_of("deny example.com\n"),
            "test.conf:1: `deny`: not an IP address or subnet (`example.com`)"
        );
        assert_eq!(
            error_of("ratelimit leak 9\n"),
            "test.conf:1: `ratelimit`: bad leak `9`"
        );
        assert_eq!(
            error_of("log everything\n"),
            "test.conf:1: `log` has no option `everything`"
        );
        assert_eq!(
            error_of("makestep 1.0\n"),
            "test.conf:1: `makestep` needs limit"
        );
        assert_eq!(
            error_of("bindaddress nowhere\n"),
            "test.conf:1: `bindaddress`: bad IP address `nowhere`"
        );
        assert_eq!(
            error_of("noclientlog\nratelimit\n"),
            "test.conf:2: ratelimit cannot be used with noclientlog"
        );
        let missing = Config::load(Path::new("/nonexistent/ntpkit.conf")).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("/nonexistent/ntpkit.conf: "));
    }
}
