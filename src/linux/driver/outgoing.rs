//! Where the requests to the followed servers leave from, and so where
//! their responses arrive (chronyd's `acquisitionport`): a connected socket
//! of each server's own, one socket per address family shared by all of
//! them, or the server's own sockets. A shared socket hears every server:
//! a response is taken only from the address and port its source's
//! requests go to, and the kernel's transmit timestamps, which come
//! without the packet (`SOF_TIMESTAMPING_OPT_TSONLY`), are matched to the
//! requests in the order they were sent.

use std::boxed::Box;
use std::collections::VecDeque;
use std::format;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::vec::Vec;

use super::serving::ServeSockets;
use crate::linux::settings::ClientSockets;
use crate::linux::socket::client::{ClientSocket, TxStamps};
use crate::node::TransmitToken;
use crate::report::TimestampSource;
use crate::time::{NtpDuration, NtpTimestamp};

/// Requests awaiting their transmit timestamp, per socket, at most: an
/// older one's timestamp is taken as lost when another is sent.
const MAX_PENDING: usize = 16;

/// A client socket, and the requests sent on it whose kernel transmit
/// timestamps have not come yet.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub socket: ClientSocket,
    /// Each request's token and the clock's time just before it was
    /// handed to the kernel, in the order they were sent.
    pending: VecDeque<(TransmitToken, NtpTimestamp)>,
}

impl Outgoing {
    pub fn new(socket: ClientSocket) -> Self {
        Outgoing {
            socket,
            pending: VecDeque::new(),
        }
    }

    /// Sends a request to `server`, `token` naming it, at `now` (the
    /// clock's time just before the send).
    pub fn send(
        &mut self,
        bytes: &[u8],
        server: SocketAddr,
        token: TransmitToken,
        now: NtpTimestamp,
    ) -> io::Result<()> {
        self.socket.send_to(bytes, server)?;
        if self.socket.kernel_timestamps() {
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back((token, now));
        }
        Ok(())
    }

    /// The kernel's transmit timestamps on the error queue, each turned
    /// into a time on the clock by `on_clock` (with where it came from,
    /// the card or the kernel, and how far it may be off), with the tokens
    /// of their requests.
    pub fn transmit_timestamps(
        &mut self,
        mut on_clock: impl FnMut(TxStamps) -> Option<Transmitted>,
    ) -> Vec<(TransmitToken, NtpTimestamp, TimestampSource)> {
        let mut taken = Vec::new();
        while let Ok(Some(stamps)) = self.socket.transmit_timestamp() {
            let Some(transmitted) = on_clock(stamps) else {
                continue;
            };
            if let Some((token, time)) = self.match_timestamp(transmitted.time, transmitted.error) {
                taken.push((token, time, transmitted.source));
            }
        }
        taken
    }

    /// The request a transmit timestamp `time` is of, within `error`
    /// seconds (a card's timestamp converted to the clock's time may read
    /// a little before the clock was read for the send). The kernel queues
    /// the timestamps in the order the requests left, and a request leaves
    /// after the clock was read for it: a timestamp no earlier than the
    /// next request's send is that one's (or a later one's), so the
    /// requests before it lost theirs; one earlier than the oldest
    /// request's send is of a request already given up on.
    fn match_timestamp(
        &mut self,
        time: NtpTimestamp,
        error: f64,
    ) -> Option<(TransmitToken, NtpTimestamp)> {
        let latest = time + NtpDuration::from_seconds_f64(error.max(0.0));
        while self.pending.get(1).is_some_and(|&(_, sent)| latest >= sent) {
            self.pending.pop_front();
        }
        let &(token, sent) = self.pending.front()?;
        if latest < sent {
            return None;
        }
        self.pending.pop_front();
        Some((token, time))
    }
}

/// A request's transmit time on the clock, from the kernel's timestamps
/// of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Transmitted {
    /// The time.
    pub time: NtpTimestamp,
    /// Who took it: the network card or the kernel.
    pub source: TimestampSource,
    /// How far it may be off, seconds (a card's timestamp is converted).
    pub error: f64,
}

/// The socket a server's requests leave from.
#[derive(Debug)]
pub(super) enum Route {
    /// A socket of its own, connected to the server.
    Own(Outgoing),
    /// The shared client socket of this family ([`family`]).
    Shared(usize),
    /// The serving socket of this index.
    Server(usize),
    /// None: a reference clock, read through its device.
    Refclock(Box<crate::linux::refclock::Driver>),
}

/// The index of `address`'s family: 0 for IPv4, 1 for IPv6.
pub(super) fn family(address: SocketAddr) -> usize {
    usize::from(address.is_ipv6())
}

/// Whether `a` and `b` are the same address and port (an IPv6 address's
/// flow label aside).
pub(super) fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}

/// Whether `packet` is a client's request (mode 3): on a socket shared
/// with the server, those are served, never taken as a source's response.
pub(super) fn is_request(packet: &[u8]) -> bool {
    packet.first().is_some_and(|&byte| byte & 0x07 == 3)
}

/// `local`, a serving socket's address, with the address the system routes
/// to `remote` from in place of a wildcard (a connected client socket's
/// address is the route's source).
fn routed_from(mut local: SocketAddr, remote: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        if let Ok(routed) =
            ClientSocket::connect_from(None, remote).and_then(|probe| probe.local_addr())
        {
            local.set_ip(routed.ip());
        }
    }
    local
}

/// A socket just opened, asking for the cards' timestamps when `hardware`
/// (a socket the kernel refuses them keeps its software ones, with a
/// warning).
fn prepared(mut socket: ClientSocket, hardware: bool) -> ClientSocket {
    if hardware {
        if let Err(e) = socket.enable_hardware_timestamps() {
            log::warn!("Could not ask for HW timestamps on a client socket: {e}");
        }
    }
    socket
}

/// The client side's sockets: how the requests leave, and the shared
/// sockets when they are shared.
#[derive(Debug)]
pub(super) struct ClientPorts {
    mode: ClientSockets,
    /// `bindacqaddress`, one per family.
    addresses: Vec<IpAddr>,
    /// The shared sockets, IPv4's and IPv6's, once opened.
    shared: [Option<Outgoing>; 2],
    /// Whether the sockets ask for the network cards' timestamps.
    hardware: bool,
}

impl ClientPorts {
    pub fn new(mode: ClientSockets, addresses: Vec<IpAddr>) -> Self {
        ClientPorts {
            mode,
            addresses,
            shared: [None, None],
            hardware: false,
        }
    }

    /// The sockets opened from now on ask for the network cards'
    /// timestamps too (`hwtimestamp`), when `hardware`.
    pub fn with_hardware_timestamps(mut self, hardware: bool) -> Self {
        self.hardware = hardware;
        self
    }

    /// The address requests to `server` leave from (`bindacqaddress`), if
    /// one was given for its family.
    fn local_ip(&self, server: SocketAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .copied()
            .find(|ip| ip.is_ipv4() == server.is_ipv4())
    }

    /// Opens the shared sockets the requests to `servers` need, now (a
    /// port under 1024 can be bound only before the privileges go).
    pub fn open_for(&mut self, servers: impl Iterator<Item = SocketAddr>) -> io::Result<()> {
        if let ClientSockets::Shared { port } = self.mode {
            for server in servers {
                self.shared_socket(server, port)?;
            }
        }
        Ok(())
    }

    /// The shared socket of `server`'s family, opened on `port` if it is
    /// not yet.
    fn shared_socket(&mut self, server: SocketAddr, port: u16) -> io::Result<&Outgoing> {
        let ip = self.local_ip(server).unwrap_or(if server.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
        let hardware = self.hardware;
        let slot = &mut self.shared[family(server)];
        if slot.is_none() {
            let local = SocketAddr::new(ip, port);
            let socket = ClientSocket::bind(local).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot bind the shared client socket to {local}: {e}"),
                )
            })?;
            let socket = prepared(socket, hardware);
            *slot = Some(Outgoing::new(socket));
        }
        slot.as_ref()
            .ok_or_else(|| io::Error::other("no shared client socket"))
    }

    /// The shared sockets open, with their family.
    pub fn shared(&self) -> impl Iterator<Item = (usize, &Outgoing)> {
        self.shared
            .iter()
            .enumerate()
            .filter_map(|(f, s)| s.as_ref().map(|s| (f, s)))
    }

    /// The shared socket of family `f`, if open.
    pub fn shared_mut(&mut self, f: usize) -> Option<&mut Outgoing> {
        self.shared.get_mut(f)?.as_mut()
    }

    /// How requests to `server` go, and the local address they leave
    /// from: on the shared socket of its family or the serving socket of
    /// its family, as the mode says, else on a socket of its own (also
    /// when the server's sockets have none of its family: a warning says
    /// so). A symmetric `peer`'s always leave from the serving socket (the
    /// peer sends its own packets to the NTP port, and takes ours only
    /// from there), and a server's or peer's at `ptpport` from the socket
    /// there (NTP over PTP); the local address is then the one the system
    /// routes to them from.
    pub fn route(
        &mut self,
        server: SocketAddr,
        serving: &ServeSockets,
        peer: bool,
    ) -> io::Result<(Route, Option<SocketAddr>)> {
        if let Some((i, local)) = serving.ptp_for(server) {
            return Ok((Route::Server(i), Some(routed_from(local, server))));
        }
        if peer {
            let Some((i, local)) = serving.ntp_for(server) else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no NTP server socket of the family of peer {server} (the NTP port is \
                         opened at start for chrony.conf's peers, or an `allow`)"
                    ),
                ));
            };
            return Ok((Route::Server(i), Some(routed_from(local, server))));
        }
        match self.mode {
            ClientSockets::Shared { port } => {
                let local = self.shared_socket(server, port)?.socket.local_addr().ok();
                return Ok((Route::Shared(family(server)), local));
            }
            ClientSockets::Server => {
                if let Some((i, local)) = serving.ntp_for(server) {
                    return Ok((Route::Server(i), Some(local)));
                }
                log::warn!(
                    "No NTP server socket of the family of {server} (acquisitionport is the \
                     server port): its requests leave from a socket of their own"
                );
            }
            ClientSockets::Separate => {}
        }
        let socket = prepared(
            ClientSocket::connect_from(self.local_ip(server), server)?,
            self.hardware,
        );
        let local = socket.local_addr().ok();
        Ok((Route::Own(Outgoing::new(socket)), local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::RequestNumber;
    use crate::system::SourceId;

    fn token(source: usize) -> TransmitToken {
        TransmitToken {
            source: SourceId(source),
            request: RequestNumber(0),
        }
    }

    fn at(seconds: f64) -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(1000.0 + seconds)
    }

    /// Timestamps are matched to the requests in the order they left; a
    /// request whose timestamp never came is dropped when a later one's
    /// arrives, and a timestamp older than every request waiting is
    /// nobody's.
    #[test]
    fn transmit_timestamps_match_requests_in_order() {
        let socket = ClientSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut out = Outgoing::new(socket);
        out.pending.extend([
            (token(1), at(0.0)),
            (token(2), at(1.0)),
            (token(3), at(2.0)),
        ]);
        assert_eq!(
            out.match_timestamp(at(0.001), 0.0),
            Some((token(1), at(0.001)))
        );
        // 2's was lost: 3's is taken as 3's, 2 is given up.
        assert_eq!(
            out.match_timestamp(at(2.001), 0.0),
            Some((token(3), at(2.001)))
        );
        assert!(out.pending.is_empty());
        out.pending.push_back((token(4), at(3.0)));
        // A late timestamp of a request given up on.
        assert_eq!(out.match_timestamp(at(1.001), 0.0), None);
        assert_eq!(out.pending.len(), 1);
        assert_eq!(out.match_timestamp(at(3.0), 0.0), Some((token(4), at(3.0))));
    }

    /// A card's timestamp converted to the clock's time may read a little
    /// before the clock was read for the send (in a simulation, the two
    /// are the same instant): within its error it is still that request's,
    /// not the one before's.
    #[test]
    fn a_converted_timestamp_matches_within_its_error() {
        let socket = ClientSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut out = Outgoing::new(socket);
        out.pending
            .extend([(token(1), at(0.0)), (token(2), at(1.0))]);
        // 1's timestamp never came; 2's reads 20 ns early, within 100 ns.
        assert_eq!(
            out.match_timestamp(at(1.0 - 20e-9), 100e-9),
            Some((token(2), at(1.0 - 20e-9)))
        );
        assert!(out.pending.is_empty());
        // Without the error it would have been taken as 1's.
        out.pending
            .extend([(token(1), at(0.0)), (token(2), at(1.0))]);
        assert_eq!(
            out.match_timestamp(at(1.0 - 20e-9), 0.0),
            Some((token(1), at(1.0 - 20e-9)))
        );
    }

    #[test]
    fn requests_are_mode_3() {
        assert!(is_request(&[0x23; 48]));
        assert!(!is_request(&[0x24; 48]));
        assert!(!is_request(&[]));
        assert!(same_endpoint(
            "[::1]:5".parse().unwrap(),
            SocketAddr::V6(std::net::SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 7, 0))
        ));
        assert!(!same_endpoint(
            "127.0.0.1:5".parse().unwrap(),
            "127.0.0.1:6".parse().unwrap()
        ));
    }
}
