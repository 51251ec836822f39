//! `server`, `pool` and `peer` lines and their options; `refclock`; and
//! `hwtimestamp` (read to accept and refuse what chronyd does; not acted
//! on).
//!
//! Options are read as a stream, as chronyd reads them: a value is
//! scanned from where its option ends (`sscanf("%d%n")`), and whatever
//! follows it is the next option, so `minpoll 3iburst` is `minpoll 3
//! iburst` and `minpoll 3x` fails on an option `x`.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::scan::Cursor;
use super::{LineError, Location, SourceConfig, SourceKind};
use crate::hwclock::HwClockConfig;
use crate::refclock::{RefclockConfig as EngineRefclock, MAX_FILTER};
use crate::system::SourceConfig as EngineSource;
use crate::wire::ReferenceId;

/// Every option of `server`, `pool` and `peer` in chrony 4.3.
pub const SOURCE_OPTIONS: &[&str] = &[
    "asymmetry",
    "auto_offline",
    "burst",
    "certset",
    "copy",
    "extfield",
    "filter",
    "iburst",
    "key",
    "maxdelay",
    "maxdelaydevratio",
    "maxdelayquant",
    "maxdelayratio",
    "maxpoll",
    "maxsamples",
    "maxsources",
    "mindelay",
    "minpoll",
    "minsamples",
    "minstratum",
    "noselect",
    "nts",
    "ntsport",
    "offline",
    "offset",
    "polltarget",
    "port",
    "prefer",
    "presend",
    "require",
    "trust",
    "version",
    "xleave",
];

/// The options ntpkit does not act on, and why.
const NOT_ACTED_ON: &[(&str, &str)] = &[
    ("auto_offline", OFFLINE),
    ("version", "ntpkit always sends NTPv4"),
];

const OFFLINE: &str = "sources are not set offline when their requests cannot be sent";

/// Options of a source that ntpkit parses but does not act on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceOptions {
    /// `version N`.
    pub version: Option<i32>,
    /// `auto_offline`.
    pub auto_offline: bool,
}

/// Where a source line was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The configuration (or a file it includes).
    Configuration,
    /// A `sourcedir` file.
    SourcesFile,
}

/// A parsed source line and what it does not act on.
pub(super) struct SourceLine {
    pub source: SourceConfig,
    pub notes: Vec<String>,
}

/// `server`/`pool`/`peer HOST [OPTION]...`.
pub(super) fn parse(
    kind: &'static str,
    rest: &str,
    at: &Location,
) -> Result<SourceLine, LineError> {
    let mut c = Cursor::new(rest);
    let host = c.word().ok_or(LineError::Missing {
        directive: kind,
        what: "a host name or address",
    })?;
    let source_kind = if kind == "pool" {
        SourceKind::Pool
    } else {
        SourceKind::Server
    };
    let mut source = SourceConfig::new(source_kind, host);
    source.location = at.clone();
    let mut ignored: Vec<&'static str> = Vec::new();
    let mut clamped: Vec<String> = Vec::new();
    while let Some(word) = c.word() {
        let lower = word.to_ascii_lowercase();
        let Some(option) = SOURCE_OPTIONS.iter().copied().find(|o| *o == lower) else {
            return Err(LineError::UnknownOption {
                directive: kind,
                option: word.to_string(),
            });
        };
        let bad = |c: &Cursor<'_>| LineError::BadValue {
            directive: kind,
            what: option,
            value: c.rest().split(' ').next().unwrap_or_default().to_string(),
        };
        let engine = &mut source.engine;
        let options = &mut source.options;
        match option {
            "iburst" => engine.iburst = true,
            "burst" => engine.burst = true,
            "prefer" => engine.prefer = true,
            "noselect" => engine.noselect = true,
            "trust" => engine.trust = true,
            "nts" => source.auth.nts = true,
            "offline" => engine.offline = true,
            "auto_offline" => options.auto_offline = true,
            "require" => engine.require = true,
            "xleave" => engine.xleave = true,
            "copy" => engine.copy = true,
            "minpoll" | "maxpoll" | "polltarget" | "port" | "ntsport" | "maxsources"
            | "minsamples" | "maxsamples" | "filter" | "presend" | "minstratum" | "version" => {
                let value = c.int().ok_or_else(|| bad(&c))?;
                let mut clamp = |range: std::ops::RangeInclusive<i32>| {
                    let used = value.clamp(*range.start(), *range.end());
                    if used != value {
                        clamped.push(format!(
                            "`{option} {value}` is outside {}..{}: ntpkit uses {used}",
                            range.start(),
                            range.end()
                        ));
                    }
                    used
                };
                match option {
                    "minpoll" => engine.minpoll = clamp(-7..=24) as i8,
                    "maxpoll" => engine.maxpoll = clamp(-7..=24) as i8,
                    "polltarget" => engine.poll_target = clamp(1..=64) as u8,
                    "maxsources" => source.maxsources = clamp(1..=16) as u8,
                    "port" => source.port = clamp(0..=65535) as u16,
                    "ntsport" => source.auth.nts_port = clamp(0..=65535) as u16,
                    "minsamples" => engine.min_samples = clamp(0..=64) as u8,
                    "maxsamples" => engine.max_samples = clamp(0..=64) as u8,
                    "filter" => engine.filter = clamp(0..=16) as u8,
                    "presend" => engine.presend = Some(clamp(-7..=24) as i8),
                    "minstratum" => engine.min_stratum = clamp(0..=15) as u8,
                    _ => options.version = Some(value),
                }
            }
            "key" => {
                // `%u` into a uint32_t; 0 is no key and refused.
                let key = c.uint32().filter(|&k| k != 0).ok_or_else(|| bad(&c))?;
                source.auth.key = Some(key);
            }
            "certset" => source.auth.certset = c.uint32().ok_or_else(|| bad(&c))?,
            // (chrony 4.3 knows only F323.)
            "extfield" => {
                c.hex().filter(|&f| f == 0xf323).ok_or_else(|| bad(&c))?;
                engine.exp1 = true;
            }
            _ => {
                let value = c.double().ok_or_else(|| bad(&c))?;
                match option {
                    "maxdelay" => engine.maxdelay = value,
                    "maxdelaydevratio" => engine.maxdelaydevratio = value,
                    "maxdelayratio" => engine.maxdelayratio = value.max(0.0),
                    "maxdelayquant" => {
                        engine.maxdelayquant = value.clamp(0.05, 0.95);
                        if engine.maxdelayquant != value {
                            clamped.push(format!(
                                "`maxdelayquant {value}` is outside 0.05..0.95: ntpkit uses {}",
                                engine.maxdelayquant
                            ));
                        }
                    }
                    "mindelay" => engine.mindelay = value.max(0.0),
                    "asymmetry" => engine.asymmetry = value,
                    _ => engine.offset = value,
                }
            }
        }
        let not_acted = NOT_ACTED_ON.iter().any(|(name, _)| *name == option);
        if not_acted && !ignored.contains(&option) {
            ignored.push(option);
        }
    }
    let mut notes = clamped;
    for option in ignored {
        let why = NOT_ACTED_ON
            .iter()
            .find(|(name, _)| *name == option)
            .map_or("", |(_, why)| *why);
        notes.push(format!("`{kind}` option `{option}` is not acted on: {why}"));
    }
    Ok(SourceLine { source, notes })
}

/// A `refclock` line: which driver reads the reference clock, and how the
/// engine follows it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RefclockLine {
    /// `PPS`, `SHM`, `SOCK` or `PHC`.
    pub driver: String,
    /// The driver's parameter, with its `:option`s.
    pub parameter: String,
    /// `refid` (or chronyd's default: the driver's first three letters
    /// and the line's index among the `refclock` lines).
    pub reference_id: ReferenceId,
    /// How the engine polls and filters it (`poll`, `dpoll`, `filter`,
    /// `offset`, `delay`, `precision`, `maxdispersion`, `stratum`, `tai`).
    pub refclock: EngineRefclock,
    /// Its selection options and sample limits (`prefer`, `noselect`,
    /// `trust`, `require`, `minsamples`, `maxsamples`; 0: the default).
    pub source: EngineSource,
    /// Where the line is.
    pub location: Location,
}

/// chronyd 4.3's refclock drivers (it refuses to start with another).
const DRIVERS: &[&str] = &["PPS", "SHM", "SOCK", "PHC"];

/// `refclock DRIVER PARAMETER [OPTION]...`, the `index`th `refclock` line;
/// with notes on what is not used as written.
pub(super) fn refclock(
    rest: &str,
    index: usize,
    at: &Location,
) -> Result<(RefclockLine, Vec<String>), LineError> {
    let directive = "refclock";
    let mut c = Cursor::new(rest);
    let missing = |what| LineError::Missing { directive, what };
    let driver = c.word().ok_or(missing("a driver"))?;
    let parameter = c.word().ok_or(missing("a driver parameter"))?;
    if !DRIVERS.contains(&driver) {
        return Err(LineError::BadValue {
            directive,
            what: "driver (PPS, SHM, SOCK or PHC)",
            value: driver.to_string(),
        });
    }
    let mut refclock = EngineRefclock {
        polled: driver != "SOCK",
        ..EngineRefclock::default()
    };
    let mut source = EngineSource::default();
    let mut reference_id = None;
    let mut notes = Vec::new();
    while let Some(word) = c.word() {
        let option = word.to_ascii_lowercase();
        // The value as written, for the error.
        let value = c
            .rest()
            .split(' ')
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        let bad = || LineError::BadValue {
            directive,
            what: "option value",
            value: format!("{word} {value}"),
        };
        let ok = match option.as_str() {
            "refid" => c.chars(4).map(|id| reference_id = Some(id)).is_some(),
            "lock" => c
                .chars(4)
                .map(|id| refclock.lock = Some(refid_of(id)))
                .is_some(),
            "poll" => c.int().map(|v| refclock.poll = clamp_i8(v)).is_some(),
            "dpoll" => c.int().map(|v| refclock.dpoll = clamp_i8(v)).is_some(),
            "filter" => c.int().map(|v| refclock.filter = clamp_u8(v)).is_some(),
            "minsamples" => c.int().map(|v| source.min_samples = clamp_u8(v)).is_some(),
            "maxsamples" => c.int().map(|v| source.max_samples = clamp_u8(v)).is_some(),
            "rate" => c
                .int()
                .map(|v| refclock.rate = u32::try_from(v).unwrap_or(0).max(1))
                .is_some(),
            "maxlockage" => c
                .int()
                .map(|v| refclock.max_lock_age = u32::try_from(v).unwrap_or(0))
                .is_some(),
            "stratum" => c
                .int()
                .filter(|s| (0..=15).contains(s))
                .map(|s| refclock.stratum = s as u8)
                .is_some(),
            "offset" => c.double().map(|v| refclock.offset = v).is_some(),
            "delay" => c.double().map(|v| refclock.delay = v).is_some(),
            "precision" => c.double().map(|v| refclock.precision = v).is_some(),
            "maxdispersion" => c.double().map(|v| refclock.max_dispersion = v).is_some(),
            "width" => c.double().map(|v| refclock.width = v).is_some(),
            "tai" => {
                refclock.tai = true;
                true
            }
            "prefer" => {
                source.prefer = true;
                true
            }
            "noselect" => {
                source.noselect = true;
                true
            }
            "trust" => {
                source.trust = true;
                true
            }
            "require" => {
                source.require = true;
                true
            }
            "pps" => {
                refclock.pps = true;
                true
            }
            "local" => {
                refclock.local = true;
                true
            }
            _ => {
                return Err(LineError::UnknownOption {
                    directive,
                    option: word.to_string(),
                })
            }
        };
        if !ok {
            return Err(bad());
        }
    }
    if refclock.local && refclock.lock.is_some() {
        notes.push(
            "`refclock ... local` locks to its own readings: its `lock` is not used".to_string(),
        );
    }
    if usize::from(refclock.filter) > MAX_FILTER {
        notes.push(format!(
            "`refclock ... filter {}` is longer than ntpkit keeps: {MAX_FILTER} readings are used",
            refclock.filter
        ));
    }
    let reference_id = reference_id.map_or_else(|| default_refid(driver, index), refid_of);
    let line = RefclockLine {
        driver: driver.to_string(),
        parameter: parameter.to_string(),
        reference_id,
        refclock,
        source,
        location: at.clone(),
    };
    Ok((line, notes))
}

/// A `refid` as written: up to four characters, the rest zero.
fn refid_of(text: &str) -> ReferenceId {
    let mut bytes = [0u8; 4];
    for (b, c) in bytes.iter_mut().zip(text.bytes()) {
        *b = c;
    }
    ReferenceId::from_bits(u32::from_be_bytes(bytes))
}

/// chronyd's reference ID for the `index`th refclock without a `refid`:
/// the driver's first three letters then the index's last digit (with 10
/// or more refclocks, its tens digit in the third place).
fn default_refid(driver: &str, index: usize) -> ReferenceId {
    let mut bytes = [0u8; 4];
    for (b, c) in bytes.iter_mut().zip(driver.bytes().take(3)) {
        *b = c;
    }
    bytes[3] = b'0' + (index % 10) as u8;
    if index >= 10 {
        bytes[2] = b'0' + ((index / 10) % 10) as u8;
    }
    ReferenceId::from_bits(u32::from_be_bytes(bytes))
}

fn clamp_i8(v: i32) -> i8 {
    v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, i32::from(u8::MAX)) as u8
}

/// The receive filter an `hwtimestamp` line asks for (`rxfilter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxFilterOption {
    /// Not given: the most specific filter for NTP the card offers.
    #[default]
    Default,
    /// `all`: every packet.
    All,
    /// `ntp`: NTP packets.
    Ntp,
    /// `ptp`: PTP packets (NTP over PTP, `ptpport`).
    Ptp,
    /// `none`: no received packet (transmit timestamps only).
    None,
}

/// An `hwtimestamp` line: an interface (`*`: every one) whose card
/// timestamps NTP packets, and how its clock is tracked.
#[derive(Debug, Clone, PartialEq)]
pub struct HwTimestampLine {
    /// The interface's name, or `*`.
    pub interface: String,
    /// `minpoll`, `minsamples`, `maxsamples`, `precision`.
    pub clock: HwClockConfig,
    /// `txcomp`: added to the card's transmit timestamps, seconds.
    pub tx_comp: f64,
    /// `rxcomp`: taken from its receive timestamps, seconds.
    pub rx_comp: f64,
    /// `nocrossts`: the card's clock is not cross-timestamped.
    pub nocrossts: bool,
    /// `rxfilter`.
    pub rxfilter: RxFilterOption,
    /// Where the line is.
    pub location: Location,
}

/// `hwtimestamp INTERFACE [OPTION]...` (chrony 4.3's options and
/// defaults), found at `at`.
pub(super) fn hwtimestamp(rest: &str, at: &Location) -> Result<HwTimestampLine, LineError> {
    let directive = "hwtimestamp";
    let mut c = Cursor::new(rest);
    let interface = c.word().ok_or(LineError::Missing {
        directive,
        what: "an interface",
    })?;
    let mut line = HwTimestampLine {
        interface: interface.to_string(),
        clock: HwClockConfig::default(),
        tx_comp: 0.0,
        rx_comp: 0.0,
        nocrossts: false,
        rxfilter: RxFilterOption::Default,
        location: at.clone(),
    };
    while let Some(word) = c.word() {
        let ok = match word.to_ascii_lowercase().as_str() {
            "minpoll" => c.int().map(|v| line.clock.min_poll = clamp_i8(v)).is_some(),
            "minsamples" => c
                .int()
                .map(|v| line.clock.min_samples = v.max(0) as usize)
                .is_some(),
            "maxsamples" => c
                .int()
                .map(|v| line.clock.max_samples = v.max(0) as usize)
                .is_some(),
            "precision" => c.double().map(|v| line.clock.precision = v).is_some(),
            "txcomp" => c.double().map(|v| line.tx_comp = v).is_some(),
            "rxcomp" => c.double().map(|v| line.rx_comp = v).is_some(),
            "nocrossts" => {
                line.nocrossts = true;
                true
            }
            "rxfilter" => {
                let filter = c.chars(4).unwrap_or_default().to_ascii_lowercase();
                line.rxfilter = match filter.as_str() {
                    "all" => RxFilterOption::All,
                    "ntp" => RxFilterOption::Ntp,
                    "ptp" => RxFilterOption::Ptp,
                    "none" => RxFilterOption::None,
                    _ => RxFilterOption::Default,
                };
                line.rxfilter != RxFilterOption::Default
            }
            _ => {
                return Err(LineError::UnknownOption {
                    directive,
                    option: word.to_string(),
                })
            }
        };
        if !ok {
            return Err(LineError::BadValue {
                directive,
                what: "option value",
                value: word.to_string(),
            });
        }
    }
    line.clock = line.clock.clamped();
    Ok(line)
}
