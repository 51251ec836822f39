//! The Linux shell on loopback: real sockets, kernel timestamps, the
//! control socket and the driftfile, against an in-process server 0.5 s
//! ahead of the system clock; clocks that are virtual or whose kernel is
//! a fake (the real clock is never touched). What the engine does with
//! the samples is the simulator's to test (`tests/scenarios.rs`): it drives
//! the same node.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;
use std::vec;

use super::*;
use crate::discipline::{DisciplineConfig, MakeStep};
use crate::linux::clock::{Kernel, SystemClock, VirtualClock};
use crate::linux::cmdmon::{Client, Target, DEFAULT_SOCKET};
use crate::linux::socket::{NtpSocket, SocketOptions};
use crate::reference::Reference;
use crate::server::{set_transmit_timestamp, AccessControl, LocalReference, ServerConfig};
use crate::system::SystemConfig;
use crate::time::NtpDuration;
use crate::wire::{Header, LeapIndicator};

const AHEAD: f64 = 0.5;

/// A server answering everyone, as `allow` configures it.
fn open_server(table: &mut [crate::server::ClientRecord]) -> Server<'_> {
    let config = ServerConfig {
        access: AccessControl::allow_everyone(),
        ..ServerConfig::default()
    };
    Server::new(config, table, [1, 2])
}

/// A `local stratum 1` server whose clock is the system's plus `AHEAD`,
/// answering through the production responder, until `stop`.
fn spawn_server(stop: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<u64>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let address = socket.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut table = [];
        let mut server = open_server(&mut table);
        let mut buf = [0u8; 128];
        while !stop.load(Ordering::Relaxed) {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let now = realtime_now() + NtpDuration::from_seconds_f64(AHEAD);
            let mut reply = [0u8; 48];
            let reference = Reference::local(1, now);
            if let Some(n) = server.respond(&buf[..len], from, now, &reference, &mut reply) {
                set_transmit_timestamp(
                    &mut reply,
                    realtime_now() + NtpDuration::from_seconds_f64(AHEAD),
                );
                socket.send_to(&reply[..n], from).unwrap();
            }
        }
        server.counters().answered
    });
    (address, handle)
}

/// A server polled every 1/8 to 1/4 s with an initial burst.
fn fast(address: SocketAddr) -> Upstream {
    Upstream {
        name: "loopback".into(),
        address,
        config: SourceConfig {
            minpoll: -3,
            maxpoll: -2,
            iburst: true,
            ..SourceConfig::default()
        },
        auth: UpstreamAuth::None,
    }
}

/// Steps over 0.1 s in the first three updates.
fn stepping() -> NodeConfig {
    NodeConfig {
        system: SystemConfig {
            discipline: DisciplineConfig {
                makestep: Some(MakeStep {
                    threshold: 0.1,
                    limit: 3,
                }),
                ..DisciplineConfig::default()
            },
            ..SystemConfig::default()
        },
        local: None,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ntpkit-driver-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A command socket's directory must be closed to others (chronyd's rule).
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

/// A wall-clock bound for the loops below: how many turns a loop takes
/// depends on how often the sockets wake it, so only time bounds it well
/// on a busy machine.
struct Deadline(Instant);

impl Deadline {
    fn after_seconds(seconds: u64) -> Self {
        Deadline(Instant::now() + Duration::from_secs(seconds))
    }

    fn check(&self, what: impl FnOnce() -> String) {
        assert!(Instant::now() < self.0, "{}", what());
    }
}

/// Runs `driver` until `done` (bounded).
fn run_until<C: DriverClock>(
    driver: &mut Driver<'_, C>,
    what: &str,
    done: impl Fn(&Driver<'_, C>) -> bool,
) where
    C::Error: fmt::Debug + fmt::Display,
{
    let deadline = Deadline::after_seconds(30);
    while !done(driver) {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| format!("{what}: not within 30 s"));
    }
}

#[test]
fn follows_a_loopback_server() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let dir = temp_dir("follow");
    let config = DriverConfig {
        node: stepping(),
        upstreams: vec![fast(address)],
        driftfile: Some(dir.join("drift")),
        command: Some(CmdmonSettings {
            socket: Some(dir.join("chronyd.sock")),
            port: 0,
            ..CmdmonSettings::default()
        }),
        measure_only: false,
        leap_table: None,
        logs: Some(LogSettings {
            dir: dir.join("log"),
            log: crate::chrony::config::LogSet {
                measurements: true,
                statistics: true,
                tracking: true,
                ..Default::default()
            },
            banner: 32,
        }),
        ..DriverConfig::default()
    };
    std::fs::write(dir.join("drift"), "12.500000 0.250000\n").unwrap();
    let mut driver = Driver::new(config, VirtualClock::new(), None).unwrap();
    // The saved drift is where the engine starts.
    assert!((driver.node().system().drift().frequency_ppm - 12.5).abs() < 1e-9);
    let events = Rc::new(RefCell::new(Vec::new()));
    let log = events.clone();
    driver.set_logger(move |event| log.borrow_mut().push(event.clone()));

    run_until(&mut driver, "stepped to the server", |d| {
        (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-3 && d.has_synchronised()
    });
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

    // A client asks over chronyc's protocol while the driver runs.
    let socket = dir.join("chronyd.sock");
    let asker = thread::spawn(move || {
        let mut client = Client::connect(&Target::Unix(socket)).unwrap();
        ["sources", "tracking", "timedatectl"].map(|r| client.render(&r.parse().unwrap()).unwrap())
    });
    let deadline = Deadline::after_seconds(30);
    while !asker.is_finished() {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| "no answer on the command socket".into());
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

    // chronyd's log files: a banner, then a line for each response, each
    // sample and each clock update, for the loopback server.
    for (file, columns) in [
        ("measurements.log", 20),
        ("statistics.log", 13),
        ("tracking.log", 14),
    ] {
        let text = std::fs::read_to_string(dir.join("log").join(file)).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("20")).collect();
        assert!(!lines.is_empty(), "{file}: {text}");
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words.len(), columns, "{file}: {line}");
            assert_eq!(words[2], "127.0.0.1", "{file}: {line}");
        }
    }

    // The way out saves the drift.
    driver.finish().unwrap();
    let saved = Drift::parse(&std::fs::read_to_string(dir.join("drift")).unwrap()).unwrap();
    assert_eq!(saved, driver.node().system().drift());
    assert!(matches!(events.borrow().last(), Some(Event::DriftSaved(_))));

    drop(driver);
    assert!(!dir.join("chronyd.sock").exists());
    stop.store(true, Ordering::Relaxed);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn measure_only_leaves_the_clock_alone() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let config = DriverConfig {
        upstreams: vec![fast(address)],
        node: stepping(),
        measure_only: true,
        ..DriverConfig::default()
    };
    let mut driver = Driver::new(config, VirtualClock::new(), None).unwrap();
    driver.set_logger(|_| {});
    run_until(&mut driver, "a measurement", |d| d.has_synchronised());
    assert_eq!(driver.clock().offset(), NtpDuration::ZERO);
    let measured = -driver.snapshot().unwrap().sources[0].1.measured_offset;
    assert!((measured - AHEAD).abs() < 0.01, "{measured}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn upstreams_resolve_to_their_first_address() {
    let upstream = Upstream::resolve("localhost", 11123, SourceConfig::default()).unwrap();
    assert_eq!(upstream.name, "localhost");
    assert!(upstream.address.ip().is_loopback());
    assert_eq!(upstream.address.port(), 11123);
}

#[test]
fn kubeasz_client_config_maps_onto_the_driver() {
    let text = include_str!("../../../tests/data/kubeasz-client.conf");
    let config = Config::parse(text, "client.conf").unwrap();
    let driver = DriverConfig::from_config(&config, -23).unwrap();
    assert_eq!(driver.upstreams.len(), 1);
    let upstream = &driver.upstreams[0];
    assert_eq!(upstream.name, "192.168.1.1");
    assert_eq!(upstream.address, "192.168.1.1:123".parse().unwrap());
    assert!(upstream.config.iburst);
    assert_eq!((upstream.config.minpoll, upstream.config.maxpoll), (6, 10));
    let system = &driver.node.system;
    assert_eq!(
        system.discipline.makestep,
        Some(MakeStep {
            threshold: 1.0,
            limit: 3
        })
    );
    assert_eq!(system.discipline.maxupdateskew_ppm, 100.0);
    assert_eq!(system.stratumweight, 0.0);
    assert_eq!(driver.node.local, None);
    assert_eq!(system.precision, -23);
    assert_eq!(
        driver.driftfile,
        Some(PathBuf::from("/var/lib/chrony/drift"))
    );
    // chronyd's command sockets, as it opens them.
    let command = driver.command.as_ref().unwrap();
    assert_eq!(command.socket, Some(PathBuf::from(DEFAULT_SOCKET)));
    assert_eq!(command.port, 323);
    assert_eq!(
        command.addresses,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );

    let config = Config::parse(
        "server 127.0.0.1 port 11123 minpoll -2 maxpoll 0\nbindcmdaddress /\nlocal stratum 10\n",
        "x.conf",
    )
    .unwrap();
    let driver = DriverConfig::from_config(&config, -20).unwrap();
    let upstream = &driver.upstreams[0];
    assert_eq!(upstream.address, "127.0.0.1:11123".parse().unwrap());
    assert_eq!((upstream.config.minpoll, upstream.config.maxpoll), (-2, 0));
    assert_eq!(driver.command.unwrap().socket, None);
    assert_eq!(driver.node.local, Some(LocalReference::new(10, 1.0)));
    // An address is where the UDP port is bound: the Unix socket stays put.
    let config = Config::parse("bindcmdaddress 127.0.0.2\ncmdport 10323\n", "x.conf").unwrap();
    let command = command_settings(&config);
    assert_eq!(command.socket, Some(PathBuf::from(DEFAULT_SOCKET)));
    assert_eq!(
        (command.port, command.addresses.as_slice()),
        (10323, &["127.0.0.2".parse::<IpAddr>().unwrap()][..])
    );
}

/// A serving socket on loopback answering everyone.
fn loopback_serving(table: &mut [crate::server::ClientRecord]) -> (Serving<'_>, SocketAddr) {
    let socket =
        NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    let address = socket.local_addr().unwrap();
    let serving = Serving {
        sockets: vec![socket],
        server: open_server(table),
        nts_keys: None,
    };
    (serving, address)
}

/// Asks the node served by `driver` at `address` for the time, running the
/// driver's loop until it answers; the response.
fn ask<C: DriverClock>(driver: &mut Driver<'_, C>, address: SocketAddr) -> Header
where
    C::Error: fmt::Debug + fmt::Display,
{
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut request = [0u8; 48];
    Header::client_request(6, NtpTimestamp::from_bits(7))
        .emit(&mut request)
        .unwrap();
    socket.send_to(&request, address).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..200 {
        driver.run_once(Some(Duration::from_millis(10))).unwrap();
        if let Ok(len) = socket.recv(&mut buf) {
            return Header::decode(&buf[..len]).unwrap();
        }
    }
    panic!("no answer from {address}");
}

/// The seed's serving node on loopback: it follows an upstream 0.5 s
/// ahead and serves, and a client node follows it.
#[test]
fn serving_node_passes_the_time_on() {
    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let mut table = [];
    let (serving, address) = loopback_serving(&mut table);
    let config = DriverConfig {
        node: stepping(),
        upstreams: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    let mut hub = Driver::new(config, VirtualClock::new(), Some(serving)).unwrap();
    hub.set_logger(|_| {});
    let config = DriverConfig {
        node: stepping(),
        upstreams: vec![fast(address)],
        ..DriverConfig::default()
    };
    let mut client = Driver::new(config, VirtualClock::new(), None).unwrap();
    client.set_logger(|_| {});
    let synced = |d: &Driver<'_, VirtualClock>| {
        (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-3 && d.has_synchronised()
    };
    let deadline = Deadline::after_seconds(60);
    while !(synced(&hub) && synced(&client)) {
        hub.run_once(Some(Duration::from_millis(10))).unwrap();
        client.run_once(Some(Duration::from_millis(10))).unwrap();
        deadline.check(|| "the chain did not synchronise".into());
    }
    // The client sees the serving node at stratum 2 (upstream is 1).
    assert_eq!(client.snapshot().unwrap().sources[0].1.stratum, 2);
    assert!(hub.node().server_counters().unwrap().answered > 0);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// chrony's `local stratum 10 distance D` while following: nothing while
/// acquiring, the upstream's stratum + 1 once synchronised within D, and
/// the local reference when the system is farther than D.
#[test]
fn local_stratum_while_unsynchronised_or_too_far() {
    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    for (distance, synchronised_stratum) in [(1.0, 2), (1e-9, 10)] {
        let config = DriverConfig {
            node: NodeConfig {
                local: Some(LocalReference::new(10, distance)),
                ..stepping()
            },
            upstreams: vec![fast(upstream)],
            ..DriverConfig::default()
        };
        let mut table = [];
        let (serving, address) = loopback_serving(&mut table);
        let mut driver = Driver::new(config, VirtualClock::new(), Some(serving)).unwrap();
        driver.set_logger(|_| {});
        // While acquiring (its source may still answer its first requests),
        // the node serves nothing, not even its local stratum.
        let before = ask(&mut driver, address);
        assert_eq!(
            (before.leap, before.stratum),
            (LeapIndicator::Unsynchronized, 0)
        );
        run_until(&mut driver, "served as synchronised", |d| {
            let now = d.now().unwrap();
            let system = d.node().system();
            !system.is_acquiring(now) && system.reference(now).is_synchronized()
        });
        let served = ask(&mut driver, address);
        assert_eq!(served.stratum, synchronised_stratum, "distance {distance}");
        assert_eq!(served.leap, LeapIndicator::NoWarning);
        if synchronised_stratum == 10 {
            assert_eq!(served.reference_id, ReferenceId::LOCAL);
        } else {
            assert_eq!(served.reference_id, ReferenceId::from_ip(upstream.ip()));
        }
        // The time served is the corrected clock's: 0.5 s ahead.
        let ahead = (served.receive_timestamp - realtime_now()).to_seconds_f64();
        assert!((ahead - AHEAD).abs() < 0.01, "{ahead}");
    }
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// What a fake kernel was asked to do.
#[derive(Debug, Default)]
struct KernelLog {
    /// Each frequency set, ppm (tick and `freq`).
    frequencies: Vec<f64>,
    /// Each step, seconds.
    steps: Vec<f64>,
}

/// A kernel that records what it is asked and changes nothing: its clock
/// is the system's (the sockets' timestamps are the real kernel's, so a
/// fake that moved its time would disagree with them).
#[derive(Debug)]
struct FakeKernel {
    log: Rc<RefCell<KernelLog>>,
}

impl FakeKernel {
    fn new() -> (FakeKernel, Rc<RefCell<KernelLog>>) {
        let log = Rc::new(RefCell::new(KernelLog::default()));
        (FakeKernel { log: log.clone() }, log)
    }
}

impl Kernel for FakeKernel {
    fn adjtimex(&mut self, timex: &mut libc::timex) -> std::io::Result<libc::c_int> {
        if timex.modes & libc::ADJ_SETOFFSET != 0 {
            let step = timex.time.tv_sec as f64 + timex.time.tv_usec as f64 * 1e-9;
            self.log.borrow_mut().steps.push(step);
        }
        if timex.modes & libc::ADJ_FREQUENCY != 0 {
            let ppm = (timex.tick - 10_000) as f64 * 100.0 + timex.freq as f64 / 65536.0;
            self.log.borrow_mut().frequencies.push(ppm);
        }
        if timex.modes == 0 {
            timex.tick = 10_000;
        }
        Ok(libc::TIME_OK)
    }

    fn realtime(&self) -> NtpTimestamp {
        realtime_now()
    }
}

/// `--clock system`'s path, with the kernel injected: the driver steps
/// the system clock by the upstream's offset through adjtimex and serves
/// the upstream's stratum + 1 on the system clock's time with the
/// correction in progress.
#[test]
fn serving_on_the_system_clock_steps_through_adjtimex() {
    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let config = DriverConfig {
        node: stepping(),
        upstreams: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    let (kernel, log) = FakeKernel::new();
    let mut table = [];
    let (serving, address) = loopback_serving(&mut table);
    let clock = SystemClock::with_kernel(kernel, false);
    let mut driver = Driver::new(config, clock, Some(serving)).unwrap();
    driver.set_logger(|_| {});
    run_until(&mut driver, "served at stratum 2", |d| {
        let now = d.now().unwrap();
        d.node().system().reference(now).stratum == 2 && !d.node().system().is_acquiring(now)
    });
    let first = log.borrow().steps.first().copied().expect("a step");
    assert!((first - AHEAD).abs() < 0.01, "{first}");
    let served = ask(&mut driver, address);
    assert_eq!(served.stratum, 2);
    assert_eq!(served.reference_id, ReferenceId::from_ip(upstream.ip()));
    // The kernel was not really stepped, so the engine keeps finding the
    // clock 0.5 s behind: the time served is the system clock's plus what
    // it still has to correct, never more than that.
    let ahead = (served.receive_timestamp - realtime_now()).to_seconds_f64();
    assert!((-0.01..AHEAD + 0.01).contains(&ahead), "{ahead}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// A driver slewing a fake kernel's clock by 0.5 s (no makestep: at
/// chrony's 83333 ppm that takes 6 s), with its kernel's log.
fn slewing_driver(
    upstream: SocketAddr,
) -> (
    Driver<'static, SystemClock<FakeKernel>>,
    Rc<RefCell<KernelLog>>,
) {
    let config = DriverConfig {
        upstreams: vec![fast(upstream)],
        ..DriverConfig::default()
    };
    let (kernel, log) = FakeKernel::new();
    let mut driver = Driver::new(config, SystemClock::with_kernel(kernel, false), None).unwrap();
    driver.set_logger(|_| {});
    run_until(&mut driver, "a slew", |d| {
        d.node().system().frequency_ppm().abs() > 1000.0
    });
    (driver, log)
}

/// On every way out (a stop, or a panic unwinding through the driver) the
/// slew in progress ends, and the kernel is left at the frequency
/// estimate.
#[test]
fn the_way_out_ends_the_slew() {
    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());

    let (mut driver, log) = slewing_driver(upstream);
    let estimate = -driver.node().system().drift().frequency_ppm;
    let stopped = AtomicBool::new(true);
    driver.run(&stopped).unwrap();
    let last = *log.borrow().frequencies.last().unwrap();
    assert!(
        (last - estimate).abs() < 1e-6,
        "left at {last} ppm, not {estimate}"
    );
    assert!(last.abs() < 1000.0, "{last}");

    let (driver, log) = slewing_driver(upstream);
    let estimate = -driver.node().system().drift().frequency_ppm;
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _driver = driver;
        panic!("a bug in the shell");
    }));
    assert!(panicked.is_err());
    let last = *log.borrow().frequencies.last().unwrap();
    assert!(
        (last - estimate).abs() < 1e-6,
        "left at {last} ppm, not {estimate}"
    );

    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn sources_take_their_key_or_nts_from_the_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("auth-config");
    let keys = dir.join("keys");
    std::fs::write(
        &keys,
        "2 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n",
    )
    .unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "keyfile {}\nserver 127.0.0.1 port 1234 key 2\nserver 127.0.0.2 nts ntsport 4461\n\
         server 127.0.0.3 key 5\nserver 127.0.0.4 nts certset 3\nserver 127.0.0.5 nts certset 1\n\
         ntstrustedcerts 1 /x.pem\nnocerttimecheck 2\nntsdumpdir {}\n",
        keys.display(),
        dir.display()
    );
    let config = Config::parse(&text, "t.conf").unwrap();
    let (driver, errors) = DriverConfig::resolving(&config, -20);
    let auth: Vec<(SocketAddr, UpstreamAuth)> = driver
        .upstreams
        .iter()
        .map(|u| (u.address, u.auth.clone()))
        .collect();
    let key = crate::chrony::keyfile::KeyFile::load(&keys).unwrap().keys[0];
    assert_eq!(
        auth,
        [
            ("127.0.0.1:1234".parse().unwrap(), UpstreamAuth::Key(key)),
            (
                "127.0.0.2:123".parse().unwrap(),
                UpstreamAuth::Nts {
                    ke_address: "127.0.0.2:4461".parse().unwrap(),
                    certset: 0
                }
            ),
            (
                "127.0.0.5:123".parse().unwrap(),
                UpstreamAuth::Nts {
                    ke_address: "127.0.0.5:4460".parse().unwrap(),
                    certset: 1
                }
            ),
        ]
    );
    // A key the file does not hold, a certificate set that holds nothing:
    // left out, the line named.
    let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("t.conf:4: not following 127.0.0.3: key 5 is not in "),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("t.conf:5: not following 127.0.0.4: certset 3 holds no"),
        "{errors:?}"
    );
    // The key file is readable by others: a warning.
    assert_eq!(driver.warnings.len(), 1, "{:?}", driver.warnings);
    assert!(driver.warnings[0].contains("readable by other users"));
    assert_eq!(
        driver.nts,
        NtsSettings {
            trusted_certs: vec![(1, PathBuf::from("/x.pem"))],
            no_cert_time_check: 2,
            dump_dir: Some(dir.clone()),
            ..NtsSettings::default()
        }
    );
    // Without a key file, a keyed source is refused too.
    let config = Config::parse("server 127.0.0.1 key 2\n", "u.conf").unwrap();
    let (_, errors) = DriverConfig::resolving(&config, -20);
    assert!(errors[0].to_string().contains("no keyfile"), "{errors:?}");
}
