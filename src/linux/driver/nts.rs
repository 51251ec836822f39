//! NTS-KE for the driver's NTS sources, off the NTP path: each handshake
//! (TLS over TCP, blocking, bounded by its time-out) runs in a helper
//! thread of its own, which sends the outcome back on a channel and wakes
//! the driver's `poll(2)` through a socket pair. The node decides when a
//! source needs one ([`crate::node::Node::poll_nts_ke`]) and paces failures;
//! this module runs them, resolves where NTP goes afterwards, and names the
//! `ntsdumpdir` files the cookies are kept in across restarts.

use super::DriverNode;
use std::collections::HashMap;
use std::format;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::string::String;
use std::sync::mpsc::{self, Receiver, Sender};
use std::vec::Vec;

use super::files;
use super::outgoing::ClientPorts;
use super::peers::Peer;
use super::serving::ServeSockets;
use crate::linux::nts::ke_client::{
    KeClient, KeClientError, KeOutcome, NtsClientConfig, NtsSettings,
};
use crate::time::NtpTimestamp;

/// An NTS source of the driver: where its NTS-KE server is and what NTP
/// address the last handshake gave.
#[derive(Debug, Clone)]
pub(super) struct PeerNts {
    /// The name the server's certificate must carry (the configured host).
    pub host: String,
    /// The NTS-KE server (the host's address, `ntsport`).
    pub ke_address: SocketAddr,
    /// The trusted certificate set (`certset`).
    pub certset: u32,
    /// The NTP server the last NTS-KE named (kept in the dump).
    pub ntp_server: String,
    /// Its NTP port.
    pub ntp_port: u16,
}

impl PeerNts {
    /// The name of this source's `ntsdumpdir` file: the NTS-KE server's
    /// address and port (chronyd names its own files by the address
    /// alone; the prefix keeps them apart in a shared directory).
    pub fn dump_name(&self) -> String {
        format!("ntpkit-{}-{}", self.ke_address.ip(), self.ke_address.port())
    }

    /// Where NTP goes after `outcome`: its Server record's address (the
    /// NTS-KE server's when it names none) at its Port record's port.
    pub fn ntp_address(&self, outcome: &KeOutcome) -> io::Result<SocketAddr> {
        if outcome.ntp_server == self.host {
            return Ok(SocketAddr::new(self.ke_address.ip(), outcome.ntp_port));
        }
        (outcome.ntp_server.as_str(), outcome.ntp_port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: no address", outcome.ntp_server),
                )
            })
    }
}

/// Why an NTS-KE for a source failed or could not start (logged with the
/// source's name, and retried as the node paces it).
#[derive(Debug, thiserror::Error)]
pub(super) enum KeFailure {
    /// The source's certificate set (`certset`) has nothing to trust.
    #[error("certificate set {0} holds no trusted certificate")]
    NoTrustedCertificate(u32),
    /// The client could not be set up, or the handshake failed.
    #[error(transparent)]
    Client(#[from] KeClientError),
    /// The driver's wake-up socket could not be shared with the thread.
    #[error(transparent)]
    Wake(io::Error),
    /// The helper thread could not be started.
    #[error("NTS-KE thread: {0}")]
    Thread(io::Error),
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
/// it failed.
pub(super) struct KeDone {
    /// The peer's index.
    pub peer: usize,
    /// The session and where NTP goes.
    pub result: Result<(KeOutcome, SocketAddr), KeFailure>,
}

/// Runs handshakes in helper threads.
pub(super) struct KeRunner {
    settings: NtsSettings,
    /// NTS-KE clients by certificate set and whether times are checked.
    clients: HashMap<(u32, bool), KeClient>,
    done_tx: Sender<KeDone>,
    done_rx: Receiver<KeDone>,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
}

impl KeRunner {
    pub fn new(settings: NtsSettings) -> io::Result<KeRunner> {
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        let (done_tx, done_rx) = mpsc::channel();
        Ok(KeRunner {
            settings,
            clients: HashMap::new(),
            done_tx,
            done_rx,
            wake_rx,
            wake_tx,
        })
    }

    pub fn settings(&self) -> &NtsSettings {
        &self.settings
    }

    /// Readable when a handshake finished.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_rx.as_fd()
    }

    /// The client for certificate set `set`, checking certificate times
    /// unless `ignore_time` (built once each).
    fn client(&mut self, set: u32, ignore_time: bool) -> Result<KeClient, KeFailure> {
        if let Some(client) = self.clients.get(&(set, ignore_time)) {
            return Ok(client.clone());
        }
        let (trusted_certs, system_certs) = self
            .settings
            .trust(set)
            .ok_or(KeFailure::NoTrustedCertificate(set))?;
        let client = KeClient::new(&NtsClientConfig {
            trusted_certs,
            system_certs,
            ignore_cert_time: ignore_time,
            timeout: self.settings.timeout,
            ..NtsClientConfig::default()
        })?;
        self.clients.insert((set, ignore_time), client.clone());
        Ok(client)
    }

    /// Starts NTS-KE for peer `index` in a helper thread; `clock_updates`
    /// says whether `nocerttimecheck` still applies. An error (no trusted
    /// certificate, no thread) is the failed handshake's.
    pub fn start(
        &mut self,
        index: usize,
        peer: &PeerNts,
        clock_updates: u32,
    ) -> Result<(), KeFailure> {
        let ignore_time = clock_updates < self.settings.no_cert_time_check;
        let client = self.client(peer.certset, ignore_time)?;
        let peer = peer.clone();
        let done = self.done_tx.clone();
        let mut wake = self.wake_tx.try_clone().map_err(KeFailure::Wake)?;
        std::thread::Builder::new()
            .name("ntpkit-nts-ke".into())
            .spawn(move || {
                let result = client
                    .establish(&peer.host, peer.ke_address)
                    .map_err(KeFailure::Client)
                    .and_then(|outcome| {
                        let address = peer.ntp_address(&outcome).map_err(KeFailure::NtpAddress)?;
                        Ok((outcome, address))
                    });
                // The driver may be gone: then nobody waits for this.
                let _ = done.send(KeDone {
                    peer: index,
                    result,
                });
                let _ = wake.write_all(&[1]);
            })
            .map_err(KeFailure::Thread)?;
        Ok(())
    }

    /// The handshakes that finished since the last call.
    pub fn finished(&mut self) -> Vec<KeDone> {
        let mut drain = [0u8; 64];
        while matches!(self.wake_rx.read(&mut drain), Ok(n) if n > 0) {}
        self.done_rx.try_iter().collect()
    }
}

/// Takes in the NTS-KE handshakes that finished (the session for the
/// node, the peer's socket moved to the NTP server they name) and starts,
/// in helper threads, those the node wants at `now`.
pub(super) fn run_handshakes(
    node: &mut DriverNode<'_>,
    peers: &mut [Peer],
    ke: &mut KeRunner,
    now: NtpTimestamp,
    client: &mut ClientPorts,
    serving: &ServeSockets,
) {
    for done in ke.finished() {
        let Some(peer) = peers.get_mut(done.peer) else {
            continue;
        };
        let moved = done.result.and_then(|(outcome, address)| {
            if address != peer.server() {
                peer.move_to(address, client, serving)
                    .map_err(|source| KeFailure::Socket { address, source })?;
            }
            if let Some(nts) = &mut peer.nts {
                nts.ntp_server = outcome.ntp_server;
                nts.ntp_port = outcome.ntp_port;
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
            Err(error) => {
                let retry_in = node.nts_ke_failed(peer.id, now).unwrap_or(0);
                log::warn!(
                    "NTS-KE with {} failed: {error}; next attempt in {retry_in} s",
                    peer.name
                );
            }
        }
    }
    let updates = node.system().clock_updates();
    while let Some(id) = node.poll_nts_ke(now) {
        let Some((index, peer)) = peers.iter().enumerate().find(|(_, p)| p.id == id) else {
            continue;
        };
        let Some(nts) = &peer.nts else {
            continue;
        };
        if let Err(error) = ke.start(index, nts, updates) {
            let retry_in = node.nts_ke_failed(id, now).unwrap_or(0);
            log::warn!(
                "NTS-KE with {} failed: {error}; next attempt in {retry_in} s",
                peer.name
            );
        }
    }
}

/// Saves the NTS sources' cookies in `ntsdumpdir` (on the way out).
pub(super) fn save_cookies(node: &DriverNode<'_>, peers: &[Peer], ke: &KeRunner) {
    let Some(dir) = &ke.settings().dump_dir else {
        return;
    };
    let system = node.system();
    for peer in peers {
        let (Some(nts), Some(session)) = (
            &peer.nts,
            system.nts_state(peer.id).and_then(|s| s.session()),
        ) else {
            continue;
        };
        if session.cookies() == 0 {
            continue;
        }
        let outcome = KeOutcome {
            session: session.clone(),
            ntp_server: nts.ntp_server.clone(),
            ntp_port: nts.ntp_port,
        };
        if let Err(e) = files::save_cookies(dir, nts, &outcome) {
            log::warn!(
                "Could not save the NTS cookies of {} in {}: {e}",
                peer.name,
                dir.display()
            );
        }
    }
}
