//! Our client authenticating its servers on loopback: the production
//! driver (in-process, on a virtual clock: the system clock is never
//! touched) configured by a chrony.conf, following Debian's chronyd 4.3
//! (`-x`) with SHA1, SHA256 and AES128 keys and with NTS (cookies kept in
//! `ntsdumpdir` across a restart), and our own example server the same
//! way. The negative cases: a wrong key, an NTS server whose certificate
//! does not verify, and a path that alters or replays every response
//! (a proxy on 127.0.0.2, which the certificate names too). Each is never
//! selected, and counted.
//!
//! Tests that need chronyd and root are `#[ignore]`d (`cargo test --
//! --include-ignored` runs them, and fails them when either is missing;
//! `scripts/interop-auth.sh test` installs chronyd and runs them).

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::certs::make_pki;
use common::chrony::{chronyd_server, free_port, free_tcp_port, start_example_server, KEYS};
use common::{need, temp_dir};
use ntpkit::chrony::config::Config;
use ntpkit::clock::VirtualClock;
use ntpkit::linux::driver::Driver;
use ntpkit::linux::settings::Settings;
use ntpkit::report::AuthMode;
use ntpkit::system::{AuthCounters, SourceId};
use ntpkit::time::NtpTimestamp;

/// Key 9 as the server has it, and as the client (wrongly) has it.
const SERVER_KEY_9: &str = "9 SHA1 HEX:ffffffffffffffffffffffffffffffffffffffff\n";
const CLIENT_KEY_9: &str = "9 SHA1 HEX:0000000000000000000000000000000000000000\n";

/// Polled every 1/4 s to 1 s, starting with a burst.
const FAST: &str = "iburst minpoll -2 maxpoll 0";

/// Our client configured by `body` (written to `dir`); its log lines go
/// to [`common::logs`].
fn client(dir: &Path, body: &str) -> Driver<'static, VirtualClock> {
    client_with(dir, body, |_| {})
}

/// [`client`], with its settings changed by `change` first.
fn client_with(
    dir: &Path,
    body: &str,
    change: impl FnOnce(&mut Settings),
) -> Driver<'static, VirtualClock> {
    let mut settings = client_settings(dir, body);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    change(&mut settings);
    Driver::new(settings, VirtualClock::new(), None).unwrap()
}

/// The settings of our client configured by `body` (written to `dir`),
/// every source resolved (warnings are the caller's to check); its log
/// lines go to [`common::logs`].
fn client_settings(dir: &Path, body: &str) -> Settings {
    common::logs::capture();
    let conf = dir.join("client.conf");
    // No command sockets: the reports are read in-process.
    std::fs::write(&conf, format!("{body}bindcmdaddress /\ncmdport 0\n")).unwrap();
    let config = Config::load(&conf).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let (settings, unresolved) = Settings::resolve(&config, -20);
    assert!(unresolved.is_empty(), "{unresolved:?}");
    settings
}

/// A key file of ours (mode 0600: no warning).
fn write_keys(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn ids(driver: &Driver<'_, VirtualClock>) -> Vec<SourceId> {
    driver.sources().map(|(_, _, id)| id).collect()
}

fn counters(driver: &Driver<'_, VirtualClock>, id: SourceId) -> AuthCounters {
    driver.node().system().auth_counters(id).unwrap()
}

/// The reachability register (which does not depend on the time asked).
fn reach(driver: &Driver<'_, VirtualClock>, id: SourceId) -> u8 {
    driver
        .node()
        .system()
        .source_report(id, NtpTimestamp::ZERO)
        .unwrap()
        .reach
}

/// Runs `driver` until `done` or `limit`; records every source ever
/// selected. Returns whether `done` came.
fn run(
    driver: &mut Driver<'_, VirtualClock>,
    limit: Duration,
    selected: &mut Vec<SourceId>,
    done: impl Fn(&Driver<'_, VirtualClock>) -> bool,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        driver
            .run_once(Some(Duration::from_millis(100)))
            .expect("driver turn");
        if let Some(id) = driver.node().system().selected() {
            if !selected.contains(&id) {
                selected.push(id);
            }
        }
        if done(driver) {
            return true;
        }
    }
    false
}

/// Runs `driver` until its first source has had two authenticated answers
/// (30 s at most), asserting that they came; the sources ever selected and
/// the log lines so far.
fn follow_first(driver: &mut Driver<'_, VirtualClock>) -> (Vec<SourceId>, Vec<String>) {
    let id = ids(driver)[0];
    let mut selected = Vec::new();
    let followed = run(driver, Duration::from_secs(30), &mut selected, |d| {
        counters(d, id).authenticated >= 2
    });
    let lines = common::logs::lines();
    assert!(followed, "{lines:#?}");
    (selected, lines)
}

/// Runs `driver` for `time`, whatever happens.
fn run_for(driver: &mut Driver<'_, VirtualClock>, time: Duration, selected: &mut Vec<SourceId>) {
    run(driver, time, selected, |_| false);
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn our_client_follows_chronyd_with_sha1_sha256_and_aes128_keys_never_a_wrong_one() {
    need::chronyd();
    let (chronyd, _pki, port, _) = chronyd_server("client-keys", &format!("{KEYS}{SERVER_KEY_9}"));
    let tmp = temp_dir("client-keys");
    let dir = tmp.path();
    let keys = dir.join("client.keys");
    write_keys(&keys, &format!("{KEYS}{CLIENT_KEY_9}"));
    let mut body = format!("keyfile {}\n", keys.display());
    for key in [2, 3, 6, 9] {
        body.push_str(&format!("server 127.0.0.1 port {port} key {key} {FAST}\n"));
    }
    let mut driver = client(dir, &body);
    let ids = ids(&driver);
    let (good, wrong) = (&ids[..3], ids[3]);
    let mut selected = Vec::new();
    let followed = run(&mut driver, Duration::from_secs(30), &mut selected, |d| {
        good.iter()
            .all(|&id| counters(d, id).authenticated >= 4 && reach(d, id) != 0)
            && d.node().system().selected().is_some()
    });
    // Until the wrong key has been tried a few times (and a few seconds
    // more), to show it is never answered: bounded by time, not by turns,
    // as a busy machine runs fewer turns.
    run(&mut driver, Duration::from_secs(30), &mut selected, |d| {
        d.node().system().requests(wrong).unwrap_or(0) >= 4
    });
    run_for(&mut driver, Duration::from_secs(3), &mut selected);
    let serverstats = chronyd.chronyc("serverstats");
    drop(chronyd);
    eprintln!("{serverstats}");
    assert!(followed, "chronyd was not followed with every key");
    assert!(!selected.is_empty() && selected.iter().all(|id| good.contains(id)));
    let system = driver.node().system();
    for (&id, (key_id, key_type, bits)) in good.iter().zip([(2, 2, 160), (3, 3, 256), (6, 13, 128)])
    {
        let c = counters(&driver, id);
        assert_eq!((c.failed, c.naks), (0, 0), "key {key_id}: {c:?}");
        let report = system.auth_report(id, NtpTimestamp::ZERO).unwrap();
        assert_eq!(
            (
                report.mode,
                report.key_id,
                report.key_type,
                report.key_length
            ),
            (AuthMode::SymmetricKey, key_id, key_type, bits)
        );
    }
    // The wrong key: chronyd drops our requests (it answers no MAC it
    // cannot verify): sent, never answered, never selected.
    assert!(system.requests(wrong).unwrap() >= 4);
    assert_eq!(reach(&driver, wrong), 0);
    assert_eq!(counters(&driver, wrong), AuthCounters::default());
    assert!(!selected.contains(&wrong));
    // chronyd counted our authenticated requests.
    let authenticated = serverstats
        .lines()
        .find(|l| l.starts_with("Authenticated NTP packets"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(authenticated.is_some_and(|n| n >= 12), "{serverstats}");
}

/// The line of chronyc's `serverstats` that counts NTS-KE connections.
fn ke_connections(serverstats: &str) -> Option<u64> {
    serverstats
        .lines()
        .find(|l| l.starts_with("NTS-KE connections accepted"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn our_client_follows_chronyd_with_nts_and_keeps_its_cookies_across_a_restart() {
    need::chronyd();
    let (chronyd, pki, port, ntsport) = chronyd_server("client-nts", KEYS);
    let tmp = temp_dir("client-nts");
    let dir = tmp.path();
    let dump = dir.join("nts");
    let body = format!(
        "server 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n\
         ntstrustedcerts {}\nntsdumpdir {}\n",
        pki.ca.display(),
        dump.display()
    );
    let mut driver = client(dir, &body);
    let id = ids(&driver)[0];
    let mut selected = Vec::new();
    let followed = run(&mut driver, Duration::from_secs(30), &mut selected, |d| {
        d.node().system().selected() == Some(id) && counters(d, id).authenticated >= 4
    });
    assert!(followed, "chronyd's NTS server was not followed");
    let c = counters(&driver, id);
    assert_eq!((c.failed, c.naks, c.unmatched), (0, 0, 0), "{c:?}");
    let report = driver
        .node()
        .system()
        .auth_report(id, NtpTimestamp::ZERO)
        .unwrap();
    assert_eq!(report.mode, AuthMode::Nts);
    assert_eq!((report.key_type, report.key_length), (15, 256));
    assert_eq!((report.key_id, report.ke_attempts), (1, 0));
    assert_eq!(report.cookies, 8, "refilled after every answer");
    assert!(report.cookie_length > 0);
    assert!(common::logs::lines()
        .iter()
        .any(|l| l.contains("cookies from NTS-KE")));
    // The way out saves the cookies.
    driver.finish().unwrap();
    drop(driver);
    // chronyd's file: its name, identifier, and a cookie a line after
    // five lines.
    let file = dump.join("127.0.0.1.nts");
    assert!(file.is_file(), "no dump at {}", file.display());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["NNC0", "127.0.0.1"], "{text}");
    assert_eq!(lines.len(), 5 + 8, "{text}");
    assert_eq!(ke_connections(&chronyd.chronyc("serverstats")), Some(1));
    // Restarted, the client needs no NTS-KE: the dump's cookies are
    // taken (and the file removed: no cookie is sent twice).
    let mut driver = client(dir, &body);
    assert!(!file.exists());
    let id = ids(&driver)[0];
    let mut selected = Vec::new();
    let followed = run(&mut driver, Duration::from_secs(30), &mut selected, |d| {
        d.node().system().selected() == Some(id)
    });
    let serverstats = chronyd.chronyc("serverstats");
    drop(chronyd);
    assert!(followed, "not followed after the restart");
    assert!(common::logs::lines()
        .iter()
        .any(|l| l.contains("cookies from") && l.contains(".nts")));
    assert_eq!(ke_connections(&serverstats), Some(1), "{serverstats}");
    assert!(counters(&driver, id).authenticated >= 1);
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn our_client_never_selects_an_nts_server_whose_certificate_does_not_verify() {
    need::chronyd();
    let (chronyd, _pki, port, ntsport) = chronyd_server("client-nts-untrusted", KEYS);
    let tmp = temp_dir("client-nts-untrusted");
    let dir = tmp.path();
    // We trust another CA only.
    let other = make_pki(dir, "other", 2020, 2100);
    let body = format!(
        "server 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n\
         ntstrustedcerts {}\nnosystemcert\n",
        other.ca.display()
    );
    let mut driver = client(dir, &body);
    let id = ids(&driver)[0];
    let mut selected = Vec::new();
    run_for(&mut driver, Duration::from_secs(4), &mut selected);
    drop(chronyd);
    assert!(selected.is_empty());
    let system = driver.node().system();
    assert_eq!(
        system.requests(id),
        Some(0),
        "no NTP request without NTS-KE"
    );
    let report = system.auth_report(id, NtpTimestamp::ZERO).unwrap();
    // One handshake: a server that TLS refused is asked again 2^10 s
    // later at the earliest (chronyd's wait), whatever the polls.
    assert_eq!(report.ke_attempts, 1, "{report:?}");
    assert_eq!(report.cookies, 0);
    let failures: Vec<String> = common::logs::lines()
        .iter()
        .filter(|l| l.contains("NTS-KE with 127.0.0.1 failed"))
        .cloned()
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("certificate") && failures[0].contains("next attempt in 1024 s"),
        "{failures:?}"
    );
}

/// What a proxy does to each response.
#[derive(Clone, Copy)]
enum Mangle {
    /// Alters it (the last bit of the transmit timestamp, which the MAC and
    /// the NTS authenticator cover).
    Tamper,
    /// Delivers it, then a copy of it.
    Replay,
}

/// A UDP proxy on `listen` to `target`, and a thread forwarding TCP
/// connections from `listen`'s address at `tcp_port` to `target`'s
/// address at `tcp_target` (TLS passes through untouched).
struct Proxy {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn udp_proxy(
    stop: Arc<AtomicBool>,
    listen: SocketAddr,
    target: SocketAddr,
    path: Mangle,
) -> JoinHandle<()> {
    let front = UdpSocket::bind(listen).unwrap();
    thread::spawn(move || {
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(target).unwrap();
        front.set_nonblocking(true).unwrap();
        back.set_nonblocking(true).unwrap();
        let mut client = None;
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let mut idle = true;
            if let Ok((n, from)) = front.recv_from(&mut buf) {
                client = Some(from);
                let _ = back.send(&buf[..n]);
                idle = false;
            }
            if let (Ok(n), Some(client)) = (back.recv(&mut buf), client) {
                match path {
                    Mangle::Tamper => {
                        buf[47] ^= 1;
                        let _ = front.send_to(&buf[..n], client);
                    }
                    Mangle::Replay => {
                        let _ = front.send_to(&buf[..n], client);
                        let _ = front.send_to(&buf[..n], client);
                    }
                }
                idle = false;
            }
            if idle {
                thread::sleep(Duration::from_micros(500));
            }
        }
    })
}

fn tcp_forward(stop: Arc<AtomicBool>, listen: SocketAddr, target: SocketAddr) -> JoinHandle<()> {
    let listener = TcpListener::bind(listen).unwrap();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((inbound, _)) => {
                    let _ = inbound.set_nonblocking(false);
                    if let Ok(outbound) = TcpStream::connect(target) {
                        pipe(inbound, outbound);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
    })
}

/// Copies both ways until either side closes (threads of their own, which
/// end with the connection).
fn pipe(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// A path through 127.0.0.2 to chronyd on 127.0.0.1: NTP on `port` (the
/// port chronyd's NTS-KE names) and a free one for the keyed source, the
/// NTS-KE port forwarded as it is.
fn proxy(port: u16, ntsport: u16, path: Mangle) -> (Proxy, u16) {
    let stop = Arc::new(AtomicBool::new(false));
    let key_port = free_port();
    let at = |port| SocketAddr::from(([127, 0, 0, 2], port));
    let chronyd = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let threads = vec![
        udp_proxy(stop.clone(), at(port), chronyd(port), path),
        udp_proxy(stop.clone(), at(key_port), chronyd(port), path),
        tcp_forward(stop.clone(), at(ntsport), chronyd(ntsport)),
    ];
    (Proxy { stop, threads }, key_port)
}

/// Our client following chronyd through `path`, with key 2 and with NTS,
/// beside a direct keyed source (so that the clock has something good to
/// follow): its sources' ids (keyed, NTS, direct) after `time`, and what
/// was ever selected.
fn through(
    name: &str,
    path: Mangle,
    time: Duration,
) -> (Driver<'static, VirtualClock>, [SourceId; 3], Vec<SourceId>) {
    let (chronyd, pki, port, ntsport) = chronyd_server(name, KEYS);
    let (_proxy, key_port) = proxy(port, ntsport, path);
    let tmp = temp_dir(name);
    let dir = tmp.path();
    let keys = dir.join("client.keys");
    write_keys(&keys, KEYS);
    let body = format!(
        "keyfile {}\nntstrustedcerts {}\n\
         server 127.0.0.2 port {key_port} key 2 {FAST}\n\
         server 127.0.0.2 port {port} nts ntsport {ntsport} {FAST}\n\
         server 127.0.0.1 port {port} key 3 {FAST}\n",
        keys.display(),
        pki.ca.display()
    );
    let mut driver = client(dir, &body);
    let ids = ids(&driver);
    let mut selected = Vec::new();
    run_for(&mut driver, time, &mut selected);
    drop(chronyd);
    (driver, [ids[0], ids[1], ids[2]], selected)
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn responses_altered_on_the_path_are_refused_counted_and_never_selected() {
    need::chronyd();
    let (driver, [keyed, nts, direct], selected) =
        through("client-tamper", Mangle::Tamper, Duration::from_secs(12));
    assert_eq!(selected, [direct], "only the direct source is followed");
    for id in [keyed, nts] {
        let c = counters(&driver, id);
        assert_eq!(c.authenticated, 0, "{c:?}");
        assert!(c.failed >= 8, "{c:?}");
        assert_eq!(reach(&driver, id), 0);
    }
    // NTS-KE went through (TLS untouched): the NTS source sent requests,
    // and without answers its cookies ran down.
    let system = driver.node().system();
    assert!(system.requests(nts).unwrap() >= 8);
    assert!(system.nts_state(nts).unwrap().sessions() >= 1);
}

#[test]
#[ignore = "needs chronyd and root: cargo test -- --include-ignored"]
fn replayed_responses_are_refused_and_counted() {
    need::chronyd();
    let (driver, [keyed, nts, _], selected) =
        through("client-replay", Mangle::Replay, Duration::from_secs(12));
    for id in [keyed, nts] {
        let c = counters(&driver, id);
        // Each answer taken once, its copy refused.
        assert!(c.authenticated >= 8, "{c:?}");
        assert!(c.unmatched >= c.authenticated - 1, "{c:?}");
        assert_eq!((c.failed, c.naks), (0, 0), "{c:?}");
    }
    assert!(!selected.is_empty());
}

/// Our example server with keys and NTS (certificates for 127.0.0.1): its
/// process, NTP port and NTS-KE port, and the CA.
fn our_server(dir: &Path) -> (common::chrony::Running, u16, u16, PathBuf) {
    our_server_with(dir, "")
}

/// Our server with `extra` lines in its configuration, and our client
/// following it with NTS alone.
fn nts_client_of_our_server(
    dir: &Path,
    extra: &str,
) -> (common::chrony::Running, Driver<'static, VirtualClock>) {
    let (server, port, ntsport, ca) = our_server_with(dir, extra);
    let body = format!(
        "ntstrustedcerts {}\nserver 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n",
        ca.display()
    );
    (server, client(dir, &body))
}

/// [`our_server`] with `extra` lines in its configuration.
fn our_server_with(dir: &Path, extra: &str) -> (common::chrony::Running, u16, u16, PathBuf) {
    let pki = make_pki(dir, "ours", 2020, 2100);
    let keys = dir.join("server.keys");
    write_keys(&keys, &format!("{KEYS}{SERVER_KEY_9}"));
    let (port, ntsport) = (free_port(), free_tcp_port());
    let conf = dir.join("server.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 9\nkeyfile {}\n\
             ntsserverkey {}\nntsservercert {}\nntsport {ntsport}\nntsdumpdir {}\n{extra}",
            keys.display(),
            pki.key.display(),
            pki.cert.display(),
            dir.display()
        ),
    )
    .unwrap();
    let server = start_example_server(&conf);
    (server, port, ntsport, pki.ca)
}

#[test]
fn our_client_follows_our_server_with_keys_and_nts() {
    let tmp = temp_dir("client-ours");
    let dir = tmp.path();
    let (server, port, ntsport, ca) = our_server(dir);
    let keys = dir.join("client.keys");
    write_keys(&keys, &format!("{KEYS}{CLIENT_KEY_9}"));
    let mut body = format!(
        "keyfile {}\nntstrustedcerts {}\n",
        keys.display(),
        ca.display()
    );
    for key in [2, 3, 6, 9] {
        body.push_str(&format!("server 127.0.0.1 port {port} key {key} {FAST}\n"));
    }
    body.push_str(&format!(
        "server 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n"
    ));
    let mut driver = client(dir, &body);
    let ids = ids(&driver);
    let (good, wrong) = ([ids[0], ids[1], ids[2], ids[4]], ids[3]);
    let mut selected = Vec::new();
    let followed = run(&mut driver, Duration::from_secs(30), &mut selected, |d| {
        good.iter().all(|&id| counters(d, id).authenticated >= 4)
            && d.node().system().selected().is_some()
    });
    run_for(&mut driver, Duration::from_secs(2), &mut selected);
    let printed = server.finish();
    eprintln!("{printed}");
    assert!(
        followed,
        "our server was not followed with every key and NTS"
    );
    assert!(selected.iter().all(|id| good.contains(id)));
    for id in good {
        assert_eq!(counters(&driver, id).failed, 0);
    }
    assert_eq!(reach(&driver, wrong), 0);
    assert_eq!(counters(&driver, wrong), AuthCounters::default());
    let report = driver
        .node()
        .system()
        .auth_report(ids[4], NtpTimestamp::ZERO)
        .unwrap();
    // Our server's cookies are 104 bytes.
    assert_eq!((report.cookies, report.cookie_length), (8, 104));
    // Our server refused the wrong key's requests and counted them.
    assert!(printed.contains("auth-failed"), "{printed}");
}

/// An NTS-KE server that takes connections and never answers: the
/// handshake is timed out by the driver's loop (here after 1 s), and the
/// next attempt may come 16 s later (chronyd's wait after an attempt
/// that made no TLS handshake); the loop goes on polling and selecting
/// its other source meanwhile (with `authselectmode ignore`: chronyd's
/// default `mix` would wait for the NTS source it requires).
#[test]
fn an_nts_ke_server_that_never_answers_is_timed_out_while_ntp_goes_on() {
    let tmp = temp_dir("client-ke-hang");
    let dir = tmp.path();
    let (_server, port, _ntsport, ca) = our_server(dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let hang_port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        })
    };
    let body = format!(
        "ntstrustedcerts {}\nauthselectmode ignore\nserver 127.0.0.1 port {port} {FAST}\n\
         server 127.0.0.1 port {} nts ntsport {hang_port} {FAST}\n",
        ca.display(),
        free_port()
    );
    let mut driver = client_with(dir, &body, |settings| {
        settings.nts.timeout = Duration::from_secs(1)
    });
    let ids = ids(&driver);
    let (plain, nts) = (ids[0], ids[1]);
    let failed = |d: &Driver<'_, VirtualClock>| {
        d.node()
            .system()
            .nts_state(nts)
            .is_some_and(|state| state.next_attempt().is_some() && !state.is_in_progress())
    };
    let started = Instant::now();
    let mut selected = Vec::new();
    let timed_out = run(&mut driver, Duration::from_secs(10), &mut selected, failed);
    let took = started.elapsed();
    assert!(timed_out, "the handshake was not timed out in 10 s");
    assert!(took >= Duration::from_secs(1), "timed out after {took:?}");
    assert!(common::logs::lines()
        .iter()
        .any(|l| l.contains("NTS-KE with")
            && l.contains("no answer within 1s; next attempt in 16 s")));
    // Meanwhile and after, the other source answers all along, and no
    // new attempt comes before its time.
    run_for(&mut driver, Duration::from_secs(3), &mut selected);
    stop.store(true, Ordering::Relaxed);
    let connections = holder.join().unwrap();
    assert_eq!(connections, 1);
    assert_eq!(reach(&driver, plain), 0xff);
    assert_eq!(counters(&driver, nts), AuthCounters::default());
    assert_eq!(selected, vec![plain]);
}

/// A source whose NTS-KE names an NTP server that never answers (our
/// server's `ntsntpserver 127.0.0.2`, where nothing listens) follows it,
/// and after 8 unanswered polls is replaced by its configured address,
/// which runs NTS-KE again: chronyd's log lines for both, in order.
#[test]
fn a_source_moved_by_nts_ke_to_a_dead_server_is_replaced_by_its_own_address() {
    let tmp = temp_dir("client-replaced");
    let (_server, mut driver) = nts_client_of_our_server(tmp.path(), "ntsntpserver 127.0.0.2\n");
    let changed = "Source 127.0.0.1 changed to 127.0.0.2 (127.0.0.1)";
    let replaced = "Source 127.0.0.2 replaced with 127.0.0.1 (127.0.0.1)";
    let count = |text: &str| {
        common::logs::lines()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    };
    let mut selected = Vec::new();
    let again = run(&mut driver, Duration::from_secs(30), &mut selected, |_| {
        count(changed) >= 2
    });
    let lines = common::logs::lines();
    assert!(again, "{lines:#?}");
    let at = |text: &str| lines.iter().position(|l| l.contains(text)).unwrap();
    assert!(at(changed) < at(replaced), "{lines:#?}");
    // One replacement: the next may come half an hour later at the
    // earliest.
    assert_eq!(count(replaced), 1);
    assert!(selected.is_empty());
    // The source follows the server's NTP address again.
    assert_eq!(
        driver
            .sources()
            .map(|(_, address, _)| address.ip())
            .collect::<Vec<_>>(),
        ["127.0.0.2".parse::<std::net::IpAddr>().unwrap()]
    );
}

/// A saved session (chronyd's file) whose NTP server cannot be used here
/// (of another family than the source's) is not taken: NTS-KE runs
/// instead, and the source is followed.
#[test]
fn a_saved_session_with_an_unusable_ntp_server_is_not_taken() {
    use ntpkit::linux::nts::ke_client;
    use ntpkit::nts::{AeadAlgorithm, AeadKey, NtsSession, SessionKeys};
    let tmp = temp_dir("client-bad-dump");
    let dir = tmp.path();
    let (_server, port, ntsport, ca) = our_server(dir);
    let dump = dir.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    let key = |byte| AeadKey::new(AeadAlgorithm::AesSivCmac256, &[byte; 32]).unwrap();
    let mut session = NtsSession::new(SessionKeys {
        c2s: key(1),
        s2c: key(2),
    });
    session.add_cookie(&[7; 100]).unwrap();
    let saved = ke_client::SavedSession {
        name: "127.0.0.1".into(),
        made: std::time::SystemTime::now(),
        ntp_address: SocketAddr::new("::1".parse().unwrap(), port),
        number: 1,
        session,
    };
    ke_client::save(&dump, "127.0.0.1".parse().unwrap(), &saved).unwrap();
    let body = format!(
        "ntstrustedcerts {}\nntsdumpdir {}\nserver 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n",
        ca.display(),
        dump.display()
    );
    let mut driver = client(dir, &body);
    let (_, lines) = follow_first(&mut driver);
    assert!(lines
        .iter()
        .any(|l| l.contains("their NTP server [::1]:") && l.contains("NTS-KE instead")));
    assert!(lines.iter().any(|l| l.contains("cookies from NTS-KE")));
    assert_eq!(
        driver.sources().map(|(_, a, _)| a.ip()).collect::<Vec<_>>(),
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
}

/// An NTS-KE whose Server record names a host (our server's `ntsntpserver
/// localhost`) has it looked up (in a helper thread), and NTP follows.
#[test]
fn an_ntp_server_named_by_nts_ke_is_looked_up_and_followed() {
    let tmp = temp_dir("client-named");
    let (_server, mut driver) = nts_client_of_our_server(tmp.path(), "ntsntpserver localhost\n");
    let id = ids(&driver)[0];
    let (selected, lines) = follow_first(&mut driver);
    assert!(!lines
        .iter()
        .any(|l| l.contains("NTS-KE with") && l.contains("failed")));
    assert_eq!(selected, vec![id]);
}

/// An NTS source whose certificate set holds nothing (`nosystemcert`, no
/// `ntstrustedcerts`) is kept with a warning, and its NTS-KE connects and
/// fails at the server's certificate, as chronyd's does; the next attempt
/// waits 2^10 s.
#[test]
fn an_nts_source_trusting_nothing_connects_and_fails_at_the_certificate() {
    let tmp = temp_dir("client-trusts-nothing");
    let dir = tmp.path();
    let (_server, port, ntsport, _ca) = our_server(dir);
    let settings = client_settings(
        dir,
        &format!("nosystemcert\nserver 127.0.0.1 port {port} nts ntsport {ntsport} {FAST}\n"),
    );
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("certset 0 holds no trusted certificate")),
        "{:?}",
        settings.warnings
    );
    let mut driver = Driver::new(settings, VirtualClock::new(), None).unwrap();
    let id = ids(&driver)[0];
    let failed = |_: &Driver<'_, VirtualClock>| {
        common::logs::lines()
            .iter()
            .any(|l| l.contains("NTS-KE with 127.0.0.1 failed"))
    };
    let mut selected = Vec::new();
    assert!(run(
        &mut driver,
        Duration::from_secs(10),
        &mut selected,
        failed
    ));
    let lines = common::logs::lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("signed by no trusted CA") && l.contains("next attempt in 1024 s")),
        "{lines:#?}"
    );
    assert_eq!(driver.node().system().requests(id), Some(0));
    assert!(selected.is_empty());
}
