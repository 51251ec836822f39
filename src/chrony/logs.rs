//! chronyd's log files (`logdir` with `log measurements rawmeasurements
//! statistics tracking selection tempcomp`), in chronyd 4.3's exact
//! formats: one type per line ([`Measurement`], [`Statistics`],
//! [`Tracking`], [`Selection`], [`TempComp`]), whose `Display` is the
//! line, and a [`LogFile`] that appends them with chronyd's banner (a line
//! of `=`, the column names, a line of `=`) before the first line written
//! to a file and then every `logbanner` lines (default 32; 0: none).
//!
//! A file is opened at its first line, as chronyd opens its own (`log
//! refclocks` and `log rtc`, which get no line here, make no file), and is
//! reopened at its path when it was renamed or removed (log rotation) or
//! after [`Logs::cycle`] (chronyc's `cyclelogs`).
//!
//! The formats were learnt from chronyd 4.3's own files (captured on
//! loopback: `tests/data/logs/`, which the tests reproduce byte for byte).
//! Dates are UTC, `YYYY-MM-DD HH:MM:SS`; numbers are printed as C's
//! `printf` prints them (`%10.3e` is ` 1.234e-05`).
//!
//! ```no_run
//! use ntpkit::chrony::config::LogSet;
//! use ntpkit::chrony::logs::{LogSettings, Logs, Tracking};
//!
//! let settings = LogSettings {
//!     dir: "/var/log/chrony".into(),
//!     log: LogSet { tracking: true, ..LogSet::default() },
//!     banner: 32,
//! };
//! let mut logs = Logs::open(&settings)?;
//! logs.tracking(&Tracking {
//!     time: 1_764_618_645,
//!     reference: "127.0.0.1".into(),
//!     stratum: 9,
//!     frequency_ppm: 0.647,
//!     skew_ppm: 180.081,
//!     offset: 2.027e-6,
//!     leap: ntpkit::wire::LeapIndicator::NoWarning,
//!     combined_sources: 1,
//!     offset_sd: 1.324e-7,
//!     remaining_correction: -0.0,
//!     root_delay: 7.498e-6,
//!     root_dispersion: 7.428e-5,
//!     max_error: 1.5,
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::{self, Write as _};
use std::format;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::string::String;

use crate::chrony::config::LogSet;
use crate::report::chronyc::civil;
pub use crate::report::TimestampSource;
use crate::time::UnixTime;
use crate::wire::LeapIndicator;

/// measurements.log's letter (`MTxRx`) for where a timestamp came from.
fn letter(source: TimestampSource) -> char {
    match source {
        TimestampSource::Daemon => 'D',
        TimestampSource::Kernel => 'K',
        TimestampSource::Hardware => 'H',
    }
}

/// A line of measurements.log: one response of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// When, POSIX seconds (printed as the UTC date and time).
    pub time: i64,
    /// The source's address (or a reference clock's name).
    pub address: String,
    /// The leap indicator the source sent (`N`, `+`, `-`, `?`).
    pub leap: LeapIndicator,
    /// The source's stratum.
    pub stratum: u8,
    /// RFC 5905 tests 1, 2, 3 (duplicate, bogus, invalid), passed.
    pub tests_123: [bool; 3],
    /// RFC 5905 tests 5, 6, 7 (authentication, synchronised, distance),
    /// passed.
    pub tests_567: [bool; 3],
    /// The maxdelay, maxdelayratio, maxdelaydevratio and loop tests,
    /// passed.
    pub tests_abcd: [bool; 4],
    /// Our polling interval, log2 seconds.
    pub local_poll: i8,
    /// The source's, log2 seconds.
    pub remote_poll: i8,
    /// The polling score (1.0 in steady state).
    pub score: f64,
    /// Offset (θ: positive when the local clock is behind), seconds.
    pub offset: f64,
    /// Round-trip delay (δ), seconds.
    pub peer_delay: f64,
    /// Dispersion (ε), seconds.
    pub peer_dispersion: f64,
    /// The source's root delay, seconds.
    pub root_delay: f64,
    /// The source's root dispersion, seconds.
    pub root_dispersion: f64,
    /// The source's reference ID.
    pub reference_id: u32,
    /// The NTP mode of the response (4: server; 1, 2: peer).
    pub mode: u8,
    /// The response was interleaved (`I`), else basic (`B`).
    pub interleaved: bool,
    /// Where the request's transmit timestamp came from.
    pub tx_timestamp: TimestampSource,
    /// Where the response's receive timestamp came from.
    pub rx_timestamp: TimestampSource,
}

/// A line of statistics.log: a source's regression after a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// When, POSIX seconds.
    pub time: i64,
    /// The source's address.
    pub address: String,
    /// Standard deviation of the samples, seconds.
    pub std_dev: f64,
    /// Estimated offset (positive: the local clock is fast), seconds.
    pub offset: f64,
    /// Standard deviation of the offset, seconds.
    pub offset_sd: f64,
    /// Frequency relative to the source (positive: gaining), s/s.
    pub frequency: f64,
    /// Error of the frequency, s/s.
    pub skew: f64,
    /// |old − new frequency| / old frequency error.
    pub stress: f64,
    /// Samples in the regression.
    pub samples: u32,
    /// The new first sample's index (samples dropped).
    pub start: u32,
    /// Runs of residuals of one sign.
    pub runs: u32,
    /// Asymmetry of the jitter (−0.5 to 0.5).
    pub asymmetry: f64,
}

/// A line of tracking.log: the system clock after an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracking {
    /// When, POSIX seconds.
    pub time: i64,
    /// The reference's address, `0.0.0.0` when there is none.
    pub reference: String,
    /// Our stratum (0 unsynchronised).
    pub stratum: u8,
    /// Frequency (positive: the clock runs fast), ppm.
    pub frequency_ppm: f64,
    /// Its error bound, ppm.
    pub skew_ppm: f64,
    /// Offset at the update (positive: fast), seconds.
    pub offset: f64,
    /// Our leap indicator.
    pub leap: LeapIndicator,
    /// Sources combined.
    pub combined_sources: u32,
    /// Standard deviation of the combined offset, seconds.
    pub offset_sd: f64,
    /// Correction left from the previous update (positive: slow), seconds.
    pub remaining_correction: f64,
    /// Root delay, seconds.
    pub root_delay: f64,
    /// Root dispersion, seconds.
    pub root_dispersion: f64,
    /// Maximum error since the previous update, seconds.
    pub max_error: f64,
}

/// A line of selection.log: a source as a selection left it (chronyd
/// writes one per source each time it selects).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// When, POSIX seconds.
    pub time: i64,
    /// The source's address.
    pub address: String,
    /// chronyd's letter for the source's state: `*` selected, `+`
    /// combined, `D` not combined (too distant), `x` falseticker, `~` too
    /// variable, `N` noselect, `s` unsynchronised, `M` without usable
    /// measurements, `d` too far (root distance).
    pub state: char,
    /// The source's `noselect` option.
    pub noselect: bool,
    /// Its `prefer` option.
    pub prefer: bool,
    /// Its `trust` option.
    pub trust: bool,
    /// Its `require` option.
    pub require: bool,
    /// The reachability register.
    pub reach: u8,
    /// The score against the selected source (1: as good).
    pub score: f64,
    /// Seconds since the source's last sample.
    pub last_sample_ago: f64,
    /// Lower end of the interval expected to hold the local clock's
    /// offset (positive: fast), seconds.
    pub low: f64,
    /// Upper end of it, seconds.
    pub high: f64,
}

/// A line of tempcomp.log: a temperature read and the compensation made
/// of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TempComp {
    /// When, POSIX seconds.
    pub time: i64,
    /// The temperature as the sensor file gave it.
    pub temperature: f64,
    /// The compensation applied, ppm (positive: the clock runs faster
    /// than it would without it).
    pub compensation: f64,
}

/// A line of refclocks.log: a reference clock's reading taken into its
/// filter, or the sample a polling interval made of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Refclock {
    /// When (the reading's or the sample's local time), POSIX seconds.
    pub time: i64,
    /// And microseconds.
    pub micros: u32,
    /// The reference clock's name (its reference ID).
    pub name: String,
    /// A reading: the driver polls of its interval before it; `None`: an
    /// interval's sample.
    pub polled: Option<u32>,
    /// The leap second announced.
    pub leap: LeapIndicator,
    /// The reading was a pulse (PPS).
    pub pulse: bool,
    /// Reference minus local time as read, seconds (readings only).
    pub raw_offset: f64,
    /// The offset used (positive: the local clock is slow), seconds.
    pub offset: f64,
    /// Its dispersion, seconds.
    pub dispersion: f64,
}

/// A kind of log line: its file name and column names.
pub trait LogLine: fmt::Display {
    /// The file in `logdir`.
    const FILE: &'static str;
    /// The banner's column names.
    const HEADER: &'static str;
}

impl LogLine for Measurement {
    const FILE: &'static str = "measurements.log";
    const HEADER: &'static str = "   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del. Peer disp.  Root del. Root disp. Refid     MTxRx";
}

impl LogLine for Statistics {
    const FILE: &'static str = "statistics.log";
    const HEADER: &'static str = "   Date (UTC) Time     IP Address    Std dev'n Est offset  Offset sd  Diff freq   Est skew  Stress  Ns  Bs  Nr  Asym";
}

impl LogLine for Tracking {
    const FILE: &'static str = "tracking.log";
    const HEADER: &'static str = "   Date (UTC) Time     IP Address   St   Freq ppm   Skew ppm     Offset L Co  Offset sd Rem. corr. Root delay Root disp. Max. error";
}

impl LogLine for Selection {
    const FILE: &'static str = "selection.log";
    const HEADER: &'static str =
        "   Date (UTC) Time     IP Address   S EOpts Reach Score Last sample  Low end   High end";
}

impl LogLine for Refclock {
    const FILE: &'static str = "refclocks.log";
    const HEADER: &'static str =
        "   Date (UTC) Time         Refid  DP L P  Raw offset   Cooked offset      Disp.";
}

impl LogLine for TempComp {
    const FILE: &'static str = "tempcomp.log";
    const HEADER: &'static str = "   Date (UTC) Time        Temp.       Comp.";
}

fn leap_letter(leap: LeapIndicator) -> char {
    match leap {
        LeapIndicator::NoWarning => 'N',
        LeapIndicator::InsertSecond => '+',
        LeapIndicator::DeleteSecond => '-',
        LeapIndicator::Unsynchronized => '?',
    }
}

/// `YYYY-MM-DD HH:MM:SS` of POSIX seconds, UTC (proleptic Gregorian).
fn date(f: &mut fmt::Formatter<'_>, unix: i64) -> fmt::Result {
    let (year, month, day, _, seconds) = civil(UnixTime::new(unix, 0));
    write!(
        f,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// C's `%W.Pe`: a mantissa with `precision` decimals and an exponent of
/// at least two digits, right-aligned in `width`.
fn exp(f: &mut fmt::Formatter<'_>, value: f64, width: usize, precision: usize) -> fmt::Result {
    let mut text = String::new();
    if !value.is_finite() {
        special(&mut text, value);
    } else {
        let formatted = format!("{:.*e}", precision, value.abs());
        let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        if value.is_sign_negative() {
            text.push('-');
        }
        let _ = write!(
            text,
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
    write!(f, "{text:>width$}")
}

/// C's `%W.Pf`.
fn fixed(f: &mut fmt::Formatter<'_>, value: f64, width: usize, precision: usize) -> fmt::Result {
    let mut text = String::new();
    if !value.is_finite() {
        special(&mut text, value);
    } else {
        if value.is_sign_negative() {
            text.push('-');
        }
        let _ = write!(text, "{:.*}", precision, value.abs());
    }
    write!(f, "{text:>width$}")
}

/// glibc's `inf`, `-inf`, `nan` and `-nan`.
fn special(text: &mut String, value: f64) {
    if value.is_sign_negative() {
        text.push('-');
    }
    text.push_str(if value.is_nan() { "nan" } else { "inf" });
}

fn bits(f: &mut fmt::Formatter<'_>, tests: &[bool]) -> fmt::Result {
    for &passed in tests {
        f.write_char(if passed { '1' } else { '0' })?;
    }
    Ok(())
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        write!(
            f,
            " {:<15} {} {:2} ",
            self.address,
            leap_letter(self.leap),
            self.stratum
        )?;
        bits(f, &self.tests_123)?;
        f.write_char(' ')?;
        bits(f, &self.tests_567)?;
        f.write_char(' ')?;
        bits(f, &self.tests_abcd)?;
        write!(f, " {:3} {:2} ", self.local_poll, self.remote_poll)?;
        fixed(f, self.score, 4, 2)?;
        for value in [
            self.offset,
            self.peer_delay,
            self.peer_dispersion,
            self.root_delay,
            self.root_dispersion,
        ] {
            f.write_char(' ')?;
            exp(f, value, 10, 3)?;
        }
        write!(
            f,
            " {:08X} {}{} {} {}",
            self.reference_id,
            self.mode,
            if self.interleaved { 'I' } else { 'B' },
            letter(self.tx_timestamp),
            letter(self.rx_timestamp)
        )
    }
}

impl fmt::Display for Statistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        write!(f, " {:<15}", self.address)?;
        for value in [
            self.std_dev,
            self.offset,
            self.offset_sd,
            self.frequency,
            self.skew,
        ] {
            f.write_char(' ')?;
            exp(f, value, 10, 3)?;
        }
        f.write_char(' ')?;
        exp(f, self.stress, 7, 1)?;
        write!(f, " {:3} {:3} {:3} ", self.samples, self.start, self.runs)?;
        fixed(f, self.asymmetry, 5, 2)
    }
}

impl fmt::Display for Tracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        write!(f, " {:<15} {:2} ", self.reference, self.stratum)?;
        fixed(f, self.frequency_ppm, 10, 3)?;
        f.write_char(' ')?;
        fixed(f, self.skew_ppm, 10, 3)?;
        f.write_char(' ')?;
        exp(f, self.offset, 10, 3)?;
        write!(f, " {} {:2}", leap_letter(self.leap), self.combined_sources)?;
        for value in [
            self.offset_sd,
            self.remaining_correction,
            self.root_delay,
            self.root_dispersion,
            self.max_error,
        ] {
            f.write_char(' ')?;
            exp(f, value, 10, 3)?;
        }
        Ok(())
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        let option = |set: bool, letter: char| if set { letter } else { '-' };
        write!(
            f,
            " {:<15} {} -{}{}{}{} {:4o} ",
            self.address,
            self.state,
            option(self.noselect, 'N'),
            option(self.prefer, 'P'),
            option(self.trust, 'T'),
            option(self.require, 'R'),
            self.reach
        )?;
        fixed(f, self.score, 5, 2)?;
        for value in [self.last_sample_ago, self.low, self.high] {
            f.write_char(' ')?;
            exp(f, value, 10, 3)?;
        }
        Ok(())
    }
}

impl fmt::Display for Refclock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        write!(f, ".{:06} {:<5} ", self.micros.min(999_999), self.name)?;
        let leap = leap_letter(self.leap);
        match self.polled {
            Some(polled) => {
                write!(f, "{polled:>3} {leap} {} ", u8::from(self.pulse))?;
                exp(f, self.raw_offset, 13, 6)?;
                f.write_char(' ')?;
            }
            None => write!(f, "  - {leap} -       -       ")?,
        }
        exp(f, self.offset, 13, 6)?;
        f.write_char(' ')?;
        exp(f, self.dispersion, 10, 3)
    }
}

impl fmt::Display for TempComp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        date(f, self.time)?;
        f.write_char(' ')?;
        exp(f, self.temperature, 11, 4)?;
        f.write_char(' ')?;
        exp(f, self.compensation, 11, 4)
    }
}

/// One log file, appended to: opened (created if missing) at its first
/// line, as chronyd opens its own, so a file that never gets a line is
/// never made. A file renamed or removed since (log rotation) is reopened
/// at its path before the next line, and so is every file after
/// [`close`](Self::close) (chronyc's `cyclelogs`); a new file starts with
/// the banner.
#[derive(Debug)]
pub struct LogFile<L> {
    path: PathBuf,
    file: Option<File>,
    banner_every: u32,
    since_banner: Option<u32>,
    _line: std::marker::PhantomData<fn(&L)>,
}

impl<L: LogLine> LogFile<L> {
    /// `L::FILE` in `dir`, opened at the first line; a banner comes before
    /// the first line written to a file and then every `banner_every`
    /// lines (0: never).
    pub fn new(dir: &Path, banner_every: u32) -> Self {
        LogFile {
            path: dir.join(L::FILE),
            file: None,
            banner_every,
            since_banner: None,
            _line: std::marker::PhantomData,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the file: the next line opens it again at its path, after a
    /// banner (chronyc's `cyclelogs`).
    pub fn close(&mut self) {
        self.file = None;
        self.since_banner = None;
    }

    /// Appends `line` (and the banner when one is due), in one write; the
    /// file is opened first if it is not open, or no longer the one at its
    /// path. An error names the file.
    pub fn write(&mut self, line: &L) -> io::Result<()> {
        if self.file.as_ref().is_some_and(|f| moved(f, &self.path)) {
            self.close();
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let opened = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| named(&self.path, e))?;
                self.since_banner = None;
                self.file.insert(opened)
            }
        };
        let mut text = String::new();
        let due = self.since_banner.is_none_or(|n| n >= self.banner_every);
        if self.banner_every > 0 && due {
            let rule = "=".repeat(L::HEADER.len());
            let _ = writeln!(text, "{rule}\n{}\n{rule}", L::HEADER);
            self.since_banner = Some(0);
        }
        let _ = writeln!(text, "{line}");
        self.since_banner = Some(self.since_banner.unwrap_or(0) + 1);
        file.write_all(text.as_bytes())
            .map_err(|e| named(&self.path, e))
    }
}

/// `e`, saying which file.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Whether `file` is no longer the file at `path`: renamed, or removed
/// (what log rotation does).
#[cfg(unix)]
fn moved(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.ino() != named.ino() || open.dev() != named.dev(),
        _ => true,
    }
}

/// Elsewhere a file is only reopened when closed.
#[cfg(not(unix))]
fn moved(_: &File, _: &Path) -> bool {
    false
}

/// Which log files to write, where: chrony's `logdir`, `log` and
/// `logbanner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The directory (chronyd's default is its working directory, here
    /// too).
    pub dir: PathBuf,
    /// The files (`log measurements rawmeasurements statistics tracking
    /// selection tempcomp refclocks`; `rtc` gets no line: there is no RTC
    /// tracking, and chronyd makes no file without a line).
    pub log: LogSet,
    /// A banner every this many lines (0: none).
    pub banner: u32,
}

impl LogSettings {
    /// Whether any file is asked for.
    pub fn any(&self) -> bool {
        !self.log.is_empty()
    }
}

/// The log files a configuration asks for. A file that cannot be written
/// is given up (the error, naming it, says so once), as chronyd gives up
/// its own.
#[derive(Debug)]
pub struct Logs {
    measurements: Option<LogFile<Measurement>>,
    raw: bool,
    statistics: Option<LogFile<Statistics>>,
    tracking: Option<LogFile<Tracking>>,
    selection: Option<LogFile<Selection>>,
    tempcomp: Option<LogFile<TempComp>>,
    refclocks: Option<LogFile<Refclock>>,
}

/// Writes `line` to `file` if it is kept; a file that fails is given up.
fn write_to<L: LogLine>(file: &mut Option<LogFile<L>>, line: &L) -> io::Result<()> {
    let Some(log) = file else {
        return Ok(());
    };
    let result = log.write(line);
    if result.is_err() {
        *file = None;
    }
    result
}

impl Logs {
    /// The files `settings` ask for in their directory (created if
    /// missing, as chronyd does); each file is opened at its first line.
    pub fn open(settings: &LogSettings) -> io::Result<Logs> {
        let log = settings.log;
        let dir = &settings.dir;
        if settings.any() {
            std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
        }
        let every = settings.banner;
        fn file<L: LogLine>(wanted: bool, dir: &Path, every: u32) -> Option<LogFile<L>> {
            wanted.then(|| LogFile::new(dir, every))
        }
        Ok(Logs {
            measurements: file(log.measurements || log.rawmeasurements, dir, every),
            raw: log.rawmeasurements,
            statistics: file(log.statistics, dir, every),
            tracking: file(log.tracking, dir, every),
            selection: file(log.selection, dir, every),
            tempcomp: file(log.tempcomp, dir, every),
            refclocks: file(log.refclocks, dir, every),
        })
    }

    /// A response of a source: logged when it was `valid` (passed tests 1
    /// to 7, whatever tests A to D made of it: see
    /// [`Exchange::is_synchronized`](crate::source::Exchange::is_synchronized))
    /// with `log measurements`, and always with `log rawmeasurements`.
    pub fn measurement(&mut self, line: &Measurement, valid: bool) -> io::Result<()> {
        if valid || self.raw {
            write_to(&mut self.measurements, line)
        } else {
            Ok(())
        }
    }

    /// A source's new regression (`log statistics`).
    pub fn statistics(&mut self, line: &Statistics) -> io::Result<()> {
        write_to(&mut self.statistics, line)
    }

    /// A clock update (`log tracking`).
    pub fn tracking(&mut self, line: &Tracking) -> io::Result<()> {
        write_to(&mut self.tracking, line)
    }

    /// A source after a selection (`log selection`).
    pub fn selection(&mut self, line: &Selection) -> io::Result<()> {
        write_to(&mut self.selection, line)
    }

    /// Whether selection.log is written (its lines take some work).
    pub fn logs_selection(&self) -> bool {
        self.selection.is_some()
    }

    /// A reference clock's reading or sample (`log refclocks`).
    pub fn refclock(&mut self, line: &Refclock) -> io::Result<()> {
        write_to(&mut self.refclocks, line)
    }

    /// A temperature compensation (`log tempcomp`).
    pub fn tempcomp(&mut self, line: &TempComp) -> io::Result<()> {
        write_to(&mut self.tempcomp, line)
    }

    /// Closes every file: each is opened again at its path before its
    /// next line, which a banner precedes (chronyc's `cyclelogs`, after
    /// the files were moved away).
    pub fn cycle(&mut self) {
        if let Some(f) = &mut self.measurements {
            f.close();
        }
        if let Some(f) = &mut self.statistics {
            f.close();
        }
        if let Some(f) = &mut self.tracking {
            f.close();
        }
        if let Some(f) = &mut self.selection {
            f.close();
        }
        if let Some(f) = &mut self.tempcomp {
            f.close();
        }
        if let Some(f) = &mut self.refclocks {
            f.close();
        }
    }
}

#[cfg(test)]
mod tests;
