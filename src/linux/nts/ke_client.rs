//! The NTS-KE client: one TLS 1.3 exchange with an NTS-KE server gives an
//! [`NtsSession`] (the keys and 8 cookies) and where to send NTP requests.
//! Its cookies can be saved in `ntsdumpdir` and loaded after a restart, so
//! that a restarted client needs no new handshake.
//!
//! ```no_run
//! use ntpkit::linux::nts::ke_client::{KeClient, NtsClientConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = KeClient::new(
//!     &NtsClientConfig::default().with_trusted_certs(vec!["/etc/ntp/ca.pem".into()]),
//! )?;
//! let outcome = client.establish("ntp.example", "127.0.0.1:4460".parse()?)?;
//! println!("{} cookies for {}:{}", outcome.session.cookies(), outcome.ntp_server, outcome.ntp_port);
//! # Ok(())
//! # }
//! ```

use std::format;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::tls::{self, TlsSetupError};
use crate::chrony::hex;
use crate::linux::files::write_atomically;
use crate::nts::aead::{AeadAlgorithm, AeadKey, MAX_KEY_LEN};
use crate::nts::ke::{self, exporter_context, KeError, EXPORTER_LABEL, MAX_MESSAGE_LEN};
use crate::nts::{NtsSession, SessionKeys};

/// How long one NTS-KE exchange may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The client's settings (chrony's `ntstrustedcerts`, `nocerttimecheck`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NtsClientConfig {
    /// `ntstrustedcerts` files or directories of PEM certificates; the
    /// system trust store when empty.
    pub trusted_certs: Vec<PathBuf>,
    /// Trust the system's store besides `trusted_certs` (chrony's
    /// certificate set 0 unless `nosystemcert`).
    pub system_certs: bool,
    /// Do not check certificates' validity times against the clock: what
    /// `nocerttimecheck N` asks while the clock has been updated fewer than
    /// N times (the caller counts).
    pub ignore_cert_time: bool,
    /// The time-out of a whole exchange.
    pub timeout: Duration,
    /// The algorithms offered, preferred first.
    pub algorithms: Vec<AeadAlgorithm>,
}

setters!(impl [] NtsClientConfig {
    with_trusted_certs => trusted_certs: Vec<PathBuf>,
    with_system_certs => system_certs: bool,
    with_ignore_cert_time => ignore_cert_time: bool,
    with_timeout => timeout: Duration,
    with_algorithms => algorithms: Vec<AeadAlgorithm>,
});

impl Default for NtsClientConfig {
    fn default() -> Self {
        NtsClientConfig {
            trusted_certs: Vec::new(),
            system_certs: false,
            ignore_cert_time: false,
            timeout: DEFAULT_TIMEOUT,
            algorithms: AeadAlgorithm::SUPPORTED.to_vec(),
        }
    }
}

/// Why NTS-KE failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeClientError {
    /// The trust anchors could not be loaded.
    #[error(transparent)]
    Setup(#[from] TlsSetupError),
    /// The TCP connection (including a time-out).
    #[error("NTS-KE connection: {0}")]
    Io(#[from] io::Error),
    /// TLS failed; a certificate that does not verify is
    /// `rustls::Error::InvalidCertificate`.
    #[error("NTS-KE TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The server did not agree on ALPN `ntske/1`.
    #[error("the server did not negotiate ALPN ntske/1")]
    Alpn,
    /// The server's records.
    #[error("NTS-KE: {0}")]
    Protocol(#[from] KeError),
    /// Not a name or address TLS can check.
    #[error("bad server name `{0}`")]
    BadName(String),
}

/// A completed NTS-KE exchange: the session and where to use it.
#[derive(Debug, Clone)]
pub struct KeOutcome {
    /// The keys and cookies.
    pub session: NtsSession,
    /// The NTP server: the Server record's, else the NTS-KE server's name.
    pub ntp_server: String,
    /// The NTP port: the Port record's, else 123.
    pub ntp_port: u16,
}

/// An NTS-KE client (its TLS configuration, built once).
#[derive(Debug, Clone)]
pub struct KeClient {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    algorithms: Vec<AeadAlgorithm>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "NTS-KE timed out")
}

impl KeClient {
    /// A client trusting what `config` says.
    pub fn new(config: &NtsClientConfig) -> Result<KeClient, KeClientError> {
        let roots = tls::trust_anchors(&config.trusted_certs, config.system_certs)?;
        let trusted = tls::trusted_certificates(&config.trusted_certs)?;
        Ok(KeClient {
            tls: tls::client_config(roots, trusted, config.ignore_cert_time)?,
            timeout: config.timeout,
            algorithms: config.algorithms.clone(),
        })
    }

    /// Runs NTS-KE with the server `host` (the name its certificate must
    /// have) at `addr`.
    pub fn establish(&self, host: &str, addr: SocketAddr) -> Result<KeOutcome, KeClientError> {
        let deadline = Instant::now() + self.timeout;
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| KeClientError::BadName(host.to_string()))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_nodelay(true)?;
        let tls = ClientConnection::new(self.tls.clone(), name)?;
        let mut stream = StreamOwned::new(tls, stream);
        let mut request = [0u8; 64];
        let n = ke::write_request(&mut request, &self.algorithms)?;
        stream.sock.set_write_timeout(Some(self.timeout))?;
        stream.write_all(&request[..n]).map_err(unwrap_tls)?;
        let mut input = Vec::new();
        let mut chunk = [0u8; 4096];
        let len = loop {
            if let Some(len) = ke::message_len(&input)? {
                break len;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out().into());
            }
            stream.sock.set_read_timeout(Some(left))?;
            match stream.read(&mut chunk) {
                Ok(0) => return Err(KeError::Truncated.into()),
                Ok(n) if input.len() + n <= MAX_MESSAGE_LEN => input.extend_from_slice(&chunk[..n]),
                Ok(_) => return Err(KeError::TooLong.into()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(timed_out().into())
                }
                Err(e) => return Err(unwrap_tls(e)),
            }
        };
        if stream.conn.alpn_protocol() != Some(ke::ALPN) {
            return Err(KeClientError::Alpn);
        }
        let response = ke::parse_response(&input[..len], &self.algorithms)?;
        let algorithm = response.algorithm;
        let export = |s2c| -> Result<AeadKey, KeClientError> {
            let n = algorithm.key_len();
            let mut bytes = [0u8; MAX_KEY_LEN];
            stream.conn.export_keying_material(
                &mut bytes[..n],
                EXPORTER_LABEL.as_bytes(),
                Some(&exporter_context(algorithm, s2c)),
            )?;
            AeadKey::new(algorithm, &bytes[..n])
                .ok_or(KeClientError::Protocol(KeError::NoCommonAead))
        };
        let keys = SessionKeys {
            c2s: export(false)?,
            s2c: export(true)?,
        };
        let mut session = NtsSession::new(keys);
        for cookie in response.cookies() {
            // Lengths were checked by the parser.
            session.add_cookie(cookie).map_err(|_| KeError::NoCookies)?;
        }
        let outcome = KeOutcome {
            session,
            ntp_server: response.server.unwrap_or(host).to_string(),
            ntp_port: response.port.unwrap_or(123),
        };
        stream.conn.send_close_notify();
        let _ = stream.flush();
        Ok(outcome)
    }
}

/// A rustls error carried in an `io::Error`, as its own variant.
fn unwrap_tls(e: io::Error) -> KeClientError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => KeClientError::Tls(tls.clone()),
        None => KeClientError::Io(e),
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
