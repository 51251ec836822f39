//! The servers a driver follows: one connected UDP socket each, the
//! node's id for it, and the request whose kernel transmit timestamp is
//! awaited.

use std::io;
use std::net::SocketAddr;
use std::string::{String, ToString};
use std::vec::Vec;

use super::nts::{KeRunner, PeerNts};
use super::{files, DriverError, MAX_SOURCES};
use crate::linux::nts::ke_client;
use crate::linux::nts::ke_client::NtsSettings;
use crate::linux::settings::{Upstream, UpstreamAuth};
use crate::linux::socket::client::ClientSocket;
use crate::node::Node;
use crate::node::{Datagram, TransmitToken};
use crate::report::TimestampSource;
use crate::system::SourceAuth;
use crate::system::{SourceId, MAX_REQUEST_LEN};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

/// One followed server.
#[derive(Debug)]
pub(super) struct Peer {
    /// The name as configured.
    pub name: String,
    pub socket: ClientSocket,
    pub id: SourceId,
    /// The last request sent: its token and the clock's time just before
    /// it was handed to the kernel, until its transmit timestamp comes.
    pub pending: Option<(TransmitToken, NtpTimestamp)>,
    /// An NTS source's NTS-KE server and NTP server.
    pub nts: Option<PeerNts>,
}

impl Peer {
    /// The address its requests go to.
    pub fn server(&self) -> SocketAddr {
        self.socket.server()
    }

    /// Sends a request, `token` naming it, at `now` (the clock's time just
    /// before the send).
    pub fn send(
        &mut self,
        bytes: &[u8],
        token: TransmitToken,
        now: NtpTimestamp,
    ) -> io::Result<()> {
        self.socket.send(bytes)?;
        self.pending = Some((token, now));
        Ok(())
    }

    /// The kernel's transmit timestamps on the error queue, each mapped
    /// onto the clock by `at_clock`: the pending request's, with its
    /// token. A timestamp earlier than the request's send is an earlier
    /// request's (its own never came in time): dropped.
    pub fn transmit_timestamps(
        &mut self,
        at_clock: impl Fn(NtpTimestamp) -> NtpTimestamp,
    ) -> Vec<(TransmitToken, NtpTimestamp)> {
        let mut taken = Vec::new();
        while let Ok(Some(time)) = self.socket.transmit_timestamp() {
            let time = at_clock(time);
            if let Some((token, sent)) = self.pending {
                if time >= sent {
                    self.pending = None;
                    taken.push((token, time));
                }
            }
        }
        taken
    }

    /// Receives the datagram waiting, if any, into `buf`: its length, its
    /// receive time on the system clock and where that came from.
    pub fn receive(
        &self,
        buf: &mut [u8; MAX_REQUEST_LEN],
    ) -> io::Result<Option<(usize, NtpTimestamp, TimestampSource)>> {
        Ok(self
            .socket
            .recv(buf)?
            .map(|(len, rx)| (len, rx.time, rx.source)))
    }

    /// The datagram in `buf[..len]`, received at a time from `kind`.
    pub fn datagram<'b>(&self, buf: &'b [u8], kind: TimestampSource) -> Datagram<'b> {
        Datagram {
            source: self.id,
            bytes: buf,
            receive: kind,
        }
    }
}

/// Finds the peer the node calls `id`.
pub(super) fn find(peers: &[Peer], id: SourceId) -> Option<&Peer> {
    peers.iter().find(|p| p.id == id)
}

/// chronyd's name for a source in its log lines: the address, and the
/// configured name in parentheses when it differs.
pub(super) fn log_name(peers: &[Peer], id: SourceId) -> String {
    match find(peers, id) {
        Some(peer) => {
            let address = peer.server().ip().to_string();
            if peer.name == address {
                address
            } else {
                std::format!("{address} ({})", peer.name)
            }
        }
        None => std::format!("source {}", id.0),
    }
}

/// Adds `upstreams` to `node` at `now` and opens their sockets; with NTS
/// sources, the runner of their handshakes (`nts`' settings), and the
/// cookies saved in `ntsdumpdir` given to the node.
pub(super) fn open_peers<E: std::fmt::Debug + std::fmt::Display>(
    node: &mut Node<'_, MAX_SOURCES>,
    upstreams: &[Upstream],
    nts_settings: &NtsSettings,
    now: NtpTimestamp,
) -> Result<(Vec<Peer>, Option<KeRunner>), DriverError<E>> {
    let nts_sources = upstreams
        .iter()
        .any(|u| matches!(u.auth, UpstreamAuth::Nts { .. }));
    let ke = if nts_sources {
        Some(
            KeRunner::new(nts_settings.clone()).map_err(|source| DriverError::Io {
                what: "NTS-KE wake-up socket".into(),
                source,
            })?,
        )
    } else {
        None
    };
    let mut peers = Vec::new();
    for upstream in upstreams {
        let id = node
            .add_source(
                upstream.config,
                ReferenceId::from_ip(upstream.address.ip()),
                now,
            )
            .map_err(|_| DriverError::TooManySources)?;
        let mut address = upstream.address;
        let nts = match &upstream.auth {
            UpstreamAuth::None => None,
            UpstreamAuth::Key(key) => {
                // Every source fits: MAX_SOURCES of each kind.
                let _ = node.set_source_auth(id, SourceAuth::Key(*key));
                None
            }
            &UpstreamAuth::Nts {
                ke_address,
                certset,
            } => {
                let _ = node.set_source_auth(id, SourceAuth::Nts);
                let mut nts = PeerNts {
                    host: upstream.name.clone(),
                    ke_address,
                    certset,
                    ntp_server: upstream.name.clone(),
                    ntp_port: upstream.address.port(),
                };
                if let Some(dir) = &nts_settings.dump_dir {
                    match files::load_cookies(dir, &mut nts) {
                        Ok(Some((outcome, ntp))) => {
                            log::info!(
                                "NTS session with {}: {} cookies from {}",
                                upstream.name,
                                outcome.session.cookies(),
                                ke_client::dump_path(dir, &nts.dump_name()).display()
                            );
                            let _ = node.set_nts_session(id, outcome.session, now);
                            address = ntp;
                        }
                        Ok(None) => {}
                        Err(e) => log::warn!(
                            "Could not load the NTS cookies of {}: {e}; NTS-KE instead",
                            upstream.name
                        ),
                    }
                }
                Some(nts)
            }
        };
        let socket = ClientSocket::connect(address).map_err(|source| DriverError::Io {
            what: std::format!("socket for {address}"),
            source,
        })?;
        // The loop test: our address as this server sees it (not on
        // loopback, where every node has the same address).
        if let Some(local) = socket.local_addr().ok().filter(|a| !a.ip().is_loopback()) {
            node.set_own_reference_id(id, ReferenceId::from_ip(local.ip()));
        }
        peers.push(Peer {
            name: upstream.name.clone(),
            socket,
            id,
            pending: None,
            nts,
        });
    }
    Ok((peers, ke))
}
