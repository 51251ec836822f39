//! TLS for NTS-KE through rustls (ring provider): TLS 1.3 only, ALPN
//! `ntske/1`, certificates and keys from PEM files, trust from a file, a
//! directory or the system's store, and `nocerttimecheck`.

use std::fs;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::nts::ke::ALPN;

/// Files where Debian and other systems keep their trusted CAs (the
/// system trust store, when no `ntstrustedcerts` is given).
pub const SYSTEM_TRUST_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

fn file_error(path: &Path, message: impl ToString) -> TlsSetupError {
    TlsSetupError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The ring provider rustls is used with.
///
/// rustls 0.23.48 deprecates it because ring has no post-quantum key
/// exchange (X25519MLKEM768): NTS-KE keeps X25519, P-256 and P-384, as
/// chronyd's GnuTLS offers them, rather than bring aws-lc-rs's C and CMake
/// build into every daemon build.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate chain of `cert` and the private key of `key` (PEM), as
/// rustls signs with them (`ntsservercert` and `ntsserverkey`).
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsSetupError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in the file"));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| file_error(key, e))?;
    Ok(CertifiedKey::new(chain, signer))
}

/// Picks the certificate for a client's SNI among several (the first that
/// is valid for the name), the first one without SNI or a match.
#[derive(Debug)]
struct Certificates {
    keys: Vec<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello.server_name().and_then(|name| {
            let name = ServerName::try_from(name).ok()?;
            self.keys.iter().find(|k| {
                k.cert.first().is_some_and(|cert| {
                    webpki::EndEntityCert::try_from(cert)
                        .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
                })
            })
        });
        by_name.or_else(|| self.keys.first()).cloned()
    }
}

/// A TLS 1.3, ALPN `ntske/1` server configuration serving the
/// certificate/key pairs `pairs` (chosen by SNI).
pub fn server_config(
    pairs: &[(PathBuf, PathBuf)],
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let keys = pairs
        .iter()
        .map(|(cert, key)| load_certified_key(cert, key).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(TlsSetupError::Tls(rustls::Error::General(
            "no ntsservercert/ntsserverkey pair".into(),
        )));
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Certificates { keys }));
    config.alpn_protocols = std::vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The PEM files of `ntstrustedcerts` paths: files as they are, the
/// files of directories in name order.
fn trust_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TlsSetupError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|e| file_error(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// The certificates of PEM files.
fn read_certificates(files: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let mut found = Vec::new();
    for file in files {
        let certs = CertificateDer::pem_file_iter(file).map_err(|e| file_error(file, e))?;
        for cert in certs {
            found.push(cert.map_err(|e| file_error(file, e))?);
        }
    }
    Ok(found)
}

/// The trust anchors of `ntstrustedcerts` paths (PEM files, or directories
/// of them) and, with `system` or when `paths` is empty, of the system's
/// store (chrony's certificate set 0 holds both unless `nosystemcert`).
pub fn trust_anchors(paths: &[PathBuf], system: bool) -> Result<RootCertStore, TlsSetupError> {
    let mut files = Vec::new();
    if system || paths.is_empty() {
        files.extend(
            SYSTEM_TRUST_FILES
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_file())
                .take(1),
        );
        if files.is_empty() && paths.is_empty() {
            return Err(file_error(
                Path::new(SYSTEM_TRUST_FILES[0]),
                "no system trust store",
            ));
        }
    }
    files.extend(trust_files(paths)?);
    let mut roots = RootCertStore::empty();
    for file in &files {
        for cert in read_certificates(std::slice::from_ref(file))? {
            roots.add(cert).map_err(|e| file_error(file, e))?;
        }
    }
    if roots.is_empty() {
        return Err(file_error(
            files
                .first()
                .map_or(Path::new("ntstrustedcerts"), |p| p.as_path()),
            "no trusted certificate found",
        ));
    }
    Ok(roots)
}

/// The certificates of `ntstrustedcerts` paths themselves (not the
/// system's store): a server presenting one of them, byte for byte, is
/// trusted as it is, CA or not, as chronyd (gnutls) trusts it.
pub fn trusted_certificates(
    paths: &[PathBuf],
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    read_certificates(&trust_files(paths)?)
}

/// The validity period (notBefore, notAfter) of a DER certificate, in
/// seconds since 1970; `None` if it does not parse.
fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    /// One DER element: its tag, its contents and what follows it.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    /// UTCTime (tag 0x17, YYMMDDHHMMSSZ) or GeneralizedTime (0x18,
    /// YYYYMMDDHHMMSSZ) in seconds since 1970.
    fn time(tag: u8, text: &[u8]) -> Option<i64> {
        let digits = |t: &[u8]| -> Option<i64> {
            t.iter().try_fold(0i64, |n, &b| {
                b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
            })
        };
        let (year, rest) = match (tag, text.len()) {
            (0x17, 13) => {
                let yy = digits(&text[..2])?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
            }
            (0x18, 15) => (digits(&text[..4])?, &text[4..]),
            _ => return None,
        };
        if rest[10] != b'Z' {
            return None;
        }
        let field = |i: usize| digits(&rest[i..i + 2]);
        let (month, day) = (field(0)?, field(2)?);
        let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let days = crate::time::days_from_civil(year, month, day);
        Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }
    let (_, certificate, _) = element(cert)?;
    let (_, mut tbs, _) = element(certificate)?;
    // [0] version (optional), serial number, signature algorithm, issuer.
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = element(tbs)?.2;
    }
    let (_, validity, _) = element(tbs)?;
    let (tag, not_before, rest) = element(validity)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = element(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// Verifies with webpki, and with `ignore_time` (chrony's
/// `nocerttimecheck` while it applies) accepts a chain that is valid at
/// some time within its certificates' validity: the clock is not trusted
/// yet, everything else is checked.
///
/// A server certificate that is one of `trusted` (the `ntstrustedcerts`
/// certificates) byte for byte is trusted as it is, whether or not it is
/// marked as a CA (webpki refuses a CA as an end entity, gnutls and so
/// chronyd accept it): its name and, unless `ignore_time`, its validity
/// period are still checked.
///
/// With no CA at all (`inner` is `None`), only a `trusted` certificate
/// verifies: with none of those either, every handshake fails at
/// verification, as chronyd's with an empty certificate set.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    trusted: Vec<CertificateDer<'static>>,
    ignore_time: bool,
    /// The signature algorithms, for the handshake's signatures.
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Verifier {
    /// A server certificate found among the trusted ones: the name and
    /// the time.
    fn verify_trusted(
        &self,
        cert: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let bad = |e| rustls::Error::InvalidCertificate(e);
        let parsed = webpki::EndEntityCert::try_from(cert)
            .map_err(|_| bad(CertificateError::BadEncoding))?;
        parsed
            .verify_is_valid_for_subject_name(server_name)
            .map_err(|_| bad(CertificateError::NotValidForName))?;
        let (not_before, not_after) =
            validity(cert.as_ref()).ok_or(bad(CertificateError::BadEncoding))?;
        if not_before > not_after {
            return Err(bad(CertificateError::BadEncoding));
        }
        if !self.ignore_time {
            let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            if now < not_before {
                return Err(bad(CertificateError::NotValidYet));
            }
            if now > not_after {
                return Err(bad(CertificateError::Expired));
            }
        }
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .trusted
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return self.verify_trusted(end_entity, server_name, now);
        }
        let Some(inner) = &self.inner else {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        };
        let mut at = now;
        // Each retry moves into one more certificate's validity.
        for _ in 0..=intermediates.len() + 1 {
            match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, at) {
                Err(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                    not_after,
                    ..
                })) if self.ignore_time => at = not_after,
                Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                    not_before,
                    ..
                })) if self.ignore_time => at = not_before,
                other => return other,
            }
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Expired))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS 1.3, ALPN `ntske/1` client configuration trusting `roots`, and
/// a server whose certificate is one of `trusted` (see
/// [`trusted_certificates`]) for the names it holds; with `ignore_time`,
/// certificate validity times are not checked against the clock
/// (`nocerttimecheck`). With no root and no trusted certificate, nothing
/// verifies: a handshake fails at the server's certificate.
pub fn client_config(
    roots: RootCertStore,
    trusted: Vec<CertificateDer<'static>>,
    ignore_time: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let inner = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsSetupError::Tls(rustls::Error::General(e.to_string())))?,
        )
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            inner,
            trusted,
            ignore_time,
            algorithms,
        }))
        .with_no_client_auth();
    config.alpn_protocols = std::vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_periods_read_from_der() {
        let key = rcgen::KeyPair::generate().unwrap();
        for ((from, until), expected) in [
            // UTCTime before 2050, GeneralizedTime from 2050 on.
            ((2020, 2049), (1_577_836_800, 2_493_072_000)),
            ((1999, 2100), (915_148_800, 4_102_444_800)),
        ] {
            let mut params = rcgen::CertificateParams::new(std::vec!["a.test".into()]).unwrap();
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(until, 1, 1);
            let cert = params.self_signed(&key).unwrap();
            assert_eq!(validity(cert.der()), Some(expected), "{from}-{until}");
        }
        assert_eq!(validity(&[]), None);
        assert_eq!(validity(&[0x30, 0x82, 0xff]), None);
        assert_eq!(validity(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
