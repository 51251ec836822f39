//! `include`, `confdir` and `sourcedir`: finding files as chronyd 4.3
//! does, through an [`Environment`] (the real system, a directory standing
//! for `/`, or nothing at all).

use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};
use std::string::ToString;
use std::vec::Vec;

use super::LineError;

/// `confdir` and `sourcedir` take at most this many directories.
pub(super) const MAX_DIRS: usize = 10;

/// Where a configuration's files are read and its host names resolved.
pub trait Environment {
    /// The contents of a file; `Ok(None)` for a directory (chronyd reads
    /// one as an empty file).
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// The names in a directory (an error if it cannot be listed).
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Whether something exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// The first address of a host name (for `allow`/`deny HOST`).
    fn resolve(&self, host: &str) -> Option<IpAddr>;
}

/// The real file system and the system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        if std::fs::metadata(path)?.is_dir() {
            return Ok(None);
        }
        std::fs::read(path).map(Some)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    fn exists(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn resolve(&self, host: &str) -> Option<IpAddr> {
        (host, 0)
            .to_socket_addrs()
            .ok()?
            .next()
            .map(|address| address.ip())
    }
}

/// No files and no names: every included file is missing and no host name
/// resolves (for parsing untrusted text, e.g. fuzzing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolated;

impl Environment for Isolated {
    fn read(&self, _: &Path) -> io::Result<Option<Vec<u8>>> {
        Err(io::ErrorKind::NotFound.into())
    }

    fn list(&self, _: &Path) -> io::Result<Vec<OsString>> {
        Err(io::ErrorKind::NotFound.into())
    }

    fn exists(&self, _: &Path) -> bool {
        false
    }

    fn resolve(&self, _: &str) -> Option<IpAddr> {
        None
    }
}

/// The file system under a directory standing for `/`: `/etc/chrony/...`
/// is read from `ROOT/etc/chrony/...` (relative paths are taken as they
/// are). Host names are resolved only if they are `localhost`. This reads
/// a configuration as it would be read on another machine, e.g. a stock
/// one under `tests/data`.
#[derive(Debug, Clone)]
pub struct Rooted {
    root: PathBuf,
}

impl Rooted {
    /// `root` stands for `/`.
    pub fn new(root: impl Into<PathBuf>) -> Rooted {
        Rooted { root: root.into() }
    }

    fn map(&self, path: &Path) -> PathBuf {
        if !path.is_absolute() {
            return path.to_path_buf();
        }
        let mut mapped = self.root.clone();
        for component in path.components() {
            match component {
                Component::Normal(part) => mapped.push(part),
                // `..` may not climb out of the root.
                Component::ParentDir if mapped != self.root => {
                    mapped.pop();
                }
                _ => {}
            }
        }
        mapped
    }
}

impl Environment for Rooted {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        SystemEnvironment.read(&self.map(path))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        SystemEnvironment.list(&self.map(dir))
    }

    fn exists(&self, path: &Path) -> bool {
        SystemEnvironment.exists(&self.map(path))
    }

    fn resolve(&self, host: &str) -> Option<IpAddr> {
        (host == "localhost").then(|| IpAddr::from([127, 0, 0, 1]))
    }
}

fn has_magic(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The files `include PATTERN` reads: those the glob matches, sorted; a
/// pattern without `*`, `?` or `[` names its file, which must exist. As
/// chronyd's glob(3) with `GLOB_ERR`, a folder that must be listed and
/// cannot be (missing, unreadable) is an error: `include
/// /missing/dir/*.conf` stops chronyd with "Could not search for files
/// matching ...", while a pattern that matches nothing in a folder that
/// exists reads nothing.
pub(super) fn glob(env: &dyn Environment, pattern: &str) -> Result<Vec<PathBuf>, LineError> {
    if !has_magic(pattern) {
        let path = PathBuf::from(pattern);
        if !env.exists(&path) {
            return Err(LineError::Include {
                path: pattern.to_string(),
                reason: "no such file".to_string(),
            });
        }
        return Ok(std::vec![path]);
    }
    let mut found = expand(env, pattern, true).map_err(|(dir, e)| LineError::Glob {
        pattern: pattern.to_string(),
        reason: std::format!("{}: {e}", dir.display()),
    })?;
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(found)
}

/// Whether listing a folder failed because it is a file: glob(3) passes
/// over that even with `GLOB_ERR`.
fn not_a_directory(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotADirectory
}

/// The paths matching a pattern, component by component, as glob(3)
/// finds them: the folders before a component with `*`, `?` or `[` are
/// listed; literal components after such a one are kept only where they
/// exist (glob(3) checks them, it lists no folder that is not there).
/// With `strict` (`GLOB_ERR`), a folder that cannot be listed, other than
/// a file, is an error (the folder and the system's error); without it,
/// it gives nothing.
fn expand(
    env: &dyn Environment,
    pattern: &str,
    strict: bool,
) -> Result<Vec<PathBuf>, (PathBuf, io::Error)> {
    let absolute = pattern.starts_with('/');
    let mut paths: Vec<PathBuf> = std::vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let mut expanded = false;
    for (index, part) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        let mut next = Vec::new();
        for base in &paths {
            if has_magic(part) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let mut names = match env.list(dir) {
                    Ok(names) => names,
                    Err(e) if strict && !not_a_directory(&e) => return Err((dir.to_path_buf(), e)),
                    Err(_) => continue,
                };
                names.sort();
                for name in names {
                    let Some(name) = name.to_str() else { continue };
                    if matches(part, name) {
                        next.push(base.join(name));
                    }
                }
            } else {
                next.push(base.join(part));
            }
        }
        if !has_magic(part) && (last || expanded) {
            next.retain(|p| env.exists(p));
        }
        expanded |= has_magic(part);
        paths = next;
    }
    Ok(paths)
}

/// fnmatch(3) without flags but glob's rule for a leading dot: `*`, `?`,
/// `[...]` (with `!` or `^` to negate, and ranges) and `\` to quote.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&p[pi..], n[ni]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(&c) => (c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(width) => {
                pi += width;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `[...]` class at the start of `p` against `c`: the class's width if
/// it matches. An unclosed `[` is a literal `[`.
fn class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    loop {
        let Some(&ch) = p.get(i) else {
            return (c == '[').then_some(1);
        };
        if ch == ']' && i > start {
            return (matched != negate).then_some(i + 1);
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            matched |= ch <= c && c <= p[i + 2];
            i += 3;
        } else {
            matched |= ch == c;
            i += 1;
        }
    }
}

/// The files `confdir`/`sourcedir DIR...` read: every `*SUFFIX` in the
/// directories, in the order of their names; of files with the same name,
/// only the one in the directory listed first. Missing directories give
/// nothing: chronyd globs them without `GLOB_ERR`.
pub(super) fn search_dirs(env: &dyn Environment, dirs: &[&str], suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<(Vec<u8>, usize, PathBuf)> = Vec::new();
    for (order, dir) in dirs.iter().enumerate() {
        let pattern = std::format!("{dir}/*{suffix}");
        for path in expand(env, &pattern, false).unwrap_or_default() {
            let name = path
                .file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default();
            found.push((name, order, path));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    found.dedup_by(|later, first| later.0 == first.0);
    found.into_iter().map(|(_, _, path)| path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_rules() {
        assert!(matches("*.conf", "a.conf"));
        assert!(!matches("*.conf", ".a.conf"));
        assert!(matches(".*.conf", ".a.conf"));
        assert!(!matches("*.conf", "a.conf~"));
        assert!(matches("a?c", "abc"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[^a]x", "bx"));
        assert!(matches("[]]", "]"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        assert!(matches("[", "["));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b", "xxaxxbxx"));
    }

    #[test]
    fn rooted_paths_stay_in_the_root() {
        let rooted = Rooted::new("/r");
        assert_eq!(
            rooted.map(Path::new("/etc/chrony")),
            Path::new("/r/etc/chrony")
        );
        assert_eq!(rooted.map(Path::new("/../../x")), Path::new("/r/x"));
        assert_eq!(rooted.map(Path::new("rel")), Path::new("rel"));
    }
}
