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

use std::format;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

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
    /// `rustls::Error::InvalidCertificate` (said in words, with rustls'
    /// own text after).
    #[error("NTS-KE TLS: {}", describe_tls(.0))]
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

    /// A client that trusts no certificate (an empty certificate set: what
    /// chronyd does with one, it connects, and the handshake fails at the
    /// server's certificate, saying why). Only the Linux shell uses it.
    #[cfg(all(feature = "linux", target_os = "linux"))]
    pub(crate) fn trusting_nothing(config: &NtsClientConfig) -> Result<KeClient, KeClientError> {
        Ok(KeClient {
            tls: tls::client_config(
                rustls::RootCertStore::empty(),
                Vec::new(),
                config.ignore_cert_time,
            )?,
            timeout: config.timeout,
            algorithms: config.algorithms.clone(),
        })
    }

    /// Runs NTS-KE with the server `host` (the name its certificate must
    /// have) at `addr`, blocking until it is done or the time-out passes.
    /// (An event loop drives a [`KeHandshake`] instead.)
    pub fn establish(&self, host: &str, addr: SocketAddr) -> Result<KeOutcome, KeClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut handshake = self.handshake(host)?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_nodelay(true)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out().into());
            }
            stream.set_read_timeout(Some(left))?;
            stream.set_write_timeout(Some(left))?;
            match handshake.advance(&mut stream, true) {
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) => {}
                Err(KeClientError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(timed_out().into())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A handshake with the server `host` (the name its certificate must
    /// have), its request written, for the caller to drive over a TCP
    /// connection of its own (see [`KeHandshake::advance`]).
    pub fn handshake(&self, host: &str) -> Result<KeHandshake, KeClientError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| KeClientError::BadName(host.to_string()))?;
        let mut tls = ClientConnection::new(self.tls.clone(), name)?;
        let mut request = [0u8; 64];
        let n = ke::write_request(&mut request, &self.algorithms)?;
        // Kept by rustls until the TLS handshake is done.
        tls.writer().write_all(&request[..n])?;
        Ok(KeHandshake {
            tls,
            host: host.to_string(),
            algorithms: self.algorithms.clone(),
            input: Vec::new(),
        })
    }
}

/// One NTS-KE exchange in progress, for an event loop: the caller owns the
/// TCP connection and the time-out, and calls [`advance`](Self::advance)
/// whenever the connection is readable, or writable while
/// [`wants_write`](Self::wants_write).
#[derive(Debug)]
pub struct KeHandshake {
    tls: ClientConnection,
    host: String,
    algorithms: Vec<AeadAlgorithm>,
    /// The server's message so far.
    input: Vec<u8>,
}

impl KeHandshake {
    /// Whether the TLS handshake is done.
    pub fn is_handshake_done(&self) -> bool {
        !self.tls.is_handshaking()
    }

    /// Whether TLS has bytes to send (wait for the connection to be
    /// writable).
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Sends what TLS has to send over `io` until it would block; then,
    /// if `readable`, reads once and takes in what came. The session when
    /// the server's whole message has come; `None` while it has not (a
    /// read that would block, or that timed out on a blocking connection,
    /// is no error: the caller keeps the time-out).
    pub fn advance(
        &mut self,
        io: &mut (impl Read + Write),
        readable: bool,
    ) -> Result<Option<KeOutcome>, KeClientError> {
        self.flush(io)?;
        if !readable {
            return Ok(None);
        }
        match self.tls.read_tls(io) {
            Ok(0) => {
                // The connection closed: what came is all there is.
                self.take_plaintext()?;
                return match self.finish()? {
                    Some(outcome) => Ok(Some(outcome)),
                    None => Err(KeError::Truncated.into()),
                };
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = self.tls.process_new_packets() {
            // The alert that says why goes out first.
            let _ = self.flush(io);
            return Err(e.into());
        }
        self.take_plaintext()?;
        // The handshake's last flight, or an alert.
        self.flush(io)?;
        let outcome = self.finish()?;
        if outcome.is_some() {
            // Best effort: the session is the server's already.
            self.tls.send_close_notify();
            let _ = self.flush(io);
        }
        Ok(outcome)
    }

    /// Writes what TLS has to send until it would block.
    fn flush(&mut self, io: &mut impl Write) -> Result<(), KeClientError> {
        while self.tls.wants_write() {
            match self.tls.write_tls(io) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Moves the plaintext TLS decrypted into the message so far.
    fn take_plaintext(&mut self) -> Result<(), KeClientError> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.tls.reader().read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) if self.input.len() + n <= MAX_MESSAGE_LEN => {
                    self.input.extend_from_slice(&chunk[..n])
                }
                Ok(_) => return Err(KeError::TooLong.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(unwrap_tls(e)),
            }
        }
    }

    /// The outcome once the server's message is whole.
    fn finish(&mut self) -> Result<Option<KeOutcome>, KeClientError> {
        let Some(len) = ke::message_len(&self.input)? else {
            return Ok(None);
        };
        if self.tls.alpn_protocol() != Some(ke::ALPN) {
            return Err(KeClientError::Alpn);
        }
        let response = ke::parse_response(&self.input[..len], &self.algorithms)?;
        let algorithm = response.algorithm;
        let tls = &self.tls;
        let export = |s2c| -> Result<AeadKey, KeClientError> {
            let n = algorithm.key_len();
            let mut bytes = [0u8; MAX_KEY_LEN];
            tls.export_keying_material(
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
        Ok(Some(KeOutcome {
            session,
            ntp_server: response.server.unwrap_or(&self.host).to_string(),
            ntp_port: response.port.unwrap_or(123),
        }))
    }
}

/// What a TLS failure says to an operator: a certificate's fault in
/// words, then rustls' own text.
fn describe_tls(error: &rustls::Error) -> String {
    use rustls::CertificateError as E;
    let what = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            E::Expired | E::ExpiredContext { .. } => "the server sent an expired certificate",
            E::NotValidYet | E::NotValidYetContext { .. } => {
                "the server sent a certificate not valid yet"
            }
            E::UnknownIssuer => "the server's certificate is signed by no trusted CA",
            E::NotValidForName | E::NotValidForNameContext { .. } => {
                "the server's certificate is for another name"
            }
            _ => "the server's certificate does not verify",
        },
        _ => return error.to_string(),
    };
    format!("{what} ({error})")
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
