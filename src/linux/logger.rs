//! chronyd's message log for the [`log`] crate's records: to standard
//! error or a file (`-d`, `-l FILE`) each line stamped with the UTC time
//! as chronyd stamps it (`2026-12-06T10:29:05Z Selected source …`), or to
//! syslog (the daemon's default). A file that was moved or deleted (log
//! rotation) is reopened at its path before the next line; so is every
//! file on [`Logger::reopen`] (chronyc's `cyclelogs`).
//!
//! The levels are chronyd's `-L`: 0 informational and up, 1 warnings, 2
//! errors, 3 fatal errors only.

// openlog(3)/syslog(3) through libc: small calls, each says why it is
// sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::report::chronyc::civil;
use crate::time::NtpTimestamp;

/// Where the lines go.
#[derive(Debug)]
pub enum Destination {
    /// Standard error (`-d`).
    Stderr,
    /// A file (`-l FILE`), appended to.
    File(PathBuf),
    /// syslog, daemon facility.
    Syslog,
}

/// A [`log::Log`] writing chronyd's lines. Install it once with
/// [`Logger::install`].
#[derive(Debug)]
pub struct Logger {
    destination: Destination,
    level: log::LevelFilter,
    file: Mutex<Option<File>>,
    /// The syslog identity, kept alive as syslog(3) requires.
    ident: Option<CString>,
}

/// chronyd's `-L LEVEL` as a filter: 0 (and below) everything from
/// informational up, 1 warnings, 2 errors, 3 (and above) only what ends
/// the program.
pub fn level_filter(level: i32) -> log::LevelFilter {
    match level {
        i32::MIN..=0 => log::LevelFilter::Info,
        1 => log::LevelFilter::Warn,
        _ => log::LevelFilter::Error,
    }
}

impl Logger {
    /// A logger writing to `destination` the lines at `level` and above;
    /// a file is opened (created, appended to) now, so that an unwritable
    /// path is an error at start.
    pub fn new(destination: Destination, level: log::LevelFilter) -> io::Result<Logger> {
        let file = match &destination {
            Destination::File(path) => Some(open(path)?),
            _ => None,
        };
        let ident = match destination {
            Destination::Syslog => {
                let ident = CString::new("ntpkit").map_err(|_| io::ErrorKind::InvalidInput)?;
                // SAFETY: `ident` lives as long as the logger (syslog keeps
                // the pointer), the other arguments are integers.
                unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
                Some(ident)
            }
            _ => None,
        };
        Ok(Logger {
            destination,
            level,
            file: Mutex::new(file),
            ident,
        })
    }

    /// Makes this the process's logger (the first one installed stays).
    pub fn install(self) -> Result<(), log::SetLoggerError> {
        let level = self.level;
        log::set_boxed_logger(std::boxed::Box::new(self))?;
        log::set_max_level(level);
        Ok(())
    }

    /// Reopens the log file at its path (after a rotation).
    pub fn reopen(&self) -> io::Result<()> {
        if let Destination::File(path) = &self.destination {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            *file = Some(open(path)?);
        }
        Ok(())
    }

    /// The line as written to a file or standard error: the time, then
    /// the message.
    pub fn line(time: SystemTime, message: &str) -> String {
        let unix = NtpTimestamp::from_system_time(time).to_unix(NtpTimestamp::DEFAULT_PIVOT);
        let (year, month, day, _, second) = civil(unix);
        std::format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z {message}\n",
            second / 3600,
            second / 60 % 60,
            second % 60
        )
    }
}

/// Opens `path` for appending, creating it.
fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), std::format!("{}: {e}", path.display())))
}

/// Whether `file` is no longer the file at `path` (moved or deleted).
fn rotated(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.ino() != named.ino() || open.dev() != named.dev(),
        _ => true,
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = std::format!("{}", record.args());
        match &self.destination {
            Destination::Stderr => {
                let _ =
                    io::stderr().write_all(Logger::line(SystemTime::now(), &message).as_bytes());
            }
            Destination::File(path) => {
                let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
                if file.as_ref().is_none_or(|f| rotated(f, path)) {
                    *file = open(path).ok();
                }
                if let Some(file) = file.as_mut() {
                    let _ = file.write_all(Logger::line(SystemTime::now(), &message).as_bytes());
                }
            }
            Destination::Syslog => {
                let priority = match record.level() {
                    log::Level::Error => libc::LOG_ERR,
                    log::Level::Warn => libc::LOG_WARNING,
                    log::Level::Info => libc::LOG_INFO,
                    log::Level::Debug | log::Level::Trace => libc::LOG_DEBUG,
                };
                if let Ok(text) = CString::new(message.replace('\0', " ")) {
                    // SAFETY: a "%s" format with one NUL-terminated string.
                    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
                }
            }
        }
    }

    fn flush(&self) {
        if let Some(file) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = file.flush();
        }
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        if self.ident.is_some() {
            // SAFETY: closes the connection openlog made.
            unsafe { libc::closelog() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn lines_are_stamped_as_chronyds() {
        let time = UNIX_EPOCH + Duration::from_secs(1_262_304_000 + 3 * 3600 + 4 * 60 + 5);
        assert_eq!(
            Logger::line(time, "chronyd exiting"),
            "2010-01-01T03:04:05Z chronyd exiting\n"
        );
        assert_eq!(level_filter(0), log::LevelFilter::Info);
        assert_eq!(level_filter(1), log::LevelFilter::Warn);
        assert_eq!(level_filter(3), log::LevelFilter::Error);
    }

    #[test]
    fn a_rotated_file_is_reopened_at_its_path() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-logger-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("ntpkit.log");
        let logger = Logger::new(Destination::File(path.clone()), log::LevelFilter::Info).unwrap();
        let record = |text: &str, level| {
            logger.log(
                &log::Record::builder()
                    .args(format_args!("{text}"))
                    .level(level)
                    .build(),
            )
        };
        record("one", log::Level::Info);
        record("hidden", log::Level::Debug);
        std::fs::rename(&path, dir.join("ntpkit.log.1")).unwrap();
        record("two", log::Level::Warn);
        let old = std::fs::read_to_string(dir.join("ntpkit.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(
            old.ends_with("Z one\n") && old.lines().count() == 1,
            "{old}"
        );
        assert!(
            new.ends_with("Z two\n") && new.lines().count() == 1,
            "{new}"
        );
        // Deleted: a new file.
        std::fs::remove_file(&path).unwrap();
        record("three", log::Level::Error);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("Z three\n"));
    }
}
