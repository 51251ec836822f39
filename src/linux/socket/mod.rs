//! UDP sockets for NTP on Linux: kernel receive timestamps, batched
//! receive and send (`recvmmsg`/`sendmmsg`), `SO_REUSEPORT` for one socket
//! per thread, and a `poll(2)` wrapper — plain libc, no runtime.
//!
//! Receive timestamps come from the kernel (`SO_TIMESTAMPNS`: the time the
//! packet reached the socket layer) when it gives them; otherwise from the
//! system clock right after the receive call returns (the user-space
//! fallback), which [`NtpSocket::kernel_timestamps`] tells apart.
//!
//! A socket bound to a wildcard address (0.0.0.0 or ::) asks for each
//! request's destination address (`IP_PKTINFO` / `IPV6_RECVPKTINFO`) and
//! sends the reply from it, so a host with several addresses answers from
//! the one the client asked (clients with connected sockets, like chronyd,
//! drop replies from any other).
//!
//! A server loop, in a few lines:
//!
//! ```no_run
//! use ntpkit::linux::socket::{realtime_now, Batch, NtpSocket, Poller, SocketOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = NtpSocket::bind("127.0.0.1:11123".parse()?, &SocketOptions::default())?;
//! let mut batch = Batch::new();
//! let mut poller = Poller::new();
//! poller.add(&socket);
//! loop {
//!     if socket.recv_batch(&mut batch)? == 0 {
//!         poller.wait(None)?;
//!         continue;
//!     }
//!     batch.answer(|datagram, reply| {
//!         // ntpkit::server::Server::respond(...) goes here.
//!         # let _ = (datagram, reply);
//!         None
//!     });
//!     batch.set_transmit_timestamps(realtime_now());
//!     socket.send_replies(&mut batch)?;
//! }
//! # }
//! ```

// This module calls into libc: every unsafe block is small and says why it
// is sound.
#![allow(unsafe_code)]

use std::boxed::Box;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime};
use std::vec::Vec;

use crate::linux::sys::{self, cvt};
use crate::time::{NtpTimestamp, UnixTime};
use crate::wire::stamp_reply;

pub mod client;

/// Datagrams per batch.
pub const BATCH: usize = 64;
/// The largest request kept (longer ones are truncated, and so malformed).
pub const MAX_REQUEST: usize = 1024;
/// Room for the replies: the server's are 48 bytes.
/// Replies are never longer than requests (authenticated ones are longer
/// than 48 bytes).
const MAX_REPLY: usize = MAX_REQUEST;
/// Control-message room per received datagram: a `timespec` (32 bytes),
/// an IPv6 packet-info message (40 bytes), and with hardware timestamps
/// `SCM_TIMESTAMPING`'s three timespecs (64) and its packet info (32).
const CMSG_WORDS: usize = 21;
/// Control-message room per reply: one packet-info message.
const SEND_CMSG_WORDS: usize = 6;

/// Why a socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Binding a port under 1024 without the privilege to.
    #[error(
        "cannot bind {addr}: port {port} is privileged; run as root or grant \
         CAP_NET_BIND_SERVICE (e.g. `setcap cap_net_bind_service=+ep BINARY`), \
         or use a port of 1024 or more"
    )]
    Privileged {
        /// The address.
        addr: SocketAddr,
        /// Its port.
        port: u16,
    },
    /// Another system call failed.
    #[error("{what} {addr}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
}

/// How to open a socket.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// `SO_REUSEPORT`: let several sockets (one per thread) bind the same
    /// address; the kernel spreads clients over them by address hash.
    pub reuse_port: bool,
    /// Ask the kernel for receive timestamps (else the user-space fallback).
    pub kernel_timestamps: bool,
    /// `SO_RCVBUF` in bytes, when set.
    pub receive_buffer: Option<usize>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            reuse_port: false,
            kernel_timestamps: true,
            receive_buffer: None,
        }
    }
}

/// The current system (CLOCK_REALTIME) time.
pub fn realtime_now() -> NtpTimestamp {
    NtpTimestamp::from_system_time(SystemTime::now())
}

/// The system clock's precision as chrony measures it: the smallest
/// positive step between successive readings, as a rounded log2 of
/// seconds. A clock that never moves while it is read (a simulated one
/// between events) shows no step: then the resolution the kernel states
/// for it (`clock_getres(2)`) stands, never a made-up second.
pub fn measure_precision() -> i8 {
    precision_of(SystemTime::now, clock_resolution_nanos())
}

/// The clock's precision as a rounded log2 of seconds: `configured`
/// (chrony's `clockprecision`, seconds) when given, else measured
/// ([`measure_precision`]).
pub fn clock_precision(configured: Option<f64>) -> i8 {
    match configured {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            // Rounded as a measured one is (log2 of seconds·√2, down).
            (seconds * core::f64::consts::SQRT_2)
                .log2()
                .floor()
                .clamp(-30.0, 0.0) as i8
        }
        _ => measure_precision(),
    }
}

/// The precision of the clock `read` reads (see [`measure_precision`]),
/// `resolution` nanoseconds when it shows no step.
fn precision_of(mut read: impl FnMut() -> SystemTime, resolution: u128) -> i8 {
    let mut best = u128::MAX;
    let mut previous = read();
    let mut steps = 0;
    let mut reads = 0;
    while steps < 100 && reads < 1_000_000 {
        let now = read();
        reads += 1;
        if let Ok(step) = now.duration_since(previous) {
            let nanos = step.as_nanos();
            if nanos > 0 {
                best = best.min(nanos);
                steps += 1;
            }
        }
        previous = now;
    }
    if steps == 0 {
        best = resolution;
    }
    let mut best = best.clamp(1, 1_000_000_000);
    let mut log = 0i8;
    // Rounded: compare with sqrt(1/2) s.
    while best < 707_106_781 {
        log -= 1;
        best *= 2;
    }
    log
}

/// `clock_getres(CLOCK_REALTIME)`, nanoseconds (1 µs if it fails).
fn clock_resolution_nanos() -> u128 {
    // SAFETY: timespec is plain old data; all zero is a valid value.
    let mut res: libc::timespec = unsafe { zeroed() };
    // SAFETY: `res` is a valid, exclusively borrowed timespec.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_REALTIME, &mut res) };
    if rc != 0 || res.tv_sec < 0 || res.tv_nsec < 0 {
        return 1_000;
    }
    res.tv_sec as u128 * 1_000_000_000 + res.tv_nsec as u128
}

pub(crate) fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in).write(sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { (&mut storage as *mut _ as *mut libc::sockaddr_in6).write(sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

pub(crate) fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn set_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed with it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A non-blocking UDP socket bound to one address.
#[derive(Debug)]
pub struct NtpSocket {
    fd: OwnedFd,
    kernel_timestamps: bool,
    packet_info: bool,
}

impl AsRawFd for NtpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl NtpSocket {
    /// Lets the socket send to broadcast addresses (`SO_BROADCAST`: chrony's
    /// `broadcast`).
    pub fn enable_broadcast(&self) -> io::Result<()> {
        set_option(self.fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_BROADCAST, 1)
    }

    /// Opens a non-blocking UDP socket bound to `addr` (IPv6 sockets take
    /// IPv6 only, so an IPv4 socket can bind the same port beside them).
    pub fn bind(addr: SocketAddr, options: &SocketOptions) -> Result<NtpSocket, SocketError> {
        let io = |what| move |source| SocketError::Io { what, addr, source };
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let fd = sys::socket(family, libc::SOCK_DGRAM).map_err(io("cannot open a socket for"))?;
        let raw = fd.as_raw_fd();
        if family == libc::AF_INET6 {
            set_option(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)
                .map_err(io("cannot set IPV6_V6ONLY on"))?;
        }
        if options.reuse_port {
            set_option(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)
                .map_err(io("cannot set SO_REUSEPORT on"))?;
        }
        if let Some(size) = options.receive_buffer {
            let size = size.min(i32::MAX as usize) as libc::c_int;
            set_option(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, size)
                .map_err(io("cannot set SO_RCVBUF on"))?;
        }
        // No kernel timestamps is not an error: the fallback takes over.
        let kernel_timestamps = options.kernel_timestamps
            && set_option(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).is_ok();
        let packet_info = addr.ip().is_unspecified();
        if packet_info {
            let (level, name) = match addr {
                SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
                SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
            };
            set_option(raw, level, name, 1).map_err(io("cannot ask for packet info on"))?;
        }
        let (storage, len) = to_sockaddr(addr);
        // SAFETY: `storage` holds a sockaddr of `len` bytes.
        let bound =
            cvt(unsafe { libc::bind(raw, &storage as *const _ as *const libc::sockaddr, len) });
        if let Err(source) = bound {
            if source.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
                return Err(SocketError::Privileged {
                    addr,
                    port: addr.port(),
                });
            }
            return Err(SocketError::Io {
                what: "cannot bind",
                addr,
                source,
            });
        }
        Ok(NtpSocket {
            fd,
            kernel_timestamps,
            packet_info,
        })
    }

    /// Whether receive timestamps come from the kernel.
    pub fn kernel_timestamps(&self) -> bool {
        self.kernel_timestamps
    }

    /// Asks for the network cards' receive timestamps too (where an
    /// interface has hardware timestamping switched on:
    /// [`crate::linux::hwts`]), with each datagram's interface and length
    /// ([`Datagram::hardware`]). Transmit timestamps are not asked for. An
    /// error leaves the socket as it was.
    pub fn enable_hardware_timestamps(&mut self) -> io::Result<()> {
        let raw = self.fd.as_raw_fd();
        let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE
            | libc::SOF_TIMESTAMPING_SOFTWARE
            | libc::SOF_TIMESTAMPING_RX_HARDWARE
            | libc::SOF_TIMESTAMPING_RAW_HARDWARE
            | libc::SOF_TIMESTAMPING_OPT_PKTINFO;
        set_option(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as libc::c_int,
        )?;
        self.kernel_timestamps = true;
        Ok(())
    }

    /// The address the socket is bound to (with the port the kernel chose
    /// for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        // SAFETY: zeroed sockaddr_storage is valid; getsockname writes at
        // most `len` bytes into it.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        cvt(unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                &mut storage as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        })?;
        from_sockaddr(&storage).ok_or_else(|| io::Error::other("unknown address family"))
    }

    /// Sends one datagram to `to`.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let (storage, len) = to_sockaddr(to);
        // SAFETY: `data` and `storage` are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                libc::MSG_DONTWAIT,
                &storage as *const _ as *const libc::sockaddr,
                len,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }

    /// Sends each of `datagrams` (at most [`BATCH`] of them) to `to` with
    /// one `sendmmsg`; returns how many the kernel took (0 when it would
    /// block).
    pub fn send_many(&self, to: SocketAddr, datagrams: &[&[u8]]) -> io::Result<usize> {
        let n = datagrams.len().min(BATCH);
        let (mut storage, len) = to_sockaddr(to);
        // SAFETY: zeroed headers, then pointed at `datagrams` (which the
        // kernel only reads, hence the cast to *mut) and `storage`, all of
        // which outlive the call.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..n {
            iovecs[i] = libc::iovec {
                iov_base: datagrams[i].as_ptr() as *mut libc::c_void,
                iov_len: datagrams[i].len(),
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = &mut storage as *mut _ as *mut libc::c_void;
            header.msg_namelen = len;
            header.msg_iov = &mut iovecs[i];
            header.msg_iovlen = 1;
        }
        match sys::send_mmsg(self.fd.as_raw_fd(), &mut headers[..n], libc::MSG_DONTWAIT) {
            Ok(sent) => Ok(sent),
            Err(error) => match error.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR | libc::ENOBUFS) => Ok(0),
                _ => Err(error),
            },
        }
    }

    /// Receives up to [`BATCH`] datagrams without blocking into `batch`
    /// (replacing what it held) and returns how many; 0 when none is
    /// waiting.
    pub fn recv_batch(&self, batch: &mut Batch) -> io::Result<usize> {
        batch.count = 0;
        // SAFETY: an all-zero mmsghdr/iovec array is valid (null pointers,
        // zero lengths); each is then pointed at buffers of `batch`, which
        // outlives the call and is not otherwise touched during it.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iovecs[i] = libc::iovec {
                iov_base: batch.received.requests[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: MAX_REQUEST,
            };
            let header = &mut headers[i].msg_hdr;
            header.msg_name = &mut batch.received.peers[i] as *mut _ as *mut libc::c_void;
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut iovecs[i];
            header.msg_iovlen = 1;
            header.msg_control = batch.received.control[i].as_mut_ptr() as *mut libc::c_void;
            header.msg_controllen = size_of::<[u64; CMSG_WORDS]>() as _;
        }
        // SAFETY: `headers` describes BATCH valid messages (see above).
        let received = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            let error = io::Error::last_os_error();
            // Nothing to read now (an ICMP error from an earlier send, or
            // the kernel short of memory included): only a broken socket
            // is an error.
            return match error.raw_os_error() {
                Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT | libc::EINVAL) => Err(error),
                _ => Ok(0),
            };
        }
        let fallback = realtime_now();
        let received = received as usize;
        for (i, header) in headers.iter().enumerate().take(received) {
            let truncated = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            // A truncated datagram is cut to a length no request can have.
            batch.received.lengths[i] = if truncated {
                MAX_REQUEST - 1
            } else {
                header.msg_len as usize
            };
            let control = read_control(&header.msg_hdr);
            batch.received.receive[i] = control.timestamp.unwrap_or(fallback).to_bits();
            batch.received.kernel[i] = control.timestamp.is_some();
            // (Kept as plain integers: the batch is zeroed memory. An
            // interface index or length of 0 is none.)
            batch.received.hardware[i] = control.hardware.map_or(0, NtpTimestamp::to_bits);
            batch.received.has_hardware[i] = control.hardware.is_some();
            batch.received.if_index[i] = control.if_index.unwrap_or(0);
            batch.received.l2_length[i] = control.l2_length.unwrap_or(0);
            batch.received.has_destination[i] = false;
            if let Some(destination) = control.destination.filter(|_| self.packet_info) {
                batch.received.destinations[i] = match destination {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                    IpAddr::V6(v6) => v6.octets(),
                };
                batch.received.has_destination[i] = true;
            }
            batch.reply_lengths[i] = 0;
        }
        batch.count = received;
        Ok(received)
    }

    /// Sends the replies [`Batch::answer`] wrote, each to the address its
    /// request came from; returns how many were sent. Replies the kernel
    /// would not take without blocking are dropped.
    pub fn send_replies(&self, batch: &mut Batch) -> io::Result<usize> {
        // SAFETY: as in `recv_batch`: zeroed headers, then pointed at
        // `batch`'s buffers, which outlive the call.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut n = 0;
        for i in 0..batch.count {
            let len = batch.reply_lengths[i];
            if len == 0 {
                continue;
            }
            iovecs[n] = libc::iovec {
                iov_base: batch.replies[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: len,
            };
            let header = &mut headers[n].msg_hdr;
            header.msg_name = &mut batch.received.peers[i] as *mut _ as *mut libc::c_void;
            header.msg_namelen = match batch.received.peers[i].ss_family as libc::c_int {
                libc::AF_INET => size_of::<libc::sockaddr_in>(),
                _ => size_of::<libc::sockaddr_in6>(),
            } as libc::socklen_t;
            header.msg_iov = &mut iovecs[n];
            header.msg_iovlen = 1;
            if batch.received.has_destination[i] {
                let source = Ipv6Addr::from(batch.received.destinations[i]);
                let source = match source.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(source),
                };
                write_source(header, &mut batch.send_control[i], source);
            }
            n += 1;
        }
        let (mut next, mut sent) = (0, 0);
        while next < n {
            let result = sys::send_mmsg(
                self.fd.as_raw_fd(),
                &mut headers[next..n],
                libc::MSG_DONTWAIT,
            );
            let result = match result {
                Ok(result) => result,
                Err(error) => match error.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // The kernel cannot take more now: drop the rest.
                    Some(libc::EAGAIN | libc::ENOBUFS | libc::ENOMEM) => break,
                    Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT) => return Err(error),
                    // This one datagram cannot go (to port 0, to a
                    // destination that refused an earlier one, unreachable
                    // or filtered): skip it.
                    _ => {
                        next += 1;
                        continue;
                    }
                },
            };
            next += result;
            sent += result;
        }
        Ok(sent)
    }
}

/// What the control messages of a received datagram say.
pub(crate) struct Control {
    /// `SCM_TIMESTAMPNS`, or the software time of `SCM_TIMESTAMPING` (also
    /// a transmit time, on the error queue): when the kernel handled it.
    pub(crate) timestamp: Option<NtpTimestamp>,
    /// The raw hardware time of `SCM_TIMESTAMPING` (its third timespec):
    /// when the network card sent or received it, on the card's clock.
    pub(crate) hardware: Option<NtpTimestamp>,
    /// The interface it came in on (or, on the error queue, left by):
    /// `SCM_TIMESTAMPING_PKTINFO`, or `IP_PKTINFO` / `IPV6_PKTINFO`.
    pub(crate) if_index: Option<u32>,
    /// Its length at layer 2, bytes (`SCM_TIMESTAMPING_PKTINFO`).
    pub(crate) l2_length: Option<u32>,
    /// `IP_PKTINFO` / `IPV6_PKTINFO`: the address it was sent to.
    destination: Option<IpAddr>,
}

/// `SCM_TIMESTAMPING_PKTINFO` (asm-generic and x86: 58): the interface and
/// layer-2 length of a packet the card timestamped on receive.
const SCM_TIMESTAMPING_PKTINFO: libc::c_int = 58;

/// `struct scm_ts_pktinfo`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ScmTsPktinfo {
    if_index: u32,
    pkt_length: u32,
    reserved: [u32; 2],
}

/// A timespec's time, none if zero (the kernel's "no timestamp").
fn nonzero(ts: libc::timespec) -> Option<NtpTimestamp> {
    (ts.tv_sec != 0 || ts.tv_nsec != 0)
        .then(|| NtpTimestamp::from_unix(UnixTime::new(ts.tv_sec, ts.tv_nsec as u32)))
}

pub(crate) fn read_control(header: &libc::msghdr) -> Control {
    let mut control = Control {
        timestamp: None,
        hardware: None,
        if_index: None,
        l2_length: None,
        destination: None,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // within `msg_controllen`; each payload is read unaligned as the type
    // its level and type say it holds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                // SCM_TIMESTAMPING holds three timespecs, the software
                // one first, the raw hardware one third; zero when the
                // kernel has none.
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    control.timestamp = nonzero((data as *const libc::timespec).read_unaligned());
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING)
                    if (*cmsg).cmsg_len as usize
                        >= libc::CMSG_LEN(3 * size_of::<libc::timespec>() as u32) as usize =>
                {
                    let ts = data as *const libc::timespec;
                    control.timestamp = nonzero(ts.read_unaligned());
                    control.hardware = nonzero(ts.add(2).read_unaligned());
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => {
                    control.timestamp = nonzero((data as *const libc::timespec).read_unaligned());
                }
                (libc::SOL_SOCKET, SCM_TIMESTAMPING_PKTINFO) => {
                    let info = (data as *const ScmTsPktinfo).read_unaligned();
                    control.if_index = Some(info.if_index);
                    control.l2_length = Some(info.pkt_length);
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = (data as *const libc::in_pktinfo).read_unaligned();
                    control.destination = Some(IpAddr::V4(Ipv4Addr::from(
                        info.ipi_addr.s_addr.to_ne_bytes(),
                    )));
                    control.if_index = control.if_index.or(Some(info.ipi_ifindex as u32));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = (data as *const libc::in6_pktinfo).read_unaligned();
                    control.destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    control.if_index = control.if_index.or(Some(info.ipi6_ifindex));
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    control
}

/// Points `header`'s control buffer at `buffer`, holding one packet-info
/// message that sends the datagram from `source`.
fn write_source(header: &mut libc::msghdr, buffer: &mut [u64; SEND_CMSG_WORDS], source: IpAddr) {
    let (level, kind, len) = match source {
        IpAddr::V4(_) => (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
        ),
        IpAddr::V6(_) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            size_of::<libc::in6_pktinfo>(),
        ),
    };
    header.msg_control = buffer.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE of a packet-info struct (at most 40 bytes) fits in
    // `buffer` (48 bytes, 8-aligned), so CMSG_FIRSTHDR is non-null and
    // points at its start; the payload is written unaligned.
    unsafe {
        header.msg_controllen = libc::CMSG_SPACE(len as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len as u32) as _;
        let data = libc::CMSG_DATA(cmsg);
        match source {
            IpAddr::V4(v4) => (data as *mut libc::in_pktinfo).write_unaligned(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            IpAddr::V6(v6) => (data as *mut libc::in6_pktinfo).write_unaligned(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                ipi6_ifindex: 0,
            }),
        }
    }
}

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Its bytes.
    pub data: &'a [u8],
    /// Where it came from.
    pub from: SocketAddr,
    /// When it arrived.
    pub receive: NtpTimestamp,
    /// Whether `receive` is the kernel's timestamp (else the system clock
    /// read after the receive call).
    pub kernel_timestamp: bool,
    /// The network card's timestamp, raw, when it gave one (see
    /// [`NtpSocket::enable_hardware_timestamps`]).
    pub hardware: Option<client::HwStamp>,
}

/// Buffers for [`BATCH`] datagrams and their replies (about 140 KiB; keep
/// one per socket and reuse it).
pub struct Batch {
    received: Received,
    send_control: [[u64; SEND_CMSG_WORDS]; BATCH],
    replies: [[u8; MAX_REPLY]; BATCH],
    reply_lengths: [usize; BATCH],
    count: usize,
}

/// The received side of a [`Batch`].
struct Received {
    requests: [[u8; MAX_REQUEST]; BATCH],
    lengths: [usize; BATCH],
    peers: [libc::sockaddr_storage; BATCH],
    control: [[u64; CMSG_WORDS]; BATCH],
    /// Where each request was sent (IPv4 as mapped IPv6), when asked for.
    destinations: [[u8; 16]; BATCH],
    has_destination: [bool; BATCH],
    /// Receive timestamps, as `NtpTimestamp` bits.
    receive: [u64; BATCH],
    kernel: [bool; BATCH],
    /// The cards' raw receive timestamps, as `NtpTimestamp` bits, and
    /// whether there is one; the interface and layer-2 length (0: none).
    hardware: [u64; BATCH],
    has_hardware: [bool; BATCH],
    if_index: [u32; BATCH],
    l2_length: [u32; BATCH],
}

impl Received {
    /// The `i`th datagram (`i` below the batch's count).
    fn datagram(&self, i: usize) -> Option<Datagram<'_>> {
        Some(Datagram {
            data: &self.requests[i][..self.lengths[i].min(MAX_REQUEST)],
            from: from_sockaddr(&self.peers[i])?,
            receive: NtpTimestamp::from_bits(self.receive[i]),
            kernel_timestamp: self.kernel[i],
            hardware: self.has_hardware[i].then(|| client::HwStamp {
                raw: NtpTimestamp::from_bits(self.hardware[i]),
                if_index: Some(self.if_index[i]).filter(|&i| i != 0),
                l2_length: Some(self.l2_length[i]).filter(|&l| l != 0),
            }),
        })
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("count", &self.count).finish()
    }
}

impl Batch {
    /// Empty buffers, on the heap.
    pub fn new() -> Box<Batch> {
        let layout = std::alloc::Layout::new::<Batch>();
        // SAFETY: every field is plain old data (integers, bools, byte
        // arrays, sockaddr_storage), for which all-zero bytes are a valid
        // value; the memory comes from the global
        // allocator with Batch's (non-zero-sized) layout, as Box expects.
        unsafe {
            let ptr = std::alloc::alloc_zeroed(layout) as *mut Batch;
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(ptr)
        }
    }

    /// How many datagrams the last receive got.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last receive got nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`th datagram received.
    pub fn datagram(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.count {
            return None;
        }
        self.received.datagram(i)
    }

    /// Calls `respond` for each datagram with a reply buffer (1024 bytes);
    /// the length it returns is sent back by
    /// [`NtpSocket::send_replies`], nothing for `None`.
    pub fn answer(&mut self, mut respond: impl FnMut(&Datagram<'_>, &mut [u8]) -> Option<usize>) {
        for i in 0..self.count {
            self.reply_lengths[i] = match self.received.datagram(i) {
                Some(datagram) => respond(&datagram, &mut self.replies[i])
                    .filter(|&len| len <= datagram.data.len())
                    .unwrap_or(0)
                    .min(MAX_REPLY),
                None => 0,
            };
        }
    }

    /// Writes `transmit` into every reply: call it right before
    /// [`NtpSocket::send_replies`].
    pub fn set_transmit_timestamps(&mut self, transmit: NtpTimestamp) {
        self.set_transmit_timestamps_after(0, transmit);
    }

    /// [`set_transmit_timestamps`](Self::set_transmit_timestamps) for
    /// replies whose NTP message starts `prefix` bytes in (NTP over PTP).
    /// (An interleaved reply keeps its transmit timestamp: see
    /// [`stamp_reply`].)
    pub fn set_transmit_timestamps_after(&mut self, prefix: usize, transmit: NtpTimestamp) {
        for i in 0..self.count {
            if let Some(message) = self.replies[i].get_mut(prefix..self.reply_lengths[i]) {
                stamp_reply(message, transmit);
            }
        }
    }

    /// How many replies are waiting to be sent.
    pub fn replies(&self) -> usize {
        self.reply_lengths[..self.count]
            .iter()
            .filter(|&&len| len > 0)
            .count()
    }
}

/// Waits for descriptors to become readable with `poll(2)`.
#[derive(Debug, Default)]
pub struct Poller {
    fds: Vec<libc::pollfd>,
}

impl Poller {
    /// No descriptors yet.
    pub fn new() -> Poller {
        Poller::default()
    }

    /// Watches `source` for input; returns its index.
    pub fn add(&mut self, source: &impl AsRawFd) -> usize {
        self.add_events(source, libc::POLLIN)
    }

    /// Watches `source` for input and for its error queue (`POLLPRI`, which
    /// a socket with `SO_SELECT_ERR_QUEUE` reports when a transmit
    /// timestamp waits there, as chrony's test harness does too); returns
    /// its index. See [`Self::has_error_queue`].
    pub fn add_with_error_queue(&mut self, source: &impl AsRawFd) -> usize {
        self.add_events(source, libc::POLLIN | libc::POLLPRI)
    }

    /// Watches `source` for input, and with `output` for room to write
    /// (`POLLOUT`: a connection made, or failed); returns its index. See
    /// [`Self::is_writable`].
    pub fn add_with_output(&mut self, source: &impl AsRawFd, output: bool) -> usize {
        let events = if output {
            libc::POLLIN | libc::POLLOUT
        } else {
            libc::POLLIN
        };
        self.add_events(source, events)
    }

    fn add_events(&mut self, source: &impl AsRawFd, events: libc::c_short) -> usize {
        self.fds.push(libc::pollfd {
            fd: source.as_raw_fd(),
            events,
            revents: 0,
        });
        self.fds.len() - 1
    }

    /// Waits until one is readable or `timeout` passes (`None`: forever);
    /// returns how many are ready. The timeout is rounded up to whole
    /// milliseconds (`poll(2)`'s unit), so that a short wait is a wait,
    /// never a busy loop of zero-length ones.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let millis = match timeout {
            None => -1,
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: `fds` is a valid array of pollfd of the length passed.
        let ready = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(error);
        }
        Ok(ready as usize)
    }

    /// Whether the `index`th descriptor was readable (or in error) at the
    /// last wait.
    pub fn is_ready(&self, index: usize) -> bool {
        self.fds
            .get(index)
            .is_some_and(|fd| fd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
    }

    /// Whether the `index`th descriptor had something on its error queue
    /// at the last wait (`POLLPRI` or `POLLERR`). Only then is the queue
    /// read: where a socket layer is simulated, reading an empty error
    /// queue may take the next datagram instead.
    pub fn has_error_queue(&self, index: usize) -> bool {
        self.fds
            .get(index)
            .is_some_and(|fd| fd.revents & (libc::POLLPRI | libc::POLLERR) != 0)
    }

    /// Whether the `index`th descriptor could be written (or was in error)
    /// at the last wait.
    pub fn is_writable(&self, index: usize) -> bool {
        self.fds
            .get(index)
            .is_some_and(|fd| fd.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0)
    }

    /// Whether the `index`th descriptor had a datagram to read at the last
    /// wait (`POLLIN`).
    pub fn is_readable(&self, index: usize) -> bool {
        self.fds
            .get(index)
            .is_some_and(|fd| fd.revents & libc::POLLIN != 0)
    }
}

/// A socket on each of `addresses`. A host without IPv6 cannot bind the
/// IPv6 wildcard: that one is skipped (as chronyd serves IPv4 only then)
/// and its error returned beside the sockets; any other failure is the
/// error.
pub fn bind_each(
    addresses: &[SocketAddr],
    options: &SocketOptions,
) -> Result<(Vec<NtpSocket>, Vec<SocketError>), SocketError> {
    let mut sockets = Vec::new();
    let mut skipped = Vec::new();
    for &addr in addresses {
        match NtpSocket::bind(addr, options) {
            Ok(socket) => sockets.push(socket),
            Err(e) if addr.is_ipv6() && addr.ip().is_unspecified() => skipped.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((sockets, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::eprintln;
    use std::format;
    use std::string::ToString;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    /// Appends a control message of `level`, `kind` and `payload` to
    /// `buffer` at `at` bytes; returns where the next one goes.
    fn put_cmsg(buffer: &mut [u64], at: usize, level: i32, kind: i32, payload: &[u8]) -> usize {
        // SAFETY: the buffer is 8-aligned and large enough for the
        // messages the test writes (checked by the asserts).
        unsafe {
            let space = libc::CMSG_SPACE(payload.len() as u32) as usize;
            assert!(at + space <= buffer.len() * 8);
            let base = (buffer.as_mut_ptr() as *mut u8).add(at);
            let header = base as *mut libc::cmsghdr;
            (*header).cmsg_level = level;
            (*header).cmsg_type = kind;
            (*header).cmsg_len = libc::CMSG_LEN(payload.len() as u32) as _;
            let data = libc::CMSG_DATA(header);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), data, payload.len());
            at + space
        }
    }

    fn bytes_of<T>(value: &T) -> &[u8] {
        // SAFETY: any value's bytes may be read.
        unsafe { std::slice::from_raw_parts((value as *const T).cast(), size_of::<T>()) }
    }

    /// A batch's datagram carries the card's receive timestamp when the
    /// kernel gave one, with its interface and length when said; the
    /// zeroed batch holds none.
    #[test]
    fn a_batch_keeps_each_datagrams_card_timestamp() {
        let mut batch = Batch::new();
        batch.count = 2;
        for i in 0..2 {
            let (storage, _) = to_sockaddr("192.0.2.1:123".parse().unwrap());
            batch.received.peers[i] = storage;
            batch.received.lengths[i] = 48;
        }
        assert_eq!(batch.datagram(0).unwrap().hardware, None);
        let raw = NtpTimestamp::from_unix(UnixTime::new(1_000, 5));
        batch.received.hardware[1] = raw.to_bits();
        batch.received.has_hardware[1] = true;
        batch.received.if_index[1] = 3;
        let stamp = batch.datagram(1).unwrap().hardware.unwrap();
        assert_eq!(
            (stamp.raw, stamp.if_index, stamp.l2_length),
            (raw, Some(3), None)
        );
    }

    /// Receives into `batch` until it holds `want` datagrams (or 200 ms
    /// pass); how many it holds.
    fn receive(socket: &NtpSocket, batch: &mut Batch, want: usize) -> usize {
        for _ in 0..100 {
            if socket.recv_batch(batch).unwrap() == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        batch.len()
    }

    /// The control messages `recvmsg` gives with `IP_PKTINFO` (interface
    /// 7, to 192.168.1.2), `SCM_TIMESTAMPING`'s software and raw hardware
    /// times (seconds, nanoseconds), and `SCM_TIMESTAMPING_PKTINFO` when
    /// given (interface, length), as the kernel lays them out, read.
    fn read_messages(
        software: (i64, i64),
        hardware: (i64, i64),
        pktinfo: Option<(u32, u32)>,
    ) -> Control {
        let mut buffer = [0u64; 32];
        // SAFETY: all zero is a valid in_pktinfo.
        let mut info: libc::in_pktinfo = unsafe { std::mem::zeroed() };
        info.ipi_ifindex = 7;
        info.ipi_addr.s_addr = u32::from_ne_bytes([192, 168, 1, 2]);
        let mut at = put_cmsg(
            &mut buffer,
            0,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            bytes_of(&info),
        );
        let spec = |(tv_sec, tv_nsec): (i64, i64)| libc::timespec { tv_sec, tv_nsec };
        let ts = [spec(software), spec((0, 0)), spec(hardware)];
        at = put_cmsg(
            &mut buffer,
            at,
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMPING,
            bytes_of(&ts),
        );
        if let Some((if_index, pkt_length)) = pktinfo {
            let pktinfo = ScmTsPktinfo {
                if_index,
                pkt_length,
                reserved: [0; 2],
            };
            at = put_cmsg(
                &mut buffer,
                at,
                libc::SOL_SOCKET,
                SCM_TIMESTAMPING_PKTINFO,
                bytes_of(&pktinfo),
            );
        }
        // SAFETY: all zero is a valid msghdr.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_control = buffer.as_mut_ptr().cast();
        header.msg_controllen = at as _;
        read_control(&header)
    }

    /// A network card's timestamps and their interface are read: the
    /// software and raw hardware times, `SCM_TIMESTAMPING_PKTINFO`'s
    /// interface and length taken over `IP_PKTINFO`'s interface; with
    /// the software time only (a packet the card did not stamp, on the
    /// error queue), the interface from `IP_PKTINFO`.
    #[test]
    fn hardware_timestamps_and_their_interface_are_read() {
        let unix = |s, n| Some(NtpTimestamp::from_unix(UnixTime::new(s, n)));
        let control = read_messages((1_700_000_000, 5), (1_000, 250_000_000), Some((3, 90)));
        assert_eq!(control.timestamp, unix(1_700_000_000, 5));
        assert_eq!(control.hardware, unix(1_000, 250_000_000));
        assert_eq!((control.if_index, control.l2_length), (Some(3), Some(90)));
        assert_eq!(
            control.destination,
            Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)))
        );
        let control = read_messages((1_700_000_001, 0), (0, 0), None);
        assert_eq!(control.timestamp, unix(1_700_000_001, 0));
        assert_eq!(
            (control.hardware, control.if_index, control.l2_length),
            (None, Some(7), None)
        );
    }

    #[test]
    fn sockaddr_round_trip() {
        for text in [
            "127.0.0.1:123",
            "[::1]:11123",
            "[2001:db8::7]:5",
            "0.0.0.0:0",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            let (storage, _) = to_sockaddr(addr);
            assert_eq!(from_sockaddr(&storage), Some(addr));
        }
    }

    #[test]
    fn batch_round_trip_over_loopback_with_kernel_timestamps() {
        let server = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        let client = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        let server_addr = server.local_addr().unwrap();
        let before = realtime_now();
        for i in 0..5u8 {
            client.send_to(&[i; 48], server_addr).unwrap();
        }
        client.send_to(&[9; 20], server_addr).unwrap();
        let mut batch = Batch::new();
        let mut poller = Poller::new();
        let index = poller.add(&server);
        let mut got = 0;
        for _ in 0..100 {
            got = server.recv_batch(&mut batch).unwrap();
            if got == 6 {
                break;
            }
            poller.wait(Some(Duration::from_millis(10))).unwrap();
            assert!(poller.is_ready(index) || got < 6);
        }
        assert_eq!(got, 6);
        let first = batch.datagram(0).unwrap();
        assert_eq!(first.data, &[0u8; 48]);
        assert_eq!(first.from, client.local_addr().unwrap());
        assert!(server.kernel_timestamps() && first.kernel_timestamp);
        let after = realtime_now();
        assert!(first.receive - before >= crate::time::NtpDuration::ZERO);
        assert!(after - first.receive >= crate::time::NtpDuration::ZERO);
        assert_eq!(batch.datagram(5).unwrap().data.len(), 20);
        assert!(batch.datagram(6).is_none());

        // Echo the 48-byte ones back, with a transmit timestamp patched in.
        batch.answer(|d, reply| {
            if d.data.len() < 48 {
                return None;
            }
            reply[..d.data.len()].copy_from_slice(d.data);
            Some(48)
        });
        assert_eq!(batch.replies(), 5);
        let tx = NtpTimestamp::from_bits(0x0102_0304_0506_0708);
        batch.set_transmit_timestamps(tx);
        assert_eq!(server.send_replies(&mut batch).unwrap(), 5);
        let mut echoes = Batch::new();
        let mut total = 0;
        for _ in 0..100 {
            total += client.recv_batch(&mut echoes).unwrap();
            if total == 5 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(total, 5);
        let echo = echoes.datagram(0).unwrap();
        assert_eq!(&echo.data[40..48], &tx.to_bits().to_be_bytes());
    }

    /// A socket on the IPv4 wildcard as [`NtpSocket::bind`] opens one
    /// (packet info asked for), but held to the loopback device
    /// (`SO_BINDTODEVICE` before the bind): no test binds an address the
    /// network reaches.
    fn wildcard_on_loopback() -> NtpSocket {
        let fd = sys::socket(libc::AF_INET, libc::SOCK_DGRAM).unwrap();
        let device = b"lo";
        // SAFETY: `device` outlives the call and its length is passed with it.
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                device.as_ptr().cast(),
                device.len() as libc::socklen_t,
            )
        })
        .expect("SO_BINDTODEVICE lo");
        set_option(fd.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1).unwrap();
        sys::bind(fd.as_raw_fd(), "0.0.0.0:0".parse().unwrap()).unwrap();
        NtpSocket {
            fd,
            kernel_timestamps: false,
            packet_info: true,
        }
    }

    #[test]
    fn wildcard_socket_replies_from_the_address_asked() {
        let server = wildcard_on_loopback();
        let port = server.local_addr().unwrap().port();
        let client = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        // 127.0.0.2 is this host too; without packet info the reply would
        // leave from 127.0.0.1, the address the route to the client picks.
        let asked: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        client.send_to(&[7; 48], asked).unwrap();
        let mut batch = Batch::new();
        receive(&server, &mut batch, 1);
        assert_eq!(batch.len(), 1);
        batch.answer(|d, reply| {
            reply[..d.data.len()].copy_from_slice(d.data);
            Some(48)
        });
        assert_eq!(server.send_replies(&mut batch).unwrap(), 1);
        let mut replies = Batch::new();
        receive(&client, &mut replies, 1);
        assert_eq!(replies.datagram(0).unwrap().from, asked);
    }

    #[test]
    fn user_space_timestamps_when_the_kernel_gives_none() {
        let options = SocketOptions {
            kernel_timestamps: false,
            ..SocketOptions::default()
        };
        let server = NtpSocket::bind(loopback(), &options).unwrap();
        assert!(!server.kernel_timestamps());
        let client = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        let before = realtime_now();
        client
            .send_to(&[3; 48], server.local_addr().unwrap())
            .unwrap();
        let mut batch = Batch::new();
        receive(&server, &mut batch, 1);
        let datagram = batch.datagram(0).unwrap();
        assert!(!datagram.kernel_timestamp);
        let after = realtime_now();
        assert!(datagram.receive - before >= crate::time::NtpDuration::ZERO);
        assert!(after - datagram.receive >= crate::time::NtpDuration::ZERO);
    }

    #[test]
    fn a_reply_that_cannot_go_is_skipped() {
        let server = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        let client = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        for _ in 0..3 {
            client
                .send_to(&[5; 48], server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = Batch::new();
        receive(&server, &mut batch, 3);
        assert_eq!(batch.len(), 3);
        // As if the second came from port 0 (spoofed): sendmmsg refuses it.
        batch.received.peers[1] = to_sockaddr("127.0.0.1:0".parse().unwrap()).0;
        batch.answer(|d, reply| {
            reply[..d.data.len()].copy_from_slice(d.data);
            Some(48)
        });
        assert_eq!(server.send_replies(&mut batch).unwrap(), 2);
        let mut replies = Batch::new();
        assert_eq!(receive(&client, &mut replies, 2), 2);
    }

    #[test]
    fn replies_never_longer_than_requests() {
        let server = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        let client = NtpSocket::bind(loopback(), &SocketOptions::default()).unwrap();
        client
            .send_to(&[1; 44], server.local_addr().unwrap())
            .unwrap();
        let mut batch = Batch::new();
        receive(&server, &mut batch, 1);
        batch.answer(|_, _| Some(48));
        assert_eq!(batch.replies(), 0);
    }

    #[test]
    fn precision_of_a_clock_that_never_moves_is_its_resolution() {
        let frozen = SystemTime::UNIX_EPOCH + Duration::from_secs(1_262_304_000);
        // 1 ns: 2^-30 s; never a second (2^0) for want of a step.
        assert_eq!(precision_of(|| frozen, 1), -30);
        assert_eq!(precision_of(|| frozen, 1_000), -20);
        // A clock that moves in 1 µs steps.
        let mut t = frozen;
        let ticking = move || {
            t += Duration::from_micros(1);
            t
        };
        assert_eq!(precision_of(ticking, 1), -20);
    }

    /// `clockprecision` rounds as a measured precision does: 1 ns is
    /// 2^-30 s, 1 µs 2^-20 s, 100 ns 2^-23 s; 1 s and above is 2^0.
    #[test]
    fn a_configured_precision_rounds_as_a_measured_one() {
        for (seconds, nanos) in [(1e-9, 1), (1e-6, 1_000), (1e-7, 100), (0.3, 300_000_000)] {
            let frozen = SystemTime::UNIX_EPOCH;
            assert_eq!(
                clock_precision(Some(seconds)),
                precision_of(|| frozen, nanos),
                "{seconds}"
            );
        }
        assert_eq!(clock_precision(Some(5.0)), 0);
    }

    #[test]
    fn ipv6_and_reuse_port() {
        let options = SocketOptions {
            reuse_port: true,
            ..SocketOptions::default()
        };
        let Ok(first) = NtpSocket::bind("[::1]:0".parse().unwrap(), &options) else {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        };
        let addr = first.local_addr().unwrap();
        // A second socket on the same port, as another thread's.
        let second = NtpSocket::bind(addr, &options).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        let plain = NtpSocket::bind(addr, &SocketOptions::default());
        assert!(plain.is_err());
        // The IPv4 port of the same number is free (IPV6_V6ONLY).
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port());
        assert!(NtpSocket::bind(v4, &SocketOptions::default()).is_ok());
    }

    #[test]
    fn precision_is_plausible() {
        let precision = measure_precision();
        assert!((-30..=-6).contains(&precision), "{precision}");
    }

    #[test]
    fn privileged_port_error_says_how() {
        let error = SocketError::Privileged {
            addr: "0.0.0.0:123".parse().unwrap(),
            port: 123,
        };
        let text = error.to_string();
        assert!(
            text.contains("root") && text.contains("CAP_NET_BIND_SERVICE"),
            "{text}"
        );
    }
}
