//! Running Debian's chronyd (always `-x`, IPv4 only, loopback-only
//! configurations, dropping to user _chrony) and ntpkit's example server
//! for interop tests; both stopped by their PIDs when dropped, chronyd's
//! folder removed after it.

#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A free TCP port on loopback.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback TCP port")
}

/// The symmetric keys both sides of the authentication tests have
/// (chrony's keyfile format): SHA1, SHA256 and AES128.
pub const KEYS: &str = "2 SHA1 HEX:0102030405060708090a0b0c0d0e0f1011121314\n\
                        3 SHA256 HEX:1112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30\n\
                        6 AES128 HEX:2122232425262728292a2b2c2d2e2f30\n";

/// A folder user _chrony owns (mode 0750), for chronyd's sockets and
/// files; removed when dropped.
pub fn chrony_dir(name: &str) -> TempDir {
    let dir = super::temp_dir(&format!("chrony-{name}"));
    chown_chrony(dir.path());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    dir
}

pub fn chown_chrony(path: &Path) {
    let status = Command::new("chown")
        .arg("_chrony:_chrony")
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}

/// A chronyd with `-x`, stopped (by its PID) on drop, its folder removed
/// once it has gone.
pub struct Chronyd {
    dir: TempDir,
    pid: u32,
}

impl Chronyd {
    /// chronyd with the configuration `body` in the _chrony folder `dir`
    /// (its control socket, PID file and log there too), IPv4 only, its
    /// client sockets on 127.0.0.1.
    pub fn start(dir: TempDir, body: &str) -> Chronyd {
        let conf = dir.path().join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "{body}bindacqaddress 127.0.0.1\ncmdport 0\nbindcmdaddress {0}/chronyd.sock\n\
                 pidfile {0}/chronyd.pid\n",
                dir.path().display()
            ),
        )
        .unwrap();
        // -4: without `bindaddress ::1` chronyd would listen on the IPv6
        // wildcard (NTS-KE, NTP).
        let status = Command::new(super::need::program("chronyd"))
            .args(["-x", "-4", "-f"])
            .arg(&conf)
            .arg("-l")
            .arg(dir.path().join("chronyd.log"))
            .status()
            .expect("start chronyd");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(pid) = std::fs::read_to_string(dir.path().join("chronyd.pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return Chronyd { dir, pid };
            }
            assert!(
                Instant::now() < deadline,
                "chronyd did not start: {}",
                self_log(dir.path())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `chronyc -n REPORT` asked of this chronyd.
    pub fn chronyc(&self, report: &str) -> String {
        let output = Command::new(find_program("chronyc").unwrap())
            .arg("-h")
            .arg(self.dir().join("chronyd.sock"))
            .args(["-n", report])
            .output()
            .expect("run chronyc");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Its log.
    pub fn log(&self) -> String {
        self_log(self.dir())
    }

    /// Polls `chronyc REPORT` until `done` says yes, for up to `limit`.
    pub fn wait_for(
        &self,
        report: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.chronyc(report);
            if done(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn self_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("chronyd.log")).unwrap_or_default()
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        // Only our chronyd: its command line names our config. It has
        // gone when its command line no longer does (it exited, or is a
        // zombie); then its folder can go.
        let ours = || {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&*self.dir().to_string_lossy())
        };
        if ours() {
            let _ = Command::new("kill").arg(self.pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while ours() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The example `name`, built beside the tests by `cargo test`; built now
/// (with the features this test was built with) when missing, as after
/// `cargo test --test NAME`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target folder");
    let path = profile.join("examples").join(name);
    if !path.exists() {
        let features: Vec<&str> = [
            ("std", cfg!(feature = "std")),
            ("auth", cfg!(feature = "auth")),
            ("nts", cfg!(feature = "nts")),
            ("chrony", cfg!(feature = "chrony")),
            ("linux", cfg!(feature = "linux")),
            ("json", cfg!(feature = "json")),
            ("sim", cfg!(feature = "sim")),
            ("serde", cfg!(feature = "serde")),
            ("bytes", cfg!(feature = "bytes")),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(feature, _)| *feature)
        .collect();
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--example", name, "--no-default-features"])
            .args(["--features", &features.join(",")]);
        if profile.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    path
}

/// A child process stopped (SIGTERM, by its PID) when dropped.
pub struct Running(pub Child);

impl Running {
    /// Stops it (SIGTERM: it prints its counters) and returns what it
    /// printed.
    pub fn finish(mut self) -> String {
        use std::io::Read;
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut text = String::new();
        if let Some(mut out) = self.0.stdout.take() {
            let _ = out.read_to_string(&mut text);
        }
        if let Some(mut err) = self.0.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Our examples answer chronyc on /run/chrony/chronyd.sock and UDP 323
/// unless told otherwise: a test's config gets its own socket beside it
/// and no UDP port (appended, so line numbers stay), not to meet another
/// daemon's sockets.
pub fn private_command_sockets(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    if text.contains("bindcmdaddress") {
        return;
    }
    // In a directory of its own, which the example creates private (it
    // refuses one other users can reach).
    let socket = config.with_extension("cmd").join("ntpkit.sock");
    let mut text = text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("cmdport 0\nbindcmdaddress {}\n", socket.display()));
    std::fs::write(config, text).unwrap();
}

/// Starts examples/server with the configuration `config` (its command
/// socket moved beside it, [`private_command_sockets`]).
pub fn start_example_server(config: &Path) -> Running {
    let binary = example("server");
    private_command_sockets(config);
    let child = Command::new(binary)
        .arg("-f")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example server");
    // It binds before it prints; give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    Running(child)
}

/// Writes `text` to `path` readable by _chrony only (a key file).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
    chown_chrony(path);
}

/// chronyd serving NTS and the keys of `keys` (a key file's text) on
/// 127.0.0.1, `local stratum 8`: it, its certificates (for `localhost`,
/// 127.0.0.1 and 127.0.0.2, where a test may put a proxy), its NTP port
/// and its NTS-KE port.
pub fn chronyd_server(name: &str, keys: &str) -> (Chronyd, super::certs::TestPki, u16, u16) {
    let dir = chrony_dir(name);
    let names = ["localhost", "127.0.0.1", "127.0.0.2"];
    let pki = super::certs::make_pki_for(dir.path(), "chronyd", &names, 2020, 2100);
    for f in [&pki.cert, &pki.key, &pki.ca] {
        chown_chrony(f);
    }
    let key_file = dir.path().join("server.keys");
    write_private(&key_file, keys);
    let (port, ntsport) = (free_port(), free_tcp_port());
    let body = format!(
        "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n\
         ntsserverkey {}\nntsservercert {}\nntsport {ntsport}\nkeyfile {}\n",
        pki.key.display(),
        pki.cert.display(),
        key_file.display()
    );
    let chronyd = Chronyd::start(dir, &body);
    (chronyd, pki, port, ntsport)
}
