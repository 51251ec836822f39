//! The servers a driver follows: the node's id for each, the address its
//! requests go to and the socket they leave from (see [`super::outgoing`]).

use super::DriverNode;
use std::net::{IpAddr, SocketAddr};
use std::string::{String, ToString};
use std::time::SystemTime;
use std::vec::Vec;

use super::nts::{KeRunner, PeerNts};
use super::outgoing::{ClientPorts, Route};
use super::serving::ServeSockets;
use super::{files, DriverError};
use crate::linux::nts::ke_client;
use crate::linux::nts::ke_client::NtsSettings;
use crate::linux::settings::{Upstream, UpstreamAuth};
use crate::system::SourceAuth;
use crate::system::SourceId;
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ReferenceId;

/// One followed server.
#[derive(Debug)]
pub(super) struct Peer {
    /// The name as configured.
    pub name: String,
    pub id: SourceId,
    /// The address its requests go to, and the only one its responses
    /// are taken from.
    pub address: SocketAddr,
    /// The socket its requests leave from.
    pub route: Route,
    /// The local address they leave from, as far as it is known.
    pub local: Option<SocketAddr>,
    /// An NTS source's NTS-KE server and NTP server.
    pub nts: Option<PeerNts>,
    /// The upstream it follows (what `reload sources` compares).
    pub upstream: Upstream,
}

impl Peer {
    /// The address its requests go to.
    pub fn server(&self) -> SocketAddr {
        self.address
    }

    /// Whether it is a reference clock.
    pub fn is_refclock(&self) -> bool {
        matches!(self.route, Route::Refclock(_))
    }

    /// How chronyd's log files name it: its address, or a reference
    /// clock's name.
    pub fn log_address(&self) -> String {
        if self.is_refclock() {
            self.name.clone()
        } else {
            self.address.ip().to_string()
        }
    }

    /// chronyd's name for its dump file: its address, or a reference
    /// clock's `refid:` and its reference ID in hexadecimal.
    pub fn dump_name(&self) -> String {
        match self.address.ip() {
            IpAddr::V4(refid) if self.is_refclock() => {
                std::format!("refid:{:08x}", u32::from(refid))
            }
            ip => ip.to_string(),
        }
    }

    /// Whether its requests leave from the shared client socket of family
    /// `f`.
    pub fn on_shared(&self, f: usize) -> bool {
        matches!(self.route, Route::Shared(g) if g == f)
    }

    /// Whether its requests leave from serving socket `index`.
    pub fn on_server(&self, index: usize) -> bool {
        matches!(self.route, Route::Server(i) if i == index)
    }

    /// Sends its requests to `address` from now on, from the socket
    /// `client` gives for it.
    pub fn move_to(
        &mut self,
        address: SocketAddr,
        client: &mut ClientPorts,
        serving: &ServeSockets,
    ) -> std::io::Result<()> {
        let (route, local) = client.route(address, serving, self.upstream.config.peer)?;
        self.route = route;
        self.local = local;
        self.address = address;
        Ok(())
    }
}

/// Finds the peer the node calls `id`.
pub(super) fn find(peers: &[Peer], id: SourceId) -> Option<&Peer> {
    peers.iter().find(|p| p.id == id)
}

/// chronyd's name for a source in its log lines: the address, and the
/// configured name in parentheses when it differs; a reference clock's
/// name.
pub(super) fn log_name(peers: &[Peer], id: SourceId) -> String {
    match find(peers, id) {
        Some(peer) if peer.is_refclock() => peer.name.clone(),
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

/// Adds `upstreams` to `node` at `now` and gives each the socket `client`
/// routes it through (`serving`'s, when they are the client's); with NTS
/// sources, the runner of their handshakes (`nts`' settings), and the
/// cookies saved in `ntsdumpdir` given to the node.
pub(super) fn open_peers<E: std::fmt::Debug + std::fmt::Display>(
    node: &mut DriverNode<'_>,
    upstreams: &[Upstream],
    nts_settings: &NtsSettings,
    now: NtpTimestamp,
    client: &mut ClientPorts,
    serving: &ServeSockets,
) -> Result<(Vec<Peer>, Option<KeRunner>), DriverError<E>> {
    let nts_sources = upstreams
        .iter()
        .any(|u| matches!(u.auth, UpstreamAuth::Nts { .. }));
    let ke = nts_sources.then(|| KeRunner::new(nts_settings.clone()));
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
            &UpstreamAuth::MissingKey(key_id) => {
                let _ = node.set_source_auth(id, SourceAuth::MissingKey(key_id));
                None
            }
            &UpstreamAuth::Nts {
                ke_address,
                certset,
            } => {
                let _ = node.set_source_auth(id, SourceAuth::Nts);
                let nts = PeerNts {
                    host: upstream.name.clone(),
                    ke_address,
                    certset,
                };
                if let Some(dir) = &nts_settings.dump_dir {
                    // A saved NTP server of another family than the
                    // source's, or one out of reach, is not used: NTS-KE
                    // instead.
                    let usable = |address: SocketAddr| {
                        address.is_ipv4() == upstream.address.is_ipv4()
                            && crate::linux::sys::has_route(address)
                    };
                    match files::load_cookies(dir, &nts) {
                        Ok(Some(saved)) if !usable(saved.ntp_address) => log::warn!(
                            "Could not load the NTS cookies of {}: their NTP server {} \
                             cannot be used here; NTS-KE instead",
                            upstream.name,
                            saved.ntp_address
                        ),
                        Ok(Some(saved)) => {
                            log::info!(
                                "NTS session with {}: {} cookies from {}",
                                upstream.name,
                                saved.session.cookies(),
                                ke_client::dump_path(dir, ke_address.ip()).display()
                            );
                            // Made that long ago (never later than now).
                            let age = SystemTime::now()
                                .duration_since(saved.made)
                                .map_or(0.0, |age| age.as_secs_f64());
                            let made = now - NtpDuration::from_seconds_f64(age);
                            let _ = node.restore_nts_session(id, saved.session, made, saved.number);
                            address = saved.ntp_address;
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
        let (route, local) = client
            .route(address, serving, upstream.config.peer)
            .map_err(|source| DriverError::Io {
                what: std::format!("socket for {address}"),
                source,
            })?;
        // The loop test: our address as this server sees it (not on
        // loopback, where every node has the same address, nor a
        // wildcard's).
        if let Some(local) = local.filter(|a| !a.ip().is_loopback() && !a.ip().is_unspecified()) {
            node.set_own_reference_id(id, ReferenceId::from_ip(local.ip()));
        }
        // Our own address at the port we serve NTP at: this node itself.
        let own_port = serving
            .ntp_for(address)
            .is_some_and(|(_, serving)| serving.port() == address.port());
        if own_port && local.is_some_and(|l| l.ip() == address.ip()) {
            node.set_ourselves(id);
        }
        peers.push(Peer {
            name: upstream.name.clone(),
            id,
            address,
            route,
            local,
            nts,
            upstream: upstream.clone(),
        });
    }
    Ok((peers, ke))
}
