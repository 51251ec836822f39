//! Keys and NTS: every directive and source option of chrony's
//! authentication, parsed into [`AuthConfig`] and [`SourceAuth`], in this
//! one place.
//!
//! [`ACTED_ON`] (directives) and [`OPTIONS_ACTED_ON`] (`"key"`, `"nts"`, ...
//! of source lines) list what is acted on; every other line gives a warning
//! with [`AUTH_NOT_ACTED_ON`].

use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use super::directives::{path, Args, Parser};
use super::scan::Cursor;
use super::LineError;
pub use crate::select::AuthSelectMode;
use crate::server::RateLimit;

/// Why the authentication directives and options are not acted on.
pub const AUTH_NOT_ACTED_ON: &str = "authentication is not implemented yet";

/// The authentication source options ntpkit acts on (the client's keys and
/// NTS, see [`crate::linux::driver::DriverConfig::from_config`]); every other
/// one warns.
pub const OPTIONS_ACTED_ON: &[&str] = &["key", "nts", "ntsport", "certset"];

/// The authentication directives that ntpkit acts on (a server's keys and
/// its NTS-KE server, see [`crate::linux::serve::ServingAuth`]; the client's
/// keys, trusted certificates and NTS settings, see
/// [`crate::linux::driver::DriverConfig::from_config`]); every other one
/// warns.
pub const ACTED_ON: &[&str] = &[
    "ntstrustedcerts",
    "nosystemcert",
    "nocerttimecheck",
    "ntsrefresh",
    "authselectmode",
    "keyfile",
    "ntsserverkey",
    "ntsservercert",
    "ntsport",
    "ntsrotate",
    "ntsdumpdir",
    "ntscachedir",
    "maxntsconnections",
    "ntsprocesses",
    "ntsntpserver",
];

/// The authentication directives.
#[derive(Debug, Clone, PartialEq)]
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
            nts_port: 4460,
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
            nts_port: 4460,
            certset: 0,
        }
    }
}

/// The authentication directive `name`, if it is one; `Ok(true)` when it
/// was parsed.
pub(super) fn directive(
    parser: &mut Parser<'_>,
    name: &'static str,
    args: &mut Args<'_>,
) -> Result<bool, LineError> {
    let auth = &mut parser.config.auth;
    match name {
        "keyfile" => auth.keyfile = Some(path(args)?),
        "ntsdumpdir" | "ntscachedir" => auth.nts_dump_dir = Some(path(args)?),
        "ntsservercert" => auth.nts_server_certs.push(path(args)?),
        "ntsserverkey" => auth.nts_server_keys.push(path(args)?),
        "ntsport" => {
            let port = args.int()?;
            match u16::try_from(port) {
                Ok(port) => auth.nts_port = port,
                Err(_) => parser.out_of_range(name, port, "0..65535", "4460"),
            }
        }
        "ntsprocesses" => auth.nts_processes = args.int()?,
        "maxntsconnections" => auth.max_nts_connections = args.int()?,
        "ntsrotate" => auth.nts_rotate = args.int()?,
        "ntsrefresh" => auth.nts_refresh = args.int()?,
        "nocerttimecheck" => auth.no_cert_time_check = args.int()?,
        "ntsntpserver" => auth.nts_ntp_server = Some(args.string()?.into()),
        "nosystemcert" => {
            args.none()?;
            auth.no_system_cert = true;
        }
        "ntstrustedcerts" => {
            // `[SET] PATH`: with two words the first is a set number, read
            // as sscanf("%u") reads it.
            let (set, file) = match args.count() {
                2 => {
                    let set_word = args.word("a certificate set")?;
                    let set = Cursor::new(set_word)
                        .uint32()
                        .ok_or_else(|| args.bad(set_word, "certificate set"))?;
                    (set, args.word("a path")?)
                }
                _ => {
                    args.expect(1, "a path")?;
                    (0, args.word("a path")?)
                }
            };
            auth.nts_trusted_certs.push((set, PathBuf::from(file)));
        }
        "ntsratelimit" => auth.nts_rate_limit = Some(args.rate_limit(false)?),
        "authselectmode" => {
            let mode = args.rest();
            auth.select_mode = Some(match mode.to_ascii_lowercase().as_str() {
                "require" => AuthSelectMode::Require,
                "prefer" => AuthSelectMode::Prefer,
                "mix" => AuthSelectMode::Mix,
                "ignore" => AuthSelectMode::Ignore,
                _ => return Err(args.bad(mode, "mode")),
            });
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Whether the directive `name` is acted on.
pub(super) fn acted_on(name: &str) -> bool {
    ACTED_ON.contains(&name)
}

/// Whether the source option `name` is acted on.
pub(super) fn option_acted_on(name: &str) -> bool {
    OPTIONS_ACTED_ON.contains(&name)
}

/// The names [`directive`] handles.
pub(super) const DIRECTIVES: &[&str] = &[
    "keyfile",
    "ntsdumpdir",
    "ntscachedir",
    "ntsservercert",
    "ntsserverkey",
    "ntsport",
    "ntsprocesses",
    "maxntsconnections",
    "ntsrotate",
    "ntsrefresh",
    "nocerttimecheck",
    "ntsntpserver",
    "nosystemcert",
    "ntstrustedcerts",
    "ntsratelimit",
    "authselectmode",
];
