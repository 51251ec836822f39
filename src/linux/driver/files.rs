//! The driver's files: the drift file, the NTS sources' cookie dumps and
//! the sources' measurement histories (`dumpdir`).
//!
//! A history is ntpkit's own file, `DUMPDIR/ADDRESS.dat` (chronyd's name
//! for its own, whose contents differ by chronyd version; ntpkit reads
//! none of chronyd's: a file that does not start with ntpkit's first line
//! is refused). One line a record, words separated by spaces, times as
//! POSIX seconds with nine decimals (the local clock's), values as
//! seconds (Rust's shortest exact form):
//!
//! ```text
//! ntpkit source history 1
//! server NAME                                      the name configured
//! state AUTHENTICATED REACH STRATUM LEAP FREQUENCY 0/1, octal, 1-15, N + - (the server's), ppm
//! last TIME ROOT_DELAY ROOT_DISPERSION OFFSET DELAY DISPERSION    its last response
//! sample TIME OFFSET DELAY                         one a sample, oldest first
//! ```
//!
//! The offsets are the statistics' (positive: the clock was behind), as
//! if every clock correction made before the file was written had been in
//! effect; FREQUENCY is the frequency correction the clock was left at
//! then (the driver writes the files after the way out left the clock at
//! its frequency estimate), for which the samples are corrected when the
//! clock runs at another at start (no drift file, say).

use std::format;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use super::nts::PeerNts;
use crate::discipline::Drift;
use crate::filter::{StoredSample, MAX_SAMPLES};
use crate::linux::files::write_atomically;
use crate::linux::nts::ke_client::{self, SavedSession};
use crate::source::SourceHistory;
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::LeapIndicator;

/// The drift saved at `path`, if it holds one; what was wrong otherwise
/// (chronyd's words: "Could not read valid frequency and skew from
/// driftfile PATH"), or nothing when there is no file.
pub(super) fn read_drift(path: &Path) -> Result<Option<Drift>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Drift::parse(&text).map(Some).ok_or_else(|| {
            format!(
                "Could not read valid frequency and skew from driftfile {}",
                path.display()
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Could not open driftfile {} : {e}", path.display())),
    }
}

/// Writes `drift` to the drift file at `path`.
pub(super) fn save_drift(path: &Path, drift: &Drift) -> io::Result<()> {
    write_atomically(path, format!("{drift}\n").as_bytes(), 0o644)
}

/// The session saved for `nts` in `dir` (chronyd's file), if any; the
/// file is removed once read, so that no cookie is sent twice (the way
/// out saves those left).
pub(super) fn load_cookies(dir: &Path, nts: &PeerNts) -> io::Result<Option<SavedSession>> {
    ke_client::load(dir, nts.ke_address.ip(), &nts.host)
}

/// Saves `saved` (a session's cookies) for `nts` in `dir`, which is made
/// if missing.
pub(super) fn save_cookies(dir: &Path, nts: &PeerNts, saved: &SavedSession) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    ke_client::save(dir, nts.ke_address.ip(), saved).map(drop)
}

/// The first line of ntpkit's history files (its version: 1).
const HISTORY_HEADER: &str = "ntpkit source history 1";

/// The history file of the source `named` (its address, or a reference
/// clock's `refid:XXXXXXXX`: see `Peer::dump_name`) in `dir`, chronyd's
/// name with `.dat`.
pub(super) fn history_path(dir: &Path, named: &str) -> PathBuf {
    dir.join(format!("{named}.dat"))
}

/// A source's history read back: the name it was configured with, what
/// selection needs, and its samples (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SavedHistory {
    pub name: String,
    pub history: SourceHistory,
    pub samples: Vec<StoredSample>,
}

fn time_text(time: NtpTimestamp) -> String {
    let unix = time.to_unix(NtpTimestamp::DEFAULT_PIVOT);
    format!("{}.{:09}", unix.secs, unix.nanos)
}

fn leap_text(leap: LeapIndicator) -> &'static str {
    match leap {
        LeapIndicator::NoWarning => "N",
        LeapIndicator::InsertSecond => "+",
        LeapIndicator::DeleteSecond => "-",
        LeapIndicator::Unsynchronized => "?",
    }
}

/// The text of the history file of a source configured as `name`.
pub(super) fn format_history(
    name: &str,
    history: &SourceHistory,
    samples: impl Iterator<Item = StoredSample>,
) -> String {
    let mut text = format!(
        "{HISTORY_HEADER}\nserver {name}\nstate {} {:o} {} {} {:e}\nlast {} {:e} {:e} {:e} {:e} {:e}\n",
        u8::from(history.authenticated),
        history.reach,
        history.stratum,
        leap_text(history.leap),
        history.frequency_ppm,
        time_text(history.last_time),
        history.root_delay,
        history.root_dispersion,
        history.last_offset,
        history.last_delay,
        history.last_dispersion,
    );
    for sample in samples {
        text.push_str(&format!(
            "sample {} {:e} {:e}\n",
            time_text(sample.time),
            sample.offset,
            sample.delay
        ));
    }
    text
}

/// The words of one record, after its keyword.
struct Record<'a> {
    line: usize,
    words: Vec<&'a str>,
}

impl Record<'_> {
    fn number<T: core::str::FromStr>(&self, i: usize, what: &str) -> Result<T, String> {
        self.words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("line {}: {what} expected", self.line))
    }

    fn float(&self, i: usize, what: &str) -> Result<f64, String> {
        let value: f64 = self.number(i, what)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(format!("line {}: {what} expected", self.line))
        }
    }

    fn time(&self, i: usize) -> Result<NtpTimestamp, String> {
        let bad = || format!("line {}: a time expected", self.line);
        let (secs, nanos) = self
            .words
            .get(i)
            .and_then(|w| w.split_once('.'))
            .ok_or_else(bad)?;
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        let nanos: u32 = nanos
            .parse()
            .ok()
            .filter(|n| *n < 1_000_000_000)
            .ok_or_else(bad)?;
        Ok(NtpTimestamp::from_unix(UnixTime::new(secs, nanos)))
    }
}

/// Reads a history file's `text`; what is wrong with it otherwise (its
/// line), a file not ntpkit's (chronyd's, say) included.
pub(super) fn parse_history(text: &str) -> Result<SavedHistory, String> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    if lines.next().map(|(_, l)| l) != Some(HISTORY_HEADER) {
        return Err(format!(
            "not an ntpkit history (its first line is not \"{HISTORY_HEADER}\")"
        ));
    }
    let mut next = |keyword: &str, count: usize| -> Result<Record<'_>, String> {
        let (line, text) = lines
            .next()
            .ok_or_else(|| format!("a \"{keyword}\" line expected after the last"))?;
        let mut words = text.split(' ');
        if words.next() != Some(keyword) {
            return Err(format!("line {line}: \"{keyword}\" expected"));
        }
        let words: Vec<&str> = words.collect();
        if words.len() != count {
            return Err(format!(
                "line {line}: {count} values expected after \"{keyword}\""
            ));
        }
        Ok(Record { line, words })
    };
    let server = next("server", 1)?;
    let name = server.words[0].to_string();
    let state = next("state", 5)?;
    let authenticated = match state.words[0] {
        "0" => false,
        "1" => true,
        _ => return Err(format!("line {}: 0 or 1 expected", state.line)),
    };
    let reach = u8::from_str_radix(state.words[1], 8)
        .map_err(|_| format!("line {}: an octal reachability expected", state.line))?;
    let stratum: u8 = state.number(2, "a stratum")?;
    let leap = match state.words[3] {
        "N" => LeapIndicator::NoWarning,
        "+" => LeapIndicator::InsertSecond,
        "-" => LeapIndicator::DeleteSecond,
        "?" => LeapIndicator::Unsynchronized,
        _ => return Err(format!("line {}: a leap status expected", state.line)),
    };
    let last = next("last", 6)?;
    let history = SourceHistory {
        authenticated,
        reach,
        leap,
        stratum,
        root_delay: last.float(1, "a root delay")?,
        root_dispersion: last.float(2, "a root dispersion")?,
        last_time: last.time(0)?,
        last_offset: last.float(3, "an offset")?,
        last_delay: last.float(4, "a delay")?,
        last_dispersion: last.float(5, "a dispersion")?,
        frequency_ppm: state.float(4, "a frequency")?,
    };
    let mut samples = Vec::new();
    for (line, text) in lines {
        let words: Vec<&str> = text.split(' ').collect();
        if words.first() != Some(&"sample") || words.len() != 4 {
            return Err(format!(
                "line {line}: \"sample TIME OFFSET DELAY\" expected"
            ));
        }
        if samples.len() == MAX_SAMPLES {
            return Err(format!("line {line}: more than {MAX_SAMPLES} samples"));
        }
        let record = Record {
            line,
            words: words[1..].to_vec(),
        };
        samples.push(StoredSample {
            time: record.time(0)?,
            offset: record.float(1, "an offset")?,
            delay: record.float(2, "a delay")?,
        });
    }
    if samples.is_empty() {
        return Err("no sample".into());
    }
    Ok(SavedHistory {
        name,
        history,
        samples,
    })
}

/// Saves a source's history in `dir` (made if missing) as
/// [`history_path`] names it, replacing the file whole.
pub(super) fn save_history(
    dir: &Path,
    named: &str,
    name: &str,
    history: &SourceHistory,
    samples: impl Iterator<Item = StoredSample>,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let text = format_history(name, history, samples);
    write_atomically(&history_path(dir, named), text.as_bytes(), 0o644)
}

/// Removes the history files in `dir`, as chronyd removes its dump files
/// at start (loaded or not): the files named as an address or a reference
/// clock's (`refid:...`), with `.dat`. Each file that could not be
/// removed is an error, naming it.
pub(super) fn remove_histories(dir: &Path) -> Vec<io::Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".dat")) else {
            continue;
        };
        if stem.starts_with("refid:") || stem.parse::<IpAddr>().is_ok() {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                errors.push(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", entry.path().display()),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_files() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-drift-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("drift");
        assert_eq!(read_drift(&path), Ok(None));
        let drift = Drift {
            frequency_ppm: -12.5,
            skew_ppm: 0.25,
        };
        save_drift(&path, &drift).unwrap();
        let read = read_drift(&path).unwrap().unwrap();
        assert!((read.frequency_ppm - drift.frequency_ppm).abs() < 1e-6);
        std::fs::write(&path, "garbage\n").unwrap();
        assert_eq!(
            read_drift(&path),
            Err(format!(
                "Could not read valid frequency and skew from driftfile {}",
                path.display()
            ))
        );
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn history() -> (SourceHistory, Vec<StoredSample>) {
        let t0 = NtpTimestamp::from_unix(UnixTime::new(1_262_304_000, 123_456_789));
        let samples: Vec<StoredSample> = (0..3)
            .map(|i| StoredSample {
                time: t0 + crate::time::NtpDuration::from_seconds_f64(64.0 * i as f64),
                offset: 1.0e-4 / (i as f64 + 3.0),
                delay: 2.5e-4 + i as f64 * 1e-7,
            })
            .collect();
        let history = SourceHistory {
            authenticated: true,
            reach: 0o377,
            leap: LeapIndicator::NoWarning,
            stratum: 2,
            root_delay: 1.5e-3,
            root_dispersion: 2.25e-4,
            last_time: samples[2].time,
            last_offset: -3.0e-5,
            last_delay: 2.5e-4,
            last_dispersion: 1.9e-5,
            frequency_ppm: -12.5,
        };
        (history, samples)
    }

    #[test]
    fn histories_are_read_back_exactly() {
        let (history, samples) = history();
        let text = format_history("ntp.example.org", &history, samples.iter().copied());
        assert_eq!(text.lines().count(), 4 + 3);
        assert!(text.starts_with(
            "ntpkit source history 1\nserver ntp.example.org\nstate 1 377 2 N -1.25e1\n\
             last 1262304128.123456789 1.5e-3 2.25e-4 -3e-5 2.5e-4 1.9e-5\n\
             sample 1262304000.123456789 3.3333333333333335e-5 2.5e-4\n"
        ));
        let read = parse_history(&text).unwrap();
        assert_eq!(read.name, "ntp.example.org");
        assert_eq!(read.history, history);
        // Times to the nanosecond, values exactly.
        for (a, b) in read.samples.iter().zip(&samples) {
            assert!((a.time - b.time).to_seconds_f64().abs() < 1e-9);
            assert_eq!((a.offset, a.delay), (b.offset, b.delay));
        }
    }

    #[test]
    fn other_files_are_refused_with_the_line() {
        // chronyd 4.3's dump file of a source (its first lines).
        let chronyd = "SRC0\n192.168.123.1\n0 377 8 1 0\n2 0\n";
        assert_eq!(
            parse_history(chronyd).unwrap_err(),
            "not an ntpkit history (its first line is not \"ntpkit source history 1\")"
        );
        let (history, samples) = history();
        let good = format_history("a", &history, samples.iter().copied());
        let broken = |from: &str, to: &str| parse_history(&good.replacen(from, to, 1)).unwrap_err();
        assert_eq!(
            broken("state 1 377", "state 2 377"),
            "line 3: 0 or 1 expected"
        );
        assert_eq!(
            broken(" 377 ", " 9 "),
            "line 3: an octal reachability expected"
        );
        assert_eq!(broken(" N ", " X "), "line 3: a leap status expected");
        assert_eq!(
            broken(" -1.25e1\n", " inf\n"),
            "line 3: a frequency expected"
        );
        assert_eq!(
            broken(" -1.25e1\n", "\n"),
            "line 3: 5 values expected after \"state\""
        );
        assert_eq!(
            broken("last 1262304128.1", "last x.1"),
            "line 4: a time expected"
        );
        assert_eq!(broken(" 1.5e-3 ", " nan "), "line 4: a root delay expected");
        assert_eq!(
            broken("sample 1262304000.123456789 ", "sample "),
            "line 5: \"sample TIME OFFSET DELAY\" expected"
        );
        assert_eq!(broken("server a\n", ""), "line 2: \"server\" expected");
        let no_samples: String = good.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_history(&no_samples).unwrap_err(), "no sample");
        assert_eq!(
            parse_history("ntpkit source history 1\nserver a\n").unwrap_err(),
            "a \"state\" line expected after the last"
        );
    }

    #[test]
    fn saved_in_dumpdir_and_removed_as_chronyd_removes_them() {
        let dir = std::env::temp_dir().join(format!("ntpkit-histories-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (history, samples) = history();
        save_history(
            &dir,
            "192.168.123.1",
            "a",
            &history,
            samples.iter().copied(),
        )
        .unwrap();
        let path = dir.join("192.168.123.1.dat");
        assert_eq!(history_path(&dir, "192.168.123.1"), path);
        assert_eq!(
            parse_history(&std::fs::read_to_string(&path).unwrap())
                .unwrap()
                .history,
            history
        );
        for other in [
            "refid:50484330.dat",
            "::1.dat",
            "notes.dat",
            "drift",
            "x.nts",
        ] {
            std::fs::write(dir.join(other), "").unwrap();
        }
        assert!(remove_histories(&dir).is_empty());
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["drift", "notes.dat", "x.nts"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
