//! NTS-KE for the driver's NTS sources, in the driver's own loop as
//! chronyd runs it: each handshake is a non-blocking TCP connection whose
//! descriptor the loop's `poll(2)` watches beside the NTP sockets, and a
//! [`KeHandshake`] that moves TLS forward whenever it is ready, bounded by
//! its time-out; a Server record naming another host is looked up in a
//! helper thread. Nothing blocks the NTP path. The node decides when a source needs
//! a handshake ([`crate::node::Node::poll_nts_ke`]) and paces failures;
//! this module runs them, resolves where NTP goes afterwards, and saves
//! the sessions in `ntsdumpdir` on the way out.

use super::lookup::{self, Lookup};
use super::DriverNode;
use std::collections::HashMap;
use std::io;
use std::iter;
use std::mem;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::string::String;
use std::time::{Duration, Instant, SystemTime};
use std::vec::Vec;

use super::files;
use super::outgoing::ClientPorts;
use super::peers::Peer;
use super::serving::ServeSockets;
use crate::linux::nts::ke_client::{
    KeClient, KeClientError, KeHandshake, KeOutcome, NtsClientConfig, NtsSettings, SavedSession,
};
use crate::linux::sys;
use crate::nts::client::KeEnding;
use crate::system::SourceId;
use crate::time::NtpTimestamp;

/// An NTS source of the driver: its NTS-KE server, and the certificates
/// it is checked against.
#[derive(Debug, Clone)]
pub(super) struct PeerNts {
    /// The name the server's certificate must carry (the configured host).
    pub host: String,
    /// The NTS-KE server (the host's address, `ntsport`).
    pub ke_address: SocketAddr,
    /// The trusted certificate set (`certset`).
    pub certset: u32,
}

impl PeerNts {
    /// Where NTP goes after `outcome`, when no lookup is needed: the
    /// NTS-KE server's address when its Server record names no other host,
    /// or the address the record gives; at its Port record's port.
    fn known_ntp_address(&self, outcome: &KeOutcome) -> Option<SocketAddr> {
        let port = outcome.ntp_port;
        if outcome.ntp_server == self.host {
            return Some(SocketAddr::new(self.ke_address.ip(), port));
        }
        let ip: IpAddr = outcome.ntp_server.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }
}

/// A finished handshake whose Server record names another host, being
/// looked up.
struct Resolving {
    id: SourceId,
    outcome: KeOutcome,
    lookup: Lookup,
}

/// Why an NTS-KE for a source failed or could not start (logged with the
/// source's name, and retried as the node paces it).
#[derive(Debug, thiserror::Error)]
pub(super) enum KeFailure {
    /// The client could not be set up, or the handshake failed.
    #[error(transparent)]
    Client(#[from] KeClientError),
    /// The TCP connection to the NTS-KE server could not be made.
    #[error("connection to {address}: {source}")]
    Connect {
        /// The NTS-KE server.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The handshake took longer than its time-out.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The NTP server the handshake named has no address.
    #[error(transparent)]
    NtpAddress(io::Error),
    /// No socket to the NTP server the handshake named.
    #[error("socket for {address}: {source}")]
    Socket {
        /// The NTP server's address.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// A finished NTS-KE: the outcome and the NTP address it leads to, or why
/// it failed and how it ended.
pub(super) struct KeDone {
    /// The source.
    pub id: SourceId,
    /// The session and where NTP goes.
    pub result: Result<(KeOutcome, SocketAddr), (KeFailure, KeEnding)>,
}

impl KeFailure {
    /// How the attempt ended, for the wait before the next: after a TLS
    /// handshake, or one TLS refused, or a configuration that cannot
    /// work, as a handshake; otherwise (no connection, no answer, the
    /// server closing it) as a connection.
    fn ending(&self, handshake_made: bool) -> KeEnding {
        match self {
            KeFailure::Client(
                KeClientError::Tls(_) | KeClientError::Setup(_) | KeClientError::BadName(_),
            ) => KeEnding::Handshake,
            _ if handshake_made => KeEnding::Handshake,
            _ => KeEnding::Connection,
        }
    }
}

/// A handshake under way.
struct Running {
    /// The source.
    id: SourceId,
    /// The peer's NTS settings (where NTP goes afterwards).
    nts: PeerNts,
    stream: TcpStream,
    /// Whether the connection was made (it is writable once it is).
    connected: bool,
    handshake: KeHandshake,
    deadline: Instant,
}

impl Running {
    /// Whether to wait for the connection to be writable: until it is
    /// made, and while TLS has something to send.
    fn wants_write(&self) -> bool {
        !self.connected || self.handshake.wants_write()
    }

    /// How a failure of this handshake ended (see [`KeFailure::ending`]).
    fn ending(&self, failure: &KeFailure) -> KeEnding {
        failure.ending(self.connected && self.handshake.is_handshake_done())
    }

    /// Moves the handshake on after its connection was `readable` or
    /// `writable`: `None` while it is under way.
    fn advance(&mut self, readable: bool, writable: bool) -> Option<Result<KeOutcome, KeFailure>> {
        if !self.connected {
            if !writable {
                return None;
            }
            let failed = match self.stream.take_error() {
                Ok(None) => None,
                Ok(Some(e)) | Err(e) => Some(e),
            };
            if let Some(source) = failed {
                let address = self.nts.ke_address;
                return Some(Err(KeFailure::Connect { address, source }));
            }
            self.connected = true;
        }
        match self
            .handshake
            .advance(&mut sys::StreamIo(&self.stream), readable)
        {
            Ok(None) => None,
            Ok(Some(outcome)) => Some(Ok(outcome)),
            Err(e) => Some(Err(KeFailure::Client(e))),
        }
    }
}

/// Runs the handshakes, in the driver's loop.
pub(super) struct KeRunner {
    settings: NtsSettings,
    /// NTS-KE clients by certificate set and whether times are checked.
    clients: HashMap<(u32, bool), KeClient>,
    running: Vec<Running>,
    /// Finished handshakes whose NTP server is being looked up.
    resolving: Vec<Resolving>,
    done: Vec<KeDone>,
}

impl KeRunner {
    pub fn new(settings: NtsSettings) -> KeRunner {
        KeRunner {
            settings,
            clients: HashMap::new(),
            running: Vec::new(),
            resolving: Vec::new(),
            done: Vec::new(),
        }
    }

    pub fn settings(&self) -> &NtsSettings {
        &self.settings
    }

    /// The connections of the handshakes under way, each with whether to
    /// wait for it to be writable too (see [`Self::advance`]).
    pub fn fds(&self) -> impl Iterator<Item = (BorrowedFd<'_>, bool)> {
        self.running
            .iter()
            .map(|running| (running.stream.as_fd(), running.wants_write()))
    }

    /// How long until the first handshake times out.
    pub fn until_due(&self, now: Instant) -> Option<Duration> {
        let lookups = (!self.resolving.is_empty()).then_some(lookup::CHECK);
        self.running
            .iter()
            .map(|running| running.deadline.saturating_duration_since(now))
            .chain(lookups)
            .min()
    }

    /// Moves the handshakes on, after a wait that found the connections
    /// [`fds`](Self::fds) gave `ready` (readable, writable; in that
    /// order); those finished, failed or timed out at `now` are kept for
    /// [`finished`](Self::finished).
    pub fn advance(&mut self, ready: &[(bool, bool)], now: Instant) {
        let timeout = self.settings.timeout;
        let readiness = ready.iter().copied().chain(iter::repeat((false, false)));
        for (mut running, (readable, writable)) in
            mem::take(&mut self.running).into_iter().zip(readiness)
        {
            let result = match running.advance(readable, writable) {
                None if now >= running.deadline => Err(KeFailure::TimedOut(timeout)),
                None => {
                    self.running.push(running);
                    continue;
                }
                Some(result) => result,
            };
            let id = running.id;
            let result = match result {
                Ok(outcome) => match running.nts.known_ntp_address(&outcome) {
                    Some(address) => Ok((outcome, address)),
                    None => {
                        self.resolve(id, outcome);
                        continue;
                    }
                },
                Err(failure) => {
                    let ending = running.ending(&failure);
                    Err((failure, ending))
                }
            };
            self.done.push(KeDone { id, result });
        }
        for resolving in mem::take(&mut self.resolving) {
            if !resolving.lookup.is_done() {
                self.resolving.push(resolving);
                continue;
            }
            let result = resolving
                .lookup
                .finish()
                .map(|found| (resolving.outcome, found[0]))
                .map_err(|e| (KeFailure::NtpAddress(e), KeEnding::Handshake));
            self.done.push(KeDone {
                id: resolving.id,
                result,
            });
        }
    }

    /// Looks up the NTP server `outcome` names for source `id` (the loop
    /// goes on; [`advance`](Self::advance) takes the result in).
    fn resolve(&mut self, id: SourceId, outcome: KeOutcome) {
        match Lookup::start(&outcome.ntp_server, outcome.ntp_port) {
            Ok(lookup) => self.resolving.push(Resolving {
                id,
                outcome,
                lookup,
            }),
            Err(e) => self.done.push(KeDone {
                id,
                result: Err((KeFailure::NtpAddress(e), KeEnding::Handshake)),
            }),
        }
    }

    /// The client for certificate set `set`, checking certificate times
    /// unless `ignore_time` (built once each). A set that holds nothing
    /// gives a client that trusts nothing: it connects, as chronyd's does,
    /// and the handshake fails at the server's certificate.
    fn client(&mut self, set: u32, ignore_time: bool) -> Result<KeClient, KeFailure> {
        if let Some(client) = self.clients.get(&(set, ignore_time)) {
            return Ok(client.clone());
        }
        let config = NtsClientConfig {
            ignore_cert_time: ignore_time,
            timeout: self.settings.timeout,
            ..NtsClientConfig::default()
        };
        let client = match self.settings.trust(set) {
            Some((trusted_certs, system_certs)) => KeClient::new(&NtsClientConfig {
                trusted_certs,
                system_certs,
                ..config
            })?,
            None => KeClient::trusting_nothing(&config)?,
        };
        self.clients.insert((set, ignore_time), client.clone());
        Ok(client)
    }

    /// Starts NTS-KE for source `id` at `now`: connects to its NTS-KE
    /// server and readies the handshake; `clock_updates` says whether
    /// `nocerttimecheck` still applies. An error (the client cannot be
    /// set up, no connection) is the failed handshake's.
    pub fn start(
        &mut self,
        id: SourceId,
        peer: &PeerNts,
        clock_updates: u32,
        now: Instant,
    ) -> Result<(), KeFailure> {
        let ignore_time = clock_updates < self.settings.no_cert_time_check;
        let handshake = self
            .client(peer.certset, ignore_time)?
            .handshake(&peer.host)?;
        let address = peer.ke_address;
        let connect = |source| KeFailure::Connect { address, source };
        let stream = sys::tcp_connecting(address).map_err(connect)?;
        stream.set_nodelay(true).map_err(connect)?;
        self.running.push(Running {
            id,
            nts: peer.clone(),
            stream,
            connected: false,
            handshake,
            deadline: now + self.settings.timeout,
        });
        Ok(())
    }

    /// The handshakes that finished since the last call.
    pub fn finished(&mut self) -> Vec<KeDone> {
        mem::take(&mut self.done)
    }

    /// Source `id` is no longer followed: its handshake, running or
    /// finished, is dropped (its id may be given to another source).
    pub fn cancel(&mut self, id: SourceId) {
        self.running.retain(|running| running.id != id);
        self.resolving.retain(|resolving| resolving.id != id);
        self.done.retain(|done| done.id != id);
    }
}

/// Takes in the NTS-KE handshakes that finished (the session for the
/// node, the peer's socket moved to the NTP server they name) and starts,
/// those the node wants at `now`.
pub(super) fn run_handshakes(
    node: &mut DriverNode<'_>,
    peers: &mut [Peer],
    ke: &mut KeRunner,
    now: NtpTimestamp,
    client: &mut ClientPorts,
    serving: &ServeSockets,
) {
    for done in ke.finished() {
        let Some(peer) = peers.iter_mut().find(|p| p.id == done.id) else {
            continue;
        };
        let moved = done.result.and_then(|(outcome, address)| {
            let old = peer.server();
            if address != old {
                peer.move_to(address, client, serving).map_err(|source| {
                    (KeFailure::Socket { address, source }, KeEnding::Handshake)
                })?;
                if address.ip() == old.ip() {
                    log::info!(
                        "Source {} ({}) changed port to {}",
                        address.ip(),
                        peer.name,
                        address.port()
                    );
                } else {
                    log::info!(
                        "Source {} changed to {} ({})",
                        old.ip(),
                        address.ip(),
                        peer.name
                    );
                }
            }
            Ok(outcome.session)
        });
        match moved {
            Ok(session) => {
                log::info!(
                    "NTS session with {}: {} cookies from NTS-KE",
                    peer.name,
                    session.cookies()
                );
                // The node asked for this source's handshake: it uses NTS.
                let _ = node.set_nts_session(peer.id, session, now);
            }
            Err((error, ending)) => {
                let retry_in = node.nts_ke_failed(peer.id, now, ending).unwrap_or(0);
                log::warn!(
                    "NTS-KE with {} failed: {error}; next attempt in {retry_in} s at the earliest",
                    peer.name
                );
            }
        }
    }
    let updates = node.system().clock_updates();
    while let Some(id) = node.poll_nts_ke() {
        let Some((peer, nts)) = peers
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| Some((p, p.nts.as_ref()?)))
        else {
            // Not a source of ours to run NTS-KE for: it is answered, so
            // that it is not left waiting for a handshake.
            let _ = node.nts_ke_failed(id, now, KeEnding::Connection);
            continue;
        };
        if let Err(error) = ke.start(id, nts, updates, Instant::now()) {
            let ending = error.ending(false);
            let retry_in = node.nts_ke_failed(id, now, ending).unwrap_or(0);
            log::warn!(
                "NTS-KE with {} failed: {error}; next attempt in {retry_in} s at the earliest",
                peer.name
            );
        }
    }
}

/// Saves the NTS sources' sessions in `ntsdumpdir` at `now` (on the way
/// out).
pub(super) fn save_cookies(
    node: &DriverNode<'_>,
    peers: &[Peer],
    ke: &KeRunner,
    now: NtpTimestamp,
) {
    let Some(dir) = &ke.settings().dump_dir else {
        return;
    };
    let system = node.system();
    let wall = SystemTime::now();
    for peer in peers {
        let (Some(nts), Some(state)) = (&peer.nts, system.nts_state(peer.id)) else {
            continue;
        };
        // (Not a session the server refused: its cookies are of no use.)
        let Some(session) = state.session().filter(|s| s.cookies() > 0 && !state.nak()) else {
            continue;
        };
        let age = state
            .last_ke()
            .map_or(0.0, |made| (now - made).to_seconds_f64().max(0.0));
        let saved = SavedSession {
            name: nts.host.clone(),
            made: wall
                .checked_sub(Duration::from_secs_f64(age))
                .unwrap_or(wall),
            ntp_address: peer.server(),
            number: state.sessions(),
            session: session.clone(),
        };
        if let Err(e) = files::save_cookies(dir, nts, &saved) {
            log::warn!(
                "Could not save the NTS cookies of {} in {}: {e}",
                peer.name,
                dir.display()
            );
        }
    }
}
