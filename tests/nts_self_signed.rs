//! A server certificate that is itself one of the `ntstrustedcerts`
//! certificates is trusted as it is, CA flag or not, as chronyd (gnutls)
//! trusts it: `openssl req -x509 -newkey ... -subj /CN=localhost -addext
//! subjectAltName=DNS:localhost` makes such a certificate marked CA:TRUE,
//! which webpki alone refuses as an end entity. Its name and validity
//! period are still checked (and `nocerttimecheck` still applies); other
//! certificates still need a chain to a trusted one. NTS-KE on loopback.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]

mod common;

use std::path::{Path, PathBuf};

use common::certs::make_pki;
use common::temp_dir;
use ntpkit::linux::nts::ke_client::{KeClient, KeClientError, NtsClientConfig};
use ntpkit::linux::nts::ke_server::{KeServer, NtsServerConfig};
use rustls::CertificateError;

/// A self-signed certificate for `localhost` (and 127.0.0.1), CA:TRUE
/// (as openssl's `req -x509` makes it) or not, valid from `from` to
/// `until` (years), as `NAME-cert.pem` and `NAME-key.pem` in `dir`.
fn self_signed(dir: &Path, name: &str, ca: bool, from: i32, until: i32) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let paths = (
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}

fn server(cert: &Path, key: &Path) -> KeServer {
    KeServer::start(
        &NtsServerConfig::default()
            .with_certificates(vec![(cert.to_path_buf(), key.to_path_buf())])
            .with_addresses(vec!["127.0.0.1".parse().unwrap()])
            .with_port(0)
            .with_ntp_port(11123),
    )
    .unwrap()
}

fn client(trusted: &[&Path], ignore_time: bool) -> KeClient {
    KeClient::new(
        &NtsClientConfig::default()
            .with_trusted_certs(trusted.iter().map(|p| p.to_path_buf()).collect())
            .with_ignore_cert_time(ignore_time),
    )
    .unwrap()
}

fn refusal(result: Result<ntpkit::linux::nts::ke_client::KeOutcome, KeClientError>) -> String {
    match result {
        Err(KeClientError::Tls(rustls::Error::InvalidCertificate(e))) => format!("{e:?}"),
        Err(e) => panic!("refused, but not for the certificate: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn a_trusted_self_signed_ca_certificate_is_the_servers_own() {
    let tmp = temp_dir("nts-self-signed");
    let dir = tmp.path();
    let (cert, key) = self_signed(dir, "ca-true", true, 2020, 2100);
    let ke = server(&cert, &key);
    let addr = ke.local_addrs()[0];
    // Trusted as it is, by name and by address.
    let outcome = client(&[&cert], false)
        .establish("localhost", addr)
        .unwrap();
    assert_eq!(outcome.session.cookies(), 8);
    assert!(client(&[&cert], false).establish("127.0.0.1", addr).is_ok());
    // Trusted through a directory of certificates too.
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("server.pem")).unwrap();
    assert!(client(&[&certs], false)
        .establish("localhost", addr)
        .is_ok());
    // The name is still checked.
    assert_eq!(
        refusal(client(&[&cert], false).establish("ntp.example", addr)),
        format!("{:?}", CertificateError::NotValidForName)
    );
    // Another self-signed certificate, or a CA's, is no trust in this one.
    let (other, _) = self_signed(dir, "other", true, 2020, 2100);
    refusal(client(&[&other], false).establish("localhost", addr));
    let pki = make_pki(dir, "pki", 2020, 2100);
    refusal(client(&[&pki.ca], false).establish("localhost", addr));
    // A self-signed certificate without the CA flag: trusted as well.
    let (plain, plain_key) = self_signed(dir, "ca-false", false, 2020, 2100);
    let plain_ke = server(&plain, &plain_key);
    assert!(client(&[&plain], false)
        .establish("localhost", plain_ke.local_addrs()[0])
        .is_ok());
    // Chains still verify as before beside a trusted certificate.
    let chained = server(&pki.cert, &pki.key);
    assert!(client(&[&cert, &pki.ca], false)
        .establish("localhost", chained.local_addrs()[0])
        .is_ok());
}

#[test]
fn a_trusted_self_signed_certificate_out_of_its_time_needs_nocerttimecheck() {
    let tmp = temp_dir("nts-self-signed-time");
    let dir = tmp.path();
    let (old, old_key) = self_signed(dir, "old", true, 2001, 2002);
    let (future, future_key) = self_signed(dir, "future", true, 2090, 2100);
    for (cert, key, error, words) in [
        (
            &old,
            &old_key,
            CertificateError::Expired,
            "the server sent an expired certificate",
        ),
        (
            &future,
            &future_key,
            CertificateError::NotValidYet,
            "the server sent a certificate not valid yet",
        ),
    ] {
        let ke = server(cert, key);
        let addr = ke.local_addrs()[0];
        let refused = client(&[cert], false).establish("localhost", addr);
        // The log line says it in words (chrony's 139-nts looks for
        // "expired certificate").
        let said = refused.as_ref().map(drop).unwrap_err().to_string();
        assert!(
            said.starts_with(&format!("NTS-KE TLS: {words} (")),
            "{said}"
        );
        assert_eq!(refusal(refused), format!("{error:?}"));
        // nocerttimecheck: the time is not checked, the name still is.
        assert!(client(&[cert], true).establish("localhost", addr).is_ok());
        refusal(client(&[cert], true).establish("ntp.example", addr));
    }
}
