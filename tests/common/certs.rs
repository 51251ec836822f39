//! Test certificates made with rcgen: a CA and a server certificate for
//! `localhost` and 127.0.0.1, written as PEM files into a directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA named `name` and a server certificate it signs for `localhost` and
/// 127.0.0.1, valid from `not_before` to `not_after` (years), in `dir`.
pub fn make_pki(dir: &Path, name: &str, not_before: i32, not_after: i32) -> TestPki {
    make_pki_for(
        dir,
        name,
        &["localhost", "127.0.0.1"],
        not_before,
        not_after,
    )
}

/// [`make_pki`] with the certificate's names.
pub fn make_pki_for(
    dir: &Path,
    name: &str,
    names: &[&str],
    not_before: i32,
    not_after: i32,
) -> TestPki {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = rcgen::date_time_ymd(not_before, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after, 1, 1);
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let pki = TestPki {
        ca: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}
