//! chrony.conf, as chronyd 4.3 reads it: every directive and source option
//! of chrony.conf(5), `include`, `confdir` and `sourcedir`, one parser for
//! every ntpkit program.
//!
//! - **Lines** are chronyd's: a directive and its arguments separated by
//!   white space; blank lines; comment lines starting (after white space)
//!   with `#`, `%`, `!` or `;` (a comment after a directive is not one: it
//!   is an argument, as in chronyd). Directive and option names are
//!   case-insensitive. Numbers are read as chronyd's `sscanf()` reads them
//!   (`maxdistance 1x` is 1). A line longer than 2046 bytes is an error.
//! - **Every directive is recognised.** What ntpkit acts on is in the typed
//!   fields of [`Config`], which the Linux shell's `Settings::resolve`
//!   turns into what the node, its server and its sockets run with.
//!   Everything else gives one
//!   [`Warning`] per line, naming the file, the line, what is not acted on
//!   and why. The list is in `docs/configuration.md`.
//! - **A file chronyd 4.3 refuses is refused** with a [`ConfigError`]
//!   naming the file and line (an included file's own name and line). The
//!   verdicts were checked against the chronyd 4.3 binary, line by line:
//!   `tests/data/chronyd-4.3-verdicts.tsv`. Values chronyd accepts but
//!   ntpkit cannot use (`port 70000`, `minpoll 99`) give a warning saying
//!   what is used instead. One extension is accepted that chronyd 4.3
//!   refuses: `ratelimit ... kod N` (chrony 4.4's).
//! - **`include PATTERN`** reads the files a glob matches, in sorted order
//!   (a pattern without `*`, `?` or `[` must name a file that exists);
//!   **`confdir DIR...`** reads the `*.conf` files of up to 10 directories
//!   in the order of their names, and of two files with the same name only
//!   the one in the directory listed first (chronyd 4.3's rule); a missing
//!   directory is no error. **`sourcedir DIR...`** does the same with
//!   `*.sources` files, which may hold only `server`, `pool` and `peer`
//!   lines, each ended by a newline; chronyd skips anything else there, and
//!   ntpkit skips it too, with a warning. Sources from `sourcedir` come
//!   after those of the configuration, sorted by name, as chronyd adds
//!   them.
//! - [`Config::render`] prints the configuration as `chronyd -p` does.
//!
//! ```
//! use ntpkit::chrony::config::Config;
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
//! # Ok::<(), ntpkit::chrony::config::ConfigError>(())
//! ```

mod auth;
mod directives;
mod files;
mod include;
mod print;
mod reader;
pub(crate) mod scan;
mod sources;
#[cfg(test)]
mod tests;

use std::boxed::Box;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use crate::access::{AccessControl, AccessError};
use crate::server::{LocalReference, RateLimit, NTP_PORT};
use crate::system::SourceConfig as EngineSourceConfig;

pub use auth::{AuthConfig, AuthSelectMode, SourceAuth};
pub use directives::{Directive, DIRECTIVES};
pub use include::{Environment, Isolated, Rooted, SystemEnvironment};
pub use sources::{HwTimestampLine, RefclockLine, RxFilterOption, SourceOptions, SOURCE_OPTIONS};

/// chrony's default command port (`cmdport`).
pub const DEFAULT_CMD_PORT: u16 = 323;

/// chronyd's command socket when `bindcmdaddress` names none.
pub const DEFAULT_CMD_SOCKET: &str = "/run/chrony/chronyd.sock";

/// `initstepslew THRESHOLD HOST...`: the clock is corrected from these
/// hosts once at start (stepped if it is off by the threshold or more,
/// slewed otherwise) before the configured sources start.
#[derive(Debug, Clone, PartialEq)]
pub struct InitStepSlew {
    /// Seconds.
    pub threshold: f64,
    /// The hosts, as written (resolved with the other names).
    pub hosts: Vec<String>,
}

/// chronyd's `logchange` when the file names none, seconds.
pub const DEFAULT_LOGCHANGE: f64 = 1.0;

/// Where `leapsectz` time zones are looked up.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// A line of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file, as named to the parser or by the `include`, `confdir` or
    /// `sourcedir` that read it.
    pub path: String,
    /// The line number, from 1.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}

/// `server` or `pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `server HOST`: one server.
    Server,
    /// `pool HOST`: every address the name resolves to, up to `maxsources`.
    Pool,
}

/// A `server`, `pool` or `peer` line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SourceConfig {
    /// Server or pool (a `peer` is in [`Config::peers`], as a server).
    pub kind: SourceKind,
    /// The host name or address, as written.
    pub host: String,
    /// `port N` (default 123).
    pub port: u16,
    /// `maxsources N`: how many addresses of a pool to use (1 to 16,
    /// default 4).
    pub maxsources: u8,
    /// What the engine does with each address: chrony's options `iburst`,
    /// `burst`, `minpoll N`, `maxpoll N`, `prefer`, `noselect`, `trust`,
    /// `maxdelay S`, `maxdelaydevratio R` and `polltarget N`.
    pub engine: EngineSourceConfig,
    /// `key`, `nts`, `ntsport`, `certset`.
    pub auth: SourceAuth,
    /// The other options, parsed but not acted on (each gives a warning).
    pub options: SourceOptions,
    /// Where the line is.
    pub location: Location,
    /// Read from a `sourcedir` file (what `chronyc reload sources` reads
    /// again).
    pub from_sourcedir: bool,
}

impl SourceConfig {
    /// A source with the engine's defaults (chrony's, and 4 early
    /// exchanges).
    pub fn new(kind: SourceKind, host: &str) -> SourceConfig {
        SourceConfig {
            kind,
            host: host.to_string(),
            port: NTP_PORT,
            maxsources: 4,
            engine: EngineSourceConfig::default(),
            auth: SourceAuth::default(),
            options: SourceOptions::default(),
            location: Location::default(),
            from_sourcedir: false,
        }
    }
}

/// The `local` directive.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LocalConfig {
    /// `stratum N` (1 to 15, default 10).
    pub stratum: u8,
    /// `distance D`: the root distance in seconds above which the local
    /// reference takes over from the system's (default 1).
    pub distance: f64,
    /// `orphan`: chrony's orphan mode ([`LocalReference::orphan`]).
    pub orphan: bool,
}

impl LocalConfig {
    /// The reference state that serves this directive.
    pub fn reference(&self) -> LocalReference {
        let local = LocalReference::new(self.stratum, self.distance);
        if self.orphan {
            local.orphan()
        } else {
            local
        }
    }
}

pub use crate::discipline::{MakeStep, MaxChange};

/// A `broadcast INTERVAL ADDRESS [PORT]` line: the node sends its time in
/// broadcast packets (NTP mode 5) to ADDRESS every INTERVAL seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastConfig {
    /// Seconds between packets (at least 1).
    pub interval: u32,
    /// Where they go (a broadcast or multicast address, or a host's).
    pub address: IpAddr,
    /// The port they go to (default 123).
    pub port: u16,
}

/// `leapsecmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeapSecMode {
    /// The kernel inserts or deletes the second (chrony's default).
    System,
    /// chronyd steps the clock.
    Step,
    /// The clock is slewed.
    Slew,
    /// Nothing is done.
    Ignore,
}

/// `tempcomp`: a temperature sensor read every `interval` seconds, and
/// the frequency compensation made of its reading.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TempCompConfig {
    /// The file the sensor's reading is read from (a number, as sysfs
    /// gives it).
    pub sensor: PathBuf,
    /// Seconds between readings (chronyd reads at least every second).
    pub interval: f64,
    /// How a reading becomes a compensation.
    pub curve: TempCompCurve,
}

/// How `tempcomp` makes a compensation (ppm) of a temperature `T`.
#[derive(Debug, Clone, PartialEq)]
pub enum TempCompCurve {
    /// `k0 + (T − T0)·k1 + (T − T0)²·k2`.
    Quadratic {
        /// `T0`.
        t0: f64,
        /// `k0`.
        k0: f64,
        /// `k1`.
        k1: f64,
        /// `k2`.
        k2: f64,
    },
    /// Interpolated (or extrapolated) between the two nearest of the
    /// (temperature, compensation) points in this file, one pair a line.
    Points(PathBuf),
}

/// What `log` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSet {
    /// `rawmeasurements`: every response, in measurements.log.
    pub rawmeasurements: bool,
    /// `measurements`: valid responses, in measurements.log.
    pub measurements: bool,
    /// `statistics`: statistics.log.
    pub statistics: bool,
    /// `tracking`: tracking.log.
    pub tracking: bool,
    /// `rtc`: rtc.log.
    pub rtc: bool,
    /// `refclocks`: refclocks.log.
    pub refclocks: bool,
    /// `tempcomp`: tempcomp.log.
    pub tempcomp: bool,
    /// `selection`: selection.log.
    pub selection: bool,
}

impl LogSet {
    /// Nothing is logged.
    pub fn is_empty(&self) -> bool {
        *self == LogSet::default()
    }
}

/// chronyc's command access: `cmdport`, `bindcmdaddress`, `cmdallow`,
/// `cmddeny`, `cmdratelimit`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommandConfig {
    /// `cmdport` (default 323; 0: no UDP command port).
    pub port: u16,
    /// `bindcmdaddress` with an IPv4 address (default: 127.0.0.1).
    pub bind_ipv4: Option<Ipv4Addr>,
    /// `bindcmdaddress` with an IPv6 address (default: ::1).
    pub bind_ipv6: Option<Ipv6Addr>,
    /// `bindcmdaddress /PATH`: the Unix socket (default
    /// [`DEFAULT_CMD_SOCKET`]; `None` after `bindcmdaddress /`).
    pub socket: Option<PathBuf>,
    /// `cmdallow` and `cmddeny`, in order. chronyd also always answers
    /// localhost. (Boxed: a table of 1,024 rules is 24 KiB, not for the
    /// stack.)
    pub access: Box<AccessControl>,
    /// `cmdratelimit`.
    pub rate_limit: Option<RateLimit>,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            port: DEFAULT_CMD_PORT,
            bind_ipv4: None,
            bind_ipv6: None,
            socket: Some(PathBuf::from(DEFAULT_CMD_SOCKET)),
            access: Box::new(AccessControl::DENY_ALL),
            rate_limit: None,
        }
    }
}

/// A line that is accepted but not, or not all, acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub path: String,
    /// The line number, from 1.
    pub line: usize,
    /// The directive.
    pub directive: &'static str,
    /// What is not acted on, and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}:{}: {}", self.path, self.line, self.message)
    }
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A directive chronyd does not know.
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
    /// A value that does not parse or that chronyd refuses.
    #[error("`{directive}`: bad {what} `{value}`")]
    BadValue {
        /// The directive.
        directive: &'static str,
        /// What the value is.
        what: &'static str,
        /// The value as written.
        value: String,
    },
    /// A bad subnet in `allow`, `deny`, `cmdallow` or `cmddeny`.
    #[error("`{directive}`: {error} (`{value}`)")]
    Subnet {
        /// The directive.
        directive: &'static str,
        /// What is wrong.
        error: AccessError,
        /// The subnet as written.
        value: String,
    },
    /// A host name in `allow`/`deny` that does not resolve (chronyd
    /// resolves them when it reads the file).
    #[error("`{directive}`: cannot resolve `{host}`")]
    Resolve {
        /// The directive.
        directive: &'static str,
        /// The name.
        host: String,
    },
    /// A second `refclock ... local`: chrony's documentation allows one,
    /// and two would each pull the clock their own way.
    #[error("only one `refclock` can be `local`; the one at {first} is")]
    SecondLocalRefclock {
        /// Where the first one is.
        first: String,
    },
    /// A line too long for chronyd (2047 bytes or more).
    #[error("line too long (chronyd reads at most 2046 bytes)")]
    TooLong,
    /// `include` of a file that cannot be read.
    #[error("cannot read `{path}`: {reason}")]
    Include {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// An `include` pattern in a folder that cannot be listed (chronyd:
    /// "Could not search for files matching ...").
    #[error("could not search for files matching `{pattern}`: {reason}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// The folder and what the system said.
        reason: String,
    },
    /// Files including each other too deeply (a loop).
    #[error("includes nested more than {0} deep")]
    TooDeep(usize),
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
        source: std::io::Error,
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

impl ConfigError {
    fn at(location: &Location, error: LineError) -> ConfigError {
        ConfigError::Line {
            path: location.path.clone(),
            line: location.line,
            error,
        }
    }
}

/// A parsed chrony.conf (with every file it includes).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `server` and `pool` lines, in order, then those of `sourcedir`
    /// files.
    pub sources: Vec<SourceConfig>,
    /// `peer` lines: symmetric peers, each with
    /// [`engine.peer`](crate::source::SourceConfig::peer) set.
    pub peers: Vec<SourceConfig>,
    /// `refclock` lines.
    pub refclocks: Vec<RefclockLine>,
    /// `hwtimestamp` lines.
    pub hwtimestamps: Vec<HwTimestampLine>,
    /// `broadcast` lines: where the node broadcasts its time, and how
    /// often.
    pub broadcasts: Vec<BroadcastConfig>,
    /// `ptpport`: NTP over PTP's event port (see [`crate::wire::ptp`]),
    /// for the sources whose `port` it is and the clients that ask there.
    pub ptpport: Option<u16>,
    /// `local`.
    pub local: Option<LocalConfig>,
    /// `allow` and `deny`, in order (nobody is served without an `allow`;
    /// boxed: 24 KiB).
    pub access: Box<AccessControl>,
    /// `ratelimit` (off without it).
    pub rate_limit: Option<RateLimit>,
    /// `port`: the NTP server port (default 123; 0 disables serving).
    pub port: u16,
    /// `bindaddress`: the addresses to serve on (default: every IPv4 and
    /// IPv6 address).
    pub bind_addresses: Vec<IpAddr>,
    /// `acquisitionport`: the port the requests to the sources leave from,
    /// on one socket (per address family) for all of them (0: a port the
    /// system picks; the NTP server port: the server's own sockets). None
    /// (chronyd's -1, the default): a socket of its own per source, each
    /// on a port the system picks.
    pub acquisition_port: Option<u16>,
    /// `bindacqaddress`: the address the sources' requests leave from, one
    /// per family (default: the system picks).
    pub bind_acq_addresses: Vec<IpAddr>,
    /// `bindcmdaddress`: the last path given (`/` included), else the last
    /// address, as written ([`Config::command`] has them typed).
    pub bind_cmd_address: Option<String>,
    /// chronyc's command port and socket, and who may use them.
    pub command: CommandConfig,
    /// `driftfile`.
    pub driftfile: Option<PathBuf>,
    /// `makestep`.
    pub makestep: Option<MakeStep>,
    /// `maxchange`.
    pub maxchange: Option<MaxChange>,
    /// `sched_priority` (0: not set; `-P` wins).
    pub sched_priority: i32,
    /// `lock_all` (as `-m`).
    pub lock_all: bool,
    /// `maxsamples`: every source's, where its line sets none (0 there).
    pub maxsamples: Option<u8>,
    /// `minsamples`: likewise.
    pub minsamples: Option<u8>,
    /// `fallbackdrift` (none when not given, or when chronyd would not use
    /// the pair it gives).
    pub fallbackdrift: Option<crate::discipline::FallbackDrift>,
    /// `initstepslew`: the threshold (seconds) and the hosts to measure
    /// before the sources are started.
    pub initstepslew: Option<InitStepSlew>,
    /// `logchange`: clock updates correcting more than this many seconds
    /// are logged (chronyd's default: 1 s).
    pub logchange: f64,
    /// `maxupdateskew`, in ppm.
    pub maxupdateskew: Option<f64>,
    /// `stratumweight`, in seconds.
    pub stratumweight: Option<f64>,
    /// `reselectdist`, in seconds.
    pub reselectdist: Option<f64>,
    /// `clockprecision`: the system clock's precision, seconds (none:
    /// measured at start).
    pub clockprecision: Option<f64>,
    /// `maxdistance`, in seconds.
    pub maxdistance: Option<f64>,
    /// `maxjitter`, in seconds.
    pub maxjitter: Option<f64>,
    /// `minsources` (at least 1).
    pub minsources: Option<usize>,
    /// `maxslewrate`, in ppm.
    pub maxslewrate: Option<f64>,
    /// `corrtimeratio`: how many update intervals an average correction
    /// is slewed over.
    pub corrtimeratio: Option<f64>,
    /// `smoothtime`: the smoothing of the time served.
    pub smoothtime: Option<crate::smooth::SmoothConfig>,
    /// `maxdrift`, in ppm.
    pub maxdrift: Option<f64>,
    /// `rtcsync`.
    pub rtcsync: bool,
    /// `leapsectz`: the time zone (e.g. `right/UTC`) whose leap seconds
    /// the daemon reads (`linux::settings::Settings::resolve`).
    pub leapsectz: Option<String>,
    /// `leapsecmode`.
    pub leapsecmode: Option<LeapSecMode>,
    /// `leapsmear` (ntpkit's own directive: chronyd refuses it): serve
    /// leap seconds smeared over the 24 hours around them.
    pub leapsmear: bool,
    /// `tempcomp`.
    pub tempcomp: Option<TempCompConfig>,
    /// `dumpdir`.
    pub dumpdir: Option<PathBuf>,
    /// `dumponexit` (obsolete: chronyd 4.3 ignores it and dumps on exit
    /// whenever `dumpdir` is set).
    pub dumponexit: bool,
    /// `logdir`.
    pub logdir: Option<PathBuf>,
    /// `log`: what to log.
    pub log: LogSet,
    /// `logbanner`: entries between banners (default 32; 0: none).
    pub logbanner: u32,
    /// `manual`: `chronyc settime` accepted from the start.
    pub manual: bool,
    /// `noclientlog`: no client log (nor rate limiting).
    pub noclientlog: bool,
    /// `clientloglimit BYTES`: the client log's memory (chronyd's default
    /// 524288).
    pub clientloglimit: Option<u64>,
    /// `pidfile` (`/` for none; chronyd's default otherwise).
    pub pidfile: Option<PathBuf>,
    /// `user`: the user to drop root to.
    pub user: Option<String>,
    /// Keys and NTS.
    pub auth: AuthConfig,
    /// Lines accepted but not (all) acted on, one per line.
    pub warnings: Vec<Warning>,
    /// The directive lines as parsed, for [`Config::render`].
    lines: Vec<print::Printed>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            peers: Vec::new(),
            refclocks: Vec::new(),
            hwtimestamps: Vec::new(),
            broadcasts: Vec::new(),
            ptpport: None,
            local: None,
            access: Box::new(AccessControl::DENY_ALL),
            rate_limit: None,
            port: NTP_PORT,
            bind_addresses: Vec::new(),
            acquisition_port: None,
            bind_acq_addresses: Vec::new(),
            bind_cmd_address: None,
            command: CommandConfig::default(),
            driftfile: None,
            makestep: None,
            maxchange: None,
            logchange: DEFAULT_LOGCHANGE,
            initstepslew: None,
            fallbackdrift: None,
            maxsamples: None,
            minsamples: None,
            sched_priority: 0,
            lock_all: false,
            maxupdateskew: None,
            stratumweight: None,
            reselectdist: None,
            clockprecision: None,
            maxdistance: None,
            maxjitter: None,
            minsources: None,
            maxslewrate: None,
            corrtimeratio: None,
            smoothtime: None,
            maxdrift: None,
            rtcsync: false,
            leapsectz: None,
            leapsecmode: None,
            leapsmear: false,
            tempcomp: None,
            dumpdir: None,
            dumponexit: false,
            logdir: None,
            log: LogSet::default(),
            logbanner: 32,
            manual: false,
            noclientlog: false,
            clientloglimit: None,
            pidfile: None,
            user: None,
            auth: AuthConfig::default(),
            warnings: Vec::new(),
            lines: Vec::new(),
        }
    }
}

/// `chronyd -p`: reads the configuration at `path` (with every file it
/// includes), writes it as parsed to `out` ([`Config::render`]) and its
/// warnings to `err`, and returns the exit status: 0, or 1 with the error
/// (naming file and line) on `err` when the file is refused.
pub fn print_parsed(path: &Path, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    match Config::load(path) {
        Ok(config) => {
            for warning in &config.warnings {
                let _ = writeln!(err, "{warning}");
            }
            match out.write_all(config.render().as_bytes()) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = writeln!(err, "{e}");
                    1
                }
            }
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            1
        }
    }
}

/// Files nested deeper than this are refused (chronyd would loop until it
/// runs out of file descriptors).
pub const MAX_INCLUDE_DEPTH: usize = 16;

impl Config {
    /// Reads and parses the file at `path`, and the files it includes.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &SystemEnvironment)
    }

    /// As [`Config::load`], with files and names from `env`.
    pub fn load_with(path: &Path, env: &dyn Environment) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = match env.read(path) {
            Ok(Some(text)) => text,
            Ok(None) => Vec::new(),
            Err(source) => return Err(ConfigError::Io { path: name, source }),
        };
        Config::parse_bytes(&text, &name, env)
    }

    /// Parses `text`; `path` names it in errors and warnings. Included
    /// files are read from the file system and `allow` host names are
    /// resolved, as chronyd does.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        Config::parse_bytes(text.as_bytes(), path, &SystemEnvironment)
    }

    /// As [`Config::parse`], with files and names from `env` ([`Isolated`]:
    /// none at all).
    pub fn parse_with(
        text: &str,
        path: &str,
        env: &dyn Environment,
    ) -> Result<Config, ConfigError> {
        Config::parse_bytes(text.as_bytes(), path, env)
    }

    /// Parses the bytes of a file (they need not be UTF-8).
    pub fn parse_bytes(
        text: &[u8],
        path: &str,
        env: &dyn Environment,
    ) -> Result<Config, ConfigError> {
        let mut reader = reader::Reader::new(env);
        reader.file(text, path, 0)?;
        reader.finish()
    }

    /// The configuration as `chronyd -p` prints it: each directive line,
    /// its words separated by one space, in the order read, with the lines
    /// of included files in place of `include` and `confdir`. chronyd
    /// prints a `sourcedir` line alone (it reads those files later); here
    /// the lines read from its files follow it.
    pub fn render(&self) -> String {
        print::render(&self.lines)
    }
}
