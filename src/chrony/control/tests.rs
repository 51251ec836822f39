//! Requests parse as chronyc's options do, and render in chronyc's layouts
//! and as JSON. (Answering them over chronyc's protocol is
//! `linux::cmdmon`'s, tested in `tests/cmdmon*.rs`.)

use std::vec;

use super::*;
use crate::report::{SourceMode, SourceState};
use crate::time::NtpTimestamp;
use crate::wire::{LeapIndicator, ReferenceId};

fn snapshot() -> Snapshot {
    let source = SourceReport {
        mode: SourceMode::Server,
        state: SourceState::Selected,
        stratum: 2,
        poll: 6,
        reach: 0o377,
        last_rx: Some(15),
        adjusted_offset: 4.085e-6,
        measured_offset: -25e-6,
        error: 15e-3,
    };
    let stats = SourceStatsReport {
        samples: 5,
        runs: 4,
        span: 323,
        frequency_ppm: -0.252,
        skew_ppm: 0.819,
        offset: -3.031e-6,
        std_dev: 15e-6,
        offset_error: 0.0,
    };
    let address = "192.168.1.1".parse().ok();
    Snapshot {
        sources: vec![SourceSnapshot {
            report: Some(source),
            stats: Some(stats),
            ..SourceSnapshot::new(address, "chrony-0.cluster")
        }],
        reference: ("chrony-0.cluster".into(), address),
        tracking: TrackingReport {
            reference_id: ReferenceId::from_bits(0xc0a8_0101),
            stratum: 3,
            reference_time: NtpTimestamp::ZERO,
            system_offset: 0.0,
            last_offset: 0.0,
            rms_offset: 0.0,
            frequency_ppm: 0.0,
            residual_frequency_ppm: 0.0,
            skew_ppm: 0.0,
            root_delay: 0.0,
            root_dispersion: 0.0,
            update_interval: 64.0,
            leap: LeapIndicator::NoWarning,
        },
        timedatectl: TimedatectlReport {
            universal_time: None,
            max_error: 0.03,
        },
        ..Snapshot::default()
    }
}

#[test]
fn requests_parse_like_chronyc_options() {
    let parse = |s: &str| s.parse::<Request>();
    assert_eq!(
        parse("sources -v").unwrap(),
        Request {
            report: Report::Sources,
            format: Format::Text(Style::Verbose)
        }
    );
    assert_eq!(
        parse("sourcestats -c").unwrap().format,
        Format::Text(Style::Csv)
    );
    assert_eq!(
        parse("tracking -c -v").unwrap().format,
        Format::Text(Style::Csv)
    );
    #[cfg(feature = "json")]
    assert_eq!(parse("timedatectl --json").unwrap().format, Format::Json);
    #[cfg(not(feature = "json"))]
    assert!(parse("timedatectl --json")
        .unwrap_err()
        .to_string()
        .contains("--json needs the json feature"));
    assert!(parse("").is_err());
    assert!(parse("sources -x").is_err());
    assert!(parse("ntpdata").is_err());
    for line in [
        "sources",
        "sourcestats -v",
        "tracking -c",
        #[cfg(feature = "json")]
        "timedatectl --json",
    ] {
        assert_eq!(parse(line).unwrap().to_string(), line);
    }
}

#[test]
fn snapshot_renders_text_and_csv() {
    let s = snapshot();
    let text = s.render(&"sources".parse().unwrap());
    assert!(text.ends_with(
        "^* chrony-0.cluster              2   6   377    15  +4085ns[  -25us] +/-   15ms\n"
    ));
    // CSV names sources by address, as chronyc -c does.
    let csv = s.render(&"sourcestats -c".parse().unwrap());
    assert_eq!(
        csv,
        "192.168.1.1,5,4,323,-0.252,0.819,-0.000003031,0.000015000\n"
    );
    let csv = s.render(&"tracking -c".parse().unwrap());
    assert!(csv.starts_with("C0A80101,192.168.1.1,3,"), "{csv}");
    assert_eq!(
        s.render(&"timedatectl".parse().unwrap()),
        "System clock synchronized: yes\n              NTP service: active\n"
    );
    // -v adds what the decision rests on.
    let verbose = s.render(&"timedatectl -v".parse().unwrap());
    assert!(
        verbose.starts_with("System clock synchronized: yes\n"),
        "{verbose}"
    );
    assert!(
        verbose.contains("\n            Maximum error: 0.0"),
        "{verbose}"
    );
}

#[cfg(feature = "json")]
#[test]
fn snapshot_renders_json() {
    let s = snapshot();
    let json: serde_json::Value =
        serde_json::from_str(&s.render(&"sources --json".parse().unwrap())).unwrap();
    assert_eq!(json[0]["name"], "chrony-0.cluster");
    assert_eq!(json[0]["address"], "192.168.1.1");
    assert_eq!(json[0]["state"], "Selected");
    assert_eq!(json[0]["reach"], 255);
    let json: serde_json::Value =
        serde_json::from_str(&s.render(&"timedatectl --json".parse().unwrap())).unwrap();
    assert_eq!(json["synchronized"], true);
    let json: serde_json::Value =
        serde_json::from_str(&s.render(&"tracking --json".parse().unwrap())).unwrap();
    assert_eq!(json["stratum"], 3);
    // Times as Unix seconds (none: null), not raw NTP timestamps.
    assert!(json["reference_time"].is_null());
    let mut s = s;
    s.tracking.reference_time =
        NtpTimestamp::from_unix(crate::time::UnixTime::new(1_796_150_000, 250_000_000));
    let json: serde_json::Value =
        serde_json::from_str(&s.render(&"tracking --json".parse().unwrap())).unwrap();
    let seconds = json["reference_time"].as_f64().unwrap();
    assert!((seconds - 1_796_150_000.25).abs() < 1e-6, "{seconds}");
}
