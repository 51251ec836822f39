//! Debian's real chronyc against ntpkit's command sockets: a Unix socket
//! in a temporary directory and a UDP port on 127.0.0.1, served from fixed
//! values; chronyc must exit 0 and print exactly what `report::chronyc`
//! prints for the same values. It needs chronyc, so it is `#[ignore]`d
//! (`cargo test -- --include-ignored` runs it, and fails it without
//! chronyc, which `scripts/install-peers.sh` installs).
//!
//! Every chronyc run uses `-n` (addresses, not names): without it chronyc
//! resolves each address through DNS, and tests talk to loopback only.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::cmdmon::{Action, SourceSelector};
use ntpkit::linux::cmdmon::{CmdmonServer, CmdmonSettings};
use ntpkit::report::chronyc::{
    Activity, NtpData, ServerStats, SourceStats, Sources, Style, Tracking,
};
use ntpkit::report::{
    NtpDataReport, ServerStatsReport, SourceActivity, SourceMode, SourceReport, SourceState,
    SourceStatsReport, TimestampSource, TrackingReport,
};
use ntpkit::time::{NtpTimestamp, UnixTime};
use ntpkit::wire::{LeapIndicator, ReferenceId};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn source(
    address: &str,
    name: &str,
    activity: SourceActivity,
    report: SourceReport,
    stats: SourceStatsReport,
) -> SourceSnapshot {
    SourceSnapshot {
        report: Some(report),
        stats: Some(stats),
        activity,
        ..SourceSnapshot::new(Some(ip(address)), name)
    }
}

fn values() -> Snapshot {
    let line = |state, stratum, poll, reach, last_rx, adjusted, measured, error| SourceReport {
        mode: SourceMode::Server,
        state,
        stratum,
        poll,
        reach,
        last_rx,
        adjusted_offset: adjusted,
        measured_offset: measured,
        error,
    };
    let stats = |samples, runs, span, freq, skew, offset, sd| SourceStatsReport {
        samples,
        runs,
        span,
        frequency_ppm: freq,
        skew_ppm: skew,
        offset,
        std_dev: sd,
        offset_error: sd / 4.0,
    };
    let ntp_data = NtpDataReport {
        remote_address: ip("127.0.0.2"),
        remote_port: 123,
        local_address: Some(ip("127.0.0.1")),
        leap: LeapIndicator::NoWarning,
        version: 4,
        mode: 4,
        stratum: 1,
        poll: -2,
        precision: -20,
        root_delay: 0.000_122,
        root_dispersion: 0.000_244,
        reference_id: ReferenceId::from_bytes(*b"GPS\0"),
        reference_time: NtpTimestamp::from_unix(UnixTime::new(1_796_150_000, 250_000_000)),
        offset: -0.000_001_234,
        peer_delay: 0.000_052_1,
        peer_dispersion: 0.000_000_95,
        response_time: 0.000_017_5,
        jitter_asymmetry: -0.25,
        tests: 0b11_1111_1101,
        interleaved: true,
        authenticated: false,
        tx_timestamping: Some(TimestampSource::Daemon),
        rx_timestamping: Some(TimestampSource::Hardware),
        total_tx: 310,
        total_rx: 305,
        total_valid_rx: 301,
        total_good_rx: 299,
        total_kernel_tx: 0,
        total_kernel_rx: 0,
        total_hw_tx: 0,
        total_hw_rx: 305,
    };
    let mut snapshot = Snapshot {
        sources: vec![
            source(
                "127.0.0.1",
                "time.example.org",
                SourceActivity::Online,
                line(
                    SourceState::Selected,
                    2,
                    6,
                    0o377,
                    Some(12),
                    573e-9,
                    568e-9,
                    3108e-9,
                ),
                stats(64, 41, 3900, -0.0021, 0.009, -0.2e-9, 350e-9),
            ),
            source(
                "127.0.0.2",
                "a-rather-long-server-name.example.net",
                SourceActivity::BurstOnline,
                line(
                    SourceState::Combined,
                    1,
                    -2,
                    0o17,
                    Some(1300),
                    -1.5e-3,
                    -1.52e-3,
                    0.0213,
                ),
                stats(12, 7, 88, 12.345, 1.5, 2.5e-6, 1.2e-3),
            ),
            source(
                "::1",
                "::1",
                SourceActivity::Offline,
                line(
                    SourceState::Falseticker,
                    3,
                    10,
                    0o1,
                    Some(400_000),
                    2.3,
                    2.31,
                    0.5,
                ),
                stats(3, 2, 2000, -150.0, 200.0, -0.35, 0.02),
            ),
            source(
                "127.0.0.3",
                "127.0.0.3",
                SourceActivity::Online,
                line(SourceState::Unusable, 0, 0, 0, None, 0.0, 0.0, 0.0),
                stats(0, 0, 0, 0.0, 2000.0, 0.0, 4.0),
            ),
        ],
        unresolved: 1,
        tracking: TrackingReport {
            reference_id: ReferenceId::from_bits(0x7f00_0001),
            stratum: 3,
            reference_time: NtpTimestamp::from_unix(UnixTime::new(1_796_150_123, 400_000_000)),
            system_offset: -766e-9,
            last_offset: 5e-9,
            rms_offset: 60e-9,
            frequency_ppm: -12.625,
            residual_frequency_ppm: 0.0011,
            skew_ppm: 0.009,
            root_delay: 4.802e-6,
            root_dispersion: 0.709e-6,
            update_interval: 64.2,
            leap: LeapIndicator::NoWarning,
        },
        server_stats: ServerStatsReport {
            ntp_hits: 1_234_567,
            ntp_drops: 89,
            log_drops: 3,
            ntp_interleaved_hits: 17,
            ntp_timestamps: 4096,
            ntp_span_seconds: 1800,
            ..ServerStatsReport::default()
        },
        clients: Vec::new(),
        ..Snapshot::default()
    };
    snapshot.sources[1].ntp_data = Some(ntp_data);
    snapshot
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Run {
    status: i32,
    stdout: String,
}

fn chronyc(args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .arg("20")
        .arg(common::need::program("chronyc"))
        .args(args)
        .output()
        .expect("run chronyc");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

#[test]
#[ignore = "needs chronyc: cargo test -- --include-ignored"]
fn chronyc_prints_the_values_served() {
    common::need::program("chronyc");
    // Closed to others (0700), as a command socket's folder must be;
    // chronyc puts its own socket beside ours.
    let dir = common::temp_dir("cmdmon-e2e");
    let socket = dir.path().join("chronyd.sock");
    let port = free_udp_port();
    let settings = CmdmonSettings {
        socket: Some(socket.clone()),
        port,
        addresses: vec![ip("127.0.0.1")],
        ..CmdmonSettings::default()
    };
    let mut server = CmdmonServer::bind(&settings).expect("bind");
    let snapshot = values();
    let served = snapshot.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (actions_tx, actions) = mpsc::channel();
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stopping.load(Ordering::Relaxed) && Instant::now() < deadline {
            let done = server.serve_pending(&served).expect("serve");
            for action in done.actions {
                actions_tx.send(action).unwrap();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        server.counters()
    });

    let sock = socket.to_str().unwrap();
    let port_text = port.to_string();
    let udp = ["-h", "127.0.0.1", "-p", port_text.as_str()];
    let by_address = |rows: &[SourceSnapshot]| -> Vec<String> {
        rows.iter()
            .map(|s| s.address.unwrap().to_string())
            .collect()
    };
    let names = by_address(&snapshot.sources);
    let source_rows: Vec<(&str, SourceReport)> = snapshot
        .sources
        .iter()
        .zip(&names)
        .map(|(s, n)| (n.as_str(), s.report.unwrap()))
        .collect();
    let configured: Vec<(&str, SourceReport)> = snapshot
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.report.unwrap()))
        .collect();
    let stats_rows: Vec<(&str, SourceStatsReport)> = snapshot
        .sources
        .iter()
        .zip(&names)
        .map(|(s, n)| (n.as_str(), s.stats.unwrap()))
        .collect();
    let tracking = Tracking {
        name: "127.0.0.1",
        report: &snapshot.tracking,
        style: Style::Plain,
    }
    .to_string();
    let mut activity = ntpkit::report::ActivityReport {
        unresolved: 1,
        ..Default::default()
    };
    for s in &snapshot.sources {
        activity.count(s.activity);
    }
    // The server's own command counters replace the provider's in
    // serverstats (counted with the serverstats request itself).
    let server_stats = snapshot.server_stats;

    let hits = std::cell::Cell::new(0u64);
    let check = |args: &[&str], requests: u64, expected: &str| {
        let run = chronyc(args);
        hits.set(hits.get() + requests);
        assert_eq!(run.status, 0, "chronyc {args:?}: {}", run.stdout);
        assert_eq!(run.stdout, expected, "chronyc {args:?}");
    };
    check(
        &["-h", sock, "-n", "sources", "-v"],
        5,
        &Sources {
            rows: &source_rows,
            style: Style::Verbose,
        }
        .to_string(),
    );
    // chronyc -N prints configured names whole (it cuts only names it
    // resolved itself): render the long one as a short stand-in and put
    // it back.
    let long = configured[1].0;
    let mut stand_in = configured.clone();
    stand_in[1].0 = "LONG";
    let expected = Sources {
        rows: &stand_in,
        style: Style::Plain,
    }
    .to_string()
    .replace(&format!("{:<27}", "LONG"), long);
    check(&["-h", sock, "-N", "sources"], 9, &expected);
    check(
        &["-h", sock, "-n", "sourcestats", "-v"],
        5,
        &SourceStats {
            rows: &stats_rows,
            style: Style::Verbose,
        }
        .to_string(),
    );
    check(&["-h", sock, "-n", "tracking"], 1, &tracking);
    check(
        &["-h", sock, "activity"],
        1,
        &Activity(&activity).to_string(),
    );
    check(
        &["-h", sock, "-n", "ntpdata", "127.0.0.2"],
        1,
        &NtpData(snapshot.sources[1].ntp_data.as_ref().unwrap()).to_string(),
    );
    let stats_after = ServerStatsReport {
        cmd_hits: hits.get() + 1,
        ..server_stats
    };
    check(
        &["-h", sock, "serverstats"],
        1,
        &ServerStats(&stats_after).to_string(),
    );
    check(
        &[udp.as_slice(), &["-n", "tracking"]].concat(),
        1,
        &tracking,
    );
    check(
        &[udp.as_slice(), &["-n", "sources"]].concat(),
        5,
        &Sources {
            rows: &source_rows,
            style: Style::Plain,
        }
        .to_string(),
    );
    // What needs the socket is refused over UDP, as chronyd refuses it.
    let refused = chronyc(&[udp.as_slice(), &["serverstats"]].concat());
    assert_eq!(
        (refused.status, refused.stdout.as_str()),
        (1, "501 Not authorised\n")
    );
    // Commands that act: the reply, and the action handed to the node.
    check(&["-h", sock, "burst", "2/4", "127.0.0.2"], 1, "200 OK\n");
    check(&["-h", sock, "makestep"], 1, "200 OK\n");
    check(&["-h", sock, "offline"], 1, "200 OK\n");
    let unknown = chronyc(&["-h", sock, "ntpdata", "127.0.0.9"]);
    assert_eq!(
        (unknown.status, unknown.stdout.as_str()),
        (1, "503 No such source\n")
    );
    let not_done = chronyc(&["-h", sock, "delete", "127.0.0.3"]);
    assert_eq!(
        (not_done.status, not_done.stdout.as_str()),
        (1, "505 Facility not enabled in daemon\n")
    );

    stop.store(true, Ordering::Relaxed);
    let (received, dropped) = thread.join().unwrap();
    assert_eq!(dropped, 0);
    // + serverstats over UDP, the unknown ntpdata, delete
    assert_eq!(received, hits.get() + 3);
    let actions: Vec<Action> = actions.try_iter().collect();
    assert_eq!(
        actions,
        vec![
            Action::Burst {
                sources: SourceSelector::one(ip("127.0.0.2")),
                good: 2,
                total: 4
            },
            Action::MakeStep,
            Action::Offline(SourceSelector::ALL),
        ]
    );
    assert!(
        !socket.exists(),
        "the socket file is removed with the server"
    );
}
