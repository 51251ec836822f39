//! chronyd's `acquisitionport` and `port` on loopback, from chrony.conf's
//! lines to the wire: where the requests leave from, where the responses
//! are taken from, and the requests served on a socket the sources share.
//! Ports above 1024 only; every address is 127.0.0.1.

use std::net::{IpAddr, UdpSocket};
use std::string::ToString;

use super::*;
use crate::chrony::config::{Config, Isolated};
use crate::linux::serve::client_log_table;
use crate::linux::settings::ClientSockets;
use crate::wire::Mode;

/// What a recording server saw.
#[derive(Debug, Default)]
struct Seen {
    /// Where each request came from.
    requests: Vec<SocketAddr>,
    /// The responses it got to the requests it sent itself.
    answers: usize,
}

/// A `local stratum 1` server `AHEAD` of the system clock, as
/// `spawn_server`'s, that records where the requests come from; with
/// `ask_back`, it also asks the address of each request it answers for
/// the time, from its own socket (a server that follows its client, as in
/// chrony's test 111-knownclient), and counts the answers.
fn spawn_recording_server(
    stop: Arc<AtomicBool>,
    ask_back: bool,
) -> (SocketAddr, thread::JoinHandle<Seen>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut table = [];
        let mut server = open_server(&mut table);
        let mut seen = Seen::default();
        let mut buf = [0u8; 128];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(header) = Header::decode(&buf[..len]) else {
                continue;
            };
            if header.mode == Mode::Server {
                seen.answers += 1;
                continue;
            }
            seen.requests.push(from);
            let now = realtime_now() + NtpDuration::from_seconds_f64(AHEAD);
            let mut reply = [0u8; 48];
            let reference = Reference::local(1, now);
            if let Some(n) = server
                .respond(&buf[..len], from, now, &reference, &mut reply)
                .map(|reply| reply.len)
            {
                set_transmit_timestamp(
                    &mut reply,
                    realtime_now() + NtpDuration::from_seconds_f64(AHEAD),
                );
                let _ = socket.send_to(&reply[..n], from);
            }
            if ask_back {
                let mut request = [0u8; 48];
                Header::client_request(4, realtime_now())
                    .emit(&mut request)
                    .unwrap();
                let _ = socket.send_to(&request, from);
            }
        }
        seen
    });
    (address, handle)
}

/// A port above 1024 that was free a moment ago.
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The settings of `text` (a chrony.conf), without chronyc's sockets, the
/// precision of a good clock.
fn settings_of(text: &str) -> Settings {
    let config = Config::parse_with(text, "ports.conf", &Isolated).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let (mut settings, unresolved) = Settings::resolve(&config, -20);
    assert!(unresolved.is_empty(), "{unresolved:?}");
    settings.command = None;
    settings.node = NodeConfig {
        local: settings.node.local,
        ..stepping()
    };
    settings
}

/// A `server` line for `address`, polled every 1/8 to 1/4 s.
fn server_line(address: SocketAddr) -> String {
    format!(
        "server {} port {} minpoll -3 maxpoll -2 iburst\n",
        address.ip(),
        address.port()
    )
}

/// Runs `driver` until it follows its sources `AHEAD` and every source's
/// last exchange has `transmit` and kernel receive timestamps (the kernel
/// may miss the first packets while it switches timestamping on).
fn run_until_stamped(driver: &mut Driver<'_, VirtualClock>, transmit: TimestampSource) {
    run_until(driver, "synchronised, both ways stamped", |d| {
        let system = d.node().system();
        let stamped = d.sources().all(|(_, _, id)| {
            system
                .exchange(id)
                .and_then(|(exchange, _)| exchange)
                .is_some_and(|e| (e.transmit, e.receive) == (transmit, TimestampSource::Kernel))
        });
        stamped
            && d.has_synchronised()
            && (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-2
    });
}

/// `acquisitionport N` (N not the server port) and `acquisitionport 0`:
/// one socket for both servers, bound to N (or a port the system picks)
/// at `bindacqaddress`; both servers' responses are taken on it, with
/// kernel timestamps both ways, and a server's own request to it is not
/// served (a client socket serves nobody).
#[test]
fn one_shared_socket_for_every_server() {
    for fixed in [true, false] {
        let stop = Arc::new(AtomicBool::new(false));
        let (a, server_a) = spawn_recording_server(stop.clone(), true);
        let (b, server_b) = spawn_recording_server(stop.clone(), false);
        let port = if fixed { free_port() } else { 0 };
        let text = format!(
            "{}{}acquisitionport {port}\nbindacqaddress 127.0.0.1\nport {}\n",
            server_line(a),
            server_line(b),
            free_port()
        );
        let settings = settings_of(&text);
        assert_eq!(settings.client_sockets, ClientSockets::Shared { port });
        assert!(settings.serve.is_none(), "nobody is served");
        let mut driver = Driver::new(settings, VirtualClock::new(), None).unwrap();
        let (_, shared) = driver.client.shared().next().unwrap();
        let local = shared.socket.local_addr().unwrap();
        assert_eq!(local.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        if fixed {
            assert_eq!(local.port(), port);
        }
        run_until_stamped(&mut driver, TimestampSource::Kernel);
        let received: Vec<u32> = driver
            .sources()
            .map(|(_, _, id)| driver.node().system().exchange(id).unwrap().1.valid)
            .collect();
        assert!(received.iter().all(|&n| n > 0), "{received:?}");
        stop.store(true, Ordering::Relaxed);
        let (seen_a, seen_b) = (server_a.join().unwrap(), server_b.join().unwrap());
        for seen in [&seen_a, &seen_b] {
            assert!(!seen.requests.is_empty());
            assert!(seen.requests.iter().all(|&from| from == local), "{seen:?}");
        }
        assert_eq!(seen_a.answers, 0, "a client socket serves nobody");
    }
}

/// A response is taken only from the address and port its source's
/// requests go to: another port of the same host that answers each request
/// first, 100 s further ahead, is not heard, on a shared socket or on the
/// server's.
#[test]
fn responses_are_taken_from_their_source_only() {
    for server_socket in [false, true] {
        let source = UdpSocket::bind("127.0.0.1:0").unwrap();
        source.set_nonblocking(true).unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = free_port();
        let acquisition = if server_socket { port } else { 0 };
        let text = format!(
            "{}acquisitionport {acquisition}
bindacqaddress 127.0.0.1
port {port}
             bindaddress 127.0.0.1
allow 127.0.0.1
",
            server_line(source.local_addr().unwrap())
        );
        let settings = settings_of(&text);
        let serve = settings.serve.clone().unwrap();
        let mut table = client_log_table(&serve);
        let (serving, _) = Serving::bind(&serve, -20, &mut table, [1, 2], false).unwrap();
        let mut driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
        let mut records = [];
        let mut server = open_server(&mut records);
        // A response of `ahead` to `request`: its receive time now, its
        // transmit time set when it leaves.
        let mut respond = |request: &[u8], from: SocketAddr, ahead: f64| {
            let now = realtime_now() + NtpDuration::from_seconds_f64(ahead);
            let mut reply = [0u8; 48];
            let reference = Reference::local(1, now);
            let n = server
                .respond(request, from, now, &reference, &mut reply)
                .unwrap()
                .len;
            reply[..n].to_vec()
        };
        let send = |socket: &UdpSocket, mut reply: Vec<u8>, to: SocketAddr, ahead: f64| {
            let now = realtime_now() + NtpDuration::from_seconds_f64(ahead);
            set_transmit_timestamp(&mut reply, now);
            socket.send_to(&reply, to).unwrap();
        };
        let mut answered = 0;
        let deadline = Deadline::after_seconds(30);
        let mut buf = [0u8; 128];
        while answered < 8 {
            driver.run_once(Some(Duration::from_millis(2))).unwrap();
            deadline.check(|| format!("{answered} requests answered"));
            let Ok((len, from)) = source.recv_from(&mut buf) else {
                continue;
            };
            let (real, forged) = (
                respond(&buf[..len], from, AHEAD),
                respond(&buf[..len], from, AHEAD + 100.0),
            );
            send(&stranger, forged, from, AHEAD + 100.0);
            for _ in 0..3 {
                driver.run_once(Some(Duration::from_millis(2))).unwrap();
            }
            send(&source, real, from, AHEAD);
            answered += 1;
        }
        for _ in 0..3 {
            driver.run_once(Some(Duration::from_millis(5))).unwrap();
        }
        assert!(driver.has_synchronised());
        // Within loopback's and this loop's delays of the source's time,
        // nowhere near the stranger's.
        let offset = driver.clock().offset().to_seconds_f64();
        assert!((offset - AHEAD).abs() < 0.05, "{offset}");
    }
}

/// `acquisitionport` equal to `port`: the requests leave from the server's
/// socket, which is opened even without `allow`; the responses arrive on
/// it, and requests to it are served as the access rules say (a server
/// that follows its client and is followed by it: chrony's test
/// 111-knownclient). Transmit times on it are the clock's, read just
/// before the send.
#[test]
fn the_server_socket_carries_the_requests() {
    for allow in [true, false] {
        let stop = Arc::new(AtomicBool::new(false));
        let (upstream, server) = spawn_recording_server(stop.clone(), true);
        let port = free_port();
        let text = format!(
            "{}port {port}\nacquisitionport {port}\nbindaddress 127.0.0.1\n{}",
            server_line(upstream),
            if allow { "allow 127.0.0.1\n" } else { "" }
        );
        let settings = settings_of(&text);
        assert_eq!(settings.client_sockets, ClientSockets::Server);
        let serve = settings
            .serve
            .clone()
            .expect("the server's socket, allow or not");
        assert_eq!(serve.server.access.allows_any(), allow);
        let mut table = client_log_table(&serve);
        let (serving, skipped) = Serving::bind(&serve, -20, &mut table, [1, 2], false).unwrap();
        assert!(skipped.is_empty());
        let mut driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
        assert!(driver.client.shared().next().is_none());
        let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        run_until_stamped(&mut driver, TimestampSource::Daemon);
        run_until(&mut driver, "done acquiring", |d| {
            let now = d.now().unwrap();
            !d.node().system().is_acquiring(now)
        });
        // A client of the node is served as the rules say.
        if allow {
            assert_eq!(ask(&mut driver, local).stratum, 2);
        }
        stop.store(true, Ordering::Relaxed);
        let seen = server.join().unwrap();
        assert!(!seen.requests.is_empty());
        assert!(seen.requests.iter().all(|&from| from == local), "{seen:?}");
        if allow {
            assert!(seen.answers > 0, "the source's own requests are served");
        } else {
            assert_eq!(seen.answers, 0, "nobody is allowed");
        }
        let answered = driver.node().server_counters().unwrap().answered;
        assert_eq!(answered > 0, allow, "{answered}");
    }
}

/// Without `acquisitionport`, each server has a socket of its own, on a
/// port of its own, at `bindacqaddress`; `port 0` opens no server socket.
#[test]
fn a_socket_of_its_own_per_server_by_default() {
    let stop = Arc::new(AtomicBool::new(false));
    let (a, server_a) = spawn_recording_server(stop.clone(), true);
    let (b, server_b) = spawn_recording_server(stop.clone(), false);
    let text = format!(
        "{}{}bindacqaddress 127.0.0.1\nport 0\n",
        server_line(a),
        server_line(b)
    );
    let settings = settings_of(&text);
    assert_eq!(settings.client_sockets, ClientSockets::Separate);
    assert!(settings.serve.is_none());
    let mut driver = Driver::new(settings, VirtualClock::new(), None).unwrap();
    run_until_stamped(&mut driver, TimestampSource::Kernel);
    stop.store(true, Ordering::Relaxed);
    let (seen_a, seen_b) = (server_a.join().unwrap(), server_b.join().unwrap());
    let from_a: Vec<SocketAddr> = seen_a.requests.clone();
    assert!(from_a.windows(2).all(|w| w[0] == w[1]), "{from_a:?}");
    assert!(seen_b.requests.iter().all(|&from| from != from_a[0]));
    assert_eq!(seen_a.answers, 0);
    assert_eq!(from_a[0].ip().to_string(), "127.0.0.1");
}

/// Two daemons on loopback, each the other's symmetric `peer` (their own
/// NTP ports): A serves `local stratum 1` on a clock `AHEAD` of the
/// system's, B nothing of its own. Their packets leave from their NTP
/// ports, symmetric active both ways, and B follows A to within
/// loopback's delays. (The loop test, which keeps A from following B
/// back, needs addresses that tell the nodes apart: not loopback's. The
/// core's tests check it.)
#[test]
fn symmetric_peers_on_loopback() {
    let (port_a, port_b) = (free_port(), free_port());
    let peer_line = |port: u16| format!("peer 127.0.0.1 port {port} minpoll -3 maxpoll -2\n");
    let text_a = format!(
        "{}port {port_a}\nbindaddress 127.0.0.1\nlocal stratum 1\n",
        peer_line(port_b)
    );
    let text_b = format!(
        "{}port {port_b}\nbindaddress 127.0.0.1\n",
        peer_line(port_a)
    );
    let settings: Vec<Settings> = [text_a, text_b].iter().map(|t| settings_of(t)).collect();
    let mut tables = Vec::new();
    for s in &settings {
        let serve = s
            .serve
            .as_ref()
            .expect("a peer's packets need the NTP port open");
        assert!(s.upstreams[0].config.peer);
        tables.push(client_log_table(serve));
    }
    let mut drivers = Vec::new();
    for (i, (s, table)) in settings.into_iter().zip(tables.iter_mut()).enumerate() {
        let serve = s.serve.clone().unwrap();
        let (serving, _) = Serving::bind(&serve, -20, table, [1, 2], false).unwrap();
        let mut clock = VirtualClock::new();
        if i == 0 {
            crate::clock::Clock::step(&mut clock, NtpDuration::from_seconds_f64(AHEAD)).unwrap();
        }
        drivers.push(Driver::new(s, clock, Some(serving)).unwrap());
    }
    let mut b = drivers.pop().unwrap();
    let mut a = drivers.pop().unwrap();
    // What the last packet a driver took from its peer was, if one came
    // that answered its own.
    let last_mode = |d: &Driver<'_, VirtualClock>| {
        let (_, _, id) = d.sources().next().unwrap();
        let (exchange, _) = d.node().system().exchange(id).unwrap();
        exchange.map(|e| e.header.mode)
    };
    let deadline = Deadline::after_seconds(30);
    let done = |a: &Driver<'_, VirtualClock>, b: &Driver<'_, VirtualClock>| {
        b.has_synchronised()
            && (b.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-2
            && last_mode(a).is_some()
    };
    while !done(&a, &b) {
        a.run_once(Some(Duration::from_millis(2))).unwrap();
        b.run_once(Some(Duration::from_millis(2))).unwrap();
        deadline.check(|| format!("B at {:?}", b.clock().offset()));
    }
    for driver in [&a, &b] {
        assert_eq!(last_mode(driver), Some(Mode::SymmetricActive));
        // None went to the server's side: each came from the peer's port.
        assert_eq!(driver.node().server_counters().unwrap().received, 0);
    }
    assert_eq!(b.node().tracking(realtime_now()).stratum, 2);
}

/// A peer's packets leave from the NTP port, here bound to the wildcard
/// address: the address they leave from, as the peer sees it (what the
/// loop test and orphan mode compare reference IDs with), is the one the
/// system routes to the peer from, not the wildcard.
#[test]
fn a_peer_on_a_wildcard_socket_knows_its_address() {
    let port = free_port();
    let settings = settings_of(&format!(
        "peer 127.0.0.1 port {} minpoll 4\nport {port}\nbindaddress 0.0.0.0\n",
        free_port()
    ));
    let serve = settings.serve.clone().unwrap();
    let mut table = client_log_table(&serve);
    let (serving, _) = Serving::bind(&serve, -20, &mut table, [1, 2], false).unwrap();
    let driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
    let local = driver.peers[0].local.unwrap();
    assert_eq!(local, SocketAddr::from(([127, 0, 0, 1], port)));
}

/// `broadcast 1 127.0.0.1 PORT`: every second a mode-5 packet of what the
/// node serves (its `local stratum 3`), with poll 0 (log2 of the interval)
/// and the node's time as its transmit time, leaves from the NTP port,
/// opened for it although nobody is served; the first an interval after
/// the start.
#[test]
fn broadcasts_leave_every_interval() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let to = listener.local_addr().unwrap();
    let port = free_port();
    let settings = settings_of(&format!(
        "broadcast 1 127.0.0.1 {}\nport {port}\nbindaddress 127.0.0.1\nlocal stratum 3\n",
        to.port()
    ));
    assert_eq!(settings.broadcasts[0].to, to);
    let serve = settings
        .serve
        .clone()
        .expect("broadcasts need the NTP port");
    let mut table = client_log_table(&serve);
    let (serving, _) = Serving::bind(&serve, -20, &mut table, [1, 2], false).unwrap();
    let started = Instant::now();
    let mut driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
    let deadline = Deadline::after_seconds(10);
    let mut arrivals = Vec::new();
    let mut buf = [0u8; 128];
    while arrivals.len() < 2 {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| format!("{} broadcasts", arrivals.len()));
        let Ok((len, from)) = listener.recv_from(&mut buf) else {
            continue;
        };
        let now = realtime_now();
        assert_eq!(from, SocketAddr::from(([127, 0, 0, 1], port)));
        let header = Header::decode(&buf[..len]).unwrap();
        assert_eq!(len, 48);
        assert_eq!(header.mode, Mode::Broadcast);
        assert_eq!((header.stratum, header.poll), (3, 0));
        assert!(header.origin_timestamp.is_zero());
        let age = (now - header.transmit_timestamp).to_seconds_f64();
        assert!((0.0..0.5).contains(&age), "sent {age} s before it came");
        arrivals.push(Instant::now());
    }
    // The first an interval after the start, the next an interval later
    // (within this loop's and a loaded machine's slack).
    let first = arrivals[0] - started;
    let gap = arrivals[1] - arrivals[0];
    assert!(first >= Duration::from_millis(900), "{first:?}");
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(3),
        "{gap:?}"
    );
}

/// `ptpport P` (NTP over PTP's event port, here a port above 1024), on
/// 127.0.0.2: the requests to a server at port P leave from the node's
/// socket at P behind the PTP prefix, and the server's wrapped answers are
/// taken (the node follows it); a client's wrapped request to the node's
/// port P gets a wrapped answer of the same length, and a bare NTP
/// request there gets none.
#[test]
fn ntp_over_ptp_both_ways() {
    use crate::wire::ptp;
    let port = free_port();
    let server = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answering = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut table = [];
            let mut responder = open_server(&mut table);
            let (mut wrapped, mut bare) = (0, 0);
            let mut buf = [0u8; 256];
            while !stop.load(Ordering::Relaxed) {
                let Ok((len, from)) = server.recv_from(&mut buf) else {
                    continue;
                };
                let Some(request) = ptp::unwrap(&buf[..len]) else {
                    bare += 1;
                    continue;
                };
                wrapped += 1;
                let now = realtime_now() + NtpDuration::from_seconds_f64(AHEAD);
                let mut reply = [0u8; 48];
                let reference = Reference::local(1, now);
                if let Some(n) = responder
                    .respond(request, from, now, &reference, &mut reply)
                    .map(|reply| reply.len)
                {
                    let mut out = [0u8; 96];
                    let len = ptp::wrap(&reply[..n], &mut out).unwrap();
                    let _ = server.send_to(&out[..len], from);
                }
            }
            (wrapped, bare)
        })
    };
    let own = free_port();
    let settings = settings_of(&format!(
        "{}ptpport {port}\nport {own}\nbindaddress 127.0.0.2\nallow 127.0.0.0/8\n",
        server_line(SocketAddr::from(([127, 0, 0, 1], port)))
    ));
    let serve = settings.serve.clone().unwrap();
    let mut table = client_log_table(&serve);
    let (serving, _) = Serving::bind(&serve, -20, &mut table, [1, 2], false).unwrap();
    assert_eq!(serving.ptp_sockets.len(), 1);
    let mut driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
    run_until(&mut driver, "following the server over PTP", |d| {
        d.has_synchronised() && (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-2
    });
    // The node's own PTP port answers a wrapped request, wrapped.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_nonblocking(true).unwrap();
    let node_ptp = SocketAddr::from(([127, 0, 0, 2], port));
    let mut request = [0u8; 48];
    Header::client_request(4, NtpTimestamp::from_bits(77))
        .emit(&mut request)
        .unwrap();
    let mut wrapped = [0u8; 96];
    ptp::wrap(&request, &mut wrapped).unwrap();
    client.send_to(&request, node_ptp).unwrap();
    client.send_to(&wrapped, node_ptp).unwrap();
    let deadline = Deadline::after_seconds(10);
    let mut buf = [0u8; 256];
    let len = loop {
        driver.run_once(Some(Duration::from_millis(5))).unwrap();
        deadline.check(|| "an answer on the PTP port".into());
        if let Ok((len, _)) = client.recv_from(&mut buf) {
            break len;
        }
    };
    assert_eq!(len, 96, "as long as the request");
    let answer = Header::decode(ptp::unwrap(&buf[..len]).unwrap()).unwrap();
    assert_eq!(answer.mode, Mode::Server);
    assert_eq!(answer.origin_timestamp, NtpTimestamp::from_bits(77));
    // The bare request got nothing.
    for _ in 0..10 {
        driver.run_once(Some(Duration::from_millis(5))).unwrap();
    }
    assert!(client.recv_from(&mut buf).is_err());
    stop.store(true, Ordering::Relaxed);
    let (wrapped, bare) = answering.join().unwrap();
    assert!(wrapped >= 1 && bare == 0, "{wrapped} wrapped, {bare} bare");
}
