//! Our client on loopback, following a real server for 60 s: Debian's
//! chronyd (`-x`) or our own example server. `scripts/interop.sh` starts
//! them and runs these tests (`--ignored`) with the ports in
//! `NTPKIT_INTEROP_CHRONYD_PORT` and `NTPKIT_INTEROP_SERVER_PORT`; without
//! a port each test says why and passes.
//!
//! Both ends share this machine's clock, so the truth is known: the
//! virtual clock's offset from the system clock is the client's error.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ntpkit::linux::clock::VirtualClock;
use ntpkit::linux::driver::Driver;
use ntpkit::linux::settings::{Settings, Upstream, UpstreamAuth};
use ntpkit::report::SourceState;
use ntpkit::system::SourceConfig;

const RUN: Duration = Duration::from_secs(60);
const SELECT_WITHIN: Duration = Duration::from_secs(15);
const MAX_OFFSET: f64 = 1e-3;

fn follow(port_variable: &str, label: &str) {
    let Some(port) = std::env::var(port_variable)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        eprintln!("{label}: skipped: {port_variable} is not set (scripts/interop.sh starts the server and sets it)");
        return;
    };
    let config = Settings {
        upstreams: vec![Upstream {
            name: "127.0.0.1".into(),
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            config: SourceConfig {
                minpoll: -2,
                maxpoll: 0,
                iburst: true,
                ..SourceConfig::default()
            },
            auth: UpstreamAuth::None,
        }],
        ..Settings::default()
    };
    common::logs::capture();
    let mut driver = Driver::new(config, VirtualClock::new(), None).expect("driver");

    let start = Instant::now();
    let mut selected_at = None;
    let mut reaches = Vec::new();
    let mut max_offset: f64 = 0.0;
    let mut next_check = start;
    let mut report = String::new();
    while start.elapsed() < RUN {
        driver
            .run_once(Some(Duration::from_millis(100)))
            .expect("driver turn");
        if Instant::now() < next_check {
            continue;
        }
        next_check += Duration::from_secs(1);
        let snapshot = driver.snapshot().expect("snapshot");
        let source = snapshot.sources[0].report.expect("a sources row");
        reaches.push(source.reach);
        if source.state == SourceState::Selected && selected_at.is_none() {
            selected_at = Some(start.elapsed());
            report = snapshot.render(&"sources".parse().unwrap());
        }
        if selected_at.is_some() {
            max_offset = max_offset.max(driver.clock().offset().to_seconds_f64().abs());
        }
    }
    let snapshot = driver.snapshot().expect("snapshot");
    let reach: Vec<String> = reaches.iter().map(|r| format!("{r:o}")).collect();
    let reach = reach.join(" ");
    eprintln!(
        "{label}: ^* after {selected_at:?}; max |offset| after it {:.1} us; reach each second: {reach}",
        max_offset * 1e6,
    );
    let (_, _, id) = driver.sources().next().unwrap();
    let (exchange, _) = driver.node().system().exchange(id).unwrap();
    let exchange = exchange.expect("a response");
    eprintln!(
        "{label}: last exchange timestamped by {:?} (TX), {:?} (RX)",
        exchange.transmit, exchange.receive
    );
    eprint!("{report}{}", snapshot.render(&"tracking".parse().unwrap()));
    let selected_at = selected_at.expect("the server was never selected");
    assert!(
        selected_at <= SELECT_WITHIN,
        "^* only after {selected_at:?}"
    );
    // Reach grows from 0 to all ones (octal 377) and stays there.
    assert!(reaches[0].count_ones() <= 1, "{reach}");
    assert!(
        reaches
            .windows(2)
            .take(8)
            .all(|w| w[1].count_ones() >= w[0].count_ones()),
        "{reach}"
    );
    assert_eq!(*reaches.last().unwrap(), 0o377);
    assert!(max_offset < MAX_OFFSET, "offset reached {max_offset} s");
    assert_eq!(
        snapshot.sources[0].report.unwrap().state,
        SourceState::Selected
    );
    assert_eq!(
        snapshot.timedatectl.to_string().lines().last(),
        Some("NTP synchronized: yes")
    );
}

#[test]
#[ignore = "60 s against chronyd: run by scripts/interop.sh"]
fn follows_chronyd() {
    follow("NTPKIT_INTEROP_CHRONYD_PORT", "chronyd");
}

#[test]
#[ignore = "60 s against examples/server: run by scripts/interop.sh"]
fn follows_ntpkit_server() {
    follow("NTPKIT_INTEROP_SERVER_PORT", "ntpkit server");
}
