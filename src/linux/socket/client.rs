//! The client's UDP sockets, with the kernel's software receive and
//! transmit timestamps: by default one per server, each bound to a fresh
//! ephemeral port and connected to its server (so only that server's
//! answers arrive, and a response's port cannot be guessed from earlier
//! ones: [`ClientSocket::connect`]); or, as chronyd's `acquisitionport`
//! asks, one unconnected socket bound to a port for every server
//! ([`ClientSocket::bind`]), whose responses the caller sorts by the
//! address they come from.
//!
//! Timestamps come from `SO_TIMESTAMPING` (`SOF_TIMESTAMPING_RX_SOFTWARE`
//! and `TX_SOFTWARE`): the receive time arrives with the packet, the
//! transmit time on the socket's error queue (`MSG_ERRQUEUE`) just after
//! the send. Where the kernel gives none, the time is read in user space
//! right after `recv` (or before `send`): [`TimestampSource`] says which.
//!
//! With [`ClientSocket::enable_hardware_timestamps`], the network card's
//! own timestamps come too ([`HwStamp`]): raw times on the card's clock,
//! which a driver converts through its tracking of that clock
//! ([`crate::hwclock`]); the software ones stay beside them for when it
//! cannot.
//!
//! All software timestamps are the **system** clock's (`CLOCK_REALTIME`);
//! a driver steering a virtual clock maps them onto it.

#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Mutex;

use crate::linux::socket::{from_sockaddr, read_control, realtime_now, set_option, to_sockaddr};
use crate::linux::sys;
pub use crate::report::TimestampSource;
use crate::time::NtpTimestamp;

/// A time on the system clock and where it came from, with the network
/// card's own timestamp of the same packet when it gave one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timestamp {
    /// The system clock's time.
    pub time: NtpTimestamp,
    /// Kernel or user space.
    pub source: TimestampSource,
    /// The card's timestamp, raw.
    pub hardware: Option<HwStamp>,
}

impl Timestamp {
    /// The system clock now, read in user space.
    pub fn user_now() -> Timestamp {
        Timestamp {
            time: realtime_now(),
            source: TimestampSource::Daemon,
            hardware: None,
        }
    }
}

/// A network card's timestamp of a packet, on the card's own clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HwStamp {
    /// The card's clock when the packet left or arrived (for an arrival,
    /// at the start of the frame).
    pub raw: NtpTimestamp,
    /// The interface, when the kernel says.
    pub if_index: Option<u32>,
    /// A received packet's length at layer 2, bytes, when the kernel says.
    pub l2_length: Option<u32>,
}

/// The kernel's timestamps of a packet sent: the software one (system
/// clock) and the card's, each when given.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TxStamps {
    /// The system clock's time as the packet left the kernel.
    pub software: Option<NtpTimestamp>,
    /// The card's timestamp, raw.
    pub hardware: Option<HwStamp>,
}

/// A UDP socket connected to one server, or bound to a port for many.
#[derive(Debug)]
pub struct ClientSocket {
    socket: UdpSocket,
    /// The server it is connected to (none: unconnected).
    server: Option<SocketAddr>,
    kernel_timestamps: bool,
    /// Transmit timestamps taken off the error queue by a receive that
    /// found no packet, oldest first (see [`ClientSocket::recv_from`]).
    held: Mutex<VecDeque<TxStamps>>,
}

/// Transmit timestamps held at most (the oldest are dropped beyond).
const HELD_TIMESTAMPS: usize = 16;

impl ClientSocket {
    /// A new non-blocking socket on a fresh ephemeral port, connected to
    /// `server`, with kernel timestamps when the kernel offers them.
    pub fn connect(server: SocketAddr) -> io::Result<ClientSocket> {
        Self::connect_from(None, server)
    }

    /// As [`Self::connect`], the socket bound first to `local` (on a port
    /// the system picks; of `server`'s family) when given: the address the
    /// requests leave from (chronyd's `bindacqaddress`).
    pub fn connect_from(local: Option<IpAddr>, server: SocketAddr) -> io::Result<ClientSocket> {
        let socket = UdpSocket::from(sys::udp_socket(server)?);
        if let Some(ip) = local {
            sys::bind(socket.as_raw_fd(), SocketAddr::new(ip, 0))?;
        }
        sys::connect(socket.as_raw_fd(), server)?;
        let kernel_timestamps = enable_timestamping(&socket).is_ok();
        Ok(ClientSocket {
            socket,
            server: Some(server),
            kernel_timestamps,
            held: Mutex::default(),
        })
    }

    /// A new non-blocking socket bound to `local` (port 0: one the system
    /// picks), not connected: it sends to any server
    /// ([`Self::send_to`]) and receives from any ([`Self::recv_from`]).
    /// An IPv6 socket takes IPv6 only, so that an IPv4 one can have the
    /// same port.
    pub fn bind(local: SocketAddr) -> io::Result<ClientSocket> {
        let socket = UdpSocket::from(sys::udp_socket(local)?);
        if local.is_ipv6() {
            let on: libc::c_int = 1;
            // SAFETY: the option value is a c_int of the stated size.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&on as *const libc::c_int).cast(),
                    mem::size_of_val(&on) as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        sys::bind(socket.as_raw_fd(), local)?;
        let kernel_timestamps = enable_timestamping(&socket).is_ok();
        Ok(ClientSocket {
            socket,
            server: None,
            kernel_timestamps,
            held: Mutex::default(),
        })
    }

    /// The server this socket is connected to (none: not connected).
    pub fn server(&self) -> Option<SocketAddr> {
        self.server
    }

    /// The local address (a port of its own).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Whether the kernel stamps this socket's packets.
    pub fn kernel_timestamps(&self) -> bool {
        self.kernel_timestamps
    }

    /// Asks for the network cards' timestamps too (where an interface has
    /// hardware timestamping switched on: [`crate::linux::hwts`]), with
    /// the interface each packet used. An error leaves the software
    /// timestamps as they were.
    pub fn enable_hardware_timestamps(&mut self) -> io::Result<()> {
        set_timestamping(&self.socket, HARDWARE_FLAGS)?;
        self.kernel_timestamps = true;
        // The interface of a transmit timestamp comes as packet info.
        let (level, option) = match self.socket.local_addr()? {
            SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
            SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
        };
        set_option(self.socket.as_raw_fd(), level, option, 1)
    }

    /// Send a request on a connected socket; returns the user-space time
    /// just before the send (the kernel's own transmit time follows on
    /// [`Self::transmit_timestamp`]).
    pub fn send(&self, packet: &[u8]) -> io::Result<Timestamp> {
        let before = Timestamp::user_now();
        self.socket.send(packet)?;
        Ok(before)
    }

    /// Send a request to `server` (on a connected socket, its own server
    /// only); as [`Self::send`] otherwise.
    pub fn send_to(&self, packet: &[u8], server: SocketAddr) -> io::Result<Timestamp> {
        if self.server.is_some_and(|own| own != server) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a connected socket sends to its own server only",
            ));
        }
        let before = Timestamp::user_now();
        if self.server.is_some() {
            self.socket.send(packet)?;
        } else {
            self.socket.send_to(packet, server)?;
        }
        Ok(before)
    }

    /// The kernel's transmit timestamp of the last packet sent, if it has
    /// arrived on the error queue. Call after [`Self::send`] when poll(2)
    /// reports the error queue (`POLLPRI` or `POLLERR`:
    /// [`Poller::has_error_queue`]).
    ///
    /// [`Poller::has_error_queue`]: crate::linux::socket::Poller::has_error_queue
    pub fn transmit_timestamp(&self) -> io::Result<Option<TxStamps>> {
        if !self.kernel_timestamps {
            return Ok(None);
        }
        if let Some(stamps) = self.held().pop_front() {
            return Ok(Some(stamps));
        }
        let mut data = [0u8; 64];
        match self.recvmsg(&mut data, libc::MSG_ERRQUEUE) {
            Ok((_, stamps, _)) => Ok(stamps.has_any().then_some(stamps)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receive one packet if one is waiting: its length and receive time
    /// (as [`Self::recv_from`]).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Timestamp)>> {
        Ok(self.recv_from(buf)?.map(|(len, rx, _)| (len, rx)))
    }

    /// As [`Self::recv`], leaving the error queue alone: for a caller that
    /// reads the transmit timestamps itself whenever poll(2) reports the
    /// queue (the daemon's loop, also where clknetsim simulates the
    /// socket layer and a queue read when none was reported would take a
    /// packet).
    pub(crate) fn recv_packet(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Timestamp)>> {
        Ok(self.receive(buf, false)?.map(|(len, rx, _)| (len, rx)))
    }

    /// As [`Self::recv_from`], leaving the error queue alone (see
    /// [`Self::recv_packet`]).
    pub(crate) fn recv_packet_from(
        &self,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, Timestamp, SocketAddr)>> {
        self.receive(buf, false)
    }

    /// Receive one packet if one is waiting: its length, receive time and
    /// the address it came from.
    ///
    /// When no packet waits but the kernel's transmit timestamps do, they
    /// are taken off the error queue and kept, in order, for
    /// [`Self::transmit_timestamp`]: poll(2) then stops reporting the
    /// socket, so a plain wait-then-receive loop does not spin on them.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Timestamp, SocketAddr)>> {
        self.receive(buf, true)
    }

    /// A packet if one waits; with `hold`, the transmit timestamps waiting
    /// on the error queue are kept when none does.
    fn receive(
        &self,
        buf: &mut [u8],
        hold: bool,
    ) -> io::Result<Option<(usize, Timestamp, SocketAddr)>> {
        match self.recvmsg(buf, 0) {
            Ok((len, stamps, from)) => {
                let rx = match stamps.software {
                    Some(time) => Timestamp {
                        time,
                        source: TimestampSource::Kernel,
                        hardware: stamps.hardware,
                    },
                    None => Timestamp {
                        hardware: stamps.hardware,
                        ..Timestamp::user_now()
                    },
                };
                // A connected socket hears its server only.
                match from.or(self.server) {
                    Some(from) => Ok(Some((len, rx, from))),
                    None => Ok(None),
                }
            }
            // A refused earlier datagram (ICMP port unreachable) is not a
            // packet: report nothing, the poll just goes unanswered.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
                ) =>
            {
                if hold {
                    self.hold_transmit_timestamps()?;
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, VecDeque<TxStamps>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the transmit timestamps waiting on the error queue into
    /// `held`. The queue is read only when poll(2) reports it: where a
    /// socket layer is simulated, reading an empty one may take a packet.
    fn hold_transmit_timestamps(&self) -> io::Result<()> {
        if !self.kernel_timestamps {
            return Ok(());
        }
        loop {
            let mut fd = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no wait.
            let ready = unsafe { libc::poll(&mut fd, 1, 0) };
            if ready <= 0 || fd.revents & (libc::POLLPRI | libc::POLLERR) == 0 {
                return Ok(());
            }
            let mut data = [0u8; 64];
            match self.recvmsg(&mut data, libc::MSG_ERRQUEUE) {
                Ok((_, stamps, _)) if stamps.has_any() => {
                    let mut held = self.held();
                    if held.len() == HELD_TIMESTAMPS {
                        held.pop_front();
                    }
                    held.push_back(stamps);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // A pending socket error (ICMP) is read and cleared here.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `recvmsg(2)` without blocking, returning the length, the timestamps
    /// of its `SCM_TIMESTAMPING` message, if any, and the address the
    /// datagram came from (none on the error queue).
    fn recvmsg(
        &self,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> io::Result<(usize, TxStamps, Option<SocketAddr>)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // u64s keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 32];
        let (mut name, _) = to_sockaddr(SocketAddr::from(([0, 0, 0, 0], 0)));
        // SAFETY: msghdr is plain old data; all zero is valid.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = mem::size_of_val(&name) as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        // SAFETY: msg points at live buffers of the lengths it states.
        let len = unsafe {
            libc::recvmsg(
                self.socket.as_raw_fd(),
                &mut msg,
                flags | libc::MSG_DONTWAIT,
            )
        };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let from = if flags & libc::MSG_ERRQUEUE == 0 && msg.msg_namelen > 0 {
            from_sockaddr(&name).filter(|a| a.port() != 0)
        } else {
            None
        };
        let control = read_control(&msg);
        let stamps = TxStamps {
            software: control.timestamp,
            hardware: control.hardware.map(|raw| HwStamp {
                raw,
                if_index: control.if_index,
                l2_length: control.l2_length,
            }),
        };
        Ok((len as usize, stamps, from))
    }
}

impl TxStamps {
    /// Whether either timestamp is there.
    fn has_any(&self) -> bool {
        self.software.is_some() || self.hardware.is_some()
    }
}

/// The kernel's software receive and transmit timestamps, without the
/// packet on the error queue.
const SOFTWARE_FLAGS: libc::c_uint = libc::SOF_TIMESTAMPING_RX_SOFTWARE
    | libc::SOF_TIMESTAMPING_TX_SOFTWARE
    | libc::SOF_TIMESTAMPING_SOFTWARE
    | libc::SOF_TIMESTAMPING_OPT_TSONLY;

/// The software ones and the card's raw ones, with each received packet's
/// interface and length (`OPT_PKTINFO`) and a transmitted one's interface
/// (`OPT_CMSG`: packet info on the error queue).
const HARDWARE_FLAGS: libc::c_uint = SOFTWARE_FLAGS
    | libc::SOF_TIMESTAMPING_RX_HARDWARE
    | libc::SOF_TIMESTAMPING_TX_HARDWARE
    | libc::SOF_TIMESTAMPING_RAW_HARDWARE
    | libc::SOF_TIMESTAMPING_OPT_PKTINFO
    | libc::SOF_TIMESTAMPING_OPT_CMSG;

/// Ask the kernel for software receive and transmit timestamps.
fn enable_timestamping(socket: &UdpSocket) -> io::Result<()> {
    // The error queue is reported as POLLPRI too (Linux 3.10 and later):
    // it is read only when reported. Older kernels report POLLERR alone.
    let on: libc::c_int = 1;
    // SAFETY: the option value is a c_int of the stated size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SELECT_ERR_QUEUE,
            (&on as *const libc::c_int).cast(),
            mem::size_of_val(&on) as libc::socklen_t,
        )
    };
    set_timestamping(socket, SOFTWARE_FLAGS)
}

/// `SO_TIMESTAMPING` with `flags`.
fn set_timestamping(socket: &UdpSocket, flags: libc::c_uint) -> io::Result<()> {
    set_option(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPING,
        flags as libc::c_int,
    )
}

impl AsFd for ClientSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::eprintln;
    use std::time::Duration;
    use std::vec::Vec;

    /// A transmit timestamp on the error queue makes poll(2) report the
    /// socket; a receive that finds no packet takes it off the queue (kept
    /// for `transmit_timestamp`), so the next wait sleeps: a plain
    /// wait-then-receive loop does not spin.
    #[test]
    fn a_transmit_timestamp_does_not_keep_a_wait_loop_awake() {
        use crate::linux::socket::Poller;
        // Bound and never read: the request is never answered.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = ClientSocket::connect(silent.local_addr().unwrap()).unwrap();
        assert!(
            client.kernel_timestamps(),
            "loopback has software timestamps"
        );
        client.send(b"ping").unwrap();
        let mut poller = Poller::new();
        let index = poller.add(&client.as_fd());
        assert_eq!(poller.wait(Some(Duration::from_secs(2))).unwrap(), 1);
        assert!(poller.is_ready(index));
        let mut buf = [0u8; 64];
        assert_eq!(client.recv(&mut buf).unwrap(), None);
        assert_eq!(poller.wait(Some(Duration::from_millis(50))).unwrap(), 0);
        assert!(client.transmit_timestamp().unwrap().is_some());
        assert!(client.transmit_timestamp().unwrap().is_none());
    }

    /// Wait (bounded) until `f` yields something.
    fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(v) = f() {
                return v;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("nothing arrived on loopback");
    }

    /// One request/response over loopback: what was sent, the response's
    /// receive time, and the time just after.
    fn exchange(a: &ClientSocket, server: &UdpSocket) -> (Timestamp, Timestamp, NtpTimestamp) {
        let sent = a.send(b"ping").unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, a.local_addr().unwrap());
        server.send_to(b"pong", from).unwrap();
        // Someone else's datagram to a's port is filtered by connect().
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        stranger.send_to(b"evil", from).unwrap();
        let (n, rx) = wait_for(|| a.recv(&mut buf).unwrap());
        assert_eq!(&buf[..n], b"pong");
        assert!(a.recv(&mut buf).unwrap().is_none());
        (sent, rx, Timestamp::user_now().time)
    }

    #[test]
    fn loopback_exchange_with_kernel_timestamps() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let a = ClientSocket::connect(server.local_addr().unwrap()).unwrap();
        let b = ClientSocket::connect(server.local_addr().unwrap()).unwrap();
        // A port of its own per server socket.
        assert_ne!(
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port()
        );
        assert_eq!(a.server(), Some(server.local_addr().unwrap()));
        if !a.kernel_timestamps() {
            eprintln!("kernel gives no SO_TIMESTAMPING here: user-space timestamps tested");
        }
        // The kernel switches timestamping on system-wide a little after
        // the first socket asks (a deferred static key): the first packets
        // may come with user-space times, later ones must not.
        for _ in 0..50 {
            let (sent, rx, after) = exchange(&a, &server);
            assert!(rx.time >= sent.time && rx.time <= after);
            let mut tx = None;
            while let Some(stamps) = a.transmit_timestamp().unwrap() {
                assert_eq!(stamps.hardware, None, "loopback has no network card");
                tx = stamps.software;
            }
            if !a.kernel_timestamps() {
                assert_eq!((rx.source, tx), (TimestampSource::Daemon, None));
                return;
            }
            if let (TimestampSource::Kernel, Some(tx)) = (rx.source, tx) {
                assert!(tx >= sent.time && tx <= rx.time, "{tx:?} {sent:?} {rx:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the kernel never stamped both directions");
    }

    /// An unconnected socket bound to a port talks to several servers and
    /// tells their datagrams apart by address; a connected one sends to
    /// its own server only, from the address it was bound to.
    #[test]
    fn one_bound_socket_for_several_servers() {
        let servers: Vec<UdpSocket> = (0..2)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                s
            })
            .collect();
        let shared = ClientSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(shared.server(), None);
        let local = shared.local_addr().unwrap();
        assert_ne!(local.port(), 0);
        let mut buf = [0u8; 16];
        for (i, server) in servers.iter().enumerate() {
            shared
                .send_to(&[i as u8], server.local_addr().unwrap())
                .unwrap();
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&[i as u8][..], local));
            server.send_to(&[10 + i as u8], from).unwrap();
        }
        for (i, server) in servers.iter().enumerate() {
            let (n, _, from) = wait_for(|| shared.recv_from(&mut buf).unwrap());
            assert_eq!(
                (&buf[..n], from),
                (&[10 + i as u8][..], server.local_addr().unwrap())
            );
        }
        assert!(shared.recv_from(&mut buf).unwrap().is_none());

        let to = servers[0].local_addr().unwrap();
        let own = ClientSocket::connect_from(Some("127.0.0.1".parse().unwrap()), to).unwrap();
        assert_eq!(own.local_addr().unwrap().ip(), to.ip());
        let other = servers[1].local_addr().unwrap();
        let refused = own.send_to(b"x", other).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        own.send_to(b"y", to).unwrap();
        let (n, _) = servers[0].recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"y");
    }

    #[test]
    fn refused_port_is_no_packet() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let socket = ClientSocket::connect(addr).unwrap();
        socket.send(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let mut buf = [0u8; 8];
        assert!(socket.recv(&mut buf).unwrap().is_none());
    }
}
