//! The daemon's side of the NTS-KE client ([`crate::nts::ke_client`],
//! re-exported here): chrony's settings for it, and its sessions saved in
//! `ntsdumpdir` (in chronyd's files) and loaded after a restart, so that a
//! restarted client needs no new handshake.

use std::format;
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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

/// The first line of a dump (chronyd's).
const DUMP_IDENTIFIER: &str = "NNC0";

/// A session as `ntsdumpdir` keeps it across restarts, in chronyd's own
/// file (so a node moving from chronyd to ntpkit, or back, keeps its
/// cookies): `ADDRESS.nts`, named by the NTS-KE server's address.
#[derive(Debug, Clone)]
pub struct SavedSession {
    /// The name the server's certificate must carry (the configured
    /// host): a file saved for another is not loaded.
    pub name: String,
    /// When NTS-KE made the session.
    pub made: SystemTime,
    /// Where its NTP requests go.
    pub ntp_address: SocketAddr,
    /// How many sessions the source had made (chronyc's `KeyID`).
    pub number: u32,
    /// The keys and the cookies left.
    pub session: NtsSession,
}

/// The dump file of the NTS-KE server at `server` in `dir`: chronyd's
/// `ADDRESS.nts`.
pub fn dump_path(dir: &Path, server: IpAddr) -> PathBuf {
    dir.join(format!("{server}.nts"))
}

/// Saves `saved` as the dump of the NTS-KE server at `server` in `dir`
/// (mode 0600, replaced atomically), in chronyd's format: its name, the
/// time the session was made, the NTP server's address and port, the
/// session's number, algorithm and keys (server-to-client first), and a
/// cookie a line.
pub fn save(dir: &Path, server: IpAddr, saved: &SavedSession) -> io::Result<PathBuf> {
    let keys = saved.session.keys();
    let made = saved
        .made
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut text = format!(
        "{DUMP_IDENTIFIER}\n{}\n{made:.1}\n{} {}\n{} {} {} {}\n",
        saved.name,
        saved.ntp_address.ip(),
        saved.ntp_address.port(),
        saved.number,
        keys.algorithm().id(),
        hex::encode(keys.s2c.bytes()).to_uppercase(),
        hex::encode(keys.c2s.bytes()).to_uppercase()
    );
    for cookie in saved.session.iter_cookies() {
        text.push_str(&hex::encode(cookie).to_uppercase());
        text.push('\n');
    }
    let path = dump_path(dir, server);
    write_atomically(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// Loads the dump of the NTS-KE server at `server` from `dir`, and
/// removes it (its cookies must never be sent twice, as after a crash):
/// `None` when there is none or it has no cookie left. A damaged file,
/// or one saved for a name other than `name`, is an error naming it (and
/// its line).
pub fn load(dir: &Path, server: IpAddr, name: &str) -> io::Result<Option<SavedSession>> {
    let path = dump_path(dir, server);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    fs::remove_file(&path)?;
    let bad = |line: usize| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}:{line}: not an NTS cookie dump line", path.display()),
        )
    };
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|line| line.split_ascii_whitespace().collect())
        .collect();
    let words = |i: usize, count: usize| {
        lines
            .get(i)
            .filter(|words| words.len() == count)
            .ok_or_else(|| bad(i + 1))
    };
    if words(0, 1)?[0] != DUMP_IDENTIFIER {
        return Err(bad(1));
    }
    let saved_name = words(1, 1)?[0];
    if saved_name != name {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: saved for {saved_name}, not {name}", path.display()),
        ));
    }
    let made: f64 = words(2, 1)?[0].parse().map_err(|_| bad(3))?;
    let made = Duration::try_from_secs_f64(made)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| bad(3))?;
    let ntp = words(3, 2)?;
    let ntp_address = SocketAddr::new(
        ntp[0].parse().map_err(|_| bad(4))?,
        ntp[1].parse().map_err(|_| bad(4))?,
    );
    let context = words(4, 4)?;
    let number: u32 = context[0].parse().map_err(|_| bad(5))?;
    let algorithm = context[1]
        .parse()
        .ok()
        .and_then(AeadAlgorithm::from_id)
        .ok_or_else(|| bad(5))?;
    let key = |text: &str| hex::decode(text).and_then(|b| AeadKey::new(algorithm, &b));
    let keys = SessionKeys {
        s2c: key(context[2]).ok_or_else(|| bad(5))?,
        c2s: key(context[3]).ok_or_else(|| bad(5))?,
    };
    let mut session = NtsSession::new(keys);
    for i in 5..lines.len() {
        let cookie = hex::decode(words(i, 1)?[0]).ok_or_else(|| bad(i + 1))?;
        session.add_cookie(&cookie).map_err(|_| bad(i + 1))?;
    }
    if session.cookies() == 0 {
        return Ok(None);
    }
    Ok(Some(SavedSession {
        name: name.to_string(),
        made,
        ntp_address,
        number,
        session,
    }))
}
