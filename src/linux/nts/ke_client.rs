//! The daemon's side of the NTS-KE client ([`crate::nts::ke_client`],
//! re-exported here): chrony's settings for it, and its cookies saved in
//! `ntsdumpdir` and loaded after a restart, so that a restarted client
//! needs no new handshake.

use std::format;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;

use crate::chrony::hex;
use crate::linux::files::write_atomically;
use crate::nts::aead::{AeadAlgorithm, AeadKey};
pub use crate::nts::ke_client::{
    KeClient, KeClientError, KeHandshake, KeOutcome, NtsClientConfig, DEFAULT_TIMEOUT,
};
use crate::nts::{NtsSession, SessionKeys};

/// The NTS client's settings (chrony's `ntstrustedcerts`, `nosystemcert`,
/// `nocerttimecheck`, `ntsdumpdir`).
#[derive(Debug, Clone, PartialEq)]
pub struct NtsSettings {
    /// `ntstrustedcerts [SET] PATH`: trusted CA files or directories, by
    /// certificate set.
    pub trusted_certs: Vec<(u32, PathBuf)>,
    /// `nosystemcert`: set 0 does not hold the system's trusted CAs.
    pub no_system_certs: bool,
    /// `nocerttimecheck N`: certificates' validity times are not checked
    /// until the clock was updated N times.
    pub no_cert_time_check: u32,
    /// `ntsdumpdir`: where the cookies are saved on the way out and loaded
    /// from at start.
    pub dump_dir: Option<PathBuf>,
    /// How long one NTS-KE may take.
    pub timeout: Duration,
}

impl Default for NtsSettings {
    fn default() -> Self {
        NtsSettings {
            trusted_certs: Vec::new(),
            no_system_certs: false,
            no_cert_time_check: 0,
            dump_dir: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl NtsSettings {
    /// The trusted CAs of certificate set `set`: its paths, and for set 0
    /// the system's store unless `nosystemcert`. `None` when the set holds
    /// nothing (no server could be verified).
    pub fn trust(&self, set: u32) -> Option<(Vec<PathBuf>, bool)> {
        let paths: Vec<PathBuf> = self
            .trusted_certs
            .iter()
            .filter(|(s, _)| *s == set)
            .map(|(_, path)| path.clone())
            .collect();
        let system = set == 0 && !self.no_system_certs;
        (system || !paths.is_empty()).then_some((paths, system))
    }
}

const DUMP_HEADER: &str = "ntpkit-nts-cookies 1";

/// The dump file of the source `name` (for example its host name) in
/// `dir`: `name` with anything but letters, digits, `.`, `-` and `_`
/// replaced.
pub fn dump_path(dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.nts"))
}

/// Saves `outcome` (keys, the cookies left, the NTP server) as the dump of
/// source `name` in `dir` (mode 0600, replaced atomically).
pub fn save(dir: &Path, name: &str, outcome: &KeOutcome) -> io::Result<PathBuf> {
    let keys = outcome.session.keys();
    let mut text = format!(
        "{DUMP_HEADER}\nserver {} {}\naead {}\nc2s {}\ns2c {}\n",
        outcome.ntp_server,
        outcome.ntp_port,
        keys.algorithm().id(),
        hex::encode(keys.c2s.bytes()),
        hex::encode(keys.s2c.bytes())
    );
    for cookie in outcome.session.iter_cookies() {
        text.push_str(&format!("cookie {}\n", hex::encode(cookie)));
    }
    let path = dump_path(dir, name);
    write_atomically(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// Loads the dump of source `name` from `dir`: `None` when there is none or
/// it has no cookie left; a damaged file is an error naming it and its
/// line.
pub fn load(dir: &Path, name: &str) -> io::Result<Option<KeOutcome>> {
    let path = dump_path(dir, name);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |line: usize| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}:{line}: not an NTS cookie dump line", path.display()),
        )
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&DUMP_HEADER) || lines.len() < 5 {
        return Err(bad(1));
    }
    let field = |i: usize, key: &str| {
        lines[i]
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad(i + 1))
    };
    let (server, port) = field(1, "server")?.rsplit_once(' ').ok_or_else(|| bad(2))?;
    let port: u16 = port.parse().map_err(|_| bad(2))?;
    let algorithm = field(2, "aead")?
        .parse()
        .ok()
        .and_then(AeadAlgorithm::from_id)
        .ok_or_else(|| bad(3))?;
    let key = |i: usize, name: &str| {
        hex::decode(field(i, name)?)
            .and_then(|b| AeadKey::new(algorithm, &b))
            .ok_or_else(|| bad(i + 1))
    };
    let keys = SessionKeys {
        c2s: key(3, "c2s")?,
        s2c: key(4, "s2c")?,
    };
    let mut session = NtsSession::new(keys);
    for i in 5..lines.len() {
        let cookie = hex::decode(field(i, "cookie")?).ok_or_else(|| bad(i + 1))?;
        session.add_cookie(&cookie).map_err(|_| bad(i + 1))?;
    }
    if session.cookies() == 0 {
        return Ok(None);
    }
    Ok(Some(KeOutcome {
        session,
        ntp_server: server.to_string(),
        ntp_port: port,
    }))
}
