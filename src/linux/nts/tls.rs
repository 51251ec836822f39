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
    let mut roots = RootCertStore::empty();
    for file in &files {
        let certs = CertificateDer::pem_file_iter(file).map_err(|e| file_error(file, e))?;
        for cert in certs {
            let cert = cert.map_err(|e| file_error(file, e))?;
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

/// Verifies with webpki, and with `ignore_time` (chrony's
/// `nocerttimecheck` while it applies) accepts a chain that is valid at
/// some time within its certificates' validity: the clock is not trusted
/// yet, everything else is checked.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    ignore_time: bool,
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
        let mut at = now;
        // Each retry moves into one more certificate's validity.
        for _ in 0..=intermediates.len() + 1 {
            match self
                .inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, at)
            {
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
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS 1.3, ALPN `ntske/1` client configuration trusting `roots`; with
/// `ignore_time`, certificate validity times are not checked against the
/// clock (`nocerttimecheck`).
pub fn client_config(
    roots: RootCertStore,
    ignore_time: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let provider = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsSetupError::Tls(rustls::Error::General(e.to_string())))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { inner, ignore_time }))
        .with_no_client_auth();
    config.alpn_protocols = std::vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}
