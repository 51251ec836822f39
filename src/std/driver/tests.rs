//! The driver against an in-process server on loopback (0.5 s ahead of the
//! system clock), with the virtual clock: it steps, selects, answers the
//! control socket and keeps its driftfile. And kubeasz's client config
//! mapped onto a driver.

use std::cell::RefCell;
use std::net::UdpSocket;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use super::*;
use crate::std::clock::VirtualClock;
use crate::std::control::query;
use crate::time::NtpDuration;
use crate::wire::{Header, LeapIndicator, Mode};

const AHEAD: f64 = 0.5;

/// A stratum-1 server whose clock is the system's plus `AHEAD`, until
/// `stop`.
fn spawn_server(stop: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<u32>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut answered = 0;
        let mut buf = [0u8; 128];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(request) = Header::decode(&buf[..len]) else {
                continue;
            };
            let now = NtpTimestamp::from_system_time(std::time::SystemTime::now())
                + NtpDuration::from_seconds_f64(AHEAD);
            let response = Header {
                leap: LeapIndicator::NoWarning,
                version: 4,
                mode: Mode::Server,
                stratum: 1,
                poll: request.poll,
                precision: -20,
                root_delay: crate::time::NtpShort::ZERO,
                root_dispersion: crate::time::NtpShort::ZERO,
                reference_id: ReferenceId::from_ascii("LOCL").unwrap(),
                reference_timestamp: now,
                origin_timestamp: request.transmit_timestamp,
                receive_timestamp: now,
                transmit_timestamp: now,
            };
            let mut out = [0u8; 48];
            response.emit(&mut out).unwrap();
            socket.send_to(&out, from).unwrap();
            answered += 1;
        }
        answered
    });
    (address, handle)
}

/// A server polled every 1/8 to 1/4 s with an initial burst.
fn fast(address: SocketAddr) -> Server {
    Server {
        name: "loopback".into(),
        address,
        config: SourceConfig {
            minpoll: -3,
            maxpoll: -2,
            iburst: true,
            ..SourceConfig::default()
        },
    }
}

/// Steps over 0.1 s in the first three updates.
fn stepping() -> SystemConfig {
    SystemConfig {
        makestep: Some(MakeStep {
            threshold: 0.1,
            limit: 3,
        }),
        ..SystemConfig::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ntpkit-driver-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn follows_a_loopback_server() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let dir = temp_dir("follow");
    let config = DriverConfig {
        system: stepping(),
        servers: vec![fast(address)],
        driftfile: Some(dir.join("drift")),
        control_socket: Some(dir.join("ntpkit.sock")),
        measure_only: false,
    };
    std::fs::write(dir.join("drift"), "12.500000 0.250000\n").unwrap();
    let mut driver = Driver::new(config.clone(), VirtualClock::new()).unwrap();
    // The saved drift is where the engine starts.
    assert_eq!(driver.system().drift().frequency_ppm, 12.5);
    let events = Rc::new(RefCell::new(Vec::new()));
    let log = events.clone();
    driver.set_logger(move |event| log.borrow_mut().push(event.clone()));

    // Until the virtual clock has been stepped to the server (bounded).
    let deadline = Deadline::after_seconds(30);
    while (driver.clock().offset().to_seconds_f64() - AHEAD).abs() > 1e-3
        || !driver.has_synchronised()
    {
        driver.run_once(Some(Duration::from_millis(50))).unwrap();
        deadline.check(|| format!("no sync: {:?}", events.borrow()));
    }
    let logged = events.borrow().clone();
    assert!(
        logged.contains(&Event::Selected("loopback".into())),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|e| matches!(e, Event::Stepped(s) if (s - AHEAD).abs() < 0.01)),
        "{logged:?}"
    );

    // A client asks over the control socket while the driver runs.
    let socket = dir.join("ntpkit.sock");
    let asker = thread::spawn(move || {
        ["sources", "tracking", "timedatectl"].map(|r| query(&socket, &r.parse().unwrap()).unwrap())
    });
    while !asker.is_finished() {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let [sources, tracking, timedatectl] = asker.join().unwrap();
    assert!(
        sources
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("^* loopback                      1 "),
        "{sources}"
    );
    assert!(
        tracking.starts_with("Reference ID    : 7F000001 (loopback)\nStratum         : 2\n"),
        "{tracking}"
    );
    assert!(
        timedatectl.ends_with("NTP synchronized: yes\n"),
        "{timedatectl}"
    );

    // Both directions carry kernel timestamps here (the kernel may miss
    // the very first packets while it switches timestamping on).
    let counts = driver.timestamp_counts();
    assert!(counts.kernel_rx > 0 && counts.kernel_tx > 0, "{counts:?}");

    driver.save_drift();
    let saved = Drift::parse(&std::fs::read_to_string(dir.join("drift")).unwrap()).unwrap();
    assert_eq!(saved, driver.system().drift());
    assert!(matches!(events.borrow().last(), Some(Event::DriftSaved(_))));

    drop(driver);
    assert!(!dir.join("ntpkit.sock").exists());
    stop.store(true, Ordering::Relaxed);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn measure_only_leaves_the_clock_alone() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let config = DriverConfig {
        servers: vec![fast(address)],
        system: stepping(),
        measure_only: true,
        ..DriverConfig::default()
    };
    let mut driver = Driver::new(config, VirtualClock::new()).unwrap();
    driver.set_logger(|_| {});
    let deadline = Deadline::after_seconds(30);
    while !driver.has_synchronised() {
        driver.run_once(Some(Duration::from_millis(50))).unwrap();
        deadline.check(|| "no measurement".into());
    }
    assert_eq!(driver.clock().offset(), NtpDuration::ZERO);
    let measured = -driver.snapshot().unwrap().sources[0].1.measured_offset;
    assert!((measured - AHEAD).abs() < 0.01, "{measured}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn servers_resolve_to_their_first_address() {
    let server = Server::resolve("localhost", 11123, SourceConfig::default()).unwrap();
    assert_eq!(server.name, "localhost");
    assert!(server.address.ip().is_loopback());
    assert_eq!(server.address.port(), 11123);
}

#[test]
fn kubeasz_client_config_maps_onto_the_driver() {
    let text = include_str!("../../../tests/data/kubeasz-client.conf");
    let config = Config::parse(text, "client.conf").unwrap();
    let driver = DriverConfig::from_config(&config, -23).unwrap();
    assert_eq!(driver.servers.len(), 1);
    assert_eq!(driver.servers[0].name, "192.168.1.1");
    assert_eq!(
        driver.servers[0].address,
        "192.168.1.1:123".parse().unwrap()
    );
    assert!(driver.servers[0].config.iburst);
    assert_eq!(
        (
            driver.servers[0].config.minpoll,
            driver.servers[0].config.maxpoll
        ),
        (6, 10)
    );
    assert_eq!(
        driver.system.makestep,
        Some(MakeStep {
            threshold: 1.0,
            limit: 3
        })
    );
    assert_eq!(driver.system.maxupdateskew_ppm, 100.0);
    assert_eq!(driver.system.stratumweight, 0.0);
    assert_eq!(driver.system.local_stratum, None);
    assert_eq!(driver.system.precision, -23);
    assert_eq!(
        driver.driftfile,
        Some(PathBuf::from("/var/lib/chrony/drift"))
    );
    assert_eq!(driver.control_socket, Some(PathBuf::from(DEFAULT_PATH)));

    let config = Config::parse(
        "server 127.0.0.1 port 11123 minpoll -2 maxpoll 0\nbindcmdaddress /\nlocal stratum 10\n",
        "x.conf",
    )
    .unwrap();
    let driver = DriverConfig::from_config(&config, -20).unwrap();
    assert_eq!(
        driver.servers[0].address,
        "127.0.0.1:11123".parse().unwrap()
    );
    assert_eq!(
        (
            driver.servers[0].config.minpoll,
            driver.servers[0].config.maxpoll
        ),
        (-2, 0)
    );
    assert_eq!(driver.control_socket, None);
    assert_eq!(driver.system.local_stratum, Some(10));
    // An address is chrony's UDP command port: the Unix socket stays put.
    let config = Config::parse("bindcmdaddress 127.0.0.1\n", "x.conf").unwrap();
    assert_eq!(
        control_socket_path(&config),
        Some(PathBuf::from(DEFAULT_PATH))
    );
}

/// A driver that serves while it follows: the seed's serving node on
/// loopback, between an upstream server 0.5 s ahead and a client node.
#[test]
fn serving_node_passes_the_time_on() {
    use crate::server::{AccessControl, ServerConfig};
    use crate::std::socket::{NtpSocket, SocketOptions};

    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let system = stepping();
    // The serving node: follows upstream, serves on a loopback port.
    let config = DriverConfig {
        system,
        servers: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    let mut serving = Driver::new(config, VirtualClock::new()).unwrap();
    serving.set_logger(|_| {});
    let socket =
        NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    let address = socket.local_addr().unwrap();
    let mut table = [];
    let server_config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    serving.serve(Serving::new(
        vec![socket],
        crate::server::Server::new(server_config, &mut table, [1, 2]),
        None,
    ));
    // The client node follows the serving node.
    let config = DriverConfig {
        system,
        servers: vec![fast(address)],
        ..DriverConfig::default()
    };
    let mut client = Driver::new(config, VirtualClock::new()).unwrap();
    client.set_logger(|_| {});

    let synced = |d: &Driver<'_, VirtualClock>| {
        (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-3 && d.has_synchronised()
    };
    let deadline = Deadline::after_seconds(60);
    while !(synced(&serving) && synced(&client)) {
        serving.run_once(Some(Duration::from_millis(10))).unwrap();
        client.run_once(Some(Duration::from_millis(10))).unwrap();
        deadline.check(|| "chain did not sync".into());
    }
    let sources = client.snapshot().unwrap().sources;
    // The client sees the serving node at stratum 2 (upstream is 1).
    assert_eq!(sources[0].1.stratum, 2);
    assert!(serving.serving().unwrap().counters().answered > 0);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// A serving socket on loopback answering everyone, `local` as given.
fn loopback_serving(
    table: &mut [crate::server::ClientRecord],
    local: Option<crate::server::LocalReference>,
) -> (Serving<'_>, SocketAddr) {
    use crate::server::{AccessControl, ServerConfig};
    use crate::std::socket::{NtpSocket, SocketOptions};
    let socket =
        NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    let address = socket.local_addr().unwrap();
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    let server = crate::server::Server::new(config, table, [1, 2]);
    (Serving::new(vec![socket], server, local), address)
}

/// Asks the node served by `driver` at `address` for the time, running the
/// driver's loop until it answers; the response.
fn ask<C>(driver: &mut Driver<'_, C>, address: SocketAddr) -> Header
where
    C: DriverClock,
    C::Error: fmt::Display,
{
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut request = [0u8; 48];
    Header::client_request(6, NtpTimestamp::from_bits(7))
        .emit(&mut request)
        .unwrap();
    socket.send_to(&request, address).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..100 {
        driver.run_once(Some(Duration::from_millis(10))).unwrap();
        if let Ok(len) = socket.recv(&mut buf) {
            return Header::decode(&buf[..len]).unwrap();
        }
    }
    panic!("no answer from {address}");
}

/// Runs `driver` until it has synchronised (bounded).
fn until_synchronised<C>(driver: &mut Driver<'_, C>)
where
    C: DriverClock,
    C::Error: fmt::Display,
{
    let deadline = Deadline::after_seconds(30);
    while !driver.has_synchronised() {
        driver.run_once(Some(Duration::from_millis(10))).unwrap();
        deadline.check(|| "no sync".into());
    }
}

/// A wall-clock bound for the loops above: how many turns a loop takes
/// depends on how often the sockets wake it, so only time bounds it well
/// on a busy machine.
struct Deadline(std::time::Instant);

impl Deadline {
    fn after_seconds(seconds: u64) -> Self {
        Deadline(std::time::Instant::now() + Duration::from_secs(seconds))
    }

    fn check(&self, what: impl FnOnce() -> String) {
        assert!(std::time::Instant::now() < self.0, "{}", what());
    }
}

/// chrony's `local stratum 10 distance D` while following: the local
/// reference while unsynchronised, the upstream's stratum + 1 once
/// synchronised within D, and the local reference again when the system is
/// farther than D.
#[test]
fn local_stratum_while_unsynchronised_or_too_far() {
    use crate::server::LocalReference;

    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let config = DriverConfig {
        system: SystemConfig {
            // What DriverConfig::from_config sets for `local stratum 10`.
            local_stratum: Some(10),
            ..stepping()
        },
        servers: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    for (distance, synchronised_stratum) in [(1.0, 2), (1e-9, 10)] {
        let mut driver = Driver::new(config.clone(), VirtualClock::new()).unwrap();
        driver.set_logger(|_| {});
        let mut table = [];
        let local = Some(LocalReference::new(10, distance));
        let (serving, address) = loopback_serving(&mut table, local);
        driver.serve(serving);
        // While acquiring (its source may still answer its first requests),
        // the node serves nothing, not even its local stratum.
        let before = ask(&mut driver, address);
        assert_eq!(
            (before.leap, before.stratum),
            (LeapIndicator::Unsynchronized, 0)
        );
        until_synchronised(&mut driver);
        // Served as synchronised once the frequency is known (bounded).
        let deadline = Deadline::after_seconds(10);
        while driver.system().is_acquiring(driver.now().unwrap()) || {
            let reference = driver.system().reference(driver.now().unwrap());
            reference.reference_id == ReferenceId::LOCAL || !reference.is_synchronized()
        } {
            driver.run_once(Some(Duration::from_millis(10))).unwrap();
            deadline.check(|| "not served as synchronised".into());
        }
        let served = ask(&mut driver, address);
        assert_eq!(served.stratum, synchronised_stratum, "distance {distance}");
        assert_eq!(served.leap, LeapIndicator::NoWarning);
        if synchronised_stratum == 10 {
            assert_eq!(served.reference_id, ReferenceId::LOCAL);
        } else {
            assert_eq!(served.reference_id, ReferenceId::from_ip(upstream.ip()));
        }
        // The time served is the corrected clock's: 0.5 s ahead.
        let ahead = (served.receive_timestamp
            - NtpTimestamp::from_system_time(std::time::SystemTime::now()))
        .to_seconds_f64();
        assert!((ahead - AHEAD).abs() < 0.01, "{ahead}");
    }
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// A kernel that records what it is asked and changes nothing.
#[derive(Debug, Default)]
struct RecordingKernel {
    steps: Rc<RefCell<Vec<f64>>>,
}

impl crate::std::clock::Adjtimex for RecordingKernel {
    fn adjtimex(&mut self, timex: &mut libc::timex) -> std::io::Result<libc::c_int> {
        if timex.modes & libc::ADJ_SETOFFSET != 0 {
            let nanos = timex.time.tv_usec as f64 * 1e-9;
            self.steps
                .borrow_mut()
                .push(timex.time.tv_sec as f64 + nanos);
        }
        if timex.modes == 0 {
            timex.tick = 10_000;
        }
        Ok(libc::TIME_OK)
    }

    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

/// `--clock system`'s path, with the system call injected (the kernel is
/// never called): the driver steps the system clock by the upstream's
/// offset and serves the upstream's stratum + 1 on the system clock's time.
#[test]
fn serving_on_the_system_clock_steps_through_adjtimex() {
    use crate::std::clock::SystemClock;

    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let config = DriverConfig {
        system: stepping(),
        servers: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    let kernel = RecordingKernel::default();
    let steps = kernel.steps.clone();
    let mut driver = Driver::new(config, SystemClock::with_syscall(kernel, false)).unwrap();
    driver.set_logger(|_| {});
    let mut table = [];
    let (serving, address) = loopback_serving(&mut table, None);
    driver.serve(serving);
    until_synchronised(&mut driver);
    let first = steps.borrow().first().copied().expect("a step");
    assert!((first - AHEAD).abs() < 0.01, "{first}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served = ask(&mut driver, address);
    while served.stratum != 2 && Instant::now() < deadline {
        served = ask(&mut driver, address);
    }
    assert_eq!(served.stratum, 2);
    assert_eq!(served.reference_id, ReferenceId::from_ip(upstream.ip()));
    // The kernel was not really stepped (steps of 0.5 s were asked for, up
    // to makestep's limit), so the engine keeps finding the clock 0.5 s
    // behind: the time served is the system clock's plus what it still has
    // to correct, never more than that.
    let ahead = (served.receive_timestamp
        - NtpTimestamp::from_system_time(std::time::SystemTime::now()))
    .to_seconds_f64();
    eprintln!("served {ahead} s ahead; steps {:?}", steps.borrow());
    assert!((-0.01..AHEAD + 0.01).contains(&ahead), "{ahead}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
