//! Keys and NTS: chrony's authentication directives, read into
//! [`AuthConfig`] here (the table of directives names the readers), and
//! the source options `key`, `nts`, `ntsport` and `certset`, read into
//! [`SourceAuth`] with the other source options (`sources.rs`).

use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use super::reader::{Args, RateOptions, Reader};
use super::scan::Cursor;
use super::{LineError, Location};
pub use crate::select::AuthSelectMode;
use crate::server::RateLimit;

/// The authentication directives.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuthConfig {
    /// `keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `ntsdumpdir` (or its old name `ntscachedir`).
    pub nts_dump_dir: Option<PathBuf>,
    /// `ntsservercert`, in order.
    pub nts_server_certs: Vec<PathBuf>,
    /// `ntsserverkey`, in order (paired with the certificates).
    pub nts_server_keys: Vec<PathBuf>,
    /// `ntsport`: the NTS-KE server port (default 4460).
    pub nts_port: u16,
    /// `ntsprocesses` (default 1).
    pub nts_processes: i32,
    /// `maxntsconnections` (default 100).
    pub max_nts_connections: i32,
    /// `ntsrotate`, seconds (default 604800; 0: keys managed elsewhere).
    pub nts_rotate: i32,
    /// `ntsrefresh`, seconds (default 2419200).
    pub nts_refresh: i32,
    /// `ntstrustedcerts [SET] PATH`, in order.
    pub nts_trusted_certs: Vec<(u32, PathBuf)>,
    /// `nosystemcert`.
    pub no_system_cert: bool,
    /// `nocerttimecheck N` (default 0).
    pub no_cert_time_check: i32,
    /// `ntsntpserver`.
    pub nts_ntp_server: Option<String>,
    /// `ntsratelimit`.
    pub nts_rate_limit: Option<RateLimit>,
    /// `authselectmode`.
    pub select_mode: Option<AuthSelectMode>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            keyfile: None,
            nts_dump_dir: None,
            nts_server_certs: Vec::new(),
            nts_server_keys: Vec::new(),
            nts_port: crate::nts::ke::DEFAULT_PORT,
            nts_processes: 1,
            max_nts_connections: 100,
            nts_rotate: 604_800,
            nts_refresh: 2_419_200,
            nts_trusted_certs: Vec::new(),
            no_system_cert: false,
            no_cert_time_check: 0,
            nts_ntp_server: None,
            nts_rate_limit: None,
            select_mode: None,
        }
    }
}

/// A source's authentication options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAuth {
    /// `key ID` (1 to 2^32-1).
    pub key: Option<u32>,
    /// `nts`.
    pub nts: bool,
    /// `ntsport N`: the server's NTS-KE port (default 4460).
    pub nts_port: u16,
    /// `certset ID` (default 0).
    pub certset: u32,
}

impl Default for SourceAuth {
    fn default() -> Self {
        SourceAuth {
            key: None,
            nts: false,
            nts_port: crate::nts::ke::DEFAULT_PORT,
            certset: 0,
        }
    }
}

/// Why `ntsratelimit` is not acted on.
pub(super) const NTS_RATE_LIMIT_NOT_ACTED_ON: &str =
    "the NTS-KE server does not rate limit (it limits its connections: maxntsconnections)";

// The authentication directives' readers, for the table of directives.

pub(super) fn keyfile(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    r.config.auth.keyfile = Some(a.path()?);
    Ok(())
}

/// `ntsdumpdir`, or its old name `ntscachedir`.
pub(super) fn ntsdumpdir(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_dump_dir = Some(a.path()?);
    Ok(())
}

pub(super) fn ntsservercert(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    at: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_server_certs.push(a.path()?);
    r.nts_server_at = Some(at.clone());
    Ok(())
}

pub(super) fn ntsserverkey(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    at: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_server_keys.push(a.path()?);
    r.nts_server_at = Some(at.clone());
    Ok(())
}

pub(super) fn ntsport(r: &mut Reader<'_>, a: &mut Args<'_>, _: &Location) -> Result<(), LineError> {
    if let Some(port) = r.port(a)? {
        r.config.auth.nts_port = port;
    }
    Ok(())
}

pub(super) fn ntsprocesses(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_processes = a.int()?;
    Ok(())
}

pub(super) fn maxntsconnections(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.max_nts_connections = a.int()?;
    Ok(())
}

pub(super) fn ntsrotate(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_rotate = a.int()?;
    Ok(())
}

pub(super) fn ntsrefresh(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_refresh = a.int()?;
    Ok(())
}

pub(super) fn nocerttimecheck(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.no_cert_time_check = a.int()?;
    Ok(())
}

pub(super) fn ntsntpserver(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_ntp_server = Some(a.string()?.into());
    Ok(())
}

pub(super) fn nosystemcert(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    a.none()?;
    r.config.auth.no_system_cert = true;
    Ok(())
}

/// `ntstrustedcerts [SET] PATH`: with two words the first is a set number,
/// read as sscanf("%u") reads it.
pub(super) fn ntstrustedcerts(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    let (set, file) = match a.count() {
        2 => {
            let set_word = a.word("a certificate set")?;
            let set = Cursor::new(set_word)
                .uint32()
                .ok_or_else(|| a.bad(set_word, "certificate set"))?;
            (set, a.word("a path")?)
        }
        _ => {
            a.expect(1, "a path")?;
            (0, a.word("a path")?)
        }
    };
    r.config
        .auth
        .nts_trusted_certs
        .push((set, PathBuf::from(file)));
    Ok(())
}

pub(super) fn ntsratelimit(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    at: &Location,
) -> Result<(), LineError> {
    r.config.auth.nts_rate_limit = Some(a.rate_limit(RateOptions::Plain)?);
    r.ratelimit_at = Some(at.clone());
    Ok(())
}

pub(super) fn authselectmode(
    r: &mut Reader<'_>,
    a: &mut Args<'_>,
    _: &Location,
) -> Result<(), LineError> {
    let mode = a.rest();
    r.config.auth.select_mode = Some(match mode.to_ascii_lowercase().as_str() {
        "require" => AuthSelectMode::Require,
        "prefer" => AuthSelectMode::Prefer,
        "mix" => AuthSelectMode::Mix,
        "ignore" => AuthSelectMode::Ignore,
        _ => return Err(a.bad(mode, "mode")),
    });
    Ok(())
}
