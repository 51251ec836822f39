//! The example server beside real peers, on loopback only: Debian's chronyd
//! as a client (`chronyd -Q -x`, never touching the clock) and as a server
//! answering the same odd requests, and ntpsec's ntpdig on port 123.
//!
//! Tests that need chronyd, ntpdig or root are `#[ignore]`d (`cargo test
//! -- --include-ignored` runs them, and fails them when what they need is
//! missing); `scripts/interop-server.sh test` installs the peers and runs
//! them all. Every file is in the test's own temporary folder, every
//! socket on loopback.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::chrony::{chrony_dir, example, free_port, is_root, private_command_sockets, Chronyd};
use common::{need, temp_dir};
use ntpkit::wire::{Header, LeapIndicator, Mode};
use tempfile::TempDir;

/// A server config for 127.0.0.1:`port`, serving 127.0.0.1, plus `extra`
/// lines, in a folder of its own (removed when dropped).
fn loopback_config(name: &str, port: u16, extra: &str) -> (TempDir, PathBuf) {
    let dir = temp_dir(&format!("interop-{name}"));
    let config = write_config(
        dir.path(),
        "chrony.conf",
        &format!("port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\n{extra}"),
    );
    (dir, config)
}

/// A child process killed (by its PID) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn stderr(mut self) -> String {
        let _ = self.0.kill();
        let mut text = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

/// Starts the example server with `config` (and `args`), waiting until it
/// answers on 127.0.0.1:`port`.
fn start_server(config: &Path, port: u16, args: &[&str]) -> Running {
    let binary = example("server");
    private_command_sockets(config);
    let child = Command::new(binary)
        .arg("-f")
        .arg(config)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example server");
    let running = Running(child);
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if exchange(target, &request(4, 3)).is_some() {
            return running;
        }
    }
    panic!("the example server did not answer: {}", running.stderr());
}

fn request(version: u8, mode: u8) -> Vec<u8> {
    with_poll(version, mode, 6)
}

fn with_poll(version: u8, mode: u8, poll: i8) -> Vec<u8> {
    let mut bytes = vec![0u8; 48];
    bytes[0] = version << 3 | mode;
    bytes[2] = poll as u8;
    bytes[3] = 0xec;
    bytes[40..48].copy_from_slice(&0xeeb2_be21_bdf4_b400u64.to_be_bytes());
    bytes
}

/// Sends `request` and returns the response, if one comes within 300 ms.
fn exchange(target: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    socket.send_to(request, target).ok()?;
    let mut buf = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    Some(buf[..len].to_vec())
}

/// kubeasz's config `name` (in tests/data) as written, but on loopback
/// and in the test's folder: its `server`/`pool` hosts become
/// 127.0.0.1:`upstream_port` (their options kept), it serves on 127.0.0.1
/// only (`bindaddress`; kubeasz's has none, so every address), and its
/// files (`driftfile`, `dumpdir`, `logdir`: chrony's under /var) are in
/// the folder returned with it.
fn kubeasz_on_loopback(name: &str, upstream_port: u16) -> (TempDir, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let dir = temp_dir("interop-kubeasz");
    let here = dir.path().display();
    let mut text: String = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [kind @ ("server" | "pool"), _host, options @ ..] => format!(
                    "{kind} 127.0.0.1 port {upstream_port} {}\n",
                    options.join(" ")
                ),
                ["driftfile", _] => format!("driftfile {here}/drift\n"),
                ["dumpdir", _] => format!("dumpdir {here}\n"),
                ["logdir", _] => format!("logdir {here}/log\n"),
                ["bindaddress", ..] => panic!("{name} binds an address: `{line}`"),
                _ => format!("{line}\n"),
            }
        })
        .collect();
    for directive in ["driftfile", "dumpdir", "logdir"] {
        assert!(text.contains(&format!("{directive} {here}")), "{directive}");
    }
    text.push_str("bindaddress 127.0.0.1\n");
    let config = write_config(dir.path(), name, &text);
    (dir, config)
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `chronyd -Q` (`-x`: never the clock) of `host`: one family, its
/// client socket on loopback, its PID file in `dir`.
fn chronyd_query(host: &str, port: u16, dir: &Path) -> Output {
    let (family, loopback) = if host.contains(':') {
        ("-6", "::1")
    } else {
        ("-4", "127.0.0.1")
    };
    Command::new(need::program("chronyd"))
        .args(["-Q", "-x", family, "-t", "10"])
        .arg(format!("server {host} port {port} iburst"))
        .arg(format!("bindacqaddress {loopback}"))
        .arg(format!("pidfile {}/query.pid", dir.display()))
        .args(["cmdport 0", "bindcmdaddress /"])
        .output()
        .expect("run chronyd -Q")
}

/// chronyd -Q's measurement of our server at `host`:`port` (its output
/// printed): the offset it found, or its output when it got no sample.
fn chronyd_sample(host: &str, port: u16, dir: &Path) -> Result<f64, String> {
    let output = chronyd_query(host, port, dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("chronyd -Q of {host} port {port}: {text}");
    if !output.status.success() {
        return Err(text);
    }
    // "System clock wrong by 0.000012 seconds (ignored)"
    text.split("wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or(text)
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn chronyd_gets_a_sample_from_kubeasz_server_config() {
    need::chronyd();
    // kubeasz's server config on loopback; the port is moved off 123, and
    // its upstreams to a loopback port where nobody answers (so it serves
    // `local stratum 10`).
    let port = free_port();
    let (_dir, config) = kubeasz_on_loopback("kubeasz-server.conf", free_port());
    let server = start_server(&config, port, &["--port", &port.to_string()]);
    wait_for_stratum(format!("127.0.0.1:{port}").parse().unwrap(), 10);
    let query = chrony_dir("query");
    let offset = chronyd_sample("127.0.0.1", port, query.path())
        .unwrap_or_else(|text| panic!("chronyd got no sample: {text}"));
    assert!(
        offset.abs() < 0.01,
        "offset {offset} s between two clocks of this machine"
    );
    drop(server);
}

/// The stratum our server at `target` serves now, if it answers.
fn served_stratum(target: SocketAddr) -> Option<u8> {
    let response = exchange(target, &request(4, 3))?;
    Some(Header::decode(&response).ok()?.stratum)
}

/// Waits (at most 30 s) until our server at `target` serves `stratum`. A
/// server with upstreams serves nothing while it may still hear from them
/// (the first four requests to each, a few seconds with `iburst`), so a
/// client asking at once would be told leap 3, stratum 0.
fn wait_for_stratum(target: SocketAddr, stratum: u8) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while served_stratum(target) != Some(stratum) {
        assert!(
            std::time::Instant::now() < deadline,
            "{target} never served stratum {stratum}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn chronyd_gets_a_sample_while_our_server_follows_an_upstream() {
    need::chronyd();
    // The upstream: a second instance of our server, `local stratum 8`.
    let upstream_port = free_port();
    let (_upstream_dir, config) = loopback_config("upstream", upstream_port, "local stratum 8\n");
    let _upstream = start_server(&config, upstream_port, &[]);
    // The serving node: follows it (polling every 0.25 to 1 s) and serves,
    // with `local stratum 10` for while it is unsynchronised.
    let port = free_port();
    let (_dir, config) = loopback_config(
        "follower",
        port,
        &format!(
            "server 127.0.0.1 port {upstream_port} iburst minpoll -2 maxpoll 0\nlocal stratum 10\n"
        ),
    );
    let server = start_server(&config, port, &[]);
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Local stratum 10 until it has synchronised, then upstream's 8 + 1.
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_stratum(target) != Some(9) {
        assert!(
            Instant::now() < deadline,
            "our server did not synchronise to its upstream: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let query = chrony_dir("query-following");
    let offset = chronyd_sample("127.0.0.1", port, query.path())
        .unwrap_or_else(|text| panic!("chronyd got no sample: {text}"));
    assert!(offset.abs() < 0.01, "offset {offset} s");
    // Still following while chronyd measured.
    assert_eq!(served_stratum(target), Some(9));
}

#[test]
#[ignore = "needs chronyd, root and IPv6 loopback: cargo test -- --include-ignored"]
fn chronyd_gets_a_sample_over_ipv6() {
    need::chronyd();
    if let Err(e) = UdpSocket::bind("[::1]:0") {
        panic!("this test needs IPv6 loopback (::1): {e}");
    }
    let port = free_port();
    let (_dir, config) = loopback_config(
        "ipv6",
        port,
        "bindaddress ::1\nallow ::1\nlocal stratum 10\n",
    );
    let _server = start_server(&config, port, &[]);
    let query = chrony_dir("query6");
    if let Err(text) = chronyd_sample("::1", port, query.path()) {
        panic!("chronyd got no sample over ::1: {text}");
    }
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn chronyd_follows_our_server() {
    need::chronyd();
    let port = free_port();
    let (_dir, config) = loopback_config("follow", port, "local stratum 10\n");
    let _server = start_server(&config, port, &[]);
    // A client only (port 0: serves nobody), polling every 0.25 to 1 s.
    let client = Chronyd::start(
        chrony_dir("chronyd-follow"),
        &format!("port 0\nserver 127.0.0.1 port {port} iburst minpoll -2 maxpoll 0\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let sources = loop {
        let sources = client.chronyc("sources");
        if sources
            .lines()
            .any(|l| l.starts_with("^*") && l.contains("127.0.0.1"))
        {
            break sources;
        }
        assert!(
            Instant::now() < deadline,
            "chronyd never selected our server:\n{sources}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let tracking = client.chronyc("tracking");
    eprintln!("{sources}{tracking}");
    // One stratum below the server's local stratum 10.
    assert!(tracking.contains("Stratum         : 11"), "{tracking}");
}

#[test]
fn kubeasz_client_config_serves_unsynchronised() {
    // Its upstream moved to a loopback port where nobody answers.
    let port = free_port();
    let (_dir, config) = kubeasz_on_loopback("kubeasz-client.conf", free_port());
    let _server = start_server(&config, port, &["--port", &port.to_string()]);
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let response = exchange(target, &request(4, 3)).expect("an answer");
    let header = Header::decode(&response).unwrap();
    assert_eq!(header.leap, LeapIndicator::Unsynchronized);
    assert_eq!(header.stratum, 0);
}

#[test]
#[ignore = "needs ntpdig and root (port 123): cargo test -- --include-ignored"]
fn ntpdig_gets_an_answer_on_port_123() {
    let ntpdig = need::program("ntpdig");
    need::root("ntpdig only talks to port 123, which is privileged");
    if let Err(e) = UdpSocket::bind("127.0.0.1:123") {
        panic!("port 123 on 127.0.0.1 is taken (another NTP server?): {e}");
    }
    // kubeasz's server config: port 123, on 127.0.0.1 (its upstreams moved
    // to a silent loopback port).
    let (_dir, config) = kubeasz_on_loopback("kubeasz-server.conf", free_port());
    let server = start_server(&config, 123, &[]);
    wait_for_stratum("127.0.0.1:123".parse().unwrap(), 10);
    // Never -s/-S: ntpdig only reports.
    let output = Command::new(ntpdig)
        .args(["-t", "2", "127.0.0.1"])
        .output()
        .expect("run ntpdig");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "ntpdig: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success());
    assert!(
        stdout.contains("127.0.0.1") && stdout.contains(" s10 "),
        "{stdout}"
    );
    drop(server);
}

/// chronyd (`-x`) on 127.0.0.1:`port` serving 127.0.0.1, plus `extra` lines.
fn chronyd_serving(name: &str, port: u16, extra: &str) -> Chronyd {
    Chronyd::start(
        chrony_dir(name),
        &format!("port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\n{extra}"),
    )
}

/// What matters in an answer: the fields a server sets from the request
/// and its state, not the timestamps or the precision.
#[derive(Debug, PartialEq)]
struct Answer {
    len: usize,
    version: u8,
    mode: Mode,
    leap: LeapIndicator,
    stratum: u8,
    reference_id: u32,
    poll: i8,
    origin_echoed: bool,
}

fn answer_of(response: Option<Vec<u8>>, request: &[u8]) -> Option<Answer> {
    let response = response?;
    let header = Header::decode(&response).ok()?;
    Some(Answer {
        len: response.len(),
        version: header.version,
        mode: header.mode,
        leap: header.leap,
        stratum: header.stratum,
        reference_id: header.reference_id.to_bits(),
        poll: header.poll,
        origin_echoed: header.origin_timestamp.to_bits().to_be_bytes() == request[40..48],
    })
}

fn with_tail(mut bytes: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    bytes.extend_from_slice(tail);
    bytes
}

fn extension(field_type: u16, len: usize) -> Vec<u8> {
    let mut field = vec![0u8; len];
    field[..2].copy_from_slice(&field_type.to_be_bytes());
    field[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    field
}

/// The odd requests of issue 4, and a few more.
fn odd_requests() -> Vec<(&'static str, Vec<u8>)> {
    let mac = |digest: usize| {
        let mut mac = vec![0xa5u8; 4 + digest];
        mac[..4].copy_from_slice(&77u32.to_be_bytes());
        mac
    };
    vec![
        ("v1 mode 3", request(1, 3)),
        ("v2 mode 3", request(2, 3)),
        ("v3 mode 3", request(3, 3)),
        ("v4 mode 3", request(4, 3)),
        ("v1 mode 0", request(1, 0)),
        ("v4 mode 1", request(4, 1)),
        ("v4 mode 2", request(4, 2)),
        ("v4 mode 4", request(4, 4)),
        ("v4 mode 5", request(4, 5)),
        ("v4 mode 6", request(4, 6)),
        ("v4 mode 7", request(4, 7)),
        ("poll -30", with_poll(4, 3, -30)),
        ("poll 30", with_poll(4, 3, 30)),
        ("v0 mode 3", request(0, 3)),
        ("v5 mode 3", request(5, 3)),
        ("47 bytes", request(4, 3)[..47].to_vec()),
        ("48+1 bytes", with_tail(request(4, 3), &[0])),
        ("48+4 zero bytes", with_tail(request(4, 3), &[0; 4])),
        ("48+4 bytes", with_tail(request(4, 3), &[1, 2, 3, 4])),
        (
            "extension field 16",
            with_tail(request(4, 3), &extension(0x7777, 16)),
        ),
        (
            "extension field 28",
            with_tail(request(4, 3), &extension(0x7777, 28)),
        ),
        (
            "extension fields 16+28",
            with_tail(
                with_tail(request(4, 3), &extension(0x7777, 16)),
                &extension(0x7778, 28),
            ),
        ),
        (
            "v4 MAC unknown key (MD5)",
            with_tail(request(4, 3), &mac(16)),
        ),
        (
            "v4 MAC unknown key (SHA1)",
            with_tail(request(4, 3), &mac(20)),
        ),
        ("v3 MAC unknown key", with_tail(request(3, 3), &mac(16))),
    ]
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn odd_requests_answered_like_chronyd() {
    need::chronyd();
    let chrony_port = free_port();
    let _chronyd = chronyd_serving("chronyd-odd", chrony_port, "local stratum 8\n");
    let ours_port = free_port();
    let (_dir, config) = loopback_config("odd", ours_port, "local stratum 8\n");
    let _server = start_server(&config, ours_port, &[]);
    let chrony: SocketAddr = format!("127.0.0.1:{chrony_port}").parse().unwrap();
    let ours: SocketAddr = format!("127.0.0.1:{ours_port}").parse().unwrap();
    wait_for_answer(chrony);
    let mut unexpected = Vec::new();
    for (name, request) in odd_requests() {
        let theirs = answer_of(exchange(chrony, &request), &request);
        let mine = answer_of(exchange(ours, &request), &request);
        let same = theirs == mine;
        eprintln!(
            "{name:28} chronyd: {:60} ntpkit: {}",
            format!("{theirs:?}"),
            if same {
                "same".to_string()
            } else {
                format!("{mine:?}")
            }
        );
        if let Some(mine) = &mine {
            assert!(mine.len <= request.len(), "{name}: longer than the request");
        }
        if !same {
            unexpected.push(name);
        }
    }
    assert!(
        unexpected.is_empty(),
        "answered unlike chronyd: {unexpected:?}"
    );
}

fn wait_for_answer(server: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while exchange(server, &request(4, 3)).is_none() {
        assert!(Instant::now() < deadline, "{server} does not answer");
    }
}

/// Sends `count` requests back to back from 127.0.0.2 to `server`, each
/// waiting up to 300 ms for its answer; returns which were answered (`P`)
/// or not (`.`), and the polls of the answers.
fn burst(server: SocketAddr, count: usize, poll: i8) -> (String, Vec<i8>) {
    let socket = UdpSocket::bind("127.0.0.2:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let request = with_poll(4, 3, poll);
    let mut answers = String::new();
    let mut polls = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..count {
        socket.send_to(&request, server).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((len, _)) => {
                polls.push(Header::decode(&buf[..len]).unwrap().poll);
                answers.push('P');
            }
            Err(_) => answers.push('.'),
        }
    }
    (answers, polls)
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn rate_limiting_like_chronyd() {
    need::chronyd();
    let limit = "allow 127.0.0.2\nlocal stratum 8\nratelimit interval 3 burst 8 leak 2\n";
    let chrony_port = free_port();
    let _chronyd = chronyd_serving("chronyd-rate", chrony_port, limit);
    let ours_port = free_port();
    let (_dir, config) = loopback_config("rate", ours_port, limit);
    let _server = start_server(&config, ours_port, &[]);
    let chrony: SocketAddr = format!("127.0.0.1:{chrony_port}").parse().unwrap();
    let ours: SocketAddr = format!("127.0.0.1:{ours_port}").parse().unwrap();
    // 60 requests from an address the readiness probes did not use: the
    // burst of 8, then a random 1 in 4 (leak 2) and what the bucket earns
    // meanwhile (1/8 response per second, the unanswered requests waiting
    // 300 ms each). (Probes from the same address long before would start
    // chrony's request-rate estimate low, and its rule that answers
    // clients polling faster when unanswered would then answer more.)
    wait_for_answer(chrony);
    let (theirs, their_polls) = burst(chrony, 60, 0);
    let (mine, my_polls) = burst(ours, 60, 0);
    eprintln!("chronyd {theirs}\nntpkit  {mine}");
    for answers in [&theirs, &mine] {
        let answered = answers.matches('P').count();
        assert!((10..=35).contains(&answered), "{answered} of 60 answered");
    }
    // Poll = max(request's 0, interval 3).
    assert!(their_polls.iter().chain(&my_polls).all(|&p| p == 3));
}

/// Runs the example server with `config` and `args` to its end.
fn run_server(binary: &Path, config: &Path, args: &[&str]) -> Output {
    private_command_sockets(config);
    Command::new(binary)
        .arg("-f")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn server_errors_name_file_and_line() {
    let binary = example("server");
    let dir = temp_dir("interop-errors");
    let config = write_config(dir.path(), "bad.conf", "allow\nport 11123\nfrobnicate 1\n");
    let output = run_server(&binary, &config, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.conf:3: unknown directive `frobnicate`"),
        "{stderr}"
    );
    let config = write_config(dir.path(), "none.conf", "local stratum 10\nport 11123\n");
    let output = run_server(&binary, &config, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no `allow` directive"));
    // Refused before any clock is touched.
    let output = run_server(&binary, &config, &["--clock", "system"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no `allow` directive"));
}

#[test]
fn privileged_port_error_says_root_or_capability() {
    let dir = temp_dir("interop-privileged");
    // No command sockets (by default under /run).
    let config = write_config(
        dir.path(),
        "c.conf",
        "allow\nbindaddress 127.0.0.1\ncmdport 0\nbindcmdaddress /\n",
    );
    let mut command = if is_root() {
        // Root may bind port 123: run it as user nobody (65534, and group
        // nogroup), from a copy in the test's folder opened to all (so
        // that nobody reaches it wherever the target folder is).
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let binary = dir.path().join("server");
        std::fs::copy(example("server"), &binary).unwrap();
        for path in [dir.path(), &binary] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut command = Command::new(binary);
        command.uid(65534).gid(65534);
        command
    } else {
        Command::new(example("server"))
    };
    let output = command.arg("-f").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("port 123 is privileged")
            && stderr.contains("root")
            && stderr.contains("CAP_NET_BIND_SERVICE"),
        "{stderr}"
    );
}

#[test]
fn load_generator_refuses_other_targets_and_measures() {
    let load = example("load");
    let output = Command::new(&load)
        .args(["--target", "192.0.2.1:123"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing non-loopback"));

    let port = free_port();
    let (_dir, config) = loopback_config("load", port, "local stratum 10\n");
    // Two threads on SO_REUSEPORT sockets share the port.
    let _server = start_server(&config, port, &["--threads", "2"]);
    let output = Command::new(&load)
        .args([
            "--target",
            &format!("127.0.0.1:{port}"),
            "--duration",
            "0.5",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(" invalid 0 "), "{stdout}");
    assert!(stdout.contains("valid responses/s"), "{stdout}");
}
