//! The server's cookie keys: made at random, rotated every `ntsrotate`
//! seconds (chrony's default: 604800, a week; 0 never), kept in
//! `ntsdumpdir` (mode 0600) so that cookies survive a restart, and shared
//! between the NTS-KE thread (which makes cookies and rotates) and the NTP
//! responders (which open them).
//!
//! The file, `ntpkit-ntskeys` (not chronyd's `ntskeys`, whose format is its
//! own), is text: a header line, the Unix time of the last rotation, then
//! `ID HEX` lines, newest first.

use std::format;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::random::{OsRandom, Random};

use crate::chrony::hex;
use crate::linux::files::write_atomically;
use crate::nts::cookie::{CookieKey, CookieKeys, COOKIE_KEY_LEN, MAX_COOKIE_KEYS};

/// chrony's default `ntsrotate`.
pub const DEFAULT_ROTATE: Duration = Duration::from_secs(604_800);
/// The file's name in `ntsdumpdir`.
pub const FILE_NAME: &str = "ntpkit-ntskeys";
const HEADER: &str = "ntpkit-ntskeys 1";

/// Cookie keys shared between threads: a mutex for the keys, a counter
/// that changes when they do (read without the lock, once per batch).
#[derive(Debug)]
pub struct SharedKeys {
    keys: Mutex<CookieKeys>,
    generation: AtomicU64,
}

impl SharedKeys {
    /// Shares `keys`.
    pub fn new(keys: CookieKeys) -> Arc<SharedKeys> {
        Arc::new(SharedKeys {
            keys: Mutex::new(keys),
            generation: AtomicU64::new(1),
        })
    }

    /// The keys now.
    pub fn get(&self) -> CookieKeys {
        *self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the keys.
    pub fn set(&self, keys: CookieKeys) {
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// A number that changes whenever the keys do.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

fn random_key(id: u32) -> CookieKey {
    let mut key = [0u8; COOKIE_KEY_LEN];
    OsRandom.fill_bytes(&mut key);
    CookieKey { id, key }
}

/// The cookie keys of a server and their rotation schedule.
#[derive(Debug)]
pub struct ServerKeys {
    keys: CookieKeys,
    rotated: SystemTime,
    rotate: Duration,
    dump: Option<PathBuf>,
}

fn invalid(path: &Path, line: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}:{line}: {what}", path.display()),
    )
}

impl ServerKeys {
    /// The keys kept in `dump_dir` (rotated at once if older than `rotate`),
    /// or a new random key (written there) when there are none; without a
    /// directory, a new key every start. A file that cannot be parsed is an
    /// error naming it and its line.
    pub fn load_or_create(
        dump_dir: Option<&Path>,
        rotate: Duration,
        now: SystemTime,
    ) -> io::Result<ServerKeys> {
        let dump = dump_dir.map(|d| d.join(FILE_NAME));
        let loaded = match &dump {
            Some(path) => match fs::read_to_string(path) {
                Ok(text) => Some(Self::parse(&text, path)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            },
            None => None,
        };
        let mut keys = match loaded {
            Some((keys, rotated)) => ServerKeys {
                keys,
                rotated,
                rotate,
                dump,
            },
            None => {
                let keys = ServerKeys {
                    keys: CookieKeys::new(random_key(OsRandom.next_u32())),
                    rotated: now,
                    rotate,
                    dump,
                };
                keys.save()?;
                keys
            }
        };
        keys.maybe_rotate(now)?;
        Ok(keys)
    }

    fn parse(text: &str, path: &Path) -> io::Result<(CookieKeys, SystemTime)> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(invalid(path, 1, "not an ntpkit NTS key file"));
        }
        let rotated = lines
            .next()
            .and_then(|(_, l)| l.parse::<u64>().ok())
            .ok_or_else(|| invalid(path, 2, "bad rotation time"))?;
        let mut found = Vec::new();
        for (index, line) in lines {
            let mut words = line.split_whitespace();
            let key = (|| {
                let id = words.next()?.parse().ok()?;
                let key: [u8; COOKIE_KEY_LEN] = hex::decode(words.next()?)?.try_into().ok()?;
                words.next().is_none().then_some(CookieKey { id, key })
            })()
            .ok_or_else(|| invalid(path, index + 1, "expected `ID HEXKEY`"))?;
            found.push(key);
        }
        let mut keys = CookieKeys::default();
        for key in found.iter().take(MAX_COOKIE_KEYS).rev() {
            keys.rotate(*key);
        }
        if keys.current().is_none() {
            return Err(invalid(path, 3, "no key"));
        }
        Ok((keys, UNIX_EPOCH + Duration::from_secs(rotated)))
    }

    /// Writes the keys to the dump file (mode 0600, replaced atomically).
    pub fn save(&self) -> io::Result<()> {
        let Some(path) = &self.dump else {
            return Ok(());
        };
        let mut text = format!(
            "{HEADER}\n{}\n",
            self.rotated
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()
        );
        for key in self.keys.iter() {
            text.push_str(&format!("{} {}\n", key.id, hex::encode(&key.key)));
        }
        write_atomically(path, text.as_bytes(), 0o600)
    }

    /// The keys.
    pub fn keys(&self) -> CookieKeys {
        self.keys
    }

    /// When the next rotation is due (`None`: `ntsrotate 0`).
    pub fn next_rotation(&self) -> Option<SystemTime> {
        (!self.rotate.is_zero()).then(|| self.rotated + self.rotate)
    }

    /// Rotates if due at `now` (a new key, the oldest forgotten, the file
    /// rewritten); returns whether it did.
    pub fn maybe_rotate(&mut self, now: SystemTime) -> io::Result<bool> {
        match self.next_rotation() {
            Some(due) if now >= due => {
                let id = self.keys.current().map_or(0, |k| k.id.wrapping_add(1));
                self.keys.rotate(random_key(id));
                self.rotated = now;
                self.save()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::string::ToString;

    #[test]
    fn keys_persist_rotate_and_stay_private() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-ntskeys-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let rotate = Duration::from_secs(100);
        let first = ServerKeys::load_or_create(Some(dir), rotate, t0).unwrap();
        let path = dir.join(FILE_NAME);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Reloaded before the rotation is due: the same keys.
        let again =
            ServerKeys::load_or_create(Some(dir), rotate, t0 + Duration::from_secs(50)).unwrap();
        assert_eq!(again.keys(), first.keys());
        // Reloaded after: rotated, the old key kept behind the new one.
        let later =
            ServerKeys::load_or_create(Some(dir), rotate, t0 + Duration::from_secs(150)).unwrap();
        let old = first.keys().current().copied().unwrap();
        assert_ne!(later.keys().current().copied(), Some(old));
        assert_eq!(later.keys().get(old.id), Some(&old));
        assert_eq!(later.next_rotation(), Some(t0 + Duration::from_secs(250)));
        // Without rotation nothing changes.
        let mut never = ServerKeys::load_or_create(None, Duration::ZERO, t0).unwrap();
        assert!(!never
            .maybe_rotate(t0 + Duration::from_secs(1 << 30))
            .unwrap());
        fs::write(&path, "ntpkit-ntskeys 1\n5\n1 abcd\n").unwrap();
        let e = ServerKeys::load_or_create(Some(dir), rotate, t0)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("ntpkit-ntskeys:3: expected `ID HEXKEY`"), "{e}");
    }

    #[test]
    fn shared_keys_announce_changes() {
        let shared = SharedKeys::new(CookieKeys::new(random_key(1)));
        let g = shared.generation();
        let mut keys = shared.get();
        keys.rotate(random_key(2));
        shared.set(keys);
        assert_ne!(shared.generation(), g);
        assert_eq!(shared.get().current().unwrap().id, 2);
    }
}
