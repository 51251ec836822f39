//! What `client --ctl` prints: a report [`Request`] (`sources -v`,
//! `sourcestats -c`, `tracking --json`, `timedatectl`) rendered from a
//! [`Snapshot`] of the reports, in chronyc's layouts or as JSON. The
//! values come from a running node over chronyc's own command protocol
//! ([`crate::linux::cmdmon::Client::render`]).
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

use crate::report::chronyc::{SourceStats, Sources, Style, Tracking};
use crate::report::{SourceReport, SourceStatsReport, TimedatectlReport, TrackingReport};

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

/// How a source is named: as configured (the text reports) and by its
/// address (CSV, as `chronyc -c` prints addresses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceName {
    /// The name as configured (a host name or an address).
    pub name: String,
    /// Its address.
    pub address: String,
}

impl SourceName {
    /// The address in CSV, else the name.
    fn shown(&self, csv: bool) -> &str {
        if csv {
            &self.address
        } else {
            &self.name
        }
    }
}

/// Everything the reports show, taken from a node at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `sources` rows.
    pub sources: Vec<(SourceName, SourceReport)>,
    /// `sourcestats` rows.
    pub source_stats: Vec<(SourceName, SourceStatsReport)>,
    /// The reference tracking names (empty for none).
    pub reference: SourceName,
    /// `tracking`.
    pub tracking: TrackingReport,
    /// `timedatectl`.
    pub timedatectl: TimedatectlReport,
}

impl Snapshot {
    /// The report a request asks for, as the node answers it.
    pub fn render(&self, request: &Request) -> String {
        match request.format {
            Format::Text(style) => {
                // chronyc -c names sources by address.
                let csv = style == Style::Csv;
                match request.report {
                    Report::Sources => Sources {
                        rows: &named_by(&self.sources, csv),
                        style,
                    }
                    .to_string(),
                    Report::SourceStats => SourceStats {
                        rows: &named_by(&self.source_stats, csv),
                        style,
                    }
                    .to_string(),
                    Report::Tracking => Tracking {
                        name: self.reference.shown(csv),
                        report: &self.tracking,
                        style,
                    }
                    .to_string(),
                    Report::Timedatectl => self.timedatectl.to_string(),
                }
            }
            #[cfg(feature = "json")]
            Format::Json => {
                let value = match request.report {
                    Report::Sources => named_rows(&self.sources),
                    Report::SourceStats => named_rows(&self.source_stats),
                    Report::Tracking => named(&self.reference, &self.tracking),
                    Report::Timedatectl => {
                        let mut value = serde_json::to_value(self.timedatectl).unwrap_or_default();
                        if let Some(map) = value.as_object_mut() {
                            map.insert(
                                "synchronized".into(),
                                self.timedatectl.synchronized().into(),
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

/// Rows named as configured, or by address (`csv`).
fn named_by<T: Copy>(rows: &[(SourceName, T)], csv: bool) -> Vec<(&str, T)> {
    rows.iter().map(|(n, row)| (n.shown(csv), *row)).collect()
}

/// A report as a JSON object with its `name` and `address` added.
#[cfg(feature = "json")]
fn named<T: serde::Serialize>(name: &SourceName, report: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("name".into(), name.name.as_str().into());
        map.insert("address".into(), name.address.as_str().into());
    }
    value
}

#[cfg(feature = "json")]
fn named_rows<T: serde::Serialize>(rows: &[(SourceName, T)]) -> serde_json::Value {
    rows.iter().map(|(name, row)| named(name, row)).collect()
}

#[cfg(test)]
mod tests;
