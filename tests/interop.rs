//! Our client on loopback, following a real server for 60 s: Debian's
//! chronyd (`-x`) or our own example server. Both are `#[ignore]`d for
//! their length (`cargo test -- --include-ignored` runs them; the chronyd
//! one needs chronyd and root, and fails without). Each starts its server
//! on loopback, unless `scripts/interop.sh`, which runs them (`--ignored`),
//! names the port of the one it started in `NTPKIT_INTEROP_CHRONYD_PORT`
//! or `NTPKIT_INTEROP_SERVER_PORT`.
//!
//! Both ends share this machine's clock, so the truth is known: the
//! virtual clock's offset from the system clock is the client's error.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::chrony::{chrony_dir, free_port, start_example_server, Chronyd};
use ntpkit::clock::VirtualClock;
use ntpkit::linux::driver::Driver;
use ntpkit::linux::settings::{Settings, Upstream, UpstreamAuth};
use ntpkit::report::SourceState;
use ntpkit::system::SourceConfig;

const RUN: Duration = Duration::from_secs(60);
const SELECT_WITHIN: Duration = Duration::from_secs(15);
const MAX_OFFSET: f64 = 1e-3;

/// The port in `port_variable`, if set (a server scripts/interop.sh
/// started).
fn given_port(port_variable: &str) -> Option<u16> {
    let text = std::env::var(port_variable).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{port_variable}={text}: not a port")),
    )
}

fn follow(port: u16, label: &str) {
    let config = Settings {
        upstreams: vec![Upstream {
            name: "127.0.0.1".into(),
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            config: SourceConfig::default()
                .with_minpoll(-2)
                .with_maxpoll(0)
                .with_iburst(true),
            auth: UpstreamAuth::None,
            from_sourcedir: false,
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
    // Reach grows from 0 to all ones (octal 377) and stays there. A
    // snapshot taken between a request and its answer shows that request
    // unanswered (the lowest bit): it is not counted against the source.
    let answered = |r: u8| r | 1;
    assert!(reaches[0].count_ones() <= 1, "{reach}");
    assert!(
        reaches
            .windows(2)
            .take(8)
            .all(|w| answered(w[1]).count_ones() >= answered(w[0]).count_ones()),
        "{reach}"
    );
    assert_eq!(answered(*reaches.last().unwrap()), 0o377, "{reach}");
    assert!(max_offset < MAX_OFFSET, "offset reached {max_offset} s");
    assert_eq!(
        snapshot.sources[0].report.unwrap().state,
        SourceState::Selected
    );
    assert_eq!(
        snapshot.timedatectl.synchronized_line(),
        "System clock synchronized: yes"
    );
}

#[test]
#[ignore = "60 s; needs chronyd and root: cargo test -- --include-ignored"]
fn follows_chronyd() {
    if let Some(port) = given_port("NTPKIT_INTEROP_CHRONYD_PORT") {
        return follow(port, "chronyd");
    }
    common::need::chronyd();
    // As scripts/chrony-peer.sh starts it: local stratum 8, serving
    // 127.0.0.1.
    let port = free_port();
    let _chronyd = Chronyd::start(
        chrony_dir("interop-peer"),
        &format!("port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n"),
    );
    follow(port, "chronyd");
}

#[test]
#[ignore = "60 s against examples/server: cargo test -- --include-ignored"]
fn follows_ntpkit_server() {
    if let Some(port) = given_port("NTPKIT_INTEROP_SERVER_PORT") {
        return follow(port, "ntpkit server");
    }
    // As tests/data/loopback-server.conf: local stratum 10, on 127.0.0.1.
    let dir = common::temp_dir("interop-server");
    let config = dir.path().join("server.conf");
    let port = free_port();
    std::fs::write(
        &config,
        format!("port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 10\n"),
    )
    .unwrap();
    let _server = start_example_server(&config);
    follow(port, "ntpkit server");
}
