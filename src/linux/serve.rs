//! Serving NTP: the sockets and the server [`ServeSettings`] describe, for
//! the [driver](crate::linux::driver) to answer on (the node decides what is
//! served and writes the replies; the driver moves them in batches with
//! `recvmmsg`/`sendmmsg`). With [`Serving::set_keys`] and
//! [`Serving::set_nts`] it also answers requests authenticated with
//! symmetric keys and NTS (the NTS-KE server runs in its own thread, see
//! [`super::nts::ke_server`]).

use std::vec::Vec;

use std::sync::Arc;

use super::nts::ke_server::KeServer;
use super::nts::server_keys::SharedKeys;
use super::settings::ServeSettings;
use super::socket::{bind_each, NtpSocket, SocketError, SocketOptions};
use crate::auth::KeyStore;
use crate::chrony::keyfile::KeyFile;
use crate::nts::NtsServer;
use crate::random::Random;
use crate::server::{ClientRecord, Server};
use core::mem::size_of;

/// The most client log records a server keeps (2^20 × 36 bytes = 36 MiB,
/// whatever `clientloglimit` says; chronyd's default limit holds 14563).
pub const MAX_CLIENT_RECORDS: usize = 1 << 20;

/// Serving NTP from a set of sockets: the sockets, and the server (access
/// rules, rate limiting, keys, counters) the node answers with.
#[derive(Debug)]
pub struct Serving<'a> {
    /// The sockets to answer on.
    pub sockets: Vec<NtpSocket>,
    /// The sockets at `ptpport` (NTP over PTP: see [`crate::wire::ptp`]).
    pub ptp_sockets: Vec<NtpSocket>,
    /// The server.
    pub server: Server<'a>,
    /// The NTS-KE server's cookie keys, which it rotates (see
    /// [`Serving::set_nts`]).
    pub nts_keys: Option<Arc<SharedKeys>>,
}

/// The client log's table for `settings`: as many records as
/// `clientloglimit` bytes hold (chronyd's rule; at most
/// [`MAX_CLIENT_RECORDS`]), none with `noclientlog`.
pub fn client_log_table(settings: &ServeSettings) -> Vec<ClientRecord> {
    let records = usize::try_from(settings.client_log_bytes / size_of::<ClientRecord>() as u64)
        .unwrap_or(usize::MAX)
        .min(MAX_CLIENT_RECORDS);
    std::vec![ClientRecord::EMPTY; records]
}

impl<'a> Serving<'a> {
    /// What `settings` serve: sockets on their addresses (with
    /// `reuse_port`, sharing the port with other threads' sockets), their
    /// access rules, client log and rate limit (records in `table`, see
    /// [`client_log_table`]), with the clock's `precision` and the
    /// log's keyed-hash `seed`. A host without IPv6 serves IPv4 only:
    /// the IPv6 wildcard's error is returned beside.
    pub fn bind(
        settings: &ServeSettings,
        precision: i8,
        table: &'a mut [ClientRecord],
        seed: [u64; 2],
        reuse_port: bool,
    ) -> Result<(Self, Vec<SocketError>), SocketError> {
        let options = SocketOptions {
            reuse_port,
            receive_buffer: Some(4 << 20),
            ..SocketOptions::default()
        };
        let (sockets, mut skipped) = bind_each(&settings.addresses, &options)?;
        let ptp_sockets = match settings.ptp_port {
            Some(port) => {
                let addresses: Vec<std::net::SocketAddr> = settings
                    .addresses
                    .iter()
                    .map(|a| std::net::SocketAddr::new(a.ip(), port))
                    .collect();
                let (ptp, ptp_skipped) = bind_each(&addresses, &options)?;
                skipped.extend(ptp_skipped);
                ptp
            }
            None => Vec::new(),
        };
        let mut config = settings.server.clone();
        config.precision = precision;
        let server = Server::new(*config, table, seed);
        let serving = Serving {
            sockets,
            ptp_sockets,
            server,
            nts_keys: None,
        };
        Ok((serving, skipped))
    }

    /// Answers requests with a MAC under these keys (chrony's `keyfile`,
    /// see [`KeyFile`]) with the same key.
    pub fn set_keys(&mut self, keys: KeyStore<'a>) {
        self.server.set_keys(keys);
    }

    /// Answers NTS requests whose cookies were made under `keys` (an
    /// [`KeServer`]'s, which it rotates:
    /// the driver picks up a rotation before each batch). `nonce_prefix`
    /// must differ between the threads sharing the keys (random is good).
    pub fn set_nts(&mut self, keys: Arc<SharedKeys>, nonce_prefix: [u8; 8]) {
        self.server
            .set_nts(NtsServer::new(keys.get(), nonce_prefix));
        self.nts_keys = Some(keys);
    }
}

/// What a server answers authenticated requests with: the `keyfile`'s
/// keys, and, with `ntsservercert`/`ntsserverkey`, an NTS-KE server (its
/// own thread) whose cookie keys the NTP side opens.
#[derive(Debug)]
pub struct ServingAuth {
    keys: KeyFile,
    ke_server: Option<KeServer>,
}

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServingAuthError {
    /// The key file.
    #[error(transparent)]
    KeyFile(#[from] crate::chrony::keyfile::KeyFileError),
    /// A key in it.
    #[error("keyfile: {0}")]
    Key(#[from] crate::auth::KeyError),
    /// The NTS-KE server.
    #[error("NTS-KE server: {0}")]
    Nts(#[from] super::nts::ke_server::NtsServerError),
}

impl ServingAuth {
    /// Reads the `keyfile` of `settings` and starts their NTS-KE server,
    /// if they have certificates. Warnings (a key file others can read,
    /// short keys) go to `warn`.
    pub fn start(
        settings: &ServeSettings,
        mut warn: impl FnMut(&str),
    ) -> Result<ServingAuth, ServingAuthError> {
        let keys = match &settings.keyfile {
            Some(path) => KeyFile::load(path)?,
            None => KeyFile::default(),
        };
        for warning in &keys.warnings {
            warn(warning);
        }
        keys.store()?;
        let ke_server = match &settings.nts {
            Some(nts) => Some(KeServer::start(nts)?),
            None => None,
        };
        Ok(ServingAuth { keys, ke_server })
    }

    /// The NTS-KE server, if one runs.
    pub fn ke_server(&self) -> Option<&KeServer> {
        self.ke_server.as_ref()
    }

    /// How many symmetric keys are loaded.
    pub fn key_count(&self) -> usize {
        self.keys.store().map_or(0, |store| store.len())
    }

    /// Makes `serving` answer requests authenticated with these keys and
    /// NTS cookies.
    pub fn apply<'a>(&'a self, serving: &mut Serving<'a>) {
        if let Ok(store) = self.keys.store() {
            serving.set_keys(store);
        }
        if let Some(server) = &self.ke_server {
            let mut prefix = [0u8; 8];
            crate::random::OsRandom.fill_bytes(&mut prefix);
            serving.set_nts(server.shared_keys(), prefix);
        }
    }
}
