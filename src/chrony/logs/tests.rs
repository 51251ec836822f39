//! The golden files are chronyd 4.3's own logs, captured on loopback
//! (tests/data/logs/README.md): every line is parsed into its type,
//! printed again and compared byte for byte, and the files are rewritten
//! through [`LogFile`] (restarted where chronyd was) and compared whole.

use super::*;
use std::string::ToString;
use std::vec::Vec;

const MEASUREMENTS: &str = include_str!("../../../tests/data/logs/measurements.log");
const STATISTICS: &str = include_str!("../../../tests/data/logs/statistics.log");
const TRACKING: &str = include_str!("../../../tests/data/logs/tracking.log");

/// POSIX seconds of a `YYYY-MM-DD HH:MM:SS` UTC date.
fn posix(date: &str, time: &str) -> i64 {
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let days = crate::time::days_from_civil(d[0], d[1], d[2]);
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

fn leap(letter: &str) -> LeapIndicator {
    match letter {
        "N" => LeapIndicator::NoWarning,
        "+" => LeapIndicator::InsertSecond,
        "-" => LeapIndicator::DeleteSecond,
        _ => LeapIndicator::Unsynchronized,
    }
}

fn flags<const N: usize>(text: &str) -> [bool; N] {
    let mut out = [false; N];
    for (o, c) in out.iter_mut().zip(text.chars()) {
        *o = c == '1';
    }
    out
}

fn source(letter: char) -> TimestampSource {
    match letter {
        'K' => TimestampSource::Kernel,
        'H' => TimestampSource::Hardware,
        _ => TimestampSource::Daemon,
    }
}

fn measurement(line: &str) -> Measurement {
    let w: Vec<&str> = line.split_whitespace().collect();
    let f = |i: usize| w[i].parse::<f64>().unwrap();
    let mode = w[17].as_bytes();
    Measurement {
        time: posix(w[0], w[1]),
        address: w[2].into(),
        leap: leap(w[3]),
        stratum: w[4].parse().unwrap(),
        tests_123: flags(w[5]),
        tests_567: flags(w[6]),
        tests_abcd: flags(w[7]),
        local_poll: w[8].parse().unwrap(),
        remote_poll: w[9].parse().unwrap(),
        score: f(10),
        offset: f(11),
        peer_delay: f(12),
        peer_dispersion: f(13),
        root_delay: f(14),
        root_dispersion: f(15),
        reference_id: u32::from_str_radix(w[16], 16).unwrap(),
        mode: mode[0] - b'0',
        interleaved: mode[1] == b'I',
        tx_timestamp: source(w[18].chars().next().unwrap()),
        rx_timestamp: source(w[19].chars().next().unwrap()),
    }
}

fn statistics(line: &str) -> Statistics {
    let w: Vec<&str> = line.split_whitespace().collect();
    let f = |i: usize| w[i].parse::<f64>().unwrap();
    Statistics {
        time: posix(w[0], w[1]),
        address: w[2].into(),
        std_dev: f(3),
        offset: f(4),
        offset_sd: f(5),
        frequency: f(6),
        skew: f(7),
        stress: f(8),
        samples: w[9].parse().unwrap(),
        start: w[10].parse().unwrap(),
        runs: w[11].parse().unwrap(),
        asymmetry: f(12),
    }
}

fn tracking(line: &str) -> Tracking {
    let w: Vec<&str> = line.split_whitespace().collect();
    let f = |i: usize| w[i].parse::<f64>().unwrap();
    Tracking {
        time: posix(w[0], w[1]),
        reference: w[2].into(),
        stratum: w[3].parse().unwrap(),
        frequency_ppm: f(4),
        skew_ppm: f(5),
        offset: f(6),
        leap: leap(w[7]),
        combined_sources: w[8].parse().unwrap(),
        offset_sd: f(9),
        remaining_correction: f(10),
        root_delay: f(11),
        root_dispersion: f(12),
        max_error: f(13),
    }
}

/// Rewrites `golden` through a `LogFile`, reopening it where chronyd
/// restarted (a banner before 32 lines since the last), and compares.
fn reproduce<L: LogLine>(golden: &str, parse: fn(&str) -> L) {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-logs-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let mut file = LogFile::<L>::new(dir, 32);
    let mut since_banner = 0;
    let mut entries = 0;
    for line in golden.lines() {
        if line.starts_with('=') {
            continue;
        }
        if line == L::HEADER {
            if entries > 0 && since_banner != 32 {
                // chronyd was restarted here.
                file = LogFile::new(dir, 32);
            }
            since_banner = 0;
            continue;
        }
        let parsed = parse(line);
        assert_eq!(parsed.to_string(), line, "{}", L::FILE);
        file.write(&parsed).unwrap();
        since_banner += 1;
        entries += 1;
    }
    assert!(entries > 100, "{}: {entries} lines", L::FILE);
    let written = std::fs::read_to_string(file.path()).unwrap();
    assert_eq!(written, golden, "{}", L::FILE);
}

#[test]
fn measurements_log_as_chronyd_writes_it() {
    reproduce(MEASUREMENTS, measurement);
}

#[test]
fn statistics_log_as_chronyd_writes_it() {
    reproduce(STATISTICS, statistics);
}

#[test]
fn tracking_log_as_chronyd_writes_it() {
    reproduce(TRACKING, tracking);
}

#[test]
fn numbers_as_printf_prints_them() {
    struct E(f64, usize, usize);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            exp(f, self.0, self.1, self.2)
        }
    }
    struct F(f64, usize, usize);
    impl fmt::Display for F {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fixed(f, self.0, self.1, self.2)
        }
    }
    // Each pair checked against C's printf.
    assert_eq!(E(-0.0, 10, 3).to_string(), "-0.000e+00");
    assert_eq!(E(0.0, 10, 3).to_string(), " 0.000e+00");
    assert_eq!(E(9.9996e-6, 10, 3).to_string(), " 1.000e-05");
    assert_eq!(E(1.5e100, 10, 3).to_string(), "1.500e+100");
    assert_eq!(E(3.24e-4, 7, 1).to_string(), "3.2e-04");
    assert_eq!(E(f64::INFINITY, 10, 3).to_string(), "       inf");
    assert_eq!(E(-f64::NAN, 10, 3).to_string(), "      -nan");
    assert_eq!(F(1_000_000.0, 10, 3).to_string(), "1000000.000");
    assert_eq!(F(-0.0, 5, 2).to_string(), "-0.00");
    assert_eq!(F(0.125, 4, 2).to_string(), "0.12");
    assert_eq!(F(0.375, 4, 2).to_string(), "0.38");
}

#[test]
fn dates_are_utc() {
    struct D(i64);
    impl fmt::Display for D {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            date(f, self.0)
        }
    }
    assert_eq!(D(0).to_string(), "1970-01-01 00:00:00");
    assert_eq!(D(951_782_400).to_string(), "2000-02-29 00:00:00");
    assert_eq!(D(1_483_228_799).to_string(), "2016-12-31 23:59:59");
    assert_eq!(D(-1).to_string(), "1969-12-31 23:59:59");
    assert_eq!(D(4_107_542_400).to_string(), "2100-03-01 00:00:00");
}

#[test]
fn banners_every_logbanner_lines_or_never() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-banner-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    let line = tracking(TRACKING.lines().nth(3).unwrap());
    let mut every2 = LogFile::<Tracking>::new(dir, 2);
    for _ in 0..5 {
        every2.write(&line).unwrap();
    }
    let text = std::fs::read_to_string(every2.path()).unwrap();
    assert_eq!(text.matches(Tracking::HEADER).count(), 3);
    assert_eq!(text.lines().count(), 5 + 3 * 3);
    std::fs::remove_file(every2.path()).unwrap();
    let mut never = LogFile::<Tracking>::new(dir, 0);
    never.write(&line).unwrap();
    assert_eq!(
        std::fs::read_to_string(never.path()).unwrap(),
        format!("{line}\n")
    );
}

#[test]
fn logs_follow_their_settings() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-logs-config-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("sub");
    let settings = LogSettings {
        dir: dir.clone(),
        log: LogSet {
            measurements: true,
            tracking: true,
            ..LogSet::default()
        },
        banner: 32,
    };
    let mut logs = Logs::open(&settings).unwrap();
    let m = measurement(MEASUREMENTS.lines().nth(3).unwrap());
    logs.measurement(&m, false).unwrap();
    logs.measurement(&m, true).unwrap();
    logs.statistics(&statistics(STATISTICS.lines().nth(3).unwrap()))
        .unwrap();
    logs.tracking(&tracking(TRACKING.lines().nth(3).unwrap()))
        .unwrap();
    let measurements = std::fs::read_to_string(dir.join("measurements.log")).unwrap();
    // The invalid one is not logged without rawmeasurements.
    assert_eq!(measurements.lines().count(), 3 + 1);
    assert!(!dir.join("statistics.log").exists());
    assert!(dir.join("tracking.log").exists());
}

#[test]
fn a_file_is_made_at_its_first_line() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-logs-lazy-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let settings = LogSettings {
        dir: dir.clone(),
        log: LogSet {
            tracking: true,
            rtc: true,
            refclocks: true,
            ..LogSet::default()
        },
        banner: 32,
    };
    let mut logs = Logs::open(&settings).unwrap();
    assert!(dir.is_dir(), "logdir is made at start");
    assert!(!dir.join("tracking.log").exists(), "no line yet: no file");
    logs.tracking(&tracking(TRACKING.lines().nth(3).unwrap()))
        .unwrap();
    assert!(dir.join("tracking.log").exists());
    // rtc.log and refclocks.log get no line, so no file (as chronyd's).
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["tracking.log"]);
}

#[test]
fn rotated_files_are_reopened_at_their_path_with_a_banner() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-logs-rotate-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let line = tracking(TRACKING.lines().nth(3).unwrap());
    let banner = |n: usize| {
        let rule = "=".repeat(Tracking::HEADER.len());
        format!("{rule}\n{}\n{rule}\n", Tracking::HEADER).repeat(n)
    };
    let mut file = LogFile::<Tracking>::new(&dir, 32);
    let path = file.path().to_path_buf();
    file.write(&line).unwrap();
    // logrotate's default: rename, then the daemon's next line.
    std::fs::rename(&path, dir.join("tracking.log.1")).unwrap();
    file.write(&line).unwrap();
    file.write(&line).unwrap();
    let old = std::fs::read_to_string(dir.join("tracking.log.1")).unwrap();
    assert_eq!(
        old,
        format!("{}{line}\n", banner(1)),
        "nothing more in the old file"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}{line}\n{line}\n", banner(1)),
        "a new file, with its banner"
    );
    // Removed: made again.
    std::fs::remove_file(&path).unwrap();
    file.write(&line).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}{line}\n", banner(1))
    );
    // Closed (cyclelogs): the same file, a banner again.
    file.close();
    file.write(&line).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{0}{line}\n{0}{line}\n", banner(1))
    );
}

#[test]
fn cycle_closes_every_file_and_a_failing_file_is_given_up() {
    let tmp = tempfile::Builder::new()
        .prefix("ntpkit-logs-cycle-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    let settings = LogSettings {
        dir: dir.clone(),
        log: LogSet {
            statistics: true,
            tracking: true,
            ..LogSet::default()
        },
        banner: 32,
    };
    let mut logs = Logs::open(&settings).unwrap();
    let s = statistics(STATISTICS.lines().nth(3).unwrap());
    let t = tracking(TRACKING.lines().nth(3).unwrap());
    logs.statistics(&s).unwrap();
    logs.tracking(&t).unwrap();
    for name in ["statistics.log", "tracking.log"] {
        std::fs::rename(dir.join(name), dir.join(format!("{name}.1"))).unwrap();
    }
    logs.cycle();
    logs.statistics(&s).unwrap();
    logs.tracking(&t).unwrap();
    for name in ["statistics.log", "tracking.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(text.lines().count(), 4, "{name}: {text}");
        assert!(text.starts_with("====="), "{name}: {text}");
    }
    // tracking.log is now a directory: its error names it, and it is given
    // up; statistics.log goes on.
    std::fs::remove_file(dir.join("tracking.log")).unwrap();
    std::fs::create_dir(dir.join("tracking.log")).unwrap();
    let error = logs.tracking(&t).unwrap_err();
    assert!(error.to_string().contains("tracking.log"), "{error}");
    logs.tracking(&t).unwrap();
    logs.statistics(&s).unwrap();
    let text = std::fs::read_to_string(dir.join("statistics.log")).unwrap();
    assert_eq!(text.lines().count(), 5);
}

#[test]
fn selection_and_tempcomp_lines_as_chronyd_writes_them() {
    // Lines of chronyd 4.3's selection.log and tempcomp.log (a run of
    // chrony's test 134-log in clknetsim), rebuilt from their values.
    let selection = |time: i64, address: &str, state: char, noselect: bool, reach: u8| Selection {
        time,
        address: address.into(),
        state,
        noselect,
        prefer: false,
        trust: false,
        require: false,
        reach,
        score: 1.0,
        last_sample_ago: 0.0,
        low: 0.0,
        high: 0.0,
    };
    let start = posix("2010-01-01", "00:00:00");
    assert_eq!(
        selection(start, "PHC0", 'N', true, 0).to_string(),
        "2010-01-01 00:00:00 PHC0            N -N---    0  1.00  0.000e+00  0.000e+00  0.000e+00"
    );
    assert_eq!(
        Selection {
            last_sample_ago: 4.586e1,
            low: -1.034e-3,
            high: 1.034e-3,
            ..selection(start + 176, "192.168.123.1", '*', false, 0o7)
        }
        .to_string(),
        "2010-01-01 00:02:56 192.168.123.1   * -----    7  1.00  4.586e+01 -1.034e-03  1.034e-03"
    );
    assert_eq!(
        Selection {
            prefer: true,
            trust: true,
            require: true,
            score: 12.5,
            ..selection(start, "203.0.113.15", 'x', false, 0o377)
        }
        .to_string(),
        "2010-01-01 00:00:00 203.0.113.15    x --PTR  377 12.50  0.000e+00  0.000e+00  0.000e+00"
    );
    assert_eq!(
        TempComp {
            time: start + 64,
            temperature: 0.0,
            compensation: 0.0
        }
        .to_string(),
        "2010-01-01 00:01:04  0.0000e+00  0.0000e+00"
    );
    assert_eq!(
        TempComp {
            time: start,
            temperature: 28000.0,
            compensation: 0.366
        }
        .to_string(),
        "2010-01-01 00:00:00  2.8000e+04  3.6600e-01"
    );
    // The banners: the rule is as long as the header.
    assert_eq!(
        Selection::HEADER,
        "   Date (UTC) Time     IP Address   S EOpts Reach Score Last sample  Low end   High end"
    );
    assert_eq!(Selection::HEADER.len(), 87);
    assert_eq!(TempComp::HEADER.len(), 43);
}
