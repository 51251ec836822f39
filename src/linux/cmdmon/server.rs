//! The node's side: the Unix datagram socket and the UDP sockets, served
//! from the caller's `poll(2)` loop.

// recvmmsg/sendmmsg through libc: every unsafe block is small and says why
// it is sound.
#![allow(unsafe_code)]

use std::boxed::Box;
use std::format;
use std::fs;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use super::{CmdmonError, CmdmonSettings};
use crate::cmdmon::packet::MAX_REQUEST_LEN;
use crate::cmdmon::{
    Action, CommandAccess, CommandCounts, Origin, Provider, Responder, Response, MAX_REPLY_LEN,
};
use crate::linux::socket::from_sockaddr;
use crate::linux::sys;

/// What one [`CmdmonServer::serve_pending`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
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
    buffers: Box<Buffers>,
    received: u64,
    dropped: u64,
    warnings: Vec<String>,
}

fn io_error(what: String) -> impl FnOnce(io::Error) -> CmdmonError {
    move |source| CmdmonError::Io { what, source }
}

impl CmdmonServer {
    /// Who may send commands over UDP (`chronyc cmdallow`, `cmddeny`
    /// change it).
    pub fn access_mut(&mut self) -> &mut CommandAccess {
        self.responder.access_mut()
    }

    /// Opens the sockets `settings` asks for, non-blocking.
    ///
    /// The socket's directory is created (mode 0750) if missing, and must
    /// not let other users in ([`CmdmonError::OpenDirectory`], as chronyd
    /// refuses it): the socket answers every command, and its file is
    /// writable by all (0666) so that chronyc, running as any user the
    /// directory admits, can send to it. A socket file at the path that no
    /// daemon answers on is replaced, one that answers is
    /// [`CmdmonError::SocketInUse`]. An
    /// address that cannot be bound because the host lacks it (IPv6 off)
    /// is skipped with a [`warning`](Self::warnings).
    pub fn bind(settings: &CmdmonSettings) -> Result<Self, CmdmonError> {
        let mut warnings = Vec::new();
        let (unix, path) = match &settings.socket {
            Some(path) => match bind_unix(path) {
                Ok(socket) => (Some(socket), Some(path.clone())),
                // Another daemon's: two would steer one clock.
                Err(e @ CmdmonError::SocketInUse { .. }) => return Err(e),
                // Time-keeping never stops for a monitoring socket: as
                // chronyd, the socket is left off with a warning.
                Err(CmdmonError::OpenDirectory { path: dir, .. }) => {
                    warnings.push(format!("Wrong permissions on {}", dir.display()));
                    warnings.push(format!("Disabled command socket {}", path.display()));
                    (None, None)
                }
                Err(e) => {
                    warnings.push(format!("Could not open command socket: {e}"));
                    warnings.push(format!("Disabled command socket {}", path.display()));
                    (None, None)
                }
            },
            None => (None, None),
        };
        let mut server = CmdmonServer {
            unix,
            path,
            udp: Vec::new(),
            responder: Responder::new((*settings.access).clone()),
            buffers: Buffers::new(),
            received: 0,
            dropped: 0,
            warnings,
        };
        if settings.port != 0 {
            for &address in &settings.addresses {
                match sys::udp_bound(SocketAddr::new(address, settings.port)) {
                    Ok(socket) => server.udp.push(UdpSocket::from(socket)),
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                        return Err(CmdmonError::PortInUse {
                            address,
                            port: settings.port,
                        })
                    }
                    // Another daemon's: refuse to start. Anything else (no
                    // IPv6 here, no privilege for port 323) leaves that
                    // address unserved, with a warning, as chronyd does.
                    Err(e) => server
                        .warnings
                        .push(format!("UDP {address}:{}: not served ({e})", settings.port)),
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
    /// descriptor is readable; harmless otherwise): up to 16 datagrams per
    /// `recvmmsg` and their replies in one `sendmmsg`, until a socket has
    /// no more. `serverstats` answers report this server's own command
    /// counters.
    pub fn serve_pending(&mut self, provider: &impl Provider) -> io::Result<Served> {
        let all = std::vec![true; 1 + self.udp.len()];
        self.serve_ready(provider, &all)
    }

    /// As [`Self::serve_pending`], but only on the sockets whose entry in
    /// `ready` (in the order of [`Self::fds`]) is true: those poll(2)
    /// reported readable. A driver calls this one: where the socket layer
    /// is simulated (chrony's test harness), reading a socket that has
    /// nothing may take another socket's datagram.
    pub fn serve_ready(&mut self, provider: &impl Provider, ready: &[bool]) -> io::Result<Served> {
        let mut served = Served::default();
        let mut counts = Counts {
            received: self.received,
            dropped: self.dropped,
        };
        let sockets = self
            .unix
            .iter()
            .map(|s| (s.as_raw_fd(), true))
            .chain(self.udp.iter().map(|s| (s.as_raw_fd(), false)));
        for (index, (fd, unix)) in sockets.enumerate() {
            if !ready.get(index).copied().unwrap_or(false) {
                continue;
            }
            loop {
                let n = self.buffers.receive(fd)?;
                for i in 0..n {
                    let origin = if unix {
                        Some(Origin::Unix)
                    } else {
                        from_sockaddr(&self.buffers.peers[i]).map(|peer| Origin::Udp(peer.ip()))
                    };
                    // A Unix client with no name of its own cannot be answered.
                    let named = !unix
                        || self.buffers.peer_lengths[i] as usize > size_of::<libc::sa_family_t>();
                    let (request, reply) = self.buffers.pair(i);
                    let answer = match origin.filter(|_| named) {
                        Some(origin) => {
                            counts.answer(&self.responder, provider, request, origin, reply)
                        }
                        None => {
                            counts.received += 1;
                            None
                        }
                    };
                    if let Some(answer) = answer {
                        self.buffers.reply_lengths[i] = answer.len;
                        self.buffers.actions[i] = answer.action;
                    }
                }
                let sent = self.buffers.send(fd, n);
                for (i, sent) in sent.iter().enumerate().take(n) {
                    match (self.buffers.reply_lengths[i], sent) {
                        (0, _) | (_, false) => {
                            counts.dropped += 1;
                            served.dropped += 1;
                        }
                        (_, true) => {
                            served.answered += 1;
                            served.actions.extend(self.buffers.actions[i].take());
                        }
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
        self.received = counts.received;
        self.dropped = counts.dropped;
        Ok(served)
    }
}

/// Datagrams per `recvmmsg`.
const BATCH: usize = 16;

/// What one batch needs: the requests and their senders, the replies.
struct Buffers {
    requests: [[u8; MAX_REQUEST_LEN + 1]; BATCH],
    lengths: [usize; BATCH],
    peers: [libc::sockaddr_storage; BATCH],
    peer_lengths: [libc::socklen_t; BATCH],
    replies: [[u8; MAX_REPLY_LEN]; BATCH],
    reply_lengths: [usize; BATCH],
    actions: [Option<Action>; BATCH],
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Buffers")
    }
}

impl Buffers {
    fn new() -> Box<Buffers> {
        Box::new(Buffers {
            requests: [[0; MAX_REQUEST_LEN + 1]; BATCH],
            lengths: [0; BATCH],
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            peers: unsafe { zeroed() },
            peer_lengths: [0; BATCH],
            replies: [[0; MAX_REPLY_LEN]; BATCH],
            reply_lengths: [0; BATCH],
            actions: [None; BATCH],
        })
    }

    /// Request `i` and the buffer for its reply.
    fn pair(&mut self, i: usize) -> (&[u8], &mut [u8]) {
        (
            &self.requests[i][..self.lengths[i]],
            &mut self.replies[i][..],
        )
    }

    /// Reads what is waiting on `fd` (at most [`BATCH`] datagrams).
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: all-zero iovec and mmsghdr arrays are valid (null
        // pointers, zero lengths); each is then pointed at buffers of
        // `self`, which outlive the call and are not otherwise used during
        // it.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iovecs[i] = libc::iovec {
                iov_base: self.requests[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: MAX_REQUEST_LEN + 1,
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = &mut self.peers[i] as *mut _ as *mut libc::c_void;
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut iovecs[i];
            header.msg_iovlen = 1;
        }
        loop {
            // SAFETY: `headers` describes BATCH valid messages (above).
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    headers.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                let n = n as usize;
                for (i, header) in headers.iter().enumerate().take(n) {
                    // A datagram longer than the buffer (so than any
                    // request) fills it: too long, dropped.
                    self.lengths[i] = header.msg_len as usize;
                    self.peer_lengths[i] = header.msg_hdr.msg_namelen;
                    self.reply_lengths[i] = 0;
                    self.actions[i] = None;
                }
                return Ok(n);
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock => return Ok(0),
                // Interrupted, or an ICMP error for an earlier UDP reply.
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused => continue,
                _ => return Err(error),
            }
        }
    }

    /// Sends the replies of the first `n` requests (those with a length)
    /// back to their senders; says which left.
    fn send(&mut self, fd: RawFd, n: usize) -> [bool; BATCH] {
        let mut sent = [false; BATCH];
        // SAFETY: as in `receive`; only the first `count` entries are
        // filled, each pointing at buffers of `self`.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut which = [0usize; BATCH];
        let mut count = 0;
        for i in (0..n).filter(|i| self.reply_lengths[*i] > 0) {
            iovecs[count] = libc::iovec {
                iov_base: self.replies[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.reply_lengths[i],
            };
            let header = &mut headers[count].msg_hdr;
            header.msg_name = &mut self.peers[i] as *mut _ as *mut libc::c_void;
            header.msg_namelen = self.peer_lengths[i];
            header.msg_iov = &mut iovecs[count];
            header.msg_iovlen = 1;
            which[count] = i;
            count += 1;
        }
        let mut done = 0;
        while done < count {
            // Entries done..count of `headers` are valid (above).
            match sys::send_mmsg(fd, &mut headers[done..count], libc::MSG_DONTWAIT) {
                Ok(k) => {
                    for &i in &which[done..done + k] {
                        sent[i] = true;
                    }
                    done += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // This one cannot be sent (its client is gone, or its
                // queue is full): skip it, send the rest.
                Err(_) => done += 1,
            }
        }
        sent
    }
}

/// The command counters while a batch is served.
struct Counts {
    received: u64,
    dropped: u64,
}

impl Counts {
    /// Answers one request into `reply` and counts it.
    fn answer(
        &mut self,
        responder: &Responder,
        provider: &impl Provider,
        request: &[u8],
        origin: Origin,
        reply: &mut [u8],
    ) -> Option<Response> {
        self.received += 1;
        let counts = CommandCounts {
            received: self.received,
            dropped: self.dropped,
        };
        responder.respond_counted(request, origin, provider, reply, Some(counts))
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
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = match stat_mode(dir) {
        Ok(mode) => mode,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error(format!("{}: creating", dir.display())))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
                .map_err(io_error(format!("{}", dir.display())))?;
            stat_mode(dir).map_err(io_error(format!("{}", dir.display())))?
        }
        Err(e) => return Err(io_error(format!("{}", dir.display()))(e)),
    };
    // The socket answers every command: as chronyd, refuse a directory
    // that lets other users reach it.
    if mode & 0o007 != 0 {
        return Err(CmdmonError::OpenDirectory {
            path: dir.to_owned(),
            mode: mode & 0o7777,
        });
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(CmdmonError::NotASocket {
                path: path.to_owned(),
            })
        }
        Ok(_) => {
            // Someone bound there answers a connect; a stale file refuses
            // it. Anything else (a simulator's own sockets) says nothing
            // either way: the file is left alone.
            let probe = UnixDatagram::unbound().map_err(io_error(shown()))?;
            match probe.connect(path) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Ok(()) => {
                    return Err(CmdmonError::SocketInUse {
                        path: path.to_owned(),
                    })
                }
                Err(e) => return Err(io_error(format!("{}: is it in use?", shown()))(e)),
            }
            fs::remove_file(path)
                .map_err(io_error(format!("{}: removing the stale socket", shown())))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(shown())(e)),
    }
    let socket = sys::unix_datagram_bound(path)
        .map(UnixDatagram::from)
        .map_err(io_error(format!("{}: binding", shown())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).map_err(io_error(shown()))?;
    Ok(socket)
}

/// The mode bits of `path`, by `stat(2)` through libc (which a libc-level
/// simulator such as clknetsim answers for its own directories; std's
/// metadata calls `statx`, which it does not see).
fn stat_mode(path: &Path) -> io::Result<u32> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `name` is NUL-terminated and `st` is a plain C struct that
    // stat fills in.
    let mut st: libc::stat = unsafe { zeroed() };
    if unsafe { libc::stat(name.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_mode)
}

use std::borrow::ToOwned;
use std::string::ToString;
