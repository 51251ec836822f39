//! The daemon going to the background as chronyd does (no `-n`/`-d`):
//! the command returns once the daemon is up, with status 0, and the PID
//! file names the daemon; a daemon that cannot start says why through
//! its first parent, which returns 1. The parents' status goes back to
//! `main` (the library never ends the process itself). Virtual clock,
//! loopback, files in the test's own folder.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]
#![cfg(all(target_os = "linux", feature = "std"))]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

/// Waits (bounded) until `done`.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_command_returns_once_the_daemon_is_up_and_the_pid_file_names_it() {
    let tmp = common::temp_dir("daemonize");
    let dir = tmp.path();
    let pidfile = dir.join("ntpkitd.pid");
    let socket = dir.join("run").join("ntpkitd.sock");
    // Closed to others, as chronyd wants a command socket's folder.
    std::fs::create_dir(dir.join("run")).unwrap();
    std::fs::set_permissions(
        dir.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let conf = dir.join("client.conf");
    std::fs::write(
        &conf,
        format!(
            "server 127.0.0.1 port 9 minpoll 4\npidfile {}\nbindcmdaddress {}\ncmdport 0\nport 0\n",
            pidfile.display(),
            socket.display()
        ),
    )
    .unwrap();
    let client = common::chrony::example("client");
    let status = Command::new(&client)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(dir.join("daemon.log"))
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
    // Written by the daemon before its first parent was let go.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (running, listening) = (alive(pid), socket.exists());
    // End the daemon this test started, by PID, before judging.
    let killed = Command::new("kill").arg(pid.to_string()).status().unwrap();
    assert!(running, "the daemon {pid} runs on");
    assert!(listening, "chronyc's socket is open");
    assert!(killed.success());
    wait_until("the daemon's way out", || !alive(pid) && !pidfile.exists());
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(log.trim_end().ends_with("ntpkit exiting"), "{log}");
}

#[test]
fn a_daemon_that_cannot_start_says_why_through_its_parent() {
    let tmp = common::temp_dir("daemonize-fails");
    let dir = tmp.path();
    let conf = dir.join("client.conf");
    std::fs::write(
        &conf,
        "server 127.0.0.1 port 9\ncmdport 0\nbindcmdaddress /\nport 0\n",
    )
    .unwrap();
    let client = common::chrony::example("client");
    // The log file's folder does not exist: the daemon cannot open it.
    let out = Command::new(&client)
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(dir.join("missing").join("daemon.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Could not open log file"), "{stderr}");
}

#[test]
fn a_port_taken_ends_the_start_and_the_parent_says_so() {
    let tmp = common::temp_dir("daemonize-port");
    let dir = tmp.path();
    // The port the daemon is to serve on is taken: found only after the
    // fork, once the configuration is read; the parent must not have said
    // "ready" before.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let conf = dir.join("client.conf");
    std::fs::write(
        &conf,
        format!(
            "server 127.0.0.1 port 9\ncmdport 0\nbindcmdaddress /\nport {port}\n\
             bindaddress 127.0.0.1\nallow 127.0.0.1\n"
        ),
    )
    .unwrap();
    let out = Command::new(common::chrony::example("client"))
        .arg("-f")
        .arg(&conf)
        .arg("-l")
        .arg(dir.join("daemon.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Could not open NTP sockets"), "{stderr}");
}
