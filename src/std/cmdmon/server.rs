//! The node's side: the Unix datagram socket and the UDP sockets, served
//! from the caller's `poll(2)` loop.

use ::std::format;
use ::std::fs;
use ::std::io;
use ::std::net::{IpAddr, SocketAddr, UdpSocket};
use ::std::os::fd::{AsFd, BorrowedFd};
use ::std::os::unix::fs::{FileTypeExt, PermissionsExt};
use ::std::os::unix::net::UnixDatagram;
use ::std::path::{Path, PathBuf};
use ::std::string::String;
use ::std::vec::Vec;

use super::{CmdmonError, CmdmonSettings};
use crate::cmdmon::packet::MAX_REQUEST_LEN;
use crate::cmdmon::{Action, Origin, Provider, Responder, MAX_REPLY_LEN};
use crate::report::{
    ActivityReport, AuthReport, ClientReport, NtpDataReport, ServerStatsReport, SourceActivity,
    SourceReport, SourceStatsReport, TrackingReport,
};

/// What one [`CmdmonServer::serve_pending`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests answered.
    pub answered: u64,
    /// Requests dropped unanswered (as chronyd drops them, or whose
    /// reply could not be sent).
    pub dropped: u64,
    /// What the answered commands ask the node to do, in order.
    pub actions: Vec<Action>,
}

/// The command sockets of a node. Removes its socket file when dropped.
#[derive(Debug)]
pub struct CmdmonServer {
    unix: Option<UnixDatagram>,
    path: Option<PathBuf>,
    udp: Vec<UdpSocket>,
    responder: Responder,
    received: u64,
    dropped: u64,
    warnings: Vec<String>,
}

fn io_error(what: String) -> impl FnOnce(io::Error) -> CmdmonError {
    move |source| CmdmonError::Io { what, source }
}

impl CmdmonServer {
    /// Opens the sockets `settings` asks for, non-blocking.
    ///
    /// The socket's directory is created (mode 0750) if missing; a
    /// socket file at the path that no daemon answers on is replaced, one
    /// that answers is [`CmdmonError::SocketInUse`]. The socket file is
    /// made writable by all (0666), as chronyc, running as any user the
    /// directory admits, must send to it: protect the directory. An
    /// address that cannot be bound because the host lacks it (IPv6 off)
    /// is skipped with a [`warning`](Self::warnings).
    pub fn bind(settings: &CmdmonSettings) -> Result<Self, CmdmonError> {
        let (unix, path) = match &settings.socket {
            Some(path) => (Some(bind_unix(path)?), Some(path.clone())),
            None => (None, None),
        };
        let mut server = CmdmonServer {
            unix,
            path,
            udp: Vec::new(),
            responder: Responder::new(settings.access.clone()),
            received: 0,
            dropped: 0,
            warnings: Vec::new(),
        };
        if settings.port != 0 {
            for &address in &settings.addresses {
                match UdpSocket::bind(SocketAddr::new(address, settings.port)) {
                    Ok(socket) => {
                        socket
                            .set_nonblocking(true)
                            .map_err(io_error(format!("UDP {address}:{}", settings.port)))?;
                        server.udp.push(socket);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                        return Err(CmdmonError::PortInUse {
                            address,
                            port: settings.port,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => server
                        .warnings
                        .push(format!("UDP {address}:{}: not served ({e})", settings.port)),
                    Err(e) => {
                        return Err(CmdmonError::Io {
                            what: format!("UDP {address}:{}", settings.port),
                            source: e,
                        })
                    }
                }
            }
        }
        Ok(server)
    }

    /// The descriptors to poll for input.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.unix
            .iter()
            .map(|s| s.as_fd())
            .chain(self.udp.iter().map(|s| s.as_fd()))
    }

    /// The Unix socket's path, if one is served.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The UDP addresses served.
    pub fn udp_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.udp.iter().filter_map(|s| s.local_addr().ok())
    }

    /// What was skipped at [`bind`](Self::bind), for the node to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Requests received and dropped so far (what `serverstats` reports
    /// as command packets received and dropped).
    pub fn counters(&self) -> (u64, u64) {
        (self.received, self.dropped)
    }

    /// Answers every request waiting now (call when poll(2) says a
    /// descriptor is readable; harmless otherwise). `serverstats` answers
    /// report this server's own command counters.
    pub fn serve_pending(&mut self, provider: &impl Provider) -> io::Result<Served> {
        let mut served = Served::default();
        let mut request = [0u8; MAX_REQUEST_LEN + 1];
        let mut counts = Counts {
            received: self.received,
            dropped: self.dropped,
        };
        if let Some(unix) = &self.unix {
            while let Some((len, from)) = receive(|| unix.recv_from(&mut request))? {
                counts.answer(
                    &self.responder,
                    provider,
                    &request[..len],
                    Origin::Unix,
                    &mut served,
                    |reply| {
                        from.as_pathname()
                            .is_some_and(|to| unix.send_to(reply, to).is_ok())
                    },
                );
            }
        }
        for socket in &self.udp {
            while let Some((len, from)) = receive(|| socket.recv_from(&mut request))? {
                counts.answer(
                    &self.responder,
                    provider,
                    &request[..len],
                    Origin::Udp(from.ip()),
                    &mut served,
                    |reply| socket.send_to(reply, from).is_ok(),
                );
            }
        }
        self.received = counts.received;
        self.dropped = counts.dropped;
        Ok(served)
    }
}

/// The next datagram, or `None` when no more are waiting.
fn receive<A>(mut recv: impl FnMut() -> io::Result<(usize, A)>) -> io::Result<Option<(usize, A)>> {
    loop {
        match recv() {
            Ok(got) => return Ok(Some(got)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            // Interrupted, or an ICMP error for an earlier UDP reply.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The command counters while a batch is served.
struct Counts {
    received: u64,
    dropped: u64,
}

impl Counts {
    /// Answers one datagram through `send` (which says whether the reply
    /// left) and counts it.
    fn answer(
        &mut self,
        responder: &Responder,
        provider: &impl Provider,
        request: &[u8],
        origin: Origin,
        served: &mut Served,
        send: impl FnOnce(&[u8]) -> bool,
    ) {
        self.received += 1;
        let data = Counted {
            inner: provider,
            received: self.received,
            dropped: self.dropped,
        };
        let mut reply = [0u8; MAX_REPLY_LEN];
        match responder.respond(request, origin, &data, &mut reply) {
            Some(answer) if send(&reply[..answer.len]) => {
                served.answered += 1;
                served.actions.extend(answer.action);
            }
            _ => {
                self.dropped += 1;
                served.dropped += 1;
            }
        }
    }
}

impl Drop for CmdmonServer {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

/// Binds the Unix socket at `path`, replacing a stale one.
fn bind_unix(path: &Path) -> Result<UnixDatagram, CmdmonError> {
    let shown = || path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_error(format!("{}: creating", dir.display())))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
                .map_err(io_error(format!("{}", dir.display())))?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(CmdmonError::NotASocket {
                path: path.to_owned(),
            })
        }
        Ok(_) => {
            // Someone bound there answers a connect; a stale file refuses.
            let probe = UnixDatagram::unbound().map_err(io_error(shown()))?;
            if probe.connect(path).is_ok() {
                return Err(CmdmonError::SocketInUse {
                    path: path.to_owned(),
                });
            }
            fs::remove_file(path)
                .map_err(io_error(format!("{}: removing the stale socket", shown())))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(shown())(e)),
    }
    let socket = UnixDatagram::bind(path).map_err(io_error(format!("{}: binding", shown())))?;
    socket.set_nonblocking(true).map_err(io_error(shown()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).map_err(io_error(shown()))?;
    Ok(socket)
}

use ::std::string::ToString;

/// A provider whose `serverstats` carries the server's own command
/// counters.
struct Counted<'a, P> {
    inner: &'a P,
    received: u64,
    dropped: u64,
}

impl<P: Provider> Provider for Counted<'_, P> {
    fn source_count(&self) -> usize {
        self.inner.source_count()
    }
    fn source_address(&self, index: usize) -> Option<IpAddr> {
        self.inner.source_address(index)
    }
    fn source_name(&self, index: usize) -> Option<&str> {
        self.inner.source_name(index)
    }
    fn source(&self, index: usize) -> Option<SourceReport> {
        self.inner.source(index)
    }
    fn source_stats(&self, index: usize) -> Option<SourceStatsReport> {
        self.inner.source_stats(index)
    }
    fn source_activity(&self, index: usize) -> SourceActivity {
        self.inner.source_activity(index)
    }
    fn unresolved_sources(&self) -> u32 {
        self.inner.unresolved_sources()
    }
    fn tracking(&self) -> TrackingReport {
        self.inner.tracking()
    }
    fn reference_address(&self, tracking: &TrackingReport) -> Option<IpAddr> {
        self.inner.reference_address(tracking)
    }
    fn activity(&self) -> ActivityReport {
        self.inner.activity()
    }
    fn ntp_data(&self, index: usize) -> Option<NtpDataReport> {
        self.inner.ntp_data(index)
    }
    fn auth_data(&self, index: usize) -> AuthReport {
        self.inner.auth_data(index)
    }
    fn server_stats(&self) -> ServerStatsReport {
        ServerStatsReport {
            cmd_hits: self.received,
            cmd_drops: self.dropped,
            ..self.inner.server_stats()
        }
    }
    fn client_slots(&self) -> u32 {
        self.inner.client_slots()
    }
    fn client(&self, index: u32) -> Option<ClientReport> {
        self.inner.client(index)
    }
    fn action_status(&self, action: &Action) -> crate::cmdmon::Status {
        self.inner.action_status(action)
    }
}
