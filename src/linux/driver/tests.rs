//! The Linux shell on loopback: real sockets, kernel timestamps, the
//! control socket and the driftfile, against an in-process server 0.5 s
//! ahead of the system clock; clocks that are virtual or whose kernel is
//! a fake (the real clock is never touched). What the engine does with
//! the samples is the simulator's to test (`tests/scenarios.rs`): it drives
//! the same node.

use std::cell::RefCell;
use std::format;
use std::rc::Rc;
use std::string::{String, ToString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;
use std::vec;

use super::*;
use crate::access::AccessControl;
use crate::chrony::logs::LogSettings;
use crate::discipline::{DisciplineConfig, Drift, MakeStep};
use crate::linux::clock::{Kernel, SystemClock, VirtualClock};
use crate::linux::cmdmon::{Client, CmdmonError, CmdmonSettings, Target};
use crate::linux::settings::{Upstream, UpstreamAuth};
use crate::linux::socket::{realtime_now, SocketOptions};
use crate::node::NodeConfig;
use crate::reference::Reference;
use crate::report::TimestampSource;
use crate::server::{LocalReference, Server, ServerConfig};
use crate::system::{SourceConfig, SystemConfig};
use crate::test_util::logs;
use crate::time::NtpDuration;
use crate::wire::{set_transmit_timestamp, Header, LeapIndicator, ReferenceId};

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
            if let Some(n) = server
                .respond(&buf[..len], from, now, &reference, &mut reply)
                .map(|reply| reply.len)
            {
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
        from_sourcedir: false,
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
        ..NodeConfig::default()
    }
}

/// A folder closed to others (0700), as a command socket's directory must
/// be (chronyd's rule); removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ntpkit-driver-test-{name}-"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .unwrap()
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
) {
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
    let tmp = temp_dir("follow");
    let dir = tmp.path();
    let config = Settings {
        node: stepping(),
        upstreams: vec![fast(address)],
        driftfile: Some(dir.join("drift")),
        command: Some(CmdmonSettings {
            socket: Some(dir.join("chronyd.sock")),
            port: 0,
            ..CmdmonSettings::default()
        }),
        measure_only: false,
        logs: Some(LogSettings {
            dir: dir.join("log"),
            log: crate::chrony::config::LogSet {
                measurements: true,
                statistics: true,
                tracking: true,
                selection: true,
                ..Default::default()
            },
            banner: 32,
        }),
        logchange: Some(0.1),
        ..Settings::default()
    };
    std::fs::write(dir.join("drift"), "12.500000 0.250000\n").unwrap();
    logs::capture();
    let _ = logs::take();
    let mut driver = Driver::new(config, VirtualClock::new(), None).unwrap();
    // The saved drift is where the engine starts.
    assert!((driver.node().system().drift().frequency_ppm - 12.5).abs() < 1e-9);

    run_until(&mut driver, "stepped to the server", |d| {
        (d.clock().offset().to_seconds_f64() - AHEAD).abs() < 1e-3 && d.has_synchronised()
    });
    // chronyd's lines: the drift read, the source selected (its address,
    // then the name it was configured by), the step.
    let logged = logs::take();
    assert_eq!(
        logged[0],
        format!(
            "Frequency 12.500 +/- 0.250 ppm read from {}",
            dir.join("drift").display()
        )
    );
    assert!(
        logged.contains(&"Selected source 127.0.0.1 (loopback)".into()),
        "{logged:?}"
    );
    // The update's offset (about AHEAD: loopback's delays blur the last
    // digits, by milliseconds on a loaded machine) is over `logchange`,
    // and told before the step.
    let about_ahead = |prefix: &str| {
        logged.iter().position(|l| {
            l.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(" seconds"))
                .and_then(|n| n.parse::<f64>().ok())
                .is_some_and(|n| (n - AHEAD).abs() < 0.01)
        })
    };
    let wrong = about_ahead("System clock wrong by ");
    let stepped = about_ahead("System clock was stepped by ");
    assert!(wrong.is_some() && wrong < stepped, "{logged:?}");

    // A client asks over chronyc's protocol while the driver runs.
    let socket = dir.join("chronyd.sock");
    let asker = thread::spawn(move || {
        let mut client = Client::connect(&Target::Unix(socket)).unwrap();
        let mut buf = [0u8; crate::cmdmon::MAX_REPLY_LEN];
        let select = match client
            .request(
                crate::cmdmon::RequestBody::SelectData { index: 0 },
                &mut buf,
            )
            .unwrap()
            .body
        {
            crate::cmdmon::ReplyBody::SelectData(d) => d,
            other => panic!("{other:?}"),
        };
        let reports = ["sources", "tracking", "timedatectl"]
            .map(|r| crate::linux::ctl::report(&mut client, &r.parse().unwrap()).unwrap());
        (reports, select)
    });
    let deadline = Deadline::after_seconds(30);
    while !asker.is_finished() {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| "no answer on the command socket".into());
    }
    let ([sources, tracking, timedatectl], select) = asker.join().unwrap();
    // selectdata: the selected source, its interval around its offset.
    assert_eq!(select.report.state, '*');
    assert_eq!(select.address.ip(), Some(address.ip()));
    assert!(select.report.lo_limit < select.report.hi_limit);
    assert_eq!(select.report.leap, crate::wire::LeapIndicator::NoWarning);
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
        timedatectl
            .lines()
            .any(|l| l == "System clock synchronized: yes"),
        "{timedatectl}"
    );

    // Both directions carry kernel timestamps here: the last exchange's
    // (the kernel may miss the very first packets while it switches
    // timestamping on).
    let (_, _, id) = driver.sources().next().unwrap();
    let (exchange, _) = driver.node().system().exchange(id).unwrap();
    let exchange = exchange.unwrap();
    assert_eq!(
        (exchange.transmit, exchange.receive),
        (TimestampSource::Kernel, TimestampSource::Kernel)
    );

    // chronyd's log files: a banner, then a line for each response, each
    // sample and each clock update, for the loopback server.
    for (file, columns) in [
        ("measurements.log", 20),
        ("statistics.log", 13),
        ("tracking.log", 14),
        ("selection.log", 10),
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

    // The source was selected ('*'), the interval around its offset as
    // the selection saw it, before the step: the clock was 0.5 s slow.
    let selection = std::fs::read_to_string(dir.join("log").join("selection.log")).unwrap();
    let first: Vec<&str> = selection
        .lines()
        .find(|l| l.starts_with("20"))
        .unwrap()
        .split_whitespace()
        .collect();
    let (low, high): (f64, f64) = (first[8].parse().unwrap(), first[9].parse().unwrap());
    assert_eq!(first[3], "*", "{selection}");
    assert!(
        low < -AHEAD + 0.01 && high > -AHEAD - 0.01 && high - low < 0.02,
        "{selection}"
    );

    // Rotated (renamed away): the next line starts a new file at the path,
    // with its banner; the old file gets no more. After cyclelogs too.
    let tracking_log = dir.join("log").join("tracking.log");
    for cycle in [false, true] {
        let rotated = dir.join("log").join("tracking.log.1");
        std::fs::rename(&tracking_log, &rotated).unwrap();
        let old = std::fs::read_to_string(&rotated).unwrap();
        if cycle {
            driver.cycle_logs();
        }
        run_until(&mut driver, "a tracking line after the rotation", |_| {
            tracking_log.exists()
        });
        let new = std::fs::read_to_string(&tracking_log).unwrap();
        assert!(new.starts_with("====="), "{new}");
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), old);
    }

    // The way out saves the drift.
    driver.finish().unwrap();
    let saved = Drift::parse(&std::fs::read_to_string(dir.join("drift")).unwrap()).unwrap();
    // (As the file writes it: six decimals.)
    let drift = driver.node().system().drift();
    assert!(
        (saved.frequency_ppm - drift.frequency_ppm).abs() < 1e-6
            && (saved.skew_ppm - drift.skew_ppm).abs() < 1e-6,
        "{saved:?} {drift:?}"
    );

    drop(driver);
    assert!(!dir.join("chronyd.sock").exists());
    stop.store(true, Ordering::Relaxed);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn measure_only_leaves_the_clock_alone() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let config = Settings {
        upstreams: vec![fast(address)],
        node: stepping(),
        measure_only: true,
        ..Settings::default()
    };
    let mut driver = Driver::new(config, VirtualClock::new(), None).unwrap();
    run_until(&mut driver, "a measurement", |d| d.has_synchronised());
    assert_eq!(driver.clock().offset(), NtpDuration::ZERO);
    let measured = -driver.snapshot().unwrap().sources[0]
        .report
        .unwrap()
        .measured_offset;
    assert!((measured - AHEAD).abs() < 0.01, "{measured}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// A serving socket on loopback answering everyone.
fn loopback_serving(table: &mut [crate::server::ClientRecord]) -> (Serving<'_>, SocketAddr) {
    let socket =
        NtpSocket::bind("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    let address = socket.local_addr().unwrap();
    let serving = Serving {
        sockets: vec![socket],
        ptp_sockets: Vec::new(),
        server: open_server(table),
        nts_keys: None,
    };
    (serving, address)
}

/// Asks the node served by `driver` at `address` for the time, running the
/// driver's loop until it answers; the response.
fn ask<C: DriverClock>(driver: &mut Driver<'_, C>, address: SocketAddr) -> Header {
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

/// A cluster's serving node (as kubeasz sets it up) on loopback: it
/// follows an upstream 0.5 s ahead and serves, and a client node follows
/// it.
#[test]
fn serving_node_passes_the_time_on() {
    let stop = Arc::new(AtomicBool::new(false));
    let (upstream, server) = spawn_server(stop.clone());
    let mut table = [];
    let (serving, address) = loopback_serving(&mut table);
    let config = Settings {
        node: stepping(),
        upstreams: vec![fast(upstream)],
        ..Settings::default()
    };
    let mut hub = Driver::new(config, VirtualClock::new(), Some(serving)).unwrap();
    let config = Settings {
        node: stepping(),
        upstreams: vec![fast(address)],
        ..Settings::default()
    };
    let mut client = Driver::new(config, VirtualClock::new(), None).unwrap();
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
    assert_eq!(
        client.snapshot().unwrap().sources[0]
            .report
            .unwrap()
            .stratum,
        2
    );
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
        let config = Settings {
            node: NodeConfig {
                local: Some(LocalReference::new(10, distance)),
                ..stepping()
            },
            upstreams: vec![fast(upstream)],
            ..Settings::default()
        };
        let mut table = [];
        let (serving, address) = loopback_serving(&mut table);
        let mut driver = Driver::new(config, VirtualClock::new(), Some(serving)).unwrap();
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
    let config = Settings {
        node: stepping(),
        upstreams: vec![fast(upstream)],
        ..Settings::default()
    };
    let (kernel, log) = FakeKernel::new();
    let mut table = [];
    let (serving, address) = loopback_serving(&mut table);
    let clock = SystemClock::with_kernel(kernel, false);
    let mut driver = Driver::new(config, clock, Some(serving)).unwrap();
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
    let config = Settings {
        upstreams: vec![fast(upstream)],
        ..Settings::default()
    };
    let (kernel, log) = FakeKernel::new();
    let mut driver = Driver::new(config, SystemClock::with_kernel(kernel, false), None).unwrap();
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
fn tempcomp_runs_the_clock_faster_by_the_compensation() {
    let tmp = temp_dir("tempcomp");
    let dir = tmp.path();
    let sensor = dir.join("temp");
    std::fs::write(&sensor, "27000\n").unwrap();
    std::fs::write(dir.join("drift"), "-12.500000 0.250000\n").unwrap();
    let config = Settings {
        driftfile: Some(dir.join("drift")),
        tempcomp: Some(crate::chrony::config::TempCompConfig {
            sensor: sensor.clone(),
            interval: 1.0,
            curve: crate::chrony::config::TempCompCurve::Quadratic {
                t0: 26000.0,
                k0: 1.0,
                k1: 0.002,
                k2: 0.0,
            },
        }),
        logs: Some(LogSettings {
            dir: dir.join("log"),
            log: crate::chrony::config::LogSet {
                tempcomp: true,
                ..Default::default()
            },
            banner: 32,
        }),
        ..Settings::default()
    };
    let mut driver = Driver::new(config, VirtualClock::new(), None).unwrap();
    // The drift file's frequency, and 3 ppm on top (the rates multiply);
    // the engine's own frequency is the drift file's.
    let expected = 12.5 + 3.0 + 12.5 * 3.0 * 1e-6;
    assert!(
        (driver.clock().frequency_ppm() - expected).abs() < 1e-9,
        "{}",
        driver.clock().frequency_ppm()
    );
    assert!((driver.node().system().drift().frequency_ppm - -12.5).abs() < 1e-9);
    // Colder a second later: 1 ppm.
    std::fs::write(&sensor, "26000\n").unwrap();
    run_until(&mut driver, "the next reading", |d| {
        (d.clock().frequency_ppm() - (12.5 + 1.0 + 12.5e-6)).abs() < 1e-9
    });
    let log = std::fs::read_to_string(dir.join("log").join("tempcomp.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("20")).collect();
    assert!(lines[0].ends_with("  2.7000e+04  3.0000e+00"), "{log}");
    assert!(lines[1].ends_with("  2.6000e+04  1.0000e+00"), "{log}");
}

#[test]
fn histories_are_saved_on_the_way_out_and_restored_with_reload() {
    let stop = Arc::new(AtomicBool::new(false));
    let (address, server) = spawn_server(stop.clone());
    let tmp = temp_dir("histories");
    let dir = tmp.path();
    let dumpdir = dir.join("dump");
    let settings = |reload: bool, auth: UpstreamAuth| Settings {
        upstreams: vec![Upstream {
            auth,
            ..fast(address)
        }],
        dumpdir: Some(dumpdir.clone()),
        reload,
        ..Settings::default()
    };
    logs::capture();
    let _ = logs::take();
    // The clock left alone, so that the next driver's virtual clock (which
    // starts at the system's) is the clock the samples were taken on.
    let mut driver = Driver::new(
        Settings {
            measure_only: true,
            ..settings(true, UpstreamAuth::None)
        },
        VirtualClock::new(),
        None,
    )
    .unwrap();
    assert!(logs::take().iter().all(|l| !l.contains("dump file")));
    run_until(&mut driver, "three samples", |d| {
        let (_, _, id) = d.sources().next().unwrap();
        d.node().source_samples(id).count() >= 3
    });
    driver.finish().unwrap();
    let (_, _, id) = driver.sources().next().unwrap();
    let kept = driver.node().source_samples(id).count();
    drop(driver);
    let file = dumpdir.join("127.0.0.1.dat");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 4 + kept, "{text}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();

    // A restart with -r, the server gone: selected from the history alone,
    // and the file removed.
    let mut driver = Driver::new(
        settings(true, UpstreamAuth::None),
        VirtualClock::new(),
        None,
    )
    .unwrap();
    let logged = logs::take();
    assert!(
        logged.contains(&"Loaded dump file for 127.0.0.1 (loopback)".into()),
        "{logged:?}"
    );
    let (_, _, id) = driver.sources().next().unwrap();
    assert_eq!(driver.node().system().selected(), Some(id));
    assert!(driver.has_synchronised());
    assert_eq!(driver.node().source_samples(id).count(), kept);
    assert!(!file.exists(), "removed once loaded");
    // Saved again on the way out (the samples as the correction left
    // them).
    driver.finish().unwrap();
    let again = std::fs::read_to_string(&file).unwrap();
    assert_eq!(again.lines().count(), text.lines().count(), "{again}");
    assert_eq!(again.lines().nth(3), text.lines().nth(3), "{again}");
    drop(driver);

    // The source now authenticates: unauthenticated samples are refused.
    let key = crate::auth::Key::new(1, crate::auth::KeyType::Sha256, b"secret").unwrap();
    let driver = Driver::new(
        settings(true, UpstreamAuth::Key(key)),
        VirtualClock::new(),
        None,
    )
    .unwrap();
    let logged = logs::take();
    assert!(
        logged.iter().any(|l| l.starts_with(&format!(
            "Could not load dump file for 127.0.0.1 (loopback) : {}: ",
            file.display()
        ))),
        "{logged:?}"
    );
    assert_eq!(driver.node().system().selected(), None);
    assert!(!file.exists(), "removed even when not loaded");
    drop(driver);

    // Without -r the file is removed, not loaded; chronyd's file too is
    // refused, never misread.
    std::fs::write(&file, &text).unwrap();
    let driver = Driver::new(
        settings(false, UpstreamAuth::None),
        VirtualClock::new(),
        None,
    )
    .unwrap();
    assert_eq!(driver.node().system().selected(), None);
    assert!(!file.exists());
    drop(driver);
    std::fs::write(&file, "SRC0\n127.0.0.1\n0 377 8 2 0\n1 0\n").unwrap();
    let driver = Driver::new(
        settings(true, UpstreamAuth::None),
        VirtualClock::new(),
        None,
    )
    .unwrap();
    let logged = logs::take();
    assert!(
        logged.iter().any(|l| l.ends_with(
            "not an ntpkit history (its first line is not \"ntpkit source history 1\")"
        ) && l.contains(&file.display().to_string())),
        "{logged:?}"
    );
    assert_eq!(driver.node().system().selected(), None);
    drop(driver);
}

mod ports;

/// chronyc's commands that change the node, carried out by the running
/// driver: `add server` (and `add peer`, refused without the NTP port),
/// `minpoll`, `makestep`, `reselectdist`, `local`,
/// `cmdallow`, `delete`, `allow` (refused: the node does not serve), and
/// `shutdown`, which ends `run`.
#[test]
fn chronyc_commands_change_the_running_node() {
    use crate::cmdmon::{
        AccessRule, AccessTable, AddKind, AddSource, LocalSetting, RequestBody, SourceRef,
        SourceSetting, Status,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (first, server) = spawn_server(stop.clone());
    let (second, second_server) = spawn_server(stop.clone());
    let tmp = temp_dir("commands");
    let socket = tmp.path().join("chronyd.sock");
    let settings = Settings {
        upstreams: vec![fast(first)],
        command: Some(CmdmonSettings {
            socket: Some(socket.clone()),
            port: 0,
            ..CmdmonSettings::default()
        }),
        measure_only: true,
        ..Settings::default()
    };
    let mut driver = Driver::new(settings, VirtualClock::new(), None).unwrap();
    let ip = |a: SocketAddr| crate::cmdmon::Address::Ip(a.ip());
    let by = |a: SocketAddr| SourceRef {
        address: ip(a),
        reference_id: crate::wire::ReferenceId::NONE,
    };
    let ask = |driver: &mut Driver<'_, VirtualClock>, body| command(driver, &socket, body);
    let mut add = AddSource::new(AddKind::Server, &second.ip().to_string());
    add.port = u32::from(second.port());
    add.minpoll = -3;
    add.maxpoll = -2;
    assert_eq!(
        ask(&mut driver, RequestBody::AddSource(add)),
        Status::SUCCESS
    );
    let servers: Vec<SocketAddr> = driver.sources().map(|(_, a, _)| a).collect();
    assert_eq!(servers, [first, second]);
    // The same address and port again, as chronyd: already there.
    let again = ask(&mut driver, RequestBody::AddSource(add));
    assert_eq!(again, Status::SOURCE_ALREADY_KNOWN);
    // A peer needs the NTP port, which a node that serves nobody has not
    // opened: it is not followed, and the node goes on.
    let nobody = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut peer = AddSource::new(AddKind::Peer, "127.0.0.1");
    peer.port = u32::from(nobody.local_addr().unwrap().port());
    assert_eq!(
        ask(&mut driver, RequestBody::AddSource(peer)),
        Status::SUCCESS
    );
    assert_eq!(driver.sources().count(), 2);
    driver.run_once(Some(Duration::from_millis(1))).unwrap();

    let minpoll = RequestBody::ModifySource {
        source: by(second),
        setting: SourceSetting::MaxPoll(4),
    };
    assert_eq!(ask(&mut driver, minpoll), Status::SUCCESS);
    let id = driver.sources().nth(1).unwrap().2;
    assert_eq!(driver.node().system().source_config(id).unwrap().maxpoll, 4);
    let ratio = RequestBody::ModifySource {
        source: by(second),
        setting: SourceSetting::MaxDelayRatio(2.0),
    };
    assert_eq!(ask(&mut driver, ratio), Status::SUCCESS);
    assert_eq!(
        driver
            .node()
            .system()
            .source_config(id)
            .unwrap()
            .maxdelayratio,
        2.0
    );
    let require = RequestBody::ModifySource {
        source: by(second),
        setting: SourceSetting::SelectOptions {
            mask: crate::cmdmon::SourceFlags(crate::cmdmon::SourceFlags::REQUIRE),
            options: crate::cmdmon::SourceFlags(crate::cmdmon::SourceFlags::REQUIRE),
        },
    };
    assert_eq!(ask(&mut driver, require), Status::SUCCESS);
    assert!(driver.node().system().source_config(id).unwrap().require);

    let makestep = RequestBody::MakeStepLimits {
        threshold: 0.5,
        limit: 3,
    };
    assert_eq!(ask(&mut driver, makestep), Status::SUCCESS);
    let step = driver.node().system().config().discipline.makestep.unwrap();
    assert_eq!(step.threshold, 0.5);
    assert_eq!(
        ask(&mut driver, RequestBody::ReselectDistance(0.01)),
        Status::SUCCESS
    );
    // chrony's 32-bit floats on the wire.
    assert!((driver.node().system().config().reselect_distance - 0.01).abs() < 1e-8);
    let local = LocalSetting {
        on: true,
        stratum: 7,
        distance: 1.0,
        orphan: false,
        activate: 0.0,
        wait_synced: 0.0,
        wait_unsynced: 0.0,
    };
    let local = RequestBody::Local {
        setting: local,
        v3: false,
    };
    assert_eq!(ask(&mut driver, local), Status::SUCCESS);
    assert_eq!(driver.node().local().map(|l| l.stratum()), Some(7));
    let cmdallow = RequestBody::Access(AccessRule {
        table: AccessTable::Command,
        allow: true,
        all: false,
        address: ip("192.0.2.0:0".parse().unwrap()),
        bits: 24,
    });
    assert_eq!(ask(&mut driver, cmdallow), Status::SUCCESS);
    let cmdaccheck = RequestBody::AccessCheck {
        table: AccessTable::Command,
        address: ip("192.0.2.7:0".parse().unwrap()),
    };
    assert_eq!(ask(&mut driver, cmdaccheck), Status::ACCESS_ALLOWED);
    // No server here: NTP access rules would do nothing.
    let allow = RequestBody::Access(AccessRule {
        table: AccessTable::Ntp,
        allow: true,
        all: false,
        address: crate::cmdmon::Address::Unspecified,
        bits: 0,
    });
    assert_eq!(ask(&mut driver, allow), Status::FAILED);

    let delete = RequestBody::DeleteSource {
        address: ip(second),
    };
    // Both sources are on 127.0.0.1: `delete` names an address, so both go.
    assert_eq!(ask(&mut driver, delete), Status::SUCCESS);
    assert_eq!(driver.sources().count(), 0);
    assert_eq!(ask(&mut driver, RequestBody::Shutdown), Status::SUCCESS);
    let ended = Deadline::after_seconds(5);
    driver.run(&AtomicBool::new(false)).unwrap();
    ended.check(|| "shutdown did not end the loop".into());
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    second_server.join().unwrap();
}

/// Sends one chronyc command to `driver`'s socket at `socket`, running the
/// driver until it is answered and carried out; the reply's status.
fn command<C: DriverClock>(
    driver: &mut Driver<'_, C>,
    socket: &std::path::Path,
    body: crate::cmdmon::RequestBody,
) -> crate::cmdmon::Status {
    use crate::linux::cmdmon::QueryError;
    let socket = socket.to_path_buf();
    let asker = thread::spawn(move || {
        let mut client = Client::connect(&Target::Unix(socket)).unwrap();
        let mut buf = [0u8; crate::cmdmon::MAX_REPLY_LEN];
        match client.request(body, &mut buf) {
            Ok(reply) => reply.status,
            Err(QueryError::Refused { status, .. }) => status,
            Err(e) => panic!("{e}"),
        }
    });
    let deadline = Deadline::after_seconds(30);
    while !asker.is_finished() {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| "no answer on the command socket".into());
    }
    driver.run_once(Some(Duration::ZERO)).unwrap();
    asker.join().unwrap()
}

/// `chronyc allow`/`deny` change whom a serving node answers, and
/// `accheck` says so.
#[test]
fn chronyc_access_rules_change_whom_the_node_serves() {
    use crate::cmdmon::{AccessRule, AccessTable, Address, RequestBody, Status};
    let mut table = [crate::server::ClientRecord::default(); 16];
    let (serving, served) = loopback_serving(&mut table);
    let tmp = temp_dir("access");
    let socket = tmp.path().join("chronyd.sock");
    let settings = Settings {
        command: Some(CmdmonSettings {
            socket: Some(socket.clone()),
            port: 0,
            ..CmdmonSettings::default()
        }),
        measure_only: true,
        ..Settings::default()
    };
    let mut driver = Driver::new(settings, VirtualClock::new(), Some(serving)).unwrap();
    // Two requests: the client log has them (chronyc clients).
    for _ in 0..2 {
        ask(&mut driver, served);
    }
    let socket_path = socket.clone();
    let asker = thread::spawn(move || {
        let mut client = Client::connect(&Target::Unix(socket_path)).unwrap();
        let mut buf = [0u8; crate::cmdmon::MAX_REPLY_LEN];
        let clients = RequestBody::ClientAccesses {
            first_index: 0,
            count: 8,
            min_hits: 0,
            reset: false,
        };
        match client.request(clients, &mut buf).unwrap().body {
            crate::cmdmon::ReplyBody::ClientAccesses(page) => page.clients().to_vec(),
            other => panic!("{other:?}"),
        }
    });
    let deadline = Deadline::after_seconds(30);
    while !asker.is_finished() {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
        deadline.check(|| "no answer on the command socket".into());
    }
    let clients = asker.join().unwrap();
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(
        clients[0].address,
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!((clients[0].ntp_hits, clients[0].ntp_drops), (2, 0));

    let host = Address::Ip("127.0.0.1".parse().unwrap());
    let accheck = RequestBody::AccessCheck {
        table: AccessTable::Ntp,
        address: host,
    };
    assert_eq!(
        command(&mut driver, &socket, accheck),
        Status::ACCESS_ALLOWED
    );
    let deny = RequestBody::Access(AccessRule {
        table: AccessTable::Ntp,
        allow: false,
        all: false,
        address: host,
        bits: 32,
    });
    assert_eq!(command(&mut driver, &socket, deny), Status::SUCCESS);
    assert!(!driver.node().serves("127.0.0.1".parse().unwrap()));
    assert!(driver.node().serves("127.0.0.2".parse().unwrap()));
    assert_eq!(
        command(&mut driver, &socket, accheck),
        Status::ACCESS_DENIED
    );
    // A prefix longer than the family's: chronyd's 507.
    let bad = RequestBody::Access(AccessRule {
        table: AccessTable::Ntp,
        allow: true,
        all: false,
        address: host,
        bits: 33,
    });
    assert_eq!(command(&mut driver, &socket, bad), Status::BAD_SUBNET);
}

/// `chronyc reload sources`: the `sourcedir` files are read again, a
/// source they no longer list is removed, a new one added, and the one
/// from the configuration file kept (as NetworkManager's hook expects).
#[test]
fn reload_sources_follows_the_sourcedir_files() {
    use crate::cmdmon::{RequestBody, Status};
    let stop = Arc::new(AtomicBool::new(false));
    let (first, server) = spawn_server(stop.clone());
    let (second, second_server) = spawn_server(stop.clone());
    let tmp = temp_dir("reload");
    let dir = tmp.path();
    let sources = dir.join("sources.d");
    std::fs::create_dir(&sources).unwrap();
    let line = |a: SocketAddr| {
        format!(
            "server {} port {} minpoll -3 maxpoll -2\n",
            a.ip(),
            a.port()
        )
    };
    std::fs::write(sources.join("dhcp.sources"), line(first)).unwrap();
    let (mut driver, socket) = measuring_driver(
        dir,
        &format!(
            "server 127.0.0.1 port 9 minpoll 4\nsourcedir {}\n",
            sources.display()
        ),
    );
    let servers = |d: &Driver<'_, VirtualClock>| d.sources().map(|(_, a, _)| a).collect::<Vec<_>>();
    let configured: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(servers(&driver), [configured, first]);
    let first_id = driver.sources().nth(1).unwrap().2;

    // Unchanged files: nothing moves.
    assert_eq!(
        command(&mut driver, &socket, RequestBody::ReloadSources),
        Status::SUCCESS
    );
    assert_eq!(servers(&driver), [configured, first]);
    assert_eq!(driver.sources().nth(1).unwrap().2, first_id);
    // The file now lists the second server instead.
    std::fs::write(sources.join("dhcp.sources"), line(second)).unwrap();
    assert_eq!(
        command(&mut driver, &socket, RequestBody::ReloadSources),
        Status::SUCCESS
    );
    assert_eq!(servers(&driver), [configured, second]);
    // A second file adds to it.
    std::fs::write(sources.join("more.sources"), line(first)).unwrap();
    assert_eq!(
        command(&mut driver, &socket, RequestBody::ReloadSources),
        Status::SUCCESS
    );
    assert_eq!(servers(&driver), [configured, second, first]);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    second_server.join().unwrap();
}

/// `chronyc rekey`: the key file is read again and a source with a key
/// takes the key its ID has now.
#[test]
fn rekey_reads_the_key_file_again() {
    use crate::cmdmon::{RequestBody, Status};
    use crate::system::SourceAuth;
    let tmp = temp_dir("rekey");
    let dir = tmp.path();
    let keys = dir.join("chrony.keys");
    let write_keys = |hex: &str| write_key_file(&keys, &format!("9 SHA1 HEX:{hex}\n"));
    write_keys("0000000000000000000000000000000000000000");
    let (mut driver, socket) = measuring_driver(
        dir,
        &format!(
            "keyfile {}\nserver 127.0.0.1 port 9 key 9 minpoll 4\n",
            keys.display()
        ),
    );
    let id = driver.sources().next().unwrap().2;
    let key_of = |d: &Driver<'_, VirtualClock>| match d.node().system().source_auth(id) {
        Some(SourceAuth::Key(key)) => *key,
        other => panic!("{other:?}"),
    };
    let before = key_of(&driver);
    write_keys("ffffffffffffffffffffffffffffffffffffffff");
    assert_eq!(
        command(&mut driver, &socket, RequestBody::Rekey),
        Status::SUCCESS
    );
    let after = key_of(&driver);
    assert_eq!(after.id(), 9);
    assert_ne!(after, before);
    // A file without key 9: the key in use stays.
    std::fs::write(
        &keys,
        "1 SHA1 HEX:ffffffffffffffffffffffffffffffffffffffff\n",
    )
    .unwrap();
    assert_eq!(
        command(&mut driver, &socket, RequestBody::Rekey),
        Status::SUCCESS
    );
    assert_eq!(key_of(&driver), after);
}

/// A source whose key the key file does not have is kept, as chronyd
/// keeps it: it sends nothing (its polls are missed) until `chronyc
/// rekey` finds the key, and then polls with it.
#[test]
fn a_source_missing_its_key_sends_nothing_until_rekey_finds_it() {
    use crate::cmdmon::{RequestBody, Status};
    use crate::system::SourceAuth;
    let tmp = temp_dir("missing-key");
    let dir = tmp.path();
    let keys = dir.join("chrony.keys");
    write_key_file(
        &keys,
        "1 SHA1 HEX:ffffffffffffffffffffffffffffffffffffffff\n",
    );
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (mut driver, socket) = measuring_driver(
        dir,
        &format!(
            "keyfile {}\nserver 127.0.0.1 port {port} key 9 iburst minpoll 0 maxpoll 0\n",
            keys.display()
        ),
    );
    let id = driver.sources().next().unwrap().2;
    let report = driver
        .node()
        .system()
        .auth_report(id, NtpTimestamp::ZERO)
        .unwrap();
    assert_eq!((report.key_id, report.key_length), (9, 0));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    let system = driver.node().system();
    assert!(system.polls(id) >= Some(3), "{:?} polls", system.polls(id));
    assert_eq!(system.requests(id), Some(0), "nothing sent without the key");
    write_key_file(
        &keys,
        "9 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n",
    );
    assert_eq!(
        command(&mut driver, &socket, RequestBody::Rekey),
        Status::SUCCESS
    );
    assert!(matches!(
        driver.node().system().source_auth(id),
        Some(SourceAuth::Key(key)) if key.id() == 9
    ));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500)
        && driver.node().system().requests(id) == Some(0)
    {
        driver.run_once(Some(Duration::from_millis(20))).unwrap();
    }
    assert!(driver.node().system().requests(id) > Some(0));
    drop(silent);
}

/// Writes the key file `path` (mode 0600: no warning).
fn write_key_file(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// A measuring-only driver of the chrony.conf `body` (written in `dir`,
/// with its command socket there, which is returned), every source of it
/// resolved, knowing its configuration file.
fn measuring_driver(
    dir: &std::path::Path,
    body: &str,
) -> (Driver<'static, VirtualClock>, std::path::PathBuf) {
    let conf = dir.join("chrony.conf");
    let socket = dir.join("chronyd.sock");
    std::fs::write(
        &conf,
        format!("{body}bindcmdaddress {}\ncmdport 0\n", socket.display()),
    )
    .unwrap();
    let config = crate::chrony::config::Config::load(&conf).unwrap();
    let (mut settings, unresolved) = Settings::resolve(&config, -20);
    assert!(unresolved.is_empty(), "{unresolved:?}");
    settings.config_path = Some(conf);
    settings.measure_only = true;
    let driver = Driver::new(settings, VirtualClock::new(), None).unwrap();
    (driver, socket)
}

/// A command socket that cannot be opened stops the driver with the typed
/// reason (another daemon's live socket at the path), not a string.
#[test]
fn command_socket_errors_keep_their_type() {
    let tmp = temp_dir("live-socket");
    let path = tmp.path().join("chronyd.sock");
    let _live = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let config = Settings {
        command: Some(CmdmonSettings {
            socket: Some(path.clone()),
            port: 0,
            ..CmdmonSettings::default()
        }),
        ..Settings::default()
    };
    let err = Driver::new(config, VirtualClock::new(), None).unwrap_err();
    assert!(
        matches!(&err, DriverError::CommandSockets(CmdmonError::SocketInUse { path: p }) if *p == path),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("chronyc's command sockets: "),
        "{err}"
    );
}

/// A driver moves to a thread of its own (its clock and server too).
#[test]
fn a_driver_is_send() {
    fn send<T: Send>() {}
    send::<Driver<'static, VirtualClock>>();
    send::<Driver<'static, SystemClock>>();
}
