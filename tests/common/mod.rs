//! Helpers the integration tests share.
//!
//! Every test keeps its files in a folder of its own under the temp dir
//! ([`temp_dir`], [`chrony::chrony_dir`]), removed when dropped (also when
//! the test fails), and binds loopback addresses only.
//!
//! A test that needs a peer (chronyd, chronyc, ntpdig) or root is
//! `#[ignore]`d, its reason saying which: `cargo test` lists it as
//! ignored, `cargo test -- --include-ignored` runs it (CI does, as root,
//! with the peers installed), and there a missing requirement fails it
//! ([`need`]): no test passes without having run.

// Not every test crate that includes `common` uses each helper.
#![allow(dead_code)]

pub mod certs;
pub mod chrony;
pub mod logs;
pub mod need;

/// A fresh folder under the temp dir (`ntpkit-TAG-XXXXXX`, mode 0700),
/// removed with everything in it when dropped.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(&format!("ntpkit-{tag}-"))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("a folder under the temp dir")
}
