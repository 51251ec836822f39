//! The command protocol's cost to the daemon.
//!
//! - `cmdmon/respond/*`: the responder alone (parse, values from a
//!   provider, emit) for `tracking`, one `sources` line, `serverstats`,
//!   and a malformed request it drops;
//! - `cmdmon/serve_pending/tracking_x8`: the daemon's side of 8
//!   `tracking` requests waiting on the Unix socket: `recvfrom`, respond,
//!   `sendto` for each (what `serve_pending` does in the node's loop);
//! - `cmdmon_roundtrip/{ntpkit,chronyd}`: one `tracking` exchange over a
//!   Unix socket with ntpkit's server (a thread in a `poll(2)` loop) and
//!   with chronyd 4.3 (`-x`, no sources, its own socket in a temporary
//!   directory), in the same run. After each, 50,000 more exchanges are
//!   timed by the daemon's own CPU time (`/proc/.../stat` utime + stime,
//!   the same reading for both) and printed as CPU per request and the
//!   share of a core 10,000 requests/s would take.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ntpkit::chrony::control::{Snapshot, SourceSnapshot};
use ntpkit::cmdmon::{Origin, Request, RequestBody, Responder};
use ntpkit::linux::cmdmon::{Client, CmdmonServer, CmdmonSettings, Target};
use ntpkit::linux::socket::Poller;
use ntpkit::report::{SourceMode, SourceReport, SourceState, SourceStatsReport, TrackingReport};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{LeapIndicator, ReferenceId};

fn snapshot() -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (i, address) in ["127.0.0.1", "127.0.0.2", "::1", "10.1.2.3"]
        .iter()
        .enumerate()
    {
        let address: IpAddr = address.parse().unwrap();
        snapshot.sources.push(SourceSnapshot {
            report: Some(SourceReport {
                mode: SourceMode::Server,
                state: if i == 0 {
                    SourceState::Selected
                } else {
                    SourceState::Combined
                },
                stratum: 2,
                poll: 6,
                reach: 0o377,
                last_rx: Some(12),
                adjusted_offset: 573e-9,
                measured_offset: 568e-9,
                error: 3108e-9,
            }),
            stats: Some(SourceStatsReport {
                samples: 64,
                runs: 41,
                span: 3900,
                frequency_ppm: -0.0021,
                skew_ppm: 0.009,
                offset: -0.2e-9,
                std_dev: 350e-9,
                offset_error: 90e-9,
            }),
            ..SourceSnapshot::new(Some(address), address.to_string())
        });
    }
    snapshot.tracking = TrackingReport {
        reference_id: ReferenceId::from_bits(0x7f00_0001),
        stratum: 3,
        reference_time: NtpTimestamp::from_parts(0xeeb2_be21, 0x8000_0000),
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
    };
    snapshot
}

fn request(body: RequestBody) -> Vec<u8> {
    let mut out = [0u8; 1024];
    let len = Request {
        sequence: 0x1234_5678,
        attempt: 0,
        body,
    }
    .emit(&mut out)
    .unwrap();
    out[..len].to_vec()
}

fn respond(c: &mut Criterion) {
    let responder = Responder::default();
    let data = snapshot();
    let mut out = [0u8; 1024];
    let mut group = c.benchmark_group("cmdmon/respond");
    for (name, req) in [
        ("tracking", request(RequestBody::Tracking)),
        ("source_data", request(RequestBody::SourceData { index: 2 })),
        (
            "serverstats",
            request(RequestBody::ServerStats { v4: false }),
        ),
        ("drop_malformed", {
            let mut r = request(RequestBody::Tracking);
            r[2] = 1;
            r
        }),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(responder.respond(
                    black_box(&req),
                    Origin::Udp(IpAddr::from([127, 0, 0, 1])),
                    &data,
                    &mut out,
                ))
            })
        });
    }
    group.finish();
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ntpkit-bench-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    // The command socket's directory must be closed to others.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

/// utime + stime of a task, in seconds (clock ticks of 10 ms).
fn cpu_seconds(stat: &Path) -> f64 {
    let text = fs::read_to_string(stat).unwrap();
    // Fields after the command name (in brackets, which may hold spaces).
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Requests queued at once (the kernel queues few datagrams on a Unix
/// socket: 10 by default).
const BATCH: usize = 8;

fn serve_pending(c: &mut Criterion) {
    let dir = temp_dir("pending");
    let path = dir.join("cmd.sock");
    let settings = CmdmonSettings {
        socket: Some(path.clone()),
        port: 0,
        ..CmdmonSettings::default()
    };
    let mut server = CmdmonServer::bind(&settings).unwrap();
    let data = snapshot();
    let client_path = dir.join("client.sock");
    let client = std::os::unix::net::UnixDatagram::bind(&client_path).unwrap();
    client.connect(&path).unwrap();
    client.set_nonblocking(true).unwrap();
    let req = request(RequestBody::Tracking);
    let mut buf = [0u8; 1024];
    let mut group = c.benchmark_group("cmdmon/serve_pending");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("tracking_x8", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..BATCH {
                    client.send(&req).unwrap();
                }
                let start = Instant::now();
                let served = server.serve_pending(&data).unwrap();
                total += start.elapsed();
                assert_eq!(served.answered, BATCH as u64);
                while client.recv(&mut buf).is_ok() {}
            }
            total
        })
    });
    group.finish();
    drop(server);
    let _ = fs::remove_dir_all(&dir);
}

const MEASURED: u32 = 50_000;

/// Round trips with a client, then the daemon's CPU over `MEASURED` more.
fn measure(c: &mut Criterion, name: &str, target: &Target, stat: &Path) {
    let mut client = Client::connect(target).unwrap();
    c.benchmark_group("cmdmon_roundtrip")
        .bench_function(name, |b| b.iter(|| black_box(client.tracking().unwrap())));
    let before = cpu_seconds(stat);
    let start = Instant::now();
    for _ in 0..MEASURED {
        client.tracking().unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(stat) - before;
    let per = cpu / f64::from(MEASURED);
    eprintln!(
        "cmdmon_roundtrip/{name}: daemon CPU {:.2} us/request over {MEASURED} ({:.2} s CPU, {:.2} s wall): \
         10,000 requests/s = {:.1} % of a core",
        per * 1e6,
        cpu,
        wall,
        per * 10_000.0 * 100.0
    );
}

fn roundtrip(c: &mut Criterion) {
    // ntpkit: the server in a thread, in a poll(2) loop as in a node.
    let dir = temp_dir("ntpkit");
    let path = dir.join("cmd.sock");
    let settings = CmdmonSettings {
        socket: Some(path.clone()),
        port: 0,
        ..CmdmonSettings::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let mut server = CmdmonServer::bind(&settings).unwrap();
    let thread = std::thread::spawn(move || {
        let data = snapshot();
        let mut poller = Poller::new();
        for fd in server.fds() {
            poller.add(&fd);
        }
        tid_tx
            .send(fs::read_link("/proc/thread-self").unwrap())
            .unwrap();
        while !stopping.load(Ordering::Relaxed) {
            if poller.wait(Some(Duration::from_millis(50))).unwrap() > 0 {
                server.serve_pending(&data).unwrap();
            }
        }
    });
    let task = PathBuf::from("/proc")
        .join(tid_rx.recv().unwrap())
        .join("stat");
    measure(c, "ntpkit", &Target::Unix(path), &task);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let _ = fs::remove_dir_all(&dir);

    // chronyd, the same way.
    let Some(mut chronyd) = start_chronyd() else {
        eprintln!("cmdmon_roundtrip/chronyd: skipped: chronyd is not installed");
        return;
    };
    let stat = PathBuf::from(format!("/proc/{}/stat", chronyd.child.id()));
    measure(
        c,
        "chronyd",
        &Target::Unix(chronyd.dir.join("chronyd.sock")),
        &stat,
    );
    chronyd.child.kill().unwrap();
    chronyd.child.wait().unwrap();
    let _ = fs::remove_dir_all(&chronyd.dir);
}

struct Chronyd {
    child: Child,
    dir: PathBuf,
}

/// chronyd -x (never touches the clock), no sources, no NTP port, only a
/// command socket in a temporary directory; in the foreground, as root,
/// so that its PID is the child's.
fn start_chronyd() -> Option<Chronyd> {
    if !Path::new("/usr/sbin/chronyd").exists() {
        return None;
    }
    let dir = temp_dir("chronyd");
    let conf = dir.join("chrony.conf");
    fs::write(
        &conf,
        format!(
            "port 0\ncmdport 0\nbindcmdaddress {0}/chronyd.sock\npidfile {0}/chronyd.pid\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/chronyd")
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("chronyd.sock").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut chronyd = Chronyd { child, dir };
    if !chronyd.dir.join("chronyd.sock").exists() {
        chronyd.child.kill().unwrap();
        chronyd.child.wait().unwrap();
        panic!("chronyd did not open its command socket");
    }
    Some(chronyd)
}

criterion_group!(benches, respond, serve_pending, roundtrip);
criterion_main!(benches);
