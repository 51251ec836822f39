//! The NTS-KE client: one TLS 1.3 exchange (over rustls) with an NTS-KE
//! server gives an [`NtsSession`] (the keys and 8 cookies) and where to
//! send NTP requests. Portable: std's TCP and rustls.
//!
//! ```no_run
//! use ntpkit::nts::ke_client::{KeClient, NtsClientConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = KeClient::new(
//!     &NtsClientConfig::default().with_trusted_certs(vec!["/etc/ntp/ca.pem".into()]),
//! )?;
//! let outcome = client.establish("ntp.example", "127.0.0.1:4460".parse()?)?;
//! println!("{} cookies for {}:{}", outcome.session.cookies(), outcome.ntp_server, outcome.ntp_port);
//! # Ok(())
//! # }
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::aead::{AeadAlgorithm, AeadKey, MAX_KEY_LEN};
use super::ke::{self, exporter_context, KeError, EXPORTER_LABEL, MAX_MESSAGE_LEN};
use super::tls::{self, TlsSetupError};
use super::{NtsSession, SessionKeys};

/// How long one NTS-KE exchange may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

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
