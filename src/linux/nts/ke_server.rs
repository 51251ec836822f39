//! The NTS-KE server (RFC 8915 §4): TLS 1.3 with ALPN `ntske/1` on TCP
//! `ntsport` (4460), answering each request with the algorithm chosen, 8
//! cookies and, when the NTP service is not on port 123, its port.
//!
//! It runs in a thread of its own ([`KeServer::start`]): one `poll(2)` loop
//! over non-blocking listeners and connections, so a slow or hostile TLS
//! client holds one slot until its time-out and never delays anyone else,
//! least of all the NTP responders (other threads). At most
//! `maxntsconnections` connections are open at once (more are closed at
//! once and counted); each has `timeout` to complete. The same loop
//! rotates the cookie keys when `ntsrotate` says so and publishes them to
//! the responders through [`SharedKeys`].

use std::format;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use std::vec::Vec;

use crate::random::{OsRandom, Random};
use rustls::ServerConnection;

use super::server_keys::{ServerKeys, SharedKeys, DEFAULT_ROTATE};
use crate::nts::aead::{AeadKey, MAX_KEY_LEN};
use crate::nts::cookie::MAX_SERVER_COOKIE_LEN;
use crate::nts::ke::{
    self, exporter_context, MessageWriter, EXPORTER_LABEL, MAX_MESSAGE_LEN, NTPV4,
};
use crate::nts::tls::{self, TlsSetupError};
use crate::nts::{NtsServer, SessionKeys, MAX_COOKIES};

/// chrony's default `maxntsconnections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
/// How long a connection may take from accept to the last byte sent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the loop looks at its stop flag and the rotation.
const TICK: Duration = Duration::from_millis(100);

/// The NTS server's settings (chrony's `ntsserverkey`, `ntsservercert`,
/// `ntsport`, `ntsrotate`, `ntsdumpdir`, `maxntsconnections`,
/// `ntsprocesses`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NtsServerConfig {
    /// Certificate chain and private key files (PEM), pairs of
    /// `ntsservercert` and `ntsserverkey`; chosen by the client's SNI.
    pub certificates: Vec<(PathBuf, PathBuf)>,
    /// The addresses to listen on (empty: the IPv4 and IPv6 wildcards).
    pub addresses: Vec<IpAddr>,
    /// The TCP port (`ntsport`, 4460).
    pub port: u16,
    /// The NTP port served, given to clients when it is not 123.
    pub ntp_port: u16,
    /// The NTP server to give to clients (`ntsntpserver`), if not this one.
    pub ntp_server: Option<String>,
    /// `ntsrotate` (zero: never).
    pub rotate: Duration,
    /// `ntsdumpdir`, where the cookie keys are kept.
    pub dump_dir: Option<PathBuf>,
    /// `maxntsconnections`.
    pub max_connections: usize,
    /// `ntsprocesses`: accepted; the KE server is one thread whatever it
    /// says (it is not the bottleneck: see the benchmark).
    pub processes: usize,
    /// Time-out of a connection.
    pub timeout: Duration,
}

setters!(impl [] NtsServerConfig {
    with_certificates => certificates: Vec<(PathBuf, PathBuf)>,
    with_addresses => addresses: Vec<IpAddr>,
    with_port => port: u16,
    with_ntp_port => ntp_port: u16,
    with_ntp_server => ntp_server: Option<String>,
    with_rotate => rotate: Duration,
    with_dump_dir => dump_dir: Option<PathBuf>,
    with_max_connections => max_connections: usize,
    with_processes => processes: usize,
    with_timeout => timeout: Duration,
});

impl Default for NtsServerConfig {
    fn default() -> Self {
        NtsServerConfig {
            certificates: Vec::new(),
            addresses: Vec::new(),
            port: ke::DEFAULT_PORT,
            ntp_port: 123,
            ntp_server: None,
            rotate: DEFAULT_ROTATE,
            dump_dir: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            processes: 1,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why the NTS-KE server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NtsServerError {
    /// The certificates or keys.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// Binding, the key file, or the thread.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What the NTS-KE server did (chronyd's `serverstats` counts the first
/// two).
#[derive(Debug, Default)]
pub struct KeStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed at once: `maxntsconnections` were open.
    pub refused: AtomicU64,
    /// Requests answered with keys and cookies.
    pub completed: AtomicU64,
    /// Requests answered with an Error record.
    pub errors: AtomicU64,
    /// Connections that failed (TLS error, closed early, bad ALPN).
    pub failed: AtomicU64,
    /// Connections that timed out.
    pub timed_out: AtomicU64,
    /// Cookie key rotations.
    pub rotations: AtomicU64,
}

impl KeStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy: accepted, refused, completed, errors, failed,
    /// timed out, rotations.
    pub fn snapshot(&self) -> [u64; 7] {
        [
            &self.accepted,
            &self.refused,
            &self.completed,
            &self.errors,
            &self.failed,
            &self.timed_out,
            &self.rotations,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A running NTS-KE server thread.
#[derive(Debug)]
pub struct KeServer {
    thread: Option<JoinHandle<io::Result<()>>>,
    stop: Arc<AtomicBool>,
    stats: Arc<KeStats>,
    keys: Arc<SharedKeys>,
    addresses: Vec<SocketAddr>,
}

impl KeServer {
    /// Loads the certificates and the cookie keys, binds the listeners and
    /// starts the thread.
    pub fn start(config: &NtsServerConfig) -> Result<KeServer, NtsServerError> {
        let tls = tls::server_config(&config.certificates)?;
        let server_keys = ServerKeys::load_or_create(
            config.dump_dir.as_deref(),
            config.rotate,
            SystemTime::now(),
        )?;
        let keys = SharedKeys::new(server_keys.keys());
        let addresses = if config.addresses.is_empty() {
            std::vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            ]
        } else {
            config.addresses.clone()
        };
        let mut listeners = Vec::new();
        for ip in addresses {
            match TcpListener::bind(SocketAddr::new(ip, config.port)) {
                Ok(l) => listeners.push(l),
                // The IPv6 wildcard on a host without IPv6, or after the
                // IPv4 one took a dual-stack port: serve what bound.
                Err(_) if ip.is_unspecified() && ip.is_ipv6() && !listeners.is_empty() => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("NTS-KE on {ip} port {}: {e}", config.port),
                    )
                    .into())
                }
            }
        }
        let mut local = Vec::new();
        for l in &listeners {
            l.set_nonblocking(true)?;
            local.push(l.local_addr()?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(KeStats::default());
        let mut worker = Worker {
            tls,
            listeners,
            connections: Vec::new(),
            server_keys,
            shared: keys.clone(),
            cookies: NtsServer::new(keys.get(), nonce_prefix()),
            stats: stats.clone(),
            config: config.clone(),
        };
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("nts-ke".into())
            .spawn(move || worker.run(&stop_flag))?;
        Ok(KeServer {
            thread: Some(thread),
            stop,
            stats,
            keys,
            addresses: local,
        })
    }

    /// The cookie keys, for the NTP responders.
    pub fn shared_keys(&self) -> Arc<SharedKeys> {
        self.keys.clone()
    }

    /// Where it listens.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// Its counters.
    pub fn stats(&self) -> &KeStats {
        &self.stats
    }

    /// Stops the thread and waits for it; its error, if it failed.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the NTS-KE thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for KeServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn nonce_prefix() -> [u8; 8] {
    OsRandom.next_u64().to_be_bytes()
}

struct Connection {
    stream: TcpStream,
    tls: ServerConnection,
    deadline: Instant,
    input: Vec<u8>,
    answered: bool,
}

enum Progress {
    Open,
    Done,
    Failed,
}

struct Worker {
    tls: Arc<rustls::ServerConfig>,
    listeners: Vec<TcpListener>,
    connections: Vec<Connection>,
    server_keys: ServerKeys,
    shared: Arc<SharedKeys>,
    cookies: NtsServer,
    stats: Arc<KeStats>,
    config: NtsServerConfig,
}

/// `poll(2)` over `fds` for up to `timeout`.
#[allow(unsafe_code)]
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<()> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd of
    // the length passed.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut fds = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            fds.clear();
            for l in &self.listeners {
                fds.push(libc::pollfd {
                    fd: l.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let now = Instant::now();
            let mut timeout = TICK;
            for c in &self.connections {
                let mut events = libc::POLLIN;
                if c.tls.wants_write() {
                    events |= libc::POLLOUT;
                }
                fds.push(libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events,
                    revents: 0,
                });
                timeout = timeout.min(c.deadline.saturating_duration_since(now));
            }
            poll(&mut fds, timeout)?;
            let listeners = self.listeners.len();
            for (i, fd) in fds.iter().enumerate().take(listeners) {
                if fd.revents != 0 {
                    self.accept(i);
                }
            }
            // Every connection is driven after a wake-up: one that is not
            // ready costs a read that would block.
            let now = Instant::now();
            let mut i = 0;
            while i < self.connections.len() {
                match self.drive(i) {
                    Progress::Open if now < self.connections[i].deadline => {
                        i += 1;
                        continue;
                    }
                    Progress::Open => KeStats::bump(&self.stats.timed_out),
                    Progress::Done => {}
                    Progress::Failed => KeStats::bump(&self.stats.failed),
                }
                self.connections.swap_remove(i);
            }
            self.rotate()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.server_keys.maybe_rotate(SystemTime::now())? {
            KeStats::bump(&self.stats.rotations);
            self.shared.set(self.server_keys.keys());
            self.cookies.set_keys(self.server_keys.keys());
        }
        Ok(())
    }

    fn accept(&mut self, index: usize) {
        loop {
            let (stream, _) = match self.listeners[index].accept() {
                Ok(s) => s,
                Err(_) => return, // WouldBlock, or a connection reset before accept
            };
            KeStats::bump(&self.stats.accepted);
            if self.connections.len() >= self.config.max_connections {
                KeStats::bump(&self.stats.refused);
                continue; // dropped: closed
            }
            let Ok(tls) = ServerConnection::new(self.tls.clone()) else {
                KeStats::bump(&self.stats.failed);
                continue;
            };
            if stream.set_nonblocking(true).is_err() {
                KeStats::bump(&self.stats.failed);
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.connections.push(Connection {
                stream,
                tls,
                deadline: Instant::now() + self.config.timeout,
                input: Vec::new(),
                answered: false,
            });
        }
    }

    fn drive(&mut self, i: usize) -> Progress {
        let c = &mut self.connections[i];
        let mut eof = false;
        loop {
            match c.tls.read_tls(&mut c.stream) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {
                    if c.tls.process_new_packets().is_err() {
                        let _ = c.tls.write_tls(&mut c.stream); // the alert
                        return Progress::Failed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Failed,
            }
        }
        let mut chunk = [0u8; 2048];
        loop {
            match c.tls.reader().read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if c.input.len() + n > MAX_MESSAGE_LEN {
                        return Progress::Failed;
                    }
                    c.input.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Progress::Failed,
            }
        }
        if !c.answered {
            match ke::message_len(&c.input) {
                Ok(Some(len)) => {
                    let mut out = [0u8; 2048];
                    let Some(n) = self.answer(i, len, &mut out) else {
                        return Progress::Failed;
                    };
                    let c = &mut self.connections[i];
                    if c.tls.writer().write_all(&out[..n]).is_err() {
                        return Progress::Failed;
                    }
                    c.tls.send_close_notify();
                    c.answered = true;
                }
                Ok(None) if eof => return Progress::Failed,
                Ok(None) => {}
                Err(_) => return Progress::Failed,
            }
        }
        let c = &mut self.connections[i];
        while c.tls.wants_write() {
            match c.tls.write_tls(&mut c.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Failed,
            }
        }
        if c.answered {
            Progress::Done
        } else if eof {
            Progress::Failed
        } else {
            Progress::Open
        }
    }

    /// The response to the request of `input[..len]` of connection `i`.
    fn answer(&mut self, i: usize, len: usize, out: &mut [u8]) -> Option<usize> {
        let c = &self.connections[i];
        let request = if c.tls.alpn_protocol() == Some(ke::ALPN) {
            ke::parse_request(&c.input[..len])
        } else {
            Err(ke::KeError::NoNtpv4)
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                KeStats::bump(&self.stats.errors);
                return ke::write_error(out, e.error_code()).ok();
            }
        };
        let algorithm = request.algorithm;
        let n = algorithm.key_len();
        let export = |s2c| {
            let mut bytes = [0u8; MAX_KEY_LEN];
            c.tls
                .export_keying_material(
                    &mut bytes[..n],
                    EXPORTER_LABEL.as_bytes(),
                    Some(&exporter_context(algorithm, s2c)),
                )
                .ok()?;
            AeadKey::new(algorithm, &bytes[..n])
        };
        let keys = SessionKeys {
            c2s: export(false)?,
            s2c: export(true)?,
        };
        let mut w = MessageWriter::new(out);
        w.next_protocol(NTPV4).ok()?.aead(algorithm).ok()?;
        let mut cookie = [0u8; MAX_SERVER_COOKIE_LEN];
        for _ in 0..MAX_COOKIES {
            let len = self.cookies.make_cookie(&keys, &mut cookie).ok()?;
            w.cookie(&cookie[..len]).ok()?;
        }
        if let Some(server) = &self.config.ntp_server {
            w.server(server).ok()?;
        }
        if self.config.ntp_port != 123 {
            w.port(self.config.ntp_port).ok()?;
        }
        KeStats::bump(&self.stats.completed);
        w.finish().ok()
    }
}
