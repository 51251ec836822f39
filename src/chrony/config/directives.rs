//! Every chrony 4.3 directive, in one table ([`DIRECTIVES`]): its name, how
//! its arguments are read and where they go, and, for what ntpkit does not
//! act on, why.

use std::format;
use std::net::IpAddr;
use std::path::PathBuf;
use std::string::ToString;

use super::auth;
use super::reader::{Args, RateOptions, Reader};
use super::scan::{self, Cursor};
use super::sources::{self, Origin, SourceLine};
use super::{
    InitStepSlew, LeapSecMode, LineError, LocalConfig, Location, LogSet, MakeStep, MaxChange,
    TempCompConfig, TempCompCurve,
};
use crate::access::{AccessError, Subnet};
use crate::discipline::FallbackDrift;

/// Reads one line of a directive into the configuration.
pub(super) type Read = fn(&mut Reader<'_>, &mut Args<'_>, &Location) -> Result<(), LineError>;

/// How a directive's line is read.
#[derive(Clone, Copy)]
pub(super) enum Reading {
    /// By this function.
    Line(Read),
    /// By the file reader: `include`, `confdir`, `sourcedir` read files.
    Files,
}

/// One directive.
#[derive(Clone, Copy)]
pub struct Directive {
    /// Its name, as chrony.conf(5) writes it.
    pub name: &'static str,
    /// `None` when ntpkit acts on it; why not otherwise (the line's
    /// warning says it).
    pub not_acted_on: Option<&'static str>,
    pub(super) reading: Reading,
}

impl core::fmt::Debug for Directive {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Directive")
            .field("name", &self.name)
            .field("not_acted_on", &self.not_acted_on)
            .finish_non_exhaustive()
    }
}

/// The directive called `word` (case-insensitive), if chronyd knows it.
pub(super) fn find(word: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(word))
}

const fn acted(name: &'static str, read: Read) -> Directive {
    Directive {
        name,
        not_acted_on: None,
        reading: Reading::Line(read),
    }
}

const fn not_acted(name: &'static str, why: &'static str, read: Read) -> Directive {
    Directive {
        name,
        not_acted_on: Some(why),
        reading: Reading::Line(read),
    }
}

const fn files(name: &'static str) -> Directive {
    Directive {
        name,
        not_acted_on: None,
        reading: Reading::Files,
    }
}

const RTC: &str = "tracking the RTC is not supported (rtcsync is)";
const ENGINE_OWN: &str = "the engine does not take it (it keeps its built-in value)";
const OBSOLETE: &str = "obsolete: chronyd 4.3 no longer supports it either";
const DEVICE: &str = "binding sockets to a device is not supported";

/// Every directive of chrony 4.3 (and the four it no longer supports but
/// still accepts), in the order of their names.
pub const DIRECTIVES: &[Directive] = &[
    acted("acquisitionport", acquisitionport),
    acted("allow", |r, a, _| access(r, a, Rule::Allow, Table::Ntp)),
    acted("authselectmode", auth::authselectmode),
    acted("bindacqaddress", bindacqaddress),
    not_acted("bindacqdevice", DEVICE, |_, a, _| a.string().map(drop)),
    acted("bindaddress", bindaddress),
    acted("bindcmdaddress", bindcmdaddress),
    not_acted("bindcmddevice", DEVICE, |_, a, _| a.string().map(drop)),
    not_acted("binddevice", DEVICE, |_, a, _| a.string().map(drop)),
    acted("broadcast", broadcast),
    acted("clientloglimit", |r, a, _| {
        a.expect(1, "a number")?;
        let bytes = Cursor::new(a.rest())
            .ulong()
            .ok_or_else(|| a.bad(a.rest(), "number"))?;
        r.config.clientloglimit = Some(bytes);
        Ok(())
    }),
    acted("clockprecision", |r, a, _| {
        // chronyd takes 1 ns to 1 s.
        r.config.clockprecision = Some(a.double()?.clamp(1e-9, 1.0));
        Ok(())
    }),
    acted("cmdallow", |r, a, _| {
        access(r, a, Rule::Allow, Table::Command)
    }),
    acted("cmddeny", |r, a, _| {
        access(r, a, Rule::Deny, Table::Command)
    }),
    acted("cmdport", |r, a, _| {
        if let Some(port) = r.port(a)? {
            r.config.command.port = port;
        }
        Ok(())
    }),
    not_acted(
        "cmdratelimit",
        "command requests are not rate limited (only localhost and cmdallow are answered)",
        |r, a, at| {
            r.config.command.rate_limit = Some(a.rate_limit(RateOptions::Plain)?);
            r.ratelimit_at = Some(at.clone());
            Ok(())
        },
    ),
    not_acted("combinelimit", ENGINE_OWN, |_, a, _| a.double().map(drop)),
    not_acted("commandkey", OBSOLETE, |_, _, _| Ok(())),
    files("confdir"),
    acted("corrtimeratio", |r, a, _| {
        r.config.corrtimeratio = Some(a.double()?);
        Ok(())
    }),
    acted("deny", |r, a, _| access(r, a, Rule::Deny, Table::Ntp)),
    acted("driftfile", |r, a, _| {
        r.config.driftfile = Some(a.path()?);
        Ok(())
    }),
    not_acted("dscp", "DSCP marking is not supported", |_, a, _| {
        a.int().map(drop)
    }),
    acted("dumpdir", |r, a, _| {
        r.config.dumpdir = Some(a.path()?);
        Ok(())
    }),
    not_acted(
        "dumponexit",
        "obsolete: chronyd 4.3 ignores it too (histories are saved on exit whenever dumpdir is set)",
        |r, _, _| {
            r.config.dumponexit = true;
            Ok(())
        },
    ),
    acted("fallbackdrift", |r, a, _| {
        a.expect(2, "two intervals")?;
        let mut c = Cursor::new(a.rest());
        match (c.int(), c.int()) {
            (Some(min), Some(max)) => {
                // chronyd takes any pair and uses only 0 < MIN <= MAX.
                r.config.fallbackdrift = FallbackDrift::new(i64::from(min), i64::from(max));
                Ok(())
            }
            _ => Err(a.bad(a.rest(), "intervals")),
        }
    }),
    not_acted("generatecommandkey", OBSOLETE, |_, _, _| Ok(())),
    not_acted("hwclockfile", RTC, |_, a, _| a.string().map(drop)),
    acted("hwtimestamp", |r, a, at| {
        let line = sources::hwtimestamp(a.rest(), at)?;
        r.config.hwtimestamps.push(line);
        Ok(())
    }),
    files("include"),
    acted("initstepslew", |r, a, _| {
        let mut words = scan::words(a.rest());
        let first = words.next().unwrap_or_default();
        let threshold = Cursor::new(first)
            .double()
            .ok_or_else(|| a.bad(first, "threshold"))?;
        r.config.initstepslew = Some(InitStepSlew {
            threshold,
            hosts: words.map(str::to_string).collect(),
        });
        Ok(())
    }),
    acted("keyfile", auth::keyfile),
    acted("leapsecmode", leapsecmode),
    acted("leapsectz", |r, a, _| {
        r.config.leapsectz = Some(a.string()?.to_string());
        Ok(())
    }),
    // ntpkit's own (chronyd refuses it): the 24-hour linear leap smear.
    acted("leapsmear", |r, a, _| {
        a.expect(0, "no arguments")?;
        r.config.leapsmear = true;
        Ok(())
    }),
    not_acted("linux_freq_scale", OBSOLETE, |_, _, _| Ok(())),
    not_acted("linux_hz", OBSOLETE, |_, _, _| Ok(())),
    acted("local", local),
    acted("lock_all", |r, a, _| {
        a.none()?;
        r.config.lock_all = true;
        Ok(())
    }),
    acted("log", log),
    acted("logbanner", |r, a, _| {
        r.config.logbanner = a.int()?.max(0) as u32;
        Ok(())
    }),
    acted("logchange", |r, a, _| {
        r.config.logchange = a.double()?.abs();
        Ok(())
    }),
    acted("logdir", |r, a, _| {
        r.config.logdir = Some(a.path()?);
        Ok(())
    }),
    not_acted("mailonchange", "ntpkit sends no mail", |_, a, _| {
        a.expect(2, "an address and a threshold")?;
        let threshold = scan::words(a.rest()).nth(1).unwrap_or_default();
        Cursor::new(threshold)
            .double()
            .map(drop)
            .ok_or_else(|| a.bad(threshold, "threshold"))
    }),
    acted("makestep", |r, a, _| {
        a.expect(2, "a threshold and a limit")?;
        let mut c = Cursor::new(a.rest());
        match (c.double(), c.int()) {
            (Some(threshold), Some(limit)) => {
                r.config.makestep = Some(MakeStep { threshold, limit });
                Ok(())
            }
            _ => Err(a.bad(a.rest(), "threshold and limit")),
        }
    }),
    acted("manual", |r, a, _| {
        a.none()?;
        r.config.manual = true;
        Ok(())
    }),
    acted("maxchange", |r, a, _| {
        a.expect(3, "an offset, a start and an ignore count")?;
        let mut c = Cursor::new(a.rest());
        match (c.double(), c.int(), c.int()) {
            (Some(offset), Some(start), Some(ignore)) => {
                r.config.maxchange = Some(MaxChange {
                    offset,
                    start,
                    ignore,
                });
                Ok(())
            }
            _ => Err(a.bad(a.rest(), "offset, start and ignore count")),
        }
    }),
    not_acted("maxclockerror", ENGINE_OWN, |_, a, _| a.double().map(drop)),
    acted("maxdistance", |r, a, _| {
        r.config.maxdistance = Some(a.double()?);
        Ok(())
    }),
    acted("maxdrift", |r, a, _| {
        r.config.maxdrift = Some(a.double()?);
        Ok(())
    }),
    acted("maxjitter", |r, a, _| {
        r.config.maxjitter = Some(a.double()?);
        Ok(())
    }),
    acted("maxntsconnections", auth::maxntsconnections),
    acted("maxsamples", |r, a, _| {
        r.config.maxsamples = Some(a.int()?.clamp(0, 64) as u8);
        Ok(())
    }),
    acted("maxslewrate", |r, a, _| {
        r.config.maxslewrate = Some(a.double()?);
        Ok(())
    }),
    acted("maxupdateskew", |r, a, _| {
        r.config.maxupdateskew = Some(a.double()?);
        Ok(())
    }),
    acted("minsamples", |r, a, _| {
        r.config.minsamples = Some(a.int()?.clamp(0, 64) as u8);
        Ok(())
    }),
    acted("minsources", |r, a, _| {
        let value = a.int()?;
        if value < 1 {
            r.out_of_range(a.directive, value, "1..", "1");
        }
        r.config.minsources = Some(value.max(1) as usize);
        Ok(())
    }),
    acted("nocerttimecheck", auth::nocerttimecheck),
    acted("noclientlog", |r, a, _| {
        a.none()?;
        r.config.noclientlog = true;
        Ok(())
    }),
    acted("nosystemcert", auth::nosystemcert),
    not_acted(
        "ntpsigndsocket",
        "MS-SNTP signing is not supported",
        |_, a, _| a.string().map(drop),
    ),
    acted("ntscachedir", auth::ntsdumpdir),
    acted("ntsdumpdir", auth::ntsdumpdir),
    acted("ntsntpserver", auth::ntsntpserver),
    acted("ntsport", auth::ntsport),
    acted("ntsprocesses", auth::ntsprocesses),
    not_acted(
        "ntsratelimit",
        auth::NTS_RATE_LIMIT_NOT_ACTED_ON,
        auth::ntsratelimit,
    ),
    acted("ntsrefresh", auth::ntsrefresh),
    acted("ntsrotate", auth::ntsrotate),
    acted("ntsservercert", auth::ntsservercert),
    acted("ntsserverkey", auth::ntsserverkey),
    acted("ntstrustedcerts", auth::ntstrustedcerts),
    acted("peer", |r, a, at| {
        let mut parsed = sources::parse("peer", a.rest(), at)?;
        parsed.source.engine.peer = true;
        r.add_source("peer", parsed, at, Origin::Configuration);
        Ok(())
    }),
    acted("pidfile", |r, a, _| {
        r.config.pidfile = Some(a.path()?);
        Ok(())
    }),
    acted("pool", |r, a, at| {
        let parsed = sources::parse("pool", a.rest(), at)?;
        r.add_source("pool", parsed, at, Origin::Configuration);
        Ok(())
    }),
    acted("port", |r, a, _| {
        if let Some(port) = r.port(a)? {
            r.config.port = port;
        }
        Ok(())
    }),
    acted("ptpport", |r, a, _| {
        // (0, chronyd's default, is none; so is what no port can be.)
        r.config.ptpport = r.port(a)?.filter(|&port| port != 0);
        Ok(())
    }),
    acted("ratelimit", |r, a, at| {
        r.config.rate_limit = Some(a.rate_limit(RateOptions::WithKod)?);
        r.ratelimit_at = Some(at.clone());
        Ok(())
    }),
    acted("refclock", |r, a, at| {
        let index = r.config.refclocks.len();
        let (refclock, notes) = sources::refclock(a.rest(), index, at)?;
        if let Some(first) = r
            .config
            .refclocks
            .iter()
            .find(|other| refclock.refclock.local && other.refclock.local)
        {
            return Err(LineError::SecondLocalRefclock {
                first: first.location.to_string(),
            });
        }
        for note in notes {
            r.note(note);
        }
        r.config.refclocks.push(refclock);
        Ok(())
    }),
    acted("reselectdist", |r, a, _| {
        r.config.reselectdist = Some(a.double()?);
        Ok(())
    }),
    not_acted("rtcautotrim", RTC, |_, a, _| a.double().map(drop)),
    not_acted("rtcdevice", RTC, |_, a, _| a.string().map(drop)),
    not_acted("rtcfile", RTC, |r, a, at| {
        a.string()?;
        r.rtcfile_at = Some(at.clone());
        Ok(())
    }),
    not_acted("rtconutc", RTC, |_, a, _| a.none()),
    acted("rtcsync", |r, a, _| {
        a.none()?;
        r.config.rtcsync = true;
        Ok(())
    }),
    acted("sched_priority", |r, a, _| {
        let value = a.int()?;
        // chronyd refuses to start with a priority Linux cannot set
        // (SCHED_FIFO takes 1 to 99; 0 is chronyd's "off").
        if !(0..=99).contains(&value) {
            return Err(a.bad(a.rest(), "priority (0 to 99)"));
        }
        r.config.sched_priority = value;
        Ok(())
    }),
    acted("server", |r, a, at| {
        let parsed = sources::parse("server", a.rest(), at)?;
        r.add_source("server", parsed, at, Origin::Configuration);
        Ok(())
    }),
    acted("smoothtime", smoothtime),
    files("sourcedir"),
    acted("stratumweight", |r, a, _| {
        r.config.stratumweight = Some(a.double()?);
        Ok(())
    }),
    acted("tempcomp", tempcomp),
    acted("user", |r, a, _| {
        r.config.user = Some(a.string()?.to_string());
        Ok(())
    }),
];

/// Whether an access rule allows or denies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Allow,
    Deny,
}

/// Which access list a rule goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// NTP clients (`allow`, `deny`).
    Ntp,
    /// chronyc (`cmdallow`, `cmddeny`).
    Command,
}

/// `allow`/`deny`/`cmdallow`/`cmddeny [all] [SUBNET]`.
fn access(r: &mut Reader<'_>, a: &mut Args<'_>, rule: Rule, table: Table) -> Result<(), LineError> {
    let directive = a.directive;
    let mut words = scan::words(a.rest());
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
        Some(text) => [Some(subnet(r, directive, text)?), None],
    };
    let list = match table {
        Table::Ntp => &mut r.config.access,
        Table::Command => &mut r.config.command.access,
    };
    for subnet in subnets.into_iter().flatten() {
        list.add(subnet, rule == Rule::Allow, all)
            .map_err(|error| LineError::Subnet {
                directive,
                error,
                value: subnet.to_string(),
            })?;
    }
    Ok(())
}

/// A subnet as chronyd reads it: the dotted IPv4 short forms and IPv6 with
/// an optional `/BITS`, or else a host name, resolved now.
fn subnet(r: &Reader<'_>, directive: &'static str, text: &str) -> Result<Subnet, LineError> {
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
    let ip = r.env.resolve(address).ok_or_else(|| LineError::Resolve {
        directive,
        host: address.to_string(),
    })?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    Subnet::new(ip, full).map_err(|_: AccessError| bad(AccessError::BadSubnet))
}

/// One IP address.
fn ip(a: &Args<'_>) -> Result<IpAddr, LineError> {
    a.expect(1, "an address")?;
    a.rest()
        .parse::<IpAddr>()
        .map_err(|_| a.bad(a.rest(), "IP address"))
}

fn bindaddress(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let ip = ip(a)?;
    // One per family, the last one (chronyd's rule).
    let addresses = &mut r.config.bind_addresses;
    let before = addresses.len();
    addresses.retain(|a| a.is_ipv4() != ip.is_ipv4());
    addresses.push(ip);
    if addresses.len() == before {
        r.note(format!(
            "it replaces the earlier IPv{} bindaddress (one per family, as in chronyd)",
            if ip.is_ipv4() { 4 } else { 6 }
        ));
    }
    Ok(())
}

/// `acquisitionport N`: a negative number is chronyd's default (a socket
/// per source); one no port can be is noted, and the earlier value kept.
fn acquisitionport(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    if a.int()? < 0 {
        r.config.acquisition_port = None;
    } else if let Some(port) = r.port(a)? {
        r.config.acquisition_port = Some(port);
    }
    Ok(())
}

/// `bindacqaddress ADDRESS`: one per family, the last one (chronyd's rule).
fn bindacqaddress(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let ip = ip(a)?;
    let addresses = &mut r.config.bind_acq_addresses;
    let before = addresses.len();
    addresses.retain(|a| a.is_ipv4() != ip.is_ipv4());
    addresses.push(ip);
    if addresses.len() == before {
        r.note(format!(
            "it replaces the earlier IPv{} bindacqaddress (one per family, as in chronyd)",
            if ip.is_ipv4() { 4 } else { 6 }
        ));
    }
    Ok(())
}

fn bindcmdaddress(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    a.expect(1, "a path or address")?;
    let value = a.rest();
    let config = &mut r.config;
    if value.starts_with('/') {
        config.command.socket = (value != "/").then(|| PathBuf::from(value));
        config.bind_cmd_address = Some(value.to_string());
        return Ok(());
    }
    match value
        .parse::<IpAddr>()
        .map_err(|_| a.bad(value, "path or IP address"))?
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
    Ok(())
}

fn broadcast(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let mut words = scan::words(a.rest());
    let interval = words.next().unwrap_or_default();
    let interval = Cursor::new(interval)
        .int()
        .ok_or_else(|| a.bad(interval, "interval"))?;
    let address = words.next().unwrap_or_default();
    let address = address
        .parse::<IpAddr>()
        .map_err(|_| a.bad(address, "address"))?;
    let mut port = i32::from(crate::server::NTP_PORT);
    if let Some(word) = words.next() {
        port = Cursor::new(word).int().ok_or_else(|| a.bad(word, "port"))?;
        if let Some(extra) = words.next() {
            return Err(LineError::Extra {
                directive: a.directive,
                extra: extra.to_string(),
            });
        }
    }
    // chronyd takes any interval, kept within 1 s and 2^24 s.
    let kept = interval.clamp(1, 1 << 24);
    if kept != interval {
        r.out_of_range("broadcast", interval, "1..16777216 s", &format!("{kept} s"));
    }
    let Ok(port) = u16::try_from(port) else {
        r.note(format!(
            "`broadcast` to port {port}, which no port can be: not sent"
        ));
        return Ok(());
    };
    r.config.broadcasts.push(super::BroadcastConfig {
        // (Within 1..2^24: fits.)
        interval: kept as u32,
        address,
        port,
    });
    Ok(())
}

fn leapsecmode(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let mode = a.rest();
    r.config.leapsecmode = Some(match mode.to_ascii_lowercase().as_str() {
        "system" => LeapSecMode::System,
        "step" => LeapSecMode::Step,
        "slew" => LeapSecMode::Slew,
        "ignore" => LeapSecMode::Ignore,
        _ => return Err(a.bad(mode, "mode")),
    });
    Ok(())
}

fn local(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let mut local = LocalConfig {
        stratum: 10,
        distance: 1.0,
        orphan: false,
    };
    while let Some(option) = a.cursor().word() {
        match option.to_ascii_lowercase().as_str() {
            "stratum" => {
                let stratum = a.cursor().int().filter(|s| (1..=15).contains(s));
                local.stratum = stratum.ok_or_else(|| a.bad(option, "stratum (1 to 15)"))? as u8;
            }
            "distance" => {
                local.distance = a
                    .cursor()
                    .double()
                    .ok_or_else(|| a.bad(option, "distance"))?;
            }
            "orphan" => local.orphan = true,
            _ => return Err(a.unknown(option)),
        }
    }
    r.config.local = Some(local);
    Ok(())
}

fn log(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let mut log: LogSet = r.config.log;
    for word in scan::words(a.rest()) {
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
            _ => return Err(a.unknown(word)),
        };
        *flag = true;
    }
    r.config.log = log;
    Ok(())
}

fn smoothtime(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    if a.count() != 3 {
        a.expect(2, "a frequency and a wander")?;
    }
    let mut c = Cursor::new(a.rest());
    let (Some(max_freq_ppm), Some(max_wander_ppm)) = (c.double(), c.double()) else {
        return Err(a.bad(a.rest(), "frequency and wander"));
    };
    let leap_only = match scan::words(a.rest()).nth(2) {
        Some(third) if !third.eq_ignore_ascii_case("leaponly") => return Err(a.unknown(third)),
        Some(_) => true,
        None => false,
    };
    if max_freq_ppm <= 0.0 || max_wander_ppm <= 0.0 {
        r.note(format!(
            "`smoothtime {max_freq_ppm} {max_wander_ppm}`: limits that are not positive \
             smooth nothing (as chronyd)"
        ));
    }
    r.config.smoothtime = Some(crate::smooth::SmoothConfig {
        max_freq_ppm,
        max_wander_ppm,
        leap_only,
    });
    Ok(())
}

/// `tempcomp FILE INTERVAL T0 K0 K1 K2` or `tempcomp FILE INTERVAL
/// POINTS-FILE`.
fn tempcomp(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    let n = a.count();
    if n != 3 {
        a.expect(
            6,
            "a sensor file, an interval and coefficients or a points file",
        )?;
    }
    let sensor = PathBuf::from(a.word("a sensor file")?);
    let interval = a
        .cursor()
        .double()
        .ok_or_else(|| a.bad(a.rest(), "interval"))?;
    let curve = if n == 3 {
        TempCompCurve::Points(PathBuf::from(a.word("a points file")?))
    } else {
        let mut k = [0.0; 4];
        for value in &mut k {
            *value = a
                .cursor()
                .double()
                .ok_or_else(|| a.bad(a.rest(), "coefficients"))?;
        }
        let [t0, k0, k1, k2] = k;
        TempCompCurve::Quadratic { t0, k0, k1, k2 }
    };
    r.config.tempcomp = Some(TempCompConfig {
        sensor,
        interval,
        curve,
    });
    Ok(())
}

impl Reader<'_> {
    /// Adds a parsed `server`, `pool` or `peer` line read from `origin`.
    pub(super) fn add_source(
        &mut self,
        kind: &'static str,
        parsed: SourceLine,
        at: &Location,
        origin: Origin,
    ) {
        for note in parsed.notes {
            self.note(note);
        }
        let mut source = parsed.source;
        source.from_sourcedir = origin == Origin::SourcesFile;
        match (kind, origin) {
            ("peer", _) => self.config.peers.push(source),
            (_, Origin::SourcesFile) => self.dir_sources.push(source),
            (_, Origin::Configuration) => self.config.sources.push(source),
        }
        if origin == Origin::SourcesFile {
            self.flush(kind, at);
        }
    }
}
