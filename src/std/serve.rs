//! Serving NTP: the sockets and the server a chrony.conf describes, for
//! the [driver](crate::std::driver) to answer on (the node decides what is
//! served and writes the replies; the driver moves them in batches with
//! `recvmmsg`/`sendmmsg`).

use libstd::vec::Vec;

use super::config::Config;
use super::driver::Serving;
use super::socket::{bind_each, SocketError, SocketOptions};
use crate::server::{ClientRecord, Server};

/// Rate-limit records of a server that limits (`ratelimit`): 65536 × 28
/// bytes = 1.75 MiB, fixed whatever the number of clients.
pub const RATE_LIMIT_RECORDS: usize = 1 << 16;

/// A rate-limit table for `config`: [`RATE_LIMIT_RECORDS`] records with
/// `ratelimit`, none without.
pub fn rate_limit_table(config: &Config) -> Vec<ClientRecord> {
    let records = if config.rate_limit.is_some() {
        RATE_LIMIT_RECORDS
    } else {
        0
    };
    libstd::vec![ClientRecord::EMPTY; records]
}

impl<'a> Serving<'a> {
    /// What `config` serves on `port`: sockets on its `bindaddress` lines
    /// (or the IPv4 and IPv6 wildcards; with `reuse_port`, sharing the port
    /// with other threads' sockets), its access rules and rate limit
    /// (records in `table`, see [`rate_limit_table`]), with the clock's
    /// `precision` and the rate limiter's keyed-hash `seed`. A host without
    /// IPv6 serves IPv4 only: the IPv6 wildcard's error is returned beside.
    pub fn bind(
        config: &Config,
        port: u16,
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
        let (sockets, skipped) = bind_each(&config.serve_addresses(port), &options)?;
        let server = Server::new(config.server_config(precision), table, seed);
        Ok((Serving { sockets, server }, skipped))
    }
}
