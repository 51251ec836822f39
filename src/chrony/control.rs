//! The node's reports at one moment ([`Snapshot`]): what chronyc's command
//! protocol answers from (it is a [`Provider`]), and what `client --ctl`
//! prints of them: a report [`Request`] (`sources -v`, `sourcestats -c`,
//! `tracking --json`, `timedatectl`) in chronyc's layouts or as JSON. A
//! running node's snapshot comes over the protocol itself
//! (`linux::ctl::report`).
//!
//! ```
//! use ntpkit::report::chronyc::Style;
//! use ntpkit::chrony::control::{Format, Report, Request};
//!
//! let request: Request = "sources -v".parse()?;
//! assert_eq!(request.report, Report::Sources);
//! assert_eq!(request.format, Format::Text(Style::Verbose));
//! assert!("clients".parse::<Request>().is_err());
//! # Ok::<(), ntpkit::chrony::control::BadRequest>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::string::String;
use std::string::ToString;
use std::vec::Vec;

use std::net::IpAddr;

use crate::cmdmon::{Action, Provider, Status};
use crate::report::chronyc::{SourceStats, Sources, Style, Tracking};
use crate::report::{
    AuthReport, ClientReport, NtpDataReport, ServerStatsReport, SourceActivity, SourceReport,
    SourceStatsReport, TimedatectlReport, TrackingReport,
};
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// `sources`
    Sources,
    /// `sourcestats`
    SourceStats,
    /// `tracking`
    Tracking,
    /// `timedatectl`'s synchronisation status
    Timedatectl,
}

/// How to print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// chronyc's text.
    Text(Style),
    /// JSON (one document).
    #[cfg(feature = "json")]
    Json,
}

/// A request: a report in a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Which report.
    pub report: Report,
    /// How to print it.
    pub format: Format,
}

/// A request line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(
    feature = "json",
    error("unknown control request {0:?} (expected sources|sourcestats|tracking|timedatectl [-v] [-c|--json])")
)]
#[cfg_attr(
    not(feature = "json"),
    error("unknown control request {0:?} (expected sources|sourcestats|tracking|timedatectl [-v] [-c]; --json needs the json feature)")
)]
pub struct BadRequest(pub String);

impl FromStr for Request {
    type Err = BadRequest;

    fn from_str(line: &str) -> Result<Self, BadRequest> {
        let bad = || BadRequest(line.into());
        let mut words = line.split_whitespace();
        let report = match words.next().ok_or_else(bad)? {
            "sources" => Report::Sources,
            "sourcestats" => Report::SourceStats,
            "tracking" => Report::Tracking,
            "timedatectl" => Report::Timedatectl,
            _ => return Err(bad()),
        };
        let mut format = Format::Text(Style::Plain);
        for word in words {
            format = match (word, format) {
                // chronyc ignores -v in CSV mode.
                ("-v", Format::Text(Style::Plain)) => Format::Text(Style::Verbose),
                ("-v", other) => other,
                ("-c", Format::Text(_)) => Format::Text(Style::Csv),
                #[cfg(feature = "json")]
                ("--json", _) => Format::Json,
                _ => return Err(bad()),
            };
        }
        Ok(Request { report, format })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.report {
            Report::Sources => "sources",
            Report::SourceStats => "sourcestats",
            Report::Tracking => "tracking",
            Report::Timedatectl => "timedatectl",
        })?;
        f.write_str(match self.format {
            Format::Text(Style::Plain) => "",
            Format::Text(Style::Verbose) => " -v",
            Format::Text(Style::Csv) => " -c",
            #[cfg(feature = "json")]
            Format::Json => " --json",
        })
    }
}

/// One source's values.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSnapshot {
    /// Its address (none for a source not resolved yet).
    pub address: Option<IpAddr>,
    /// Its name as configured (a host name or an address).
    pub name: String,
    /// Polled or not.
    pub activity: SourceActivity,
    /// Its `sources` row.
    pub report: Option<SourceReport>,
    /// Its `sourcestats` row.
    pub stats: Option<SourceStatsReport>,
    /// Its `ntpdata`.
    pub ntp_data: Option<NtpDataReport>,
    /// Its `authdata`.
    pub auth: AuthReport,
}

impl SourceSnapshot {
    /// A source with nothing measured yet.
    pub fn new(address: Option<IpAddr>, name: impl Into<String>) -> Self {
        SourceSnapshot {
            address,
            name: name.into(),
            activity: SourceActivity::Online,
            report: None,
            stats: None,
            ntp_data: None,
            auth: AuthReport::default(),
        }
    }

    /// How the reports name it: by address in CSV (as `chronyc -c`), else
    /// as configured.
    fn shown(&self, csv: bool) -> String {
        match self.address {
            Some(ip) if csv => ip.to_string(),
            _ => self.name.clone(),
        }
    }
}

/// The node's reports at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The sources, in `chronyc sources` order.
    pub sources: Vec<SourceSnapshot>,
    /// Sources whose names are not resolved yet.
    pub unresolved: u32,
    /// `tracking`.
    pub tracking: TrackingReport,
    /// The source `tracking` follows: its name as configured and its
    /// address (none without one).
    pub reference: (String, Option<IpAddr>),
    /// `timedatectl`'s synchronisation status.
    pub timedatectl: TimedatectlReport,
    /// `serverstats`.
    pub server_stats: ServerStatsReport,
    /// `clients`, by slot.
    pub clients: Vec<Option<ClientReport>>,
    /// Whether the node steers its clock (`makestep` fails otherwise).
    pub clock_control: bool,
}

impl Default for Snapshot {
    /// No source, not synchronised.
    fn default() -> Self {
        Snapshot {
            sources: Vec::new(),
            unresolved: 0,
            tracking: TrackingReport {
                reference_id: ReferenceId::NONE,
                stratum: 0,
                reference_time: NtpTimestamp::ZERO,
                system_offset: 0.0,
                last_offset: 0.0,
                rms_offset: 0.0,
                frequency_ppm: 0.0,
                residual_frequency_ppm: 0.0,
                skew_ppm: 0.0,
                root_delay: 1.0,
                root_dispersion: 1.0,
                update_interval: 0.0,
                leap: LeapIndicator::Unsynchronized,
            },
            reference: (String::new(), None),
            timedatectl: TimedatectlReport {
                universal_time: None,
                max_error: TimedatectlReport::MAX_ERROR_LIMIT,
            },
            server_stats: ServerStatsReport::default(),
            clients: Vec::new(),
            clock_control: true,
        }
    }
}

impl Snapshot {
    /// The report a request asks for, as the node answers it.
    pub fn render(&self, request: &Request) -> String {
        match request.format {
            Format::Text(style) => {
                // chronyc -c names sources by address.
                let csv = style == Style::Csv;
                match request.report {
                    Report::Sources => {
                        let rows: Vec<(String, SourceReport)> = self
                            .sources
                            .iter()
                            .filter_map(|s| Some((s.shown(csv), s.report?)))
                            .collect();
                        Sources { rows: &rows, style }.to_string()
                    }
                    Report::SourceStats => {
                        let rows: Vec<(String, SourceStatsReport)> = self
                            .sources
                            .iter()
                            .filter_map(|s| Some((s.shown(csv), s.stats?)))
                            .collect();
                        SourceStats { rows: &rows, style }.to_string()
                    }
                    Report::Tracking => {
                        let name = match self.reference {
                            (_, Some(ip)) if csv => ip.to_string(),
                            (ref name, _) => name.clone(),
                        };
                        Tracking {
                            name: &name,
                            report: &self.tracking,
                            style,
                        }
                        .to_string()
                    }
                    Report::Timedatectl if style == Style::Verbose => {
                        std::format!("{:#}", self.timedatectl)
                    }
                    Report::Timedatectl => self.timedatectl.to_string(),
                }
            }
            #[cfg(feature = "json")]
            Format::Json => {
                let value = match request.report {
                    Report::Sources => self
                        .sources
                        .iter()
                        .filter_map(|s| Some(named(&s.name, s.address, &s.report?)))
                        .collect(),
                    Report::SourceStats => self
                        .sources
                        .iter()
                        .filter_map(|s| Some(named(&s.name, s.address, &s.stats?)))
                        .collect(),
                    Report::Tracking => {
                        let mut value = named(&self.reference.0, self.reference.1, &self.tracking);
                        if let Some(map) = value.as_object_mut() {
                            map.insert(
                                "reference_time".into(),
                                unix_seconds(self.tracking.reference_time),
                            );
                        }
                        value
                    }
                    Report::Timedatectl => {
                        let mut value = serde_json::to_value(self.timedatectl).unwrap_or_default();
                        if let Some(map) = value.as_object_mut() {
                            map.insert(
                                "synchronized".into(),
                                self.timedatectl.synchronized().into(),
                            );
                            map.insert(
                                "universal_time".into(),
                                self.timedatectl
                                    .universal_time
                                    .map_or(serde_json::Value::Null, unix_seconds),
                            );
                        }
                        value
                    }
                };
                let mut text = value.to_string();
                text.push('\n');
                text
            }
        }
    }
}

/// A time in JSON: seconds since the Unix epoch (with the fraction), or
/// `null` for none (an NTP timestamp of zero).
#[cfg(feature = "json")]
fn unix_seconds(time: NtpTimestamp) -> serde_json::Value {
    if time.is_zero() {
        return serde_json::Value::Null;
    }
    let unix = time.to_unix(NtpTimestamp::DEFAULT_PIVOT);
    (unix.secs as f64 + f64::from(unix.nanos) * 1e-9).into()
}

/// A report as a JSON object with its `name` and `address` added.
#[cfg(feature = "json")]
fn named<T: serde::Serialize>(
    name: &str,
    address: Option<IpAddr>,
    report: &T,
) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("name".into(), name.into());
        let address = address.map_or_else(String::new, |ip| ip.to_string());
        map.insert("address".into(), address.into());
    }
    value
}

impl Provider for Snapshot {
    fn source_count(&self) -> usize {
        self.sources.len()
    }
    fn source_address(&self, index: usize) -> Option<IpAddr> {
        self.sources.get(index)?.address
    }
    fn source_name(&self, index: usize) -> Option<&str> {
        Some(&self.sources.get(index)?.name)
    }
    fn source(&self, index: usize) -> Option<SourceReport> {
        self.sources.get(index)?.report
    }
    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        self.sources.get(index)?.stats
    }
    fn source_activity(&self, index: usize) -> SourceActivity {
        self.sources
            .get(index)
            .map_or(SourceActivity::Online, |s| s.activity)
    }
    fn unresolved_sources(&self) -> u32 {
        self.unresolved
    }
    fn tracking(&self) -> TrackingReport {
        self.tracking
    }
    fn ntp_data(&self, index: usize) -> Option<NtpDataReport> {
        self.sources.get(index)?.ntp_data
    }
    fn auth_data(&self, index: usize) -> AuthReport {
        self.sources.get(index).map(|s| s.auth).unwrap_or_default()
    }
    fn server_stats(&self) -> ServerStatsReport {
        self.server_stats
    }
    fn client_slots(&self) -> u32 {
        u32::try_from(self.clients.len()).unwrap_or(u32::MAX)
    }
    fn client(&self, index: u32) -> Option<ClientReport> {
        *self.clients.get(usize::try_from(index).ok()?)?
    }
    /// `online`, `offline`, `burst`, `makestep` (unless without clock
    /// control), `reselect` and `clients -r` are for the snapshot's holder
    /// to carry out; the commands that change sources, rules and settings
    /// are refused (`NOTENABLED`): a snapshot has nothing to change.
    fn action_status(&self, action: &Action) -> Status {
        match action {
            Action::MakeStep if !self.clock_control => Status::FAILED,
            _ if action.is_basic() => Status::SUCCESS,
            _ => Status::NOT_ENABLED,
        }
    }
}

#[cfg(test)]
mod tests;
