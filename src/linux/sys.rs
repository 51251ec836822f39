//! How every socket here is made and batched: the few system calls whose
//! form differs between kernels and the environments programs run in.
//!
//! - A socket is opened with `SOCK_CLOEXEC | SOCK_NONBLOCK` in its type
//!   where that is accepted; where it is not (`EINVAL`: an older kernel,
//!   or a libc-level simulator such as chrony's test harness, clknetsim),
//!   with the plain type and the two flags set with `fcntl(2)` after, as
//!   chronyd does. The answer is remembered after the first socket.
//! - Non-blocking mode is always set with `fcntl(2)`, never with
//!   `ioctl(FIONBIO)` (which std's `set_nonblocking` uses).
//! - `sendmmsg(2)` is used where it exists for a descriptor (probed once,
//!   with an empty batch); elsewhere each message goes with `sendmsg(2)`.
//!
//! Nothing here blocks: every socket is non-blocking.

// Small libc calls: every unsafe block says why it is sound.
#![allow(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};

/// What is known of a feature: not yet probed, there, or missing.
const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const MISSING: u8 = 2;

/// Whether `socket(2)` takes `SOCK_CLOEXEC | SOCK_NONBLOCK` in its type.
static SOCKET_FLAGS: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Whether `sendmmsg(2)` reaches the sockets `socket` makes.
static SENDMMSG: AtomicU8 = AtomicU8::new(UNKNOWN);

/// `Err(last OS error)` for a negative result.
pub(crate) fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// A new non-blocking, close-on-exec socket of `domain` and `kind`
/// (`SOCK_DGRAM`, `SOCK_STREAM`).
pub(crate) fn socket(domain: libc::c_int, kind: libc::c_int) -> io::Result<OwnedFd> {
    if SOCKET_FLAGS.load(Ordering::Relaxed) != MISSING {
        // SAFETY: socket(2) takes no pointers.
        let raw =
            unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
        if raw >= 0 {
            SOCKET_FLAGS.store(PRESENT, Ordering::Relaxed);
            // SAFETY: a fresh descriptor that nobody else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(raw) });
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINVAL)
            || SOCKET_FLAGS.load(Ordering::Relaxed) == PRESENT
        {
            return Err(error);
        }
        SOCKET_FLAGS.store(MISSING, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let raw = cvt(unsafe { libc::socket(domain, kind, 0) })?;
    // SAFETY: a fresh descriptor that nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fcntl(2) on our own descriptor, with integer arguments.
    cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    set_nonblocking(raw)?;
    Ok(fd)
}

/// Puts `fd` in non-blocking mode with `fcntl(2)`.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(2) on a descriptor the caller owns, integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// A new non-blocking UDP socket for `addr`'s family, bound to `addr`.
pub(crate) fn udp_bound(addr: SocketAddr) -> io::Result<OwnedFd> {
    let fd = udp_socket(addr)?;
    bind(fd.as_raw_fd(), addr)?;
    Ok(fd)
}

/// A new non-blocking UDP socket for `addr`'s family (not bound).
pub(crate) fn udp_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    socket(domain, libc::SOCK_DGRAM)
}

/// A new non-blocking Unix datagram socket bound to `path`.
pub(crate) fn unix_datagram_bound(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a usable socket path (empty, too long, or with a NUL)",
        ));
    }
    for (to, &from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = from as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    let fd = socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
    // SAFETY: `addr` is a sockaddr_un of at least `len` bytes.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// `bind(2)` to an IP address.
pub(crate) fn bind(fd: RawFd, addr: SocketAddr) -> io::Result<()> {
    let (storage, len) = crate::linux::socket::to_sockaddr(addr);
    // SAFETY: `storage` holds a sockaddr of `len` bytes.
    cvt(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })
        .map(drop)
}

/// `connect(2)` to an IP address.
pub(crate) fn connect(fd: RawFd, addr: SocketAddr) -> io::Result<()> {
    let (storage, len) = crate::linux::socket::to_sockaddr(addr);
    // SAFETY: `storage` holds a sockaddr of `len` bytes.
    cvt(unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) })
        .map(drop)
}

/// A non-blocking TCP connection to `addr`, under way: `connect(2)`
/// returns at once, and the socket turns writable when the connection is
/// made or failed (then `take_error` says which).
pub(crate) fn tcp_connecting(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let fd = socket(domain, libc::SOCK_STREAM)?;
    match connect(fd.as_raw_fd(), addr) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(std::net::TcpStream::from(fd))
}

/// Whether the system has a route to `address` (what chronyc's
/// `onoffline` asks, and a replacement source needs): a UDP socket can be
/// connected to it.
pub(crate) fn has_route(address: SocketAddr) -> bool {
    udp_socket(address)
        .and_then(|socket| connect(socket.as_raw_fd(), address))
        .is_ok()
}

/// A connected stream socket read with `recv(2)` and written with
/// `send(2)` (never `read(2)`/`write(2)`, which std's `TcpStream` writes
/// with and a simulated socket layer may not see).
#[derive(Debug)]
pub(crate) struct StreamIo<'a>(pub &'a std::net::TcpStream);

impl io::Read for StreamIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl io::Write for StreamIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is readable for its length.
        let n = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends `headers` on `fd` as one `sendmmsg(2)` where it reaches the
/// descriptor, else one `sendmsg(2)` each (stopping at the first that
/// fails); returns how many went, or the error of the first that did not.
/// Each header's `msg_len` is set as `sendmmsg` sets it.
pub(crate) fn send_mmsg(
    fd: RawFd,
    headers: &mut [libc::mmsghdr],
    flags: libc::c_int,
) -> io::Result<usize> {
    if headers.is_empty() {
        return Ok(0);
    }
    if has_sendmmsg(fd) {
        // SAFETY: `headers` are valid messages (the caller's promise).
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                flags,
            )
        };
        return if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        };
    }
    for (i, header) in headers.iter_mut().enumerate() {
        // SAFETY: as above, one message.
        let sent = unsafe { libc::sendmsg(fd, &header.msg_hdr, flags) };
        if sent < 0 {
            let error = io::Error::last_os_error();
            return if i == 0 { Err(error) } else { Ok(i) };
        }
        header.msg_len = sent as libc::c_uint;
    }
    Ok(headers.len())
}

/// Whether `sendmmsg(2)` reaches `fd`: probed once, with an empty batch
/// (which a kernel that has it answers with 0 and sends nothing).
fn has_sendmmsg(fd: RawFd) -> bool {
    match SENDMMSG.load(Ordering::Relaxed) {
        PRESENT => true,
        MISSING => false,
        _ => {
            // SAFETY: no messages: the kernel reads nothing through the
            // null pointer.
            let probe = unsafe { libc::sendmmsg(fd, std::ptr::null_mut(), 0, 0) };
            let present = probe >= 0;
            SENDMMSG.store(if present { PRESENT } else { MISSING }, Ordering::Relaxed);
            present
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn sockets_are_nonblocking_and_close_on_exec() {
        let fd = udp_bound("127.0.0.1:0".parse().unwrap()).unwrap();
        let raw = fd.as_raw_fd();
        // SAFETY: fcntl(2) on our own descriptor.
        let status = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        let descriptor = unsafe { libc::fcntl(raw, libc::F_GETFD) };
        assert_ne!(status & libc::O_NONBLOCK, 0);
        assert_ne!(descriptor & libc::FD_CLOEXEC, 0);
        let socket = UdpSocket::from(fd);
        let mut buf = [0u8; 8];
        let error = socket.recv(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn send_mmsg_sends_each_message() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let sender = udp_bound("127.0.0.1:0".parse().unwrap()).unwrap();
        connect(sender.as_raw_fd(), receiver.local_addr().unwrap()).unwrap();
        let payloads: [&[u8]; 3] = [b"one", b"two", b"three"];
        let mut iovecs: std::vec::Vec<libc::iovec> = payloads
            .iter()
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        // SAFETY: zeroed headers are valid; each then points at one iovec.
        let mut headers: std::vec::Vec<libc::mmsghdr> =
            (0..3).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (header, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
        }
        let sent = send_mmsg(sender.as_fd().as_raw_fd(), &mut headers, 0).unwrap();
        assert_eq!(sent, 3);
        assert_eq!(headers[2].msg_len, 5);
        let mut buf = [0u8; 16];
        for expected in payloads {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}
