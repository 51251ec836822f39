//! ntpkit's own client of the command protocol (what `--ctl` becomes):
//! against ntpkit's server it reads back exactly the values served and
//! prints what the control socket printed for them; against chronyd 4.3
//! (`#[ignore]`d: it needs chronyd and root) it reads its replies,
//! `serverstats` included (asked in 4.4's format, answered in 4.3's).

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::fs;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::chrony::{chrony_dir, Chronyd};
use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::linux::cmdmon::{Client, CmdmonServer, CmdmonSettings, Target};
use ntpkit::linux::ctl;
use ntpkit::report::{SourceMode, SourceReport, SourceState, SourceStatsReport, TimedatectlReport};
use ntpkit::wire::{LeapIndicator, ReferenceId};

fn values() -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (i, (address, name)) in [("127.0.0.1", "one.example"), ("::1", "::1")]
        .iter()
        .enumerate()
    {
        snapshot.sources.push(SourceSnapshot {
            report: Some(SourceReport {
                mode: SourceMode::Server,
                state: [SourceState::Selected, SourceState::Combined][i],
                stratum: 2 + i as u8,
                poll: 6,
                reach: 0o377,
                last_rx: Some(5 + i as u64),
                // Exact in chrony's 25-bit floats, so that they read back
                // unchanged.
                adjusted_offset: 1.5 / 1048576.0,
                measured_offset: 1.25 / 1048576.0,
                error: 3.0 / 1024.0,
            }),
            stats: Some(SourceStatsReport {
                samples: 20,
                runs: 9,
                span: 1200,
                frequency_ppm: 0.125,
                skew_ppm: 0.5,
                offset: -2.5 / 1048576.0,
                std_dev: 10.0 / 1048576.0,
                offset_error: 2.5 / 1048576.0,
            }),
            ..SourceSnapshot::new(Some(address.parse().unwrap()), *name)
        });
    }
    snapshot.tracking.reference_id = ReferenceId::from_bits(0x7f00_0001);
    snapshot.tracking.stratum = 3;
    snapshot.tracking.leap = LeapIndicator::NoWarning;
    snapshot.tracking.root_delay = 1.0 / 256.0;
    snapshot.tracking.root_dispersion = 1.0 / 1024.0;
    snapshot
}

/// What the snapshot itself renders, with the tracked source named and
/// the maximum error the tracking values give.
fn control_render(snapshot: &Snapshot, request: &str) -> String {
    let reference = &snapshot.sources[0];
    Snapshot {
        reference: (reference.name.clone(), reference.address),
        timedatectl: TimedatectlReport {
            universal_time: None,
            max_error: snapshot.tracking.root_delay / 2.0 + snapshot.tracking.root_dispersion,
        },
        ..snapshot.clone()
    }
    .render(&request.parse().unwrap())
}

#[test]
fn client_reads_back_what_is_served() {
    // Closed to others (0700), as a command socket's folder must be.
    let d = common::temp_dir("cmdmon-client");
    let path = d.path().join("chronyd.sock");
    // A port the kernel just gave out may be taken again before we bind
    // it (tests run in parallel): try a few.
    let (mut server, port) = (0..20)
        .find_map(|_| {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let settings = CmdmonSettings {
                socket: Some(path.clone()),
                port,
                addresses: vec!["127.0.0.1".parse().unwrap()],
                ..CmdmonSettings::default()
            };
            CmdmonServer::bind(&settings)
                .ok()
                .map(|server| (server, port))
        })
        .expect("a free loopback port in 20 tries");
    let served = values();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let snapshot = served.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopping.load(Ordering::Relaxed) && Instant::now() < deadline {
            server.serve_pending(&snapshot).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    });

    let mut client = Client::connect(&Target::Unix(path.clone())).unwrap();
    let rows = client.sources().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, s) in rows.iter().zip(&served.sources) {
        assert_eq!(
            (row.address, row.name.as_str(), row.report),
            (s.address, s.name.as_str(), s.report.unwrap())
        );
    }
    let stats = client.source_stats().unwrap();
    assert_eq!(
        stats[1],
        (served.sources[1].address, served.sources[1].stats.unwrap())
    );
    let tracking = client.tracking().unwrap();
    assert_eq!(tracking.report, served.tracking);
    assert_eq!(
        tracking.address.ip(),
        Some("127.0.0.1".parse::<IpAddr>().unwrap())
    );
    assert_eq!(client.activity().unwrap().online, 2);
    let stats = client.server_stats().unwrap();
    assert!(stats.cmd_hits >= 8, "{stats:?}");
    // No client log served: chronyd's 519, "not active".
    assert!(matches!(
        client.clients(),
        Err(ntpkit::linux::cmdmon::QueryError::Refused {
            status: ntpkit::cmdmon::Status::INACTIVE,
            ..
        })
    ));
    assert!(
        client.ntp_data("127.0.0.1".parse().unwrap()).is_err(),
        "no ntpdata served"
    );
    for request in [
        "sources",
        "sources -v",
        "sources -c",
        "sources --json",
        "sourcestats -v",
        "tracking",
        "tracking -c",
        "timedatectl",
        "timedatectl --json",
    ] {
        assert_eq!(
            ctl::report(&mut client, &request.parse().unwrap()).unwrap(),
            control_render(&served, request),
            "{request}"
        );
    }
    // Over UDP the monitoring commands work, the rest is refused.
    let mut udp = Client::connect(&Target::parse("127.0.0.1", port).unwrap()).unwrap();
    assert_eq!(udp.tracking().unwrap().report, served.tracking);
    let refused = udp.server_stats().unwrap_err();
    assert!(refused.to_string().contains("UNAUTH"), "{refused}");
    drop(client);
    assert_eq!(
        fs::read_dir(d.path()).unwrap().count(),
        1,
        "the client's socket is removed"
    );
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn client_reads_chronyd() {
    common::need::chronyd();
    // -x: never touches the clock; no sources, no NTP port.
    let chronyd = Chronyd::start(chrony_dir("cmdmon-client"), "port 0\n");
    let path = chronyd.dir().join("chronyd.sock");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client::connect(&Target::Unix(path.clone())).unwrap();
    assert!(client.sources().unwrap().is_empty());
    let tracking = client.tracking().unwrap();
    assert_eq!(tracking.report.leap, LeapIndicator::Unsynchronized);
    assert_eq!(tracking.report.reference_id, ReferenceId::NONE);
    let stats = client.server_stats().unwrap();
    assert!(stats.cmd_hits >= 3, "{stats:?}");
    let text = ctl::report(&mut client, &"tracking".parse().unwrap()).unwrap();
    assert!(
        text.starts_with("Reference ID    : 00000000 ()\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Leap status     : Not synchronised\n"),
        "{text}"
    );
}
