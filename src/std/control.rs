//! The control socket: a Unix-domain stream socket (`bindcmdaddress PATH`,
//! default [`DEFAULT_PATH`]) on which a running node answers the reports
//! `chronyc` would print.
//!
//! The protocol is one line each way and then the report: the client sends
//! a request such as `sources -v\n`, `sourcestats -c\n`, `tracking --json\n`
//! (with the `json` feature) or `timedatectl\n`; the node writes the report and closes the
//! connection. The node renders the text itself (from a [`Snapshot`]), so
//! any client, even `socat`, can ask.
//!
//! ```no_run
//! use ntpkit::std::control::{query, Request};
//!
//! let request: Request = "sources -v".parse()?;
//! print!("{}", query("/run/ntpkit/ntpkit.sock".as_ref(), &request)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use libstd::borrow::ToOwned;
use libstd::fmt;
use libstd::format;
use libstd::io::{self, BufRead, BufReader, Read, Write};
use libstd::os::fd::{AsFd, BorrowedFd};
use libstd::os::unix::net::{UnixListener, UnixStream};
use libstd::path::{Path, PathBuf};
use libstd::str::FromStr;
use libstd::string::String;
use libstd::string::ToString;
use libstd::time::Duration;
use libstd::vec::Vec;

use crate::report::chronyc::{SourceStats, Sources, Style, Tracking};
use crate::report::{SourceReport, SourceStatsReport, TimedatectlReport, TrackingReport};

/// Where the control socket is when the configuration names none.
pub const DEFAULT_PATH: &str = "/run/ntpkit/ntpkit.sock";

/// How long a connected client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);

/// The longest request line accepted.
const MAX_REQUEST: u64 = 128;

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

/// The listening side, owned by the running node. Removes its socket file
/// when dropped.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Listen at `path`, creating its directory and replacing a stale
    /// socket left by an earlier run (but refusing to replace a live one).
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            libstd::fs::create_dir_all(dir)?;
        }
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{}: another node is answering there", path.display()),
            ));
        }
        match libstd::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(ControlServer {
            listener,
            path: path.to_owned(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answer every client waiting now (call when poll(2) says the socket
    /// is readable); `answer` renders a request. A client that sends
    /// nothing within 200 ms or garbage gets an error line, never a hang.
    pub fn serve_pending(&self, mut answer: impl FnMut(&Request) -> String) -> io::Result<usize> {
        let mut served = 0;
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(served),
                Err(e) => return Err(e),
            };
            served += 1;
            // One misbehaving client must not stop the node: ignore its errors.
            let _ = serve_one(stream, &mut answer);
        }
    }
}

fn serve_one(stream: UnixStream, answer: &mut impl FnMut(&Request) -> String) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let reply = match line.trim().parse::<Request>() {
        Ok(request) => answer(&request),
        Err(e) => format!("error: {e}\n"),
    };
    (&stream).write_all(reply.as_bytes())
}

impl AsFd for ControlServer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = libstd::fs::remove_file(&self.path);
    }
}

/// Ask the node listening at `path` for a report (what `--ctl` does).
pub fn query(path: &Path, request: &Request) -> io::Result<String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot reach a running node at {}: {e}", path.display()),
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
}

#[cfg(test)]
mod tests;
