//! Every chrony 4.3 directive: how its arguments are read, where its value
//! goes, and, for what ntpkit does not act on, why ([`NOT_ACTED_ON`]).

use std::format;
use std::net::IpAddr;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

use super::include::{self, Environment};
use super::print::Printed;
use super::scan::{self, Cursor};
use super::sources::{self, SourceLine};
use super::{
    auth, Config, ConfigError, LeapSecMode, LineError, Location, MakeStep, MaxChange, SourceConfig,
    Warning, MAX_INCLUDE_DEPTH,
};
use crate::access::{AccessControl, AccessError, Subnet};
use crate::server::RateLimit;

/// Every directive of chrony 4.3 (and the four it no longer supports but
/// still accepts).
pub const DIRECTIVES: &[&str] = &[
    "acquisitionport",
    "allow",
    "authselectmode",
    "bindacqaddress",
    "bindacqdevice",
    "bindaddress",
    "bindcmdaddress",
    "bindcmddevice",
    "binddevice",
    "broadcast",
    "clientloglimit",
    "clockprecision",
    "cmdallow",
    "cmddeny",
    "cmdport",
    "cmdratelimit",
    "combinelimit",
    "confdir",
    "corrtimeratio",
    "deny",
    "driftfile",
    "dscp",
    "dumpdir",
    "dumponexit",
    "fallbackdrift",
    "hwclockfile",
    "hwtimestamp",
    "include",
    "initstepslew",
    "keyfile",
    "leapsecmode",
    "leapsectz",
    "local",
    "lock_all",
    "log",
    "logbanner",
    "logchange",
    "logdir",
    "mailonchange",
    "makestep",
    "manual",
    "maxchange",
    "maxclockerror",
    "maxdistance",
    "maxdrift",
    "maxjitter",
    "maxntsconnections",
    "maxsamples",
    "maxslewrate",
    "maxupdateskew",
    "minsamples",
    "minsources",
    "nocerttimecheck",
    "noclientlog",
    "nosystemcert",
    "ntpsigndsocket",
    "ntscachedir",
    "ntsdumpdir",
    "ntsntpserver",
    "ntsport",
    "ntsprocesses",
    "ntsratelimit",
    "ntsrefresh",
    "ntsrotate",
    "ntsservercert",
    "ntsserverkey",
    "ntstrustedcerts",
    "peer",
    "pidfile",
    "pool",
    "port",
    "ptpport",
    "ratelimit",
    "refclock",
    "reselectdist",
    "rtcautotrim",
    "rtcdevice",
    "rtcfile",
    "rtconutc",
    "rtcsync",
    "sched_priority",
    "server",
    "smoothtime",
    "sourcedir",
    "stratumweight",
    "tempcomp",
    "user",
    // No longer supported, accepted with a message by chronyd 4.3.
    "commandkey",
    "generatecommandkey",
    "linux_freq_scale",
    "linux_hz",
];

/// The directives ntpkit reads but does not act on, and why. (The
/// authentication ones are in `auth.rs`; `local ... orphan` and the source options not acted on warn
/// from their parsers.) When ntpkit starts to act on one, it leaves this
/// list.
pub const NOT_ACTED_ON: &[(&str, &str)] = &[
    (
        "leapsecmode",
        "leap seconds are left to the kernel (chronyd's `leapsecmode system`)",
    ),
    (
        "cmdratelimit",
        "command requests are not rate limited (only localhost and cmdallow are answered)",
    ),
    (
        "dumpdir",
        "ntpkit does not save measurement histories on exit",
    ),
    ("dumponexit", "obsolete: chronyd 4.3 ignores it too"),
    (
        "noclientlog",
        "ntpkit keeps no client log (no `chronyc clients` report yet)",
    ),
    (
        "clientloglimit",
        "ntpkit's table of clients has a fixed size",
    ),
    ("peer", "symmetric peers are not supported"),
    ("refclock", "reference clocks are not supported"),
    ("broadcast", "broadcast mode is not supported"),
    (
        "initstepslew",
        "it is not supported (chrony deprecates it for makestep and iburst)",
    ),
    (
        "manual",
        "manual time input (chronyc settime) is not supported",
    ),
    ("acquisitionport", CLIENT_SOCKETS),
    ("bindacqaddress", CLIENT_SOCKETS),
    ("bindacqdevice", CLIENT_SOCKETS),
    ("binddevice", "binding sockets to a device is not supported"),
    (
        "bindcmddevice",
        "binding sockets to a device is not supported",
    ),
    ("dscp", "DSCP marking is not supported"),
    (
        "hwtimestamp",
        "hardware timestamping is not supported (kernel software timestamps are used)",
    ),
    ("ptpport", "NTP over PTP is not supported"),
    ("rtcfile", RTC),
    ("rtcautotrim", RTC),
    ("rtcdevice", RTC),
    ("rtconutc", RTC),
    ("hwclockfile", RTC),
    ("smoothtime", "server time smoothing is not supported"),
    ("tempcomp", "temperature compensation is not supported"),
    ("fallbackdrift", "fallback drifts are not supported"),
    ("corrtimeratio", ENGINE_OWN),
    ("maxclockerror", ENGINE_OWN),
    ("combinelimit", ENGINE_OWN),
    ("reselectdist", ENGINE_OWN),
    ("maxsamples", ENGINE_OWN),
    ("minsamples", ENGINE_OWN),
    (
        "clockprecision",
        "the clock's precision is measured at start",
    ),
    (
        "logchange",
        "ntpkit does not report clock changes to syslog",
    ),
    ("mailonchange", "ntpkit sends no mail"),
    ("lock_all", "ntpkit does not lock its memory"),
    (
        "sched_priority",
        "ntpkit does not change its scheduling priority",
    ),
    ("ntpsigndsocket", "MS-SNTP signing is not supported"),
    ("commandkey", OBSOLETE),
    ("generatecommandkey", OBSOLETE),
    ("linux_freq_scale", OBSOLETE),
    ("linux_hz", OBSOLETE),
];

const CLIENT_SOCKETS: &str = "ntpkit's client sockets take the port and address the system gives";
const RTC: &str = "tracking the RTC is not supported (rtcsync is)";
const ENGINE_OWN: &str = "the engine does not take it (it keeps its built-in value)";
const OBSOLETE: &str = "obsolete: chronyd 4.3 no longer supports it either";

/// Why `directive` is not acted on, if it is not.
fn not_acted_on(directive: &str) -> Option<&'static str> {
    if auth::DIRECTIVES.contains(&directive) {
        return (!auth::acted_on(directive)).then_some(auth::AUTH_NOT_ACTED_ON);
    }
    NOT_ACTED_ON
        .iter()
        .find(|(name, _)| *name == directive)
        .map(|(_, why)| *why)
}

/// The arguments of one directive line (normalised: words separated by
/// one space).
pub(super) struct Args<'a> {
    /// The directive.
    pub directive: &'static str,
    text: &'a str,
    cursor: Cursor<'a>,
}

impl<'a> Args<'a> {
    pub fn new(directive: &'static str, text: &'a str) -> Self {
        Args {
            directive,
            text,
            cursor: Cursor::new(text),
        }
    }

    /// Everything after the directive.
    pub fn rest(&self) -> &'a str {
        self.text
    }

    /// How many words.
    pub fn count(&self) -> usize {
        scan::count(self.text)
    }

    /// The line has exactly `n` words (chronyd's "Missing/Too many
    /// arguments").
    pub fn expect(&self, n: usize, what: &'static str) -> Result<(), LineError> {
        let mut words = scan::words(self.text);
        match self.count() {
            c if c < n => Err(self.missing(what)),
            c if c > n => Err(LineError::Extra {
                directive: self.directive,
                extra: words.nth(n).unwrap_or_default().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The next word.
    pub fn word(&mut self, what: &'static str) -> Result<&'a str, LineError> {
        self.cursor.word().ok_or_else(|| self.missing(what))
    }

    /// The cursor over the arguments, for option streams.
    pub fn cursor(&mut self) -> &mut Cursor<'a> {
        &mut self.cursor
    }

    /// One word, as a string.
    pub fn string(&self) -> Result<&'a str, LineError> {
        self.expect(1, "a value")?;
        Ok(self.text)
    }

    /// No words.
    pub fn none(&self) -> Result<(), LineError> {
        self.expect(0, "nothing")
    }

    /// One word read as `sscanf("%d")` reads it.
    pub fn int(&self) -> Result<i32, LineError> {
        self.expect(1, "a number")?;
        Cursor::new(self.text)
            .int()
            .ok_or_else(|| self.bad(self.text, "number"))
    }

    /// One word read as `sscanf("%lf")` reads it.
    pub fn double(&self) -> Result<f64, LineError> {
        self.expect(1, "a number")?;
        Cursor::new(self.text)
            .double()
            .ok_or_else(|| self.bad(self.text, "number"))
    }

    pub fn missing(&self, what: &'static str) -> LineError {
        LineError::Missing {
            directive: self.directive,
            what,
        }
    }

    pub fn bad(&self, value: &str, what: &'static str) -> LineError {
        LineError::BadValue {
            directive: self.directive,
            what,
            value: value.to_string(),
        }
    }

    pub fn unknown(&self, option: &str) -> LineError {
        LineError::UnknownOption {
            directive: self.directive,
            option: option.to_string(),
        }
    }

    /// `ratelimit`, `cmdratelimit`, `ntsratelimit`: `interval N`, `burst
    /// N`, `leak N` (and `kod N`, chrony 4.4's, for `ratelimit` when
    /// `kod` is true), each value read as `sscanf("%d%n")` from where the
    /// option ends. Out-of-range values are clamped to [`RateLimit`]'s
    /// ranges, as the server clamps them.
    pub fn rate_limit(&mut self, kod: bool) -> Result<RateLimit, LineError> {
        let mut limit = RateLimit::default();
        while let Some(option) = self.cursor.word() {
            let lower = option.to_ascii_lowercase();
            let value = match lower.as_str() {
                "interval" | "burst" | "leak" => self.cursor.int(),
                "kod" if kod => self.cursor.int(),
                _ => return Err(self.unknown(option)),
            }
            .ok_or_else(|| self.bad(self.cursor.rest(), "number"))?;
            match lower.as_str() {
                "interval" => limit.interval = value.clamp(-19, 12) as i8,
                "burst" => limit.burst = value.clamp(1, 255) as u8,
                "leak" => limit.leak = value.clamp(1, 4) as u8,
                _ => limit.kod = value.clamp(0, 4) as u8,
            }
        }
        Ok(limit)
    }
}

/// A path argument.
pub(super) fn path(args: &Args<'_>) -> Result<PathBuf, LineError> {
    args.string().map(PathBuf::from)
}

/// Reads the files of a configuration into a [`Config`].
pub(super) struct Parser<'e> {
    env: &'e dyn Environment,
    pub config: Config,
    /// The sources of `sourcedir` files, added at the end.
    dir_sources: Vec<SourceConfig>,
    /// Where `ratelimit`, `cmdratelimit` or `ntsratelimit` was last set
    /// (for the `noclientlog` conflict).
    ratelimit_at: Option<Location>,
    /// Where `rtcfile` was last set (for the `rtcsync` conflict).
    rtcfile_at: Option<Location>,
    /// The last `ntsservercert` or `ntsserverkey` (they must pair up).
    nts_server_at: Option<Location>,
    /// What the current line does not act on.
    notes: Vec<String>,
}

impl<'e> Parser<'e> {
    pub fn new(env: &'e dyn Environment) -> Self {
        Parser {
            env,
            config: Config::default(),
            dir_sources: Vec::new(),
            ratelimit_at: None,
            rtcfile_at: None,
            nts_server_at: None,
            notes: Vec::new(),
        }
    }

    /// Something the current line does not act on.
    pub fn note(&mut self, message: String) {
        self.notes.push(message);
    }

    /// A value ntpkit cannot use: `used` is used instead.
    pub fn out_of_range(
        &mut self,
        name: &str,
        value: impl std::fmt::Display,
        range: &str,
        used: &str,
    ) {
        self.note(format!(
            "`{name} {value}` is outside {range}: ntpkit uses {used}"
        ));
    }

    /// The lines of a configuration file.
    pub fn file(&mut self, text: &[u8], path: &str, depth: usize) -> Result<(), ConfigError> {
        for raw in scan::lines(text) {
            let at = Location {
                path: path.to_string(),
                line: raw.number,
            };
            if raw.too_long {
                return Err(ConfigError::at(&at, LineError::TooLong));
            }
            let Some(line) = scan::normalize(raw.bytes) else {
                continue;
            };
            self.line(&line, &at, depth)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str, at: &Location, depth: usize) -> Result<(), ConfigError> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let name = DIRECTIVES
            .iter()
            .copied()
            .find(|name| name.eq_ignore_ascii_case(word))
            .ok_or_else(|| ConfigError::at(at, LineError::UnknownDirective(word.to_string())))?;
        match name {
            "include" | "confdir" | "sourcedir" => {
                return self.include(name, line, rest, at, depth);
            }
            _ => {}
        }
        self.config.lines.push(Printed::line(line));
        let mut args = Args::new(name, rest);
        self.directive(name, &mut args, at)
            .map_err(|e| ConfigError::at(at, e))?;
        if let Some(why) = not_acted_on(name) {
            self.notes
                .insert(0, format!("`{name}` is not acted on: {why}"));
        }
        self.flush(name, at);
        Ok(())
    }

    /// The warning of the line just read, if something is not acted on.
    fn flush(&mut self, directive: &'static str, at: &Location) {
        if self.notes.is_empty() {
            return;
        }
        let message = std::mem::take(&mut self.notes).join("; ");
        self.config.warnings.push(Warning {
            path: at.path.clone(),
            line: at.line,
            directive,
            message,
        });
    }

    fn include(
        &mut self,
        name: &'static str,
        line: &str,
        rest: &str,
        at: &Location,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let error = |e| ConfigError::at(at, e);
        let args = Args::new(name, rest);
        match name {
            "include" => {
                args.expect(1, "a file or pattern").map_err(error)?;
                let files = include::glob(self.env, rest).map_err(error)?;
                self.nested(files, depth, at)
            }
            "confdir" => {
                let dirs: Vec<&str> = scan::words(rest).collect();
                if dirs.is_empty() || dirs.len() > include::MAX_DIRS {
                    return Err(error(args.bad(rest, "list of 1 to 10 directories")));
                }
                let files = include::search_dirs(self.env, &dirs, ".conf");
                self.nested(files, depth, at)
            }
            _ => {
                self.config.lines.push(Printed::line(line));
                let dirs: Vec<&str> = scan::words(rest).collect();
                if dirs.len() > include::MAX_DIRS {
                    self.note(format!(
                        "`sourcedir` is not acted on: more than {} directories (chronyd reads none of them either)",
                        include::MAX_DIRS
                    ));
                } else {
                    for file in include::search_dirs(self.env, &dirs, ".sources") {
                        self.sources_file(&file);
                    }
                }
                self.flush(name, at);
                Ok(())
            }
        }
    }

    /// The files of an `include` or `confdir`.
    fn nested(
        &mut self,
        files: Vec<PathBuf>,
        depth: usize,
        at: &Location,
    ) -> Result<(), ConfigError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(at, LineError::TooDeep(MAX_INCLUDE_DEPTH)));
        }
        for file in files {
            let name = file.display().to_string();
            let text = self.env.read(&file).map_err(|e| {
                ConfigError::at(
                    at,
                    LineError::Include {
                        path: name.clone(),
                        reason: e.to_string(),
                    },
                )
            })?;
            if let Some(text) = text {
                self.file(&text, &name, depth + 1)?;
            }
        }
        Ok(())
    }

    /// A `*.sources` file: `server`, `pool` and `peer` lines, each ended
    /// by a newline. chronyd skips every other line, so does ntpkit, with
    /// a warning.
    fn sources_file(&mut self, file: &std::path::Path) {
        let name = file.display().to_string();
        let text = match self.env.read(file) {
            Ok(Some(text)) => text,
            Ok(None) => return,
            Err(e) => {
                self.config.warnings.push(Warning {
                    path: name,
                    line: 0,
                    directive: "sourcedir",
                    message: format!("cannot read it ({e}): its sources are not used"),
                });
                return;
            }
        };
        for raw in scan::lines(&text) {
            let at = Location {
                path: name.clone(),
                line: raw.number,
            };
            let Some(line) = scan::normalize(raw.bytes) else {
                continue;
            };
            let skipped = |why: String| Warning {
                path: at.path.clone(),
                line: at.line,
                directive: "sourcedir",
                message: format!("skipped, as chronyd skips it: {why}"),
            };
            if !raw.ended {
                self.config
                    .warnings
                    .push(skipped("the line is not ended by a newline".into()));
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
            let kind = ["server", "pool", "peer"]
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(word));
            let Some(kind) = kind else {
                self.config.warnings.push(skipped(format!(
                    "only server, pool and peer lines are read from sources files, not `{word}`"
                )));
                continue;
            };
            match sources::parse(kind, rest, &at) {
                Err(e) => self.config.warnings.push(skipped(e.to_string())),
                Ok(parsed) => {
                    self.config.lines.push(Printed::line(&line));
                    self.add_source(kind, parsed, &at, true);
                }
            }
        }
    }

    fn add_source(
        &mut self,
        kind: &'static str,
        parsed: SourceLine,
        at: &Location,
        from_dir: bool,
    ) {
        for note in parsed.notes {
            self.note(note);
        }
        match kind {
            "peer" => self.config.peers.push(parsed.source),
            _ if from_dir => self.dir_sources.push(parsed.source),
            _ => self.config.sources.push(parsed.source),
        }
        if from_dir {
            if kind == "peer" {
                self.notes.insert(
                    0,
                    "`peer` is not acted on: symmetric peers are not supported".into(),
                );
            }
            self.flush(kind, at);
        }
    }

    /// The end of the configuration.
    pub fn finish(mut self) -> Result<Config, ConfigError> {
        // What chronyd 4.3 refuses at start-up.
        // Any rate limiting needs the client log.
        if let (true, Some(at)) = (self.config.noclientlog, &self.ratelimit_at) {
            return Err(ConfigError::at(
                at,
                LineError::Conflict("rate limiting cannot be used with noclientlog"),
            ));
        }
        if let (true, Some(at)) = (self.config.rtcsync, &self.rtcfile_at) {
            return Err(ConfigError::at(
                at,
                LineError::Conflict("rtcfile cannot be used with rtcsync"),
            ));
        }
        let auth = &self.config.auth;
        if auth.nts_server_certs.len() != auth.nts_server_keys.len() {
            if let Some(at) = &self.nts_server_at {
                return Err(ConfigError::at(
                    at,
                    LineError::Conflict(
                        "ntsservercert and ntsserverkey must be given the same number of times",
                    ),
                ));
            }
        }
        // chronyd adds the sources of sourcedir files after the others,
        // sorted by name.
        self.dir_sources
            .sort_by(|a, b| a.host.as_bytes().cmp(b.host.as_bytes()));
        self.config.sources.append(&mut self.dir_sources);
        Ok(self.config)
    }

    fn directive(
        &mut self,
        name: &'static str,
        args: &mut Args<'_>,
        at: &Location,
    ) -> Result<(), LineError> {
        match name {
            "ntsservercert" | "ntsserverkey" => self.nts_server_at = Some(at.clone()),
            "rtcfile" => self.rtcfile_at = Some(at.clone()),
            "cmdratelimit" | "ntsratelimit" => self.ratelimit_at = Some(at.clone()),
            _ => {}
        }
        if auth::directive(self, name, args)? {
            return Ok(());
        }
        let config = &mut self.config;
        match name {
            "server" | "pool" | "peer" => {
                let parsed = sources::parse(name, args.rest(), at)?;
                self.add_source(name, parsed, at, false);
            }
            "refclock" => {
                let refclock = sources::refclock(args.rest(), at)?;
                config.refclocks.push(refclock);
            }
            "hwtimestamp" => sources::hwtimestamp(args.rest())?,
            "local" => self.local(args)?,
            "allow" | "deny" => {
                let mut access =
                    std::mem::replace(&mut self.config.access, AccessControl::DENY_ALL);
                let result = self.access_rule(&mut access, name == "allow", args);
                self.config.access = access;
                result?;
            }
            "cmdallow" | "cmddeny" => {
                let mut access =
                    std::mem::replace(&mut self.config.command.access, AccessControl::DENY_ALL);
                let result = self.access_rule(&mut access, name == "cmdallow", args);
                self.config.command.access = access;
                result?;
            }
            "ratelimit" => {
                config.rate_limit = Some(args.rate_limit(true)?);
                self.ratelimit_at = Some(at.clone());
            }
            "cmdratelimit" => config.command.rate_limit = Some(args.rate_limit(false)?),
            "port" => {
                let port = args.int()?;
                match u16::try_from(port) {
                    Ok(port) => config.port = port,
                    Err(_) => self.out_of_range(name, port, "0..65535", "the previous port"),
                }
            }
            "cmdport" => {
                let port = args.int()?;
                match u16::try_from(port) {
                    Ok(port) => config.command.port = port,
                    Err(_) => self.out_of_range(name, port, "0..65535", "the previous port"),
                }
            }
            "acquisitionport" | "dscp" | "logbanner" | "maxsamples" | "minsamples" | "ptpport" => {
                let value = args.int()?;
                if name == "logbanner" {
                    config.logbanner = value.max(0) as u32;
                }
            }
            "sched_priority" => {
                let value = args.int()?;
                // chronyd refuses to start with a priority Linux cannot set
                // (SCHED_FIFO takes 1 to 99; 0 is chronyd's "off").
                if !(0..=99).contains(&value) {
                    return Err(args.bad(args.rest(), "priority (0 to 99)"));
                }
            }
            "minsources" => {
                let value = args.int()?;
                if value < 1 {
                    self.out_of_range(name, value, "1..", "1");
                }
                self.config.minsources = Some(value.max(1) as usize);
            }
            "maxdistance" => config.maxdistance = Some(args.double()?),
            "maxjitter" => config.maxjitter = Some(args.double()?),
            "maxslewrate" => config.maxslewrate = Some(args.double()?),
            "maxdrift" => config.maxdrift = Some(args.double()?),
            "maxupdateskew" => config.maxupdateskew = Some(args.double()?),
            "stratumweight" => config.stratumweight = Some(args.double()?),
            "clockprecision" | "combinelimit" | "corrtimeratio" | "logchange" | "maxclockerror"
            | "reselectdist" | "rtcautotrim" => {
                args.double()?;
            }
            "clientloglimit" => {
                args.expect(1, "a number")?;
                Cursor::new(args.rest())
                    .ulong()
                    .ok_or_else(|| args.bad(args.rest(), "number"))?;
            }
            "driftfile" => config.driftfile = Some(path(args)?),
            "dumpdir" => config.dumpdir = Some(path(args)?),
            "logdir" => config.logdir = Some(path(args)?),
            "leapsectz" => config.leapsectz = Some(args.string()?.to_string()),
            "bindacqdevice" | "bindcmddevice" | "binddevice" | "hwclockfile" | "ntpsigndsocket"
            | "rtcdevice" | "rtcfile" => {
                args.string()?;
            }
            "pidfile" => config.pidfile = Some(PathBuf::from(args.string()?)),
            "user" => config.user = Some(args.string()?.to_string()),
            "lock_all" | "manual" | "rtconutc" => args.none()?,
            "rtcsync" => {
                args.none()?;
                config.rtcsync = true;
            }
            "noclientlog" => {
                args.none()?;
                config.noclientlog = true;
            }
            "dumponexit" => config.dumponexit = true,
            "commandkey" | "generatecommandkey" | "linux_freq_scale" | "linux_hz" => {}
            "makestep" => {
                args.expect(2, "a threshold and a limit")?;
                let mut c = Cursor::new(args.rest());
                let threshold = c.double();
                let limit = c.int();
                match (threshold, limit) {
                    (Some(threshold), Some(limit)) => {
                        config.makestep = Some(MakeStep { threshold, limit })
                    }
                    _ => return Err(args.bad(args.rest(), "threshold and limit")),
                }
            }
            "maxchange" => {
                args.expect(3, "an offset, a start and an ignore count")?;
                let mut c = Cursor::new(args.rest());
                match (c.double(), c.int(), c.int()) {
                    (Some(offset), Some(start), Some(ignore)) => {
                        config.maxchange = Some(MaxChange {
                            offset,
                            start,
                            ignore,
                        })
                    }
                    _ => return Err(args.bad(args.rest(), "offset, start and ignore count")),
                }
            }
            "fallbackdrift" => {
                args.expect(2, "two intervals")?;
                let mut c = Cursor::new(args.rest());
                if c.int().is_none() || c.int().is_none() {
                    return Err(args.bad(args.rest(), "intervals"));
                }
            }
            "mailonchange" => {
                args.expect(2, "an address and a threshold")?;
                let threshold = scan::words(args.rest()).nth(1).unwrap_or_default();
                Cursor::new(threshold)
                    .double()
                    .ok_or_else(|| args.bad(threshold, "threshold"))?;
            }
            "smoothtime" => {
                let n = args.count();
                if n != 3 {
                    args.expect(2, "a frequency and a wander")?;
                }
                let mut c = Cursor::new(args.rest());
                if c.double().is_none() || c.double().is_none() {
                    return Err(args.bad(args.rest(), "frequency and wander"));
                }
                if let Some(third) = scan::words(args.rest()).nth(2) {
                    if !third.eq_ignore_ascii_case("leaponly") {
                        return Err(args.unknown(third));
                    }
                }
            }
            "tempcomp" => {
                let n = args.count();
                if n != 3 {
                    args.expect(
                        6,
                        "a sensor file, an interval and coefficients or a points file",
                    )?;
                }
                let after_file = args.rest().split_once(' ').map_or("", |(_, r)| r);
                let mut c = Cursor::new(after_file);
                let ok = if n == 3 {
                    c.double().is_some()
                } else {
                    (0..5).all(|_| c.double().is_some())
                };
                if !ok {
                    return Err(args.bad(args.rest(), "interval or coefficients"));
                }
            }
            "initstepslew" => {
                Cursor::new(args.rest())
                    .double()
                    .ok_or_else(|| args.bad(args.rest(), "threshold"))?;
            }
            "broadcast" => {
                let mut words = scan::words(args.rest());
                let interval = words.next().unwrap_or_default();
                Cursor::new(interval)
                    .int()
                    .ok_or_else(|| args.bad(interval, "interval"))?;
                let address = words.next().unwrap_or_default();
                address
                    .parse::<IpAddr>()
                    .map_err(|_| args.bad(address, "address"))?;
                if let Some(port) = words.next() {
                    Cursor::new(port)
                        .int()
                        .ok_or_else(|| args.bad(port, "port"))?;
                    if let Some(extra) = words.next() {
                        return Err(LineError::Extra {
                            directive: name,
                            extra: extra.to_string(),
                        });
                    }
                }
            }
            "log" => {
                let mut log = config.log;
                for word in scan::words(args.rest()) {
                    let flag = match word {
                        "rawmeasurements" => {
                            log.measurements = true;
                            &mut log.rawmeasurements
                        }
                        "measurements" => &mut log.measurements,
                        "statistics" => &mut log.statistics,
                        "tracking" => &mut log.tracking,
                        "rtc" => &mut log.rtc,
                        "refclocks" => &mut log.refclocks,
                        "tempcomp" => &mut log.tempcomp,
                        "selection" => &mut log.selection,
                        _ => return Err(args.unknown(word)),
                    };
                    *flag = true;
                }
                config.log = log;
            }
            "leapsecmode" => {
                let mode = args.rest();
                config.leapsecmode = Some(match mode.to_ascii_lowercase().as_str() {
                    "system" => LeapSecMode::System,
                    "step" => LeapSecMode::Step,
                    "slew" => LeapSecMode::Slew,
                    "ignore" => LeapSecMode::Ignore,
                    _ => return Err(args.bad(mode, "mode")),
                });
            }
            "bindaddress" => {
                args.expect(1, "an address")?;
                let ip: IpAddr = args
                    .rest()
                    .parse()
                    .map_err(|_| args.bad(args.rest(), "IP address"))?;
                // One per family, the last one (chronyd's rule).
                let before = config.bind_addresses.len();
                config
                    .bind_addresses
                    .retain(|a| a.is_ipv4() != ip.is_ipv4());
                config.bind_addresses.push(ip);
                if config.bind_addresses.len() == before {
                    self.note(format!(
                        "it replaces the earlier IPv{} bindaddress (one per family, as in chronyd)",
                        if ip.is_ipv4() { 4 } else { 6 }
                    ));
                }
            }
            "bindacqaddress" => {
                args.expect(1, "an address")?;
                args.rest()
                    .parse::<IpAddr>()
                    .map_err(|_| args.bad(args.rest(), "IP address"))?;
            }
            "bindcmdaddress" => {
                args.expect(1, "a path or address")?;
                let value = args.rest();
                if value.starts_with('/') {
                    config.command.socket = (value != "/").then(|| PathBuf::from(value));
                    config.bind_cmd_address = Some(value.to_string());
                } else {
                    match value
                        .parse::<IpAddr>()
                        .map_err(|_| args.bad(value, "path or IP address"))?
                    {
                        IpAddr::V4(v4) => config.command.bind_ipv4 = Some(v4),
                        IpAddr::V6(v6) => config.command.bind_ipv6 = Some(v6),
                    }
                    if !config
                        .bind_cmd_address
                        .as_deref()
                        .is_some_and(|a| a.starts_with('/'))
                    {
                        config.bind_cmd_address = Some(value.to_string());
                    }
                }
            }
            // Every name of DIRECTIVES has an arm (a test checks it).
            _ => return Err(LineError::UnknownDirective(name.to_string())),
        }
        Ok(())
    }

    fn local(&mut self, args: &mut Args<'_>) -> Result<(), LineError> {
        let mut local = super::LocalConfig {
            stratum: 10,
            distance: 1.0,
            orphan: false,
        };
        while let Some(option) = args.cursor().word() {
            match option.to_ascii_lowercase().as_str() {
                "stratum" => {
                    let stratum = args.cursor().int().filter(|s| (1..=15).contains(s));
                    local.stratum =
                        stratum.ok_or_else(|| args.bad(option, "stratum (1 to 15)"))? as u8;
                }
                "distance" => {
                    local.distance = args
                        .cursor()
                        .double()
                        .ok_or_else(|| args.bad(option, "distance"))?;
                }
                "orphan" => local.orphan = true,
                _ => return Err(args.unknown(option)),
            }
        }
        if local.orphan {
            self.note(
                "`local` option `orphan` is not acted on: orphan mode is not implemented (the local reference is served as without it)"
                    .to_string(),
            );
        }
        self.config.local = Some(local);
        Ok(())
    }

    /// `allow`/`deny`/`cmdallow`/`cmddeny [all] [SUBNET]`.
    fn access_rule(
        &self,
        access: &mut AccessControl,
        allow: bool,
        args: &Args<'_>,
    ) -> Result<(), LineError> {
        let directive = args.directive;
        let mut words = scan::words(args.rest());
        let mut word = words.next();
        let all = word == Some("all");
        if all {
            word = words.next();
        }
        if let Some(extra) = words.next() {
            return Err(LineError::Extra {
                directive,
                extra: extra.to_string(),
            });
        }
        let subnets = match word {
            None => [Some(Subnet::ALL_V4), Some(Subnet::ALL_V6)],
            Some(text) => [Some(self.subnet(directive, text)?), None],
        };
        for subnet in subnets.into_iter().flatten() {
            let added = match (all, allow) {
                (true, _) => access.set_all(subnet, allow),
                (false, true) => access.allow(subnet),
                (false, false) => access.deny(subnet),
            };
            added.map_err(|error| LineError::Subnet {
                directive,
                error,
                value: subnet.to_string(),
            })?;
        }
        Ok(())
    }

    /// A subnet as chronyd reads it: the dotted IPv4 short forms and IPv6
    /// with an optional `/BITS`, or else a host name, resolved now.
    fn subnet(&self, directive: &'static str, text: &str) -> Result<Subnet, LineError> {
        let bad = |error| LineError::Subnet {
            directive,
            error,
            value: text.to_string(),
        };
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let numeric = address.contains(':')
            || (!address.is_empty() && address.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        if numeric || bits.is_some() {
            return text.parse::<Subnet>().map_err(bad);
        }
        let ip = self
            .env
            .resolve(address)
            .ok_or_else(|| LineError::Resolve {
                directive,
                host: address.to_string(),
            })?;
        let full = if ip.is_ipv4() { 32 } else { 128 };
        Subnet::new(ip, full).map_err(|_: AccessError| bad(AccessError::BadSubnet))
    }
}
