//! The driver's files: the drift file and the NTS sources' cookie dumps.

use std::format;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::string::String;

use super::nts::PeerNts;
use crate::discipline::Drift;
use crate::linux::files::write_atomically;
use crate::linux::nts::ke_client::{self, KeOutcome};

/// The drift saved at `path`, if it holds one; what was wrong otherwise
/// (chronyd's words: "Could not read valid frequency and skew from
/// driftfile PATH"), or nothing when there is no file.
pub(super) fn read_drift(path: &Path) -> Result<Option<Drift>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Drift::parse(&text).map(Some).ok_or_else(|| {
            format!(
                "Could not read valid frequency and skew from driftfile {}",
                path.display()
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Could not open driftfile {} : {e}", path.display())),
    }
}

/// Writes `drift` to the drift file at `path`.
pub(super) fn save_drift(path: &Path, drift: &Drift) -> io::Result<()> {
    write_atomically(path, format!("{drift}\n").as_bytes(), 0o644)
}

/// The cookies saved for `nts` in `dir`, and the NTP address they are for
/// (`nts` learns its NTP server); the file is removed once read, so that
/// no cookie is sent twice (the way out saves those left).
pub(super) fn load_cookies(
    dir: &Path,
    nts: &mut PeerNts,
) -> io::Result<Option<(KeOutcome, SocketAddr)>> {
    let name = nts.dump_name();
    let Some(outcome) = ke_client::load(dir, &name)? else {
        return Ok(None);
    };
    std::fs::remove_file(ke_client::dump_path(dir, &name))?;
    let address = nts.ntp_address(&outcome)?;
    nts.ntp_server = outcome.ntp_server.clone();
    nts.ntp_port = outcome.ntp_port;
    Ok(Some((outcome, address)))
}

/// Saves `outcome` (a session's cookies) for `nts` in `dir`, which is
/// made if missing.
pub(super) fn save_cookies(dir: &Path, nts: &PeerNts, outcome: &KeOutcome) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    ke_client::save(dir, &nts.dump_name(), outcome).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_files() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-drift-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("drift");
        assert_eq!(read_drift(&path), Ok(None));
        let drift = Drift {
            frequency_ppm: -12.5,
            skew_ppm: 0.25,
        };
        save_drift(&path, &drift).unwrap();
        let read = read_drift(&path).unwrap().unwrap();
        assert!((read.frequency_ppm - drift.frequency_ppm).abs() < 1e-6);
        std::fs::write(&path, "garbage\n").unwrap();
        assert_eq!(
            read_drift(&path),
            Err(format!(
                "Could not read valid frequency and skew from driftfile {}",
                path.display()
            ))
        );
    }
}
