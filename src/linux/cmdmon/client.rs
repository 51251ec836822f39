//! A client of the command protocol: what `chronyc` asks, asked of ntpkit
//! or chronyd alike, and rendered as ntpkit's `--ctl` prints it.

use std::format;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use std::vec::Vec;

use crate::cmdmon::packet::MAX_REQUEST_LEN;
use crate::cmdmon::{
    Address, Error, Reply, ReplyBody, Request, RequestBody, Status, Tracking, MAX_REPLY_LEN,
};
use crate::report::{
    ActivityReport, ClientReport, NtpDataReport, ServerStatsReport, SourceReport, SourceStatsReport,
};

/// How long to wait for each reply before asking again (chronyc waits
/// 1 s the first time).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Requests sent before giving up.
const ATTEMPTS: u16 = 3;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Its Unix socket.
    Unix(PathBuf),
    /// Its UDP command port.
    Udp(SocketAddr),
}

impl Target {
    /// chronyc's `-h HOST -p PORT`: a host starting with `/` is a socket
    /// path, anything else an IP address.
    pub fn parse(host: &str, port: u16) -> Result<Target, QueryError> {
        if host.starts_with('/') {
            return Ok(Target::Unix(PathBuf::from(host)));
        }
        host.parse::<IpAddr>()
            .map(|ip| Target::Udp(SocketAddr::new(ip, port)))
            .map_err(|_| QueryError::BadTarget(host.into()))
    }
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Neither a socket path nor an IP address.
    #[error("{0}: neither a socket path nor an IP address")]
    BadTarget(String),
    /// The socket could not be used.
    #[error("cannot reach a daemon at {target}: {source}")]
    Io {
        /// The target, as given.
        target: String,
        /// The error.
        source: io::Error,
    },
    /// No reply after every attempt.
    #[error("no reply from {0}")]
    NoReply(String),
    /// A reply that does not decode.
    #[error("bad reply from {target}: {error}")]
    BadReply {
        /// The target.
        target: String,
        /// What is wrong with it.
        error: Error,
    },
    /// The daemon refused (`501 Not authorised` over UDP for commands
    /// that need the socket, ...).
    #[error("{target} answered {status}")]
    Refused {
        /// The target.
        target: String,
        /// Its status.
        status: Status,
    },
}

/// One `sources` row: the address, the configured name, the line.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    /// The source's address (`None`: a reference clock).
    pub address: Option<IpAddr>,
    /// The name it was configured with (its address when the daemon
    /// gives none).
    pub name: String,
    /// The line.
    pub report: SourceReport,
}

enum Socket {
    Unix(UnixDatagram, PathBuf),
    Udp(UdpSocket),
}

/// A connection to a daemon's command socket.
pub struct Client {
    socket: Socket,
    target: String,
    sequence: u32,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .finish()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Socket::Unix(_, path) = &self.socket {
            let _ = fs::remove_file(path);
        }
    }
}

/// Unique names for the client sockets of this process.
static NEXT_SOCKET: AtomicU32 = AtomicU32::new(0);

impl Client {
    /// Opens a socket to `target`. For a Unix socket the client binds its
    /// own next to the daemon's (the daemon answers to it; chronyc does
    /// the same), so it needs write access to that directory.
    pub fn connect(target: &Target) -> Result<Client, QueryError> {
        let shown = match target {
            Target::Unix(path) => path.display().to_string(),
            Target::Udp(addr) => addr.to_string(),
        };
        let fail = |source| QueryError::Io {
            target: shown.clone(),
            source,
        };
        let socket = match target {
            Target::Unix(path) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let n = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
                let own = dir.join(format!("ntpkit-ctl.{}.{n}.sock", std::process::id()));
                let _ = fs::remove_file(&own);
                let socket = UnixDatagram::bind(&own).map_err(fail)?;
                let socket = (|| {
                    // The daemon may run as another user (chronyd: _chrony).
                    fs::set_permissions(&own, fs::Permissions::from_mode(0o666))?;
                    socket.connect(path)?;
                    Ok(socket)
                })()
                .map_err(|e| {
                    let _ = fs::remove_file(&own);
                    fail(e)
                })?;
                Socket::Unix(socket, own)
            }
            Target::Udp(addr) => {
                // A daemon on loopback is asked from loopback (never from
                // the wildcard); any other from the family's wildcard.
                let ip = match addr.ip() {
                    ip if ip.is_loopback() => ip,
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let local = SocketAddr::new(ip, 0);
                let socket = UdpSocket::bind(local).map_err(fail)?;
                socket.connect(addr).map_err(fail)?;
                Socket::Udp(socket)
            }
        };
        // A sequence number that differs between runs, as chronyc's.
        let sequence = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() ^ std::process::id());
        Ok(Client {
            socket,
            target: shown,
            sequence,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Waits this long for each reply (three attempts in all).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn send(&self, data: &[u8]) -> io::Result<usize> {
        match &self.socket {
            Socket::Unix(s, _) => s.send(data),
            Socket::Udp(s) => s.send(data),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.socket {
            Socket::Unix(s, _) => {
                s.set_read_timeout(Some(self.timeout))?;
                s.recv(buf)
            }
            Socket::Udp(s) => {
                s.set_read_timeout(Some(self.timeout))?;
                s.recv(buf)
            }
        }
    }

    /// Sends one request and waits for its reply (by command and sequence
    /// number; others are skipped), asking up to three times. A reply
    /// with an error status is [`QueryError::Refused`].
    pub fn request<'b>(
        &mut self,
        body: RequestBody,
        buf: &'b mut [u8; MAX_REPLY_LEN],
    ) -> Result<Reply<'b>, QueryError> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let io = |target: &str| {
            let target = target.to_string();
            move |source| QueryError::Io { target, source }
        };
        let mut out = [0u8; MAX_REQUEST_LEN];
        let mut len = None;
        'attempts: for attempt in 0..ATTEMPTS {
            let n = Request {
                sequence,
                attempt,
                body,
            }
            .emit(&mut out)
            .map_err(|error| QueryError::BadReply {
                target: self.target.clone(),
                error,
            })?;
            self.send(&out[..n]).map_err(io(&self.target))?;
            // The socket is connected: only the daemon can answer. A reply
            // to an earlier attempt of an earlier request is skipped.
            loop {
                match self.recv(&mut buf[..]) {
                    Ok(n) if n >= 20 && buf[16..20] == sequence.to_be_bytes() => {
                        len = Some(n);
                        break 'attempts;
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue 'attempts
                    }
                    Err(e) => return Err(io(&self.target)(e)),
                }
            }
        }
        let n = len.ok_or_else(|| QueryError::NoReply(self.target.clone()))?;
        let target = self.target.clone();
        let bad = |error| QueryError::BadReply {
            target: target.clone(),
            error,
        };
        let reply = Reply::parse(&buf[..n]).map_err(bad)?;
        if reply.command != body.command() {
            return Err(bad(Error::Mismatch {
                command: reply.command.0,
                sequence,
            }));
        }
        if reply.status != Status::SUCCESS {
            return Err(QueryError::Refused {
                target,
                status: reply.status,
            });
        }
        Ok(reply)
    }

    fn unexpected(&self, reply: &Reply) -> QueryError {
        QueryError::BadReply {
            target: self.target.clone(),
            error: Error::UnexpectedReply {
                command: reply.command,
                kind: reply.body.kind(),
            },
        }
    }

    /// The number of sources.
    pub fn source_count(&mut self) -> Result<u32, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(RequestBody::NSources, &mut buf)?;
        match reply.body {
            ReplyBody::NSources(n) => Ok(n),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `sources`, with the configured names (as `chronyc -N`).
    pub fn sources(&mut self) -> Result<Vec<SourceRow>, QueryError> {
        let n = self.source_count()?;
        let mut rows = Vec::new();
        for index in 0..n {
            let mut buf = [0; MAX_REPLY_LEN];
            let reply = self.request(
                RequestBody::SourceData {
                    index: index as i32,
                },
                &mut buf,
            )?;
            let ReplyBody::SourceData(data) = reply.body else {
                return Err(self.unexpected(&reply));
            };
            let address = data.address.ip();
            let name = match address {
                Some(ip) => self.source_name(ip).unwrap_or_else(|_| ip.to_string()),
                None => String::new(),
            };
            rows.push(SourceRow {
                address,
                name,
                report: data.report,
            });
        }
        Ok(rows)
    }

    /// The name the source at `address` was configured with.
    pub fn source_name(&mut self, address: IpAddr) -> Result<String, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(
            RequestBody::NtpSourceName {
                address: Address::Ip(address),
            },
            &mut buf,
        )?;
        match reply.body {
            ReplyBody::NtpSourceName(name) => Ok(String::from_utf8_lossy(name).into_owned()),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `sourcestats`: each source's address and line.
    pub fn source_stats(&mut self) -> Result<Vec<(Option<IpAddr>, SourceStatsReport)>, QueryError> {
        let n = self.source_count()?;
        let mut rows = Vec::new();
        for index in 0..n {
            let mut buf = [0; MAX_REPLY_LEN];
            let reply = self.request(
                RequestBody::SourceStats {
                    index: index as i32,
                },
                &mut buf,
            )?;
            let ReplyBody::SourceStats(stats) = reply.body else {
                return Err(self.unexpected(&reply));
            };
            rows.push((stats.address.ip(), stats.report));
        }
        Ok(rows)
    }

    /// `tracking`.
    pub fn tracking(&mut self) -> Result<Tracking, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(RequestBody::Tracking, &mut buf)?;
        match reply.body {
            ReplyBody::Tracking(t) => Ok(t),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `activity`.
    pub fn activity(&mut self) -> Result<ActivityReport, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(RequestBody::Activity, &mut buf)?;
        match reply.body {
            ReplyBody::Activity(a) => Ok(a),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `serverstats`, asked in chrony 4.4's format (a chronyd 4.3 answers
    /// in its own, with the timestamp counters zero).
    pub fn server_stats(&mut self) -> Result<ServerStatsReport, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(RequestBody::ServerStats { v4: true }, &mut buf)?;
        match reply.body {
            ReplyBody::ServerStats3(s) | ReplyBody::ServerStats4(s) => Ok(s),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `ntpdata` of the source at `address`.
    pub fn ntp_data(&mut self, address: IpAddr) -> Result<NtpDataReport, QueryError> {
        let mut buf = [0; MAX_REPLY_LEN];
        let reply = self.request(
            RequestBody::NtpData {
                address: Address::Ip(address),
                v2: true,
            },
            &mut buf,
        )?;
        match reply.body {
            ReplyBody::NtpData(d) | ReplyBody::NtpData2(d) => Ok(d),
            _ => Err(self.unexpected(&reply)),
        }
    }

    /// `clients`: every record of the client log, page by page.
    pub fn clients(&mut self) -> Result<Vec<ClientReport>, QueryError> {
        let mut clients = Vec::new();
        let mut first_index = 0;
        loop {
            let mut buf = [0; MAX_REPLY_LEN];
            let reply = self.request(
                RequestBody::ClientAccesses {
                    first_index,
                    count: 8,
                    min_hits: 0,
                    reset: false,
                },
                &mut buf,
            )?;
            let ReplyBody::ClientAccesses(page) = reply.body else {
                return Err(self.unexpected(&reply));
            };
            clients.extend_from_slice(page.clients());
            if page.next_index <= first_index || page.next_index >= page.n_indices {
                return Ok(clients);
            }
            first_index = page.next_index;
        }
    }
}
