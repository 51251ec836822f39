//! The layouts against chronyc 4.3's own output (tests/reference holds a
//! copy of what Debian's chronyc printed), and against the lines an older
//! chronyc printed on the serving node of a kubeasz cluster
//! (`kubeasz_serving_node_rows`).

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;

use super::*;
use crate::report::{TimedatectlReport, TrackingReport};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::ReferenceId;

const REFERENCE: &str = include_str!("../../../tests/reference/chronyc-4.3-outputs.txt");
const REFERENCE_CSV: &str = include_str!("../../../tests/reference/chronyc-4.3-csv.txt");

/// The block of `text` printed for `command` (up to the next blank line or
/// `###` marker; the sources legend starts with a blank line).
fn block(text: &str, command: &str) -> String {
    let start = text.find(command).expect("command in reference") + command.len() + 1;
    let rest = &text[start..];
    let mut out = String::new();
    for (i, line) in rest.lines().enumerate() {
        if line.starts_with("###") || (line.is_empty() && i > 0) {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn source(state: SourceState, stratum: u8, poll: i8, reach: u8, last_rx: u64) -> SourceReport {
    SourceReport {
        mode: SourceMode::Server,
        state,
        stratum,
        poll,
        reach,
        last_rx: Some(last_rx),
        adjusted_offset: 0.0,
        measured_offset: 0.0,
        error: 0.0,
    }
}

fn reference_source() -> SourceReport {
    SourceReport {
        adjusted_offset: 573e-9,
        measured_offset: 568e-9,
        error: 3108e-9,
        ..source(SourceState::Selected, 8, 0, 0o377, 0)
    }
}

/// `sources -v` (names resolved) and `-n sources` (addresses).
#[test]
fn sources_match_chronyc() {
    for (name, style, command) in [
        ("localhost", Style::Verbose, "sources -v"),
        ("127.0.0.1", Style::Plain, "-n sources"),
    ] {
        let rows = [(name, reference_source())];
        let ours = Sources { rows: &rows, style }.to_string();
        assert_eq!(ours, block(REFERENCE, command));
    }
}

#[test]
fn sourcestats_verbose_matches_chronyc() {
    let row = SourceStatsReport {
        samples: 64,
        runs: 41,
        span: 55,
        frequency_ppm: -0.0002,
        skew_ppm: 0.009,
        offset: -0.2e-9,
        std_dev: 350e-9,
        offset_error: 0.0,
    };
    let ours = SourceStats {
        rows: &[("localhost", row)],
        style: Style::Verbose,
    }
    .to_string();
    assert_eq!(ours, block(REFERENCE, "sourcestats -v"));
}

fn reference_time(secs: i64, nanos: u32) -> NtpTimestamp {
    NtpTimestamp::from_unix(UnixTime::new(secs, nanos))
}

#[test]
fn tracking_matches_chronyc() {
    let report = TrackingReport {
        reference_id: ReferenceId::from_bits(0x7f00_0001),
        stratum: 9,
        // Thu Nov 26 14:19:52 2026
        reference_time: reference_time(1_795_702_792, 400_000_000),
        system_offset: 766e-9,
        last_offset: -5e-9,
        rms_offset: 60e-9,
        frequency_ppm: 0.0001,
        residual_frequency_ppm: -0.0001,
        skew_ppm: 0.009,
        root_delay: 4.802e-6,
        root_dispersion: 0.709e-6,
        update_interval: 1.0,
        leap: LeapIndicator::NoWarning,
    };
    let ours = Tracking {
        name: "localhost",
        report: &report,
        style: Style::Plain,
    }
    .to_string();
    assert_eq!(ours, block(REFERENCE, "tracking"));
}

#[test]
fn csv_matches_chronyc() {
    let tracking = TrackingReport {
        reference_id: ReferenceId::from_bits(0x7f00_0001),
        stratum: 9,
        reference_time: reference_time(1_795_703_328, 263_974_211),
        system_offset: 1.299e-6,
        last_offset: 0.225e-6,
        rms_offset: 0.140e-6,
        frequency_ppm: -0.037,
        residual_frequency_ppm: 0.086,
        skew_ppm: 0.133,
        root_delay: 5.913e-6,
        root_dispersion: 0.359e-6,
        update_interval: 1.0,
        leap: LeapIndicator::NoWarning,
    };
    let sources = [(
        "127.0.0.1",
        SourceReport {
            adjusted_offset: 57e-9,
            measured_offset: 282e-9,
            error: 2991e-9,
            ..reference_source()
        },
    )];
    let stats = [(
        "127.0.0.1",
        SourceStatsReport {
            samples: 6,
            runs: 3,
            span: 5,
            frequency_ppm: 0.086,
            skew_ppm: 0.471,
            offset: 5e-9,
            std_dev: 230e-9,
            offset_error: 0.0,
        },
    )];
    let csv = Style::Csv;
    let name = "127.0.0.1";
    let report = &tracking;
    assert_eq!(
        Tracking {
            name,
            report,
            style: csv
        }
        .to_string(),
        block(REFERENCE_CSV, "-c tracking")
    );
    assert_eq!(
        Sources {
            rows: &sources,
            style: csv
        }
        .to_string(),
        block(REFERENCE_CSV, "-c sources")
    );
    assert_eq!(
        SourceStats {
            rows: &stats,
            style: csv
        }
        .to_string(),
        block(REFERENCE_CSV, "-c sourcestats")
    );
}

/// The serving node of a kubeasz cluster (one node following five public
/// servers), as an older chronyc listed its sources: five sources in every
/// unit and state. (That chronyc's header has no trailing spaces and it cut
/// long names without the `>` that 4.3 puts there.)
#[test]
fn kubeasz_serving_node_rows() {
    let row = |state, stratum, poll, reach, rx, adj: f64, meas: f64, err: f64| SourceReport {
        adjusted_offset: adj,
        measured_offset: meas,
        error: err,
        ..source(state, stratum, poll, reach, rx)
    };
    use SourceState::{NotCombined as M, Selected as S};
    let rows = [
        (
            "120.25.115.20",
            row(S, 2, 9, 0o377, 55, 147e-6, 250e-6, 15e-3),
        ),
        (
            "85.199.214.100",
            row(M, 1, 10, 0o377, 182, -25e-3, -24e-3, 128e-3),
        ),
        (
            "makaki.miuku.net",
            row(M, 2, 10, 0o367, 307, 61e-3, 61e-3, 127e-3),
        ),
        (
            "static-5-103-139-163.ip.fibianet.dk",
            row(M, 1, 9, 0o167, 572, 532e-6, 336e-6, 117e-3),
        ),
        (
            "119.28.183.184",
            row(M, 2, 7, 0o377, 33, -130e-6, -130e-6, 47e-3),
        ),
    ];
    let text = Sources {
        rows: &rows,
        style: Style::Plain,
    }
    .to_string();
    let lines: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(
        lines,
        [
            "^* 120.25.115.20                 2   9   377    55   +147us[ +250us] +/-   15ms",
            "^- 85.199.214.100                1  10   377   182    -25ms[  -24ms] +/-  128ms",
            "^- makaki.miuku.net              2  10   367   307    +61ms[  +61ms] +/-  127ms",
            "^- static-5-103-139-163.ip.>     1   9   167   572   +532us[ +336us] +/-  117ms",
            "^- 119.28.183.184                2   7   377    33   -130us[ -130us] +/-   47ms",
        ]
    );

    let stat = |np, nr, span, freq, skew, off, sd| SourceStatsReport {
        samples: np,
        runs: nr,
        span,
        frequency_ppm: freq,
        skew_ppm: skew,
        offset: off,
        std_dev: sd,
        offset_error: 0.0,
    };
    let rows = [
        (
            "120.25.115.20",
            stat(15, 11, 2650, 0.011, 0.909, 4097e-9, 758e-6),
        ),
        (
            "85.199.214.100",
            stat(22, 13, 2950, -3.588, 5.097, -23e-3, 5709e-6),
        ),
        (
            "119.28.183.184",
            stat(16, 9, 1150, 10.378, 25.190, 3469e-6, 6803e-6),
        ),
    ];
    let text = SourceStats {
        rows: &rows,
        style: Style::Plain,
    }
    .to_string();
    let lines: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(
        lines,
        [
            "120.25.115.20              15  11   44m     +0.011      0.909  +4097ns   758us",
            "85.199.214.100             22  13   49m     -3.588      5.097    -23ms  5709us",
            "119.28.183.184             16   9  1150    +10.378     25.190  +3469us  6803us",
        ]
    );
}

/// Column for column: whatever the magnitudes, every row has the header's
/// width and its separators in the same columns as chronyc's reference row.
#[test]
fn layout_columns_are_fixed() {
    let reference_row = block(REFERENCE, "-n sources")
        .lines()
        .nth(2)
        .unwrap()
        .to_string();
    let columns = |line: &str| -> Vec<usize> {
        line.char_indices()
            .filter(|&(_, c)| c == '[' || c == ']' || c == '/')
            .map(|(i, _)| i)
            .collect()
    };
    let magnitudes = [
        0.0, 1e-9, -4e-9, 9999e-9, -12e-6, 9.9e-3, -0.5, 12.3, -999.0, 5000.0, -7e5, 1e8, -1e10,
    ];
    let ages = [
        0,
        1199,
        1200,
        35_999,
        36_000,
        345_599,
        345_600,
        86_400 * 1000,
        u64::MAX / 2,
    ];
    for (i, &x) in magnitudes.iter().enumerate() {
        let mut row = reference_source();
        row.adjusted_offset = x;
        row.measured_offset = -x;
        row.error = x;
        row.last_rx = Some(ages[i % ages.len()]);
        row.poll = -7 + i as i8;
        let rows = [("a-very-long-host-name-that-chronyc-cuts.example", row)];
        let text = Sources {
            rows: &rows,
            style: Style::Plain,
        }
        .to_string();
        let line = text.lines().nth(2).unwrap();
        assert_eq!(line.len(), reference_row.len(), "{line:?}");
        assert_eq!(columns(line), columns(&reference_row), "{line:?}");
        assert_eq!(&line[3..28], "a-very-long-host-name-th>");

        let stats = SourceStatsReport {
            samples: 64,
            runs: 3,
            span: ages[i % ages.len()],
            frequency_ppm: x.clamp(-1e8, 1e8),
            skew_ppm: x.abs().min(1e8),
            offset: x,
            std_dev: x,
            offset_error: 0.0,
        };
        let text = SourceStats {
            rows: &[("n", stats)],
            style: Style::Plain,
        }
        .to_string();
        let line = text.lines().nth(2).unwrap();
        assert_eq!(line.len(), SOURCESTATS_HEADER.len(), "{line:?}");
    }
}

#[test]
fn units_switch_where_chronyc_switches() {
    let signed = |x| {
        let mut s = String::new();
        signed_nanoseconds(&mut s, x).unwrap();
        s
    };
    let unsigned = |x| {
        let mut s = String::new();
        nanoseconds(&mut s, x).unwrap();
        s
    };
    let age = |x| {
        let mut s = String::new();
        interval(&mut s, x).unwrap();
        s
    };
    assert_eq!(signed(9999.4e-9), "+9999ns");
    assert_eq!(signed(9999.5e-9), "  +10us");
    assert_eq!(signed(-0.3e-9), "   -0ns");
    assert_eq!(signed(12.34), " +12.3s");
    assert_eq!(signed(-1234.0), " -1234s");
    assert_eq!(signed(7200.0 * 60.0), " +7200m");
    assert_eq!(signed(6e6), " +1667h");
    assert_eq!(unsigned(-3108e-9), "3108ns");
    assert_eq!(unsigned(15e-3), "  15ms");
    assert_eq!(unsigned(1.5), "1500ms");
    assert_eq!(unsigned(12.5), " 12.5s");
    assert_eq!(age(Some(u64::MAX)), "136y");
    assert_eq!(age(None), "   -");
    assert_eq!(age(Some(1199)), "1199");
    assert_eq!(age(Some(1200)), " 20m");
    assert_eq!(age(Some(36_000)), " 10h");
    assert_eq!(age(Some(345_600)), "  4d");
    assert_eq!(age(Some(86_400 * 1000)), "  2y");
}

#[test]
fn tracking_words() {
    let mut report = TrackingReport {
        reference_id: ReferenceId::LOCAL,
        stratum: 10,
        reference_time: NtpTimestamp::ZERO,
        system_offset: -2e-3,
        last_offset: 0.0,
        rms_offset: 0.0,
        frequency_ppm: -12.5,
        residual_frequency_ppm: 0.0,
        skew_ppm: 0.0,
        root_delay: 0.0,
        root_dispersion: 0.0,
        update_interval: 0.0,
        leap: LeapIndicator::Unsynchronized,
    };
    let text = Tracking {
        name: "",
        report: &report,
        style: Style::Plain,
    }
    .to_string();
    assert!(text.starts_with("Reference ID    : 7F7F0101 ()\n"));
    assert!(text.contains("Ref time (UTC)  : Thu Jan 01 00:00:00 1970\n"));
    assert!(text.contains("System time     : 0.002000000 seconds slow of NTP time\n"));
    assert!(text.contains("Frequency       : 12.500 ppm slow\n"));
    assert!(text.ends_with("Leap status     : Not synchronised\n"));
    report.leap = LeapIndicator::InsertSecond;
    report.reference_time = reference_time(951_782_400, 0); // 2000-02-29
    let text = Tracking {
        name: "",
        report: &report,
        style: Style::Plain,
    }
    .to_string();
    assert!(text.contains("Ref time (UTC)  : Tue Feb 29 00:00:00 2000\n"));
    assert!(text.ends_with("Leap status     : Insert second\n"));
}

#[test]
fn timedatectl_line() {
    use crate::clock::SyncStatus;
    let mut status = SyncStatus {
        synchronized: true,
        max_error: 0.015,
        est_error: 0.001,
        leap: LeapIndicator::NoWarning,
    };
    let now = Some(reference_time(1_548_474_711, 0));
    let report = TimedatectlReport::from_status(&status, now);
    assert_eq!(
        report.to_string(),
        concat!(
            "           Universal time: Sat 2019-01-26 03:51:51 UTC\n",
            "System clock synchronized: yes\n",
            "              NTP service: active\n"
        )
    );
    status.max_error = 16.0;
    assert!(!TimedatectlReport::from_status(&status, None).synchronized());
    status.max_error = 0.1;
    status.synchronized = false;
    let report = TimedatectlReport::from_status(&status, None);
    assert_eq!(
        report.to_string(),
        "System clock synchronized: no\n              NTP service: active\n"
    );
    assert_eq!(
        std::format!("{report:#}").lines().last(),
        Some("            Maximum error: 16.000000 seconds")
    );
}

/// A negative zero (the engine negates offsets) prints as chronyc prints
/// the zero it receives: `+0ns`, never `-0ns`.
#[test]
fn negative_zero_prints_as_zero() {
    let row = SourceReport {
        adjusted_offset: -0.0,
        measured_offset: -0.0,
        ..source(SourceState::Unusable, 0, 0, 0, 0)
    };
    let text = Sources {
        rows: &[("x", row)],
        style: Style::Plain,
    }
    .to_string();
    assert!(text.contains("+0ns[   +0ns]"), "{text}");
    let csv = Sources {
        rows: &[("x", row)],
        style: Style::Csv,
    }
    .to_string();
    assert!(
        csv.ends_with(",0.000000000,0.000000000,0.000000000\n"),
        "{csv}"
    );
}
