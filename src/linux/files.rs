//! Files a daemon keeps: written whole or not at all.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` as a new file (created with `mode`, e.g.
/// 0o600 for secrets) renamed over the old one once it is on disk: a
/// reader or a crash never sees a torn file. An error names the file.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), std::format!("{}: {e}", path.display()));
    let temp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .map_err(named)?;
    file.write_all(bytes).map_err(named)?;
    file.sync_all().map_err(named)?;
    fs::rename(&temp, path).map_err(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::string::ToString;

    #[test]
    fn replaces_the_file_with_the_mode_asked() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-files-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("secret");
        write_atomically(&path, b"one", 0o600).unwrap();
        write_atomically(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!path.with_extension("tmp").exists());
        let error = write_atomically(&dir.join("no/such/dir/x"), b"", 0o644).unwrap_err();
        assert!(error.to_string().contains("no/such/dir"), "{error}");
    }
}
