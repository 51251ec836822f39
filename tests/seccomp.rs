//! chronyd's `-F`: the system-call filter. Each check runs in a child
//! process (this test binary again, told what to do by an environment
//! variable), since a filter cannot be taken off a process once loaded:
//! under level 1 the allowed work goes on and a call outside the list
//! kills the process (SIGSYS); level 2 blocks `execve`; and the daemon
//! itself runs for seconds under `-F 1` on loopback (virtual clock),
//! following an ntpkit server with NTS, answering chronyc requests,
//! writing its logs and drift file, and exits as it should.

// Needs what the linux feature brings; without it this test is empty.
#![cfg(all(feature = "linux", target_os = "linux"))]
#![cfg(all(target_os = "linux", feature = "std"))]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ntpkit::linux::daemon::{self, seccomp, Options};

const MODE: &str = "NTPKIT_SECCOMP_CHILD";
const DIR: &str = "NTPKIT_SECCOMP_DIR";

/// Runs test `name` of this binary again in a child process with `mode`.
fn child(name: &str, mode: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(MODE, mode)
        .env(DIR, dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn run_child(name: &str, mode: &str, dir: &Path) -> Output {
    child(name, mode, dir).wait_with_output().unwrap()
}

/// The work a child does under the filter, then exits.
fn as_child() -> bool {
    let Ok(mode) = std::env::var(MODE) else {
        return false;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    match mode.as_str() {
        "allowed" | "link" | "trap" | "exec" => {
            let level = match mode.as_str() {
                "exec" => 2,
                "trap" => -1,
                _ => 1,
            };
            seccomp::apply(level).unwrap();
            // What the daemon does: files, sockets, threads.
            let file = dir.join(format!("{mode}.txt"));
            std::fs::write(&file, "x").unwrap();
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .send_to(b"ping", socket.local_addr().unwrap())
                .unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(socket.recv(&mut buf).unwrap(), 4);
            std::thread::spawn(|| 7).join().unwrap();
            println!("alive");
            match mode.as_str() {
                // linkat is on no list: the process dies here.
                "link" | "trap" => {
                    let _ = std::fs::hard_link(&file, dir.join(format!("{mode}.link")));
                    println!("survived");
                }
                // The spawned program dies at execve.
                "exec" => {
                    let status = Command::new("/bin/true").status();
                    println!("exec: {status:?}");
                }
                _ => {}
            }
            std::process::exit(0);
        }
        "server" | "client" => {
            let options = Options {
                config: Some(dir.join(format!("{mode}.conf"))),
                debug: 1,
                log_file: Some(dir.join(format!("{mode}.log"))),
                timeout: Some(if mode == "client" { 8 } else { 12 }),
                filter: if mode == "client" { 1 } else { 0 },
                ..Options::default()
            };
            // On a stack the size of a main thread's (8 MiB), as the
            // daemon runs.
            let status = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || daemon::run(&options))
                .unwrap()
                .join()
                .unwrap();
            std::process::exit(i32::from(status));
        }
        other => panic!("unknown mode {other}"),
    }
}

#[test]
fn a_call_outside_the_filter_kills_the_process() {
    if as_child() {
        return;
    }
    let tmp = common::temp_dir("seccomp-calls");
    let dir = tmp.path();
    let name = "a_call_outside_the_filter_kills_the_process";
    let out = run_child(name, "allowed", dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("alive"), "{text}");
    for mode in ["link", "trap"] {
        let out = run_child(name, mode, dir);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{mode}: {out:?}");
        assert!(
            text.contains("alive") && !text.contains("survived"),
            "{text}"
        );
        assert!(!dir.join(format!("{mode}.link")).exists());
    }
    // Level 2: the process lives on, what it tries to execute does not.
    let out = run_child(name, "exec", dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    // Killed by SIGSYS (31) at execve.
    assert!(
        text.contains(&format!(
            "exec: Ok(ExitStatus(unix_wait_status({})))",
            libc::SIGSYS
        )),
        "{text}"
    );
    assert!(seccomp::program(3).is_err());
}

#[test]
fn the_daemon_works_under_filter_level_1() {
    if as_child() {
        return;
    }
    let tmp = common::temp_dir("seccomp-daemon");
    let dir = tmp.path();
    let pki = common::certs::make_pki(dir, "s", 2020, 2100);
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Ports apart from other tests' and other runs'.
    let base = 20_000 + (std::process::id() % 5_000) as u16 * 4;
    let d = dir.display();
    std::fs::write(
        dir.join("server.conf"),
        format!(
            "port {base}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n\
             bindcmdaddress {d}/run/server.sock\nntsservercert {}\nntsserverkey {}\nntsport {}\n",
            pki.cert.display(),
            pki.key.display(),
            base + 1
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("client.conf"),
        format!(
            "server 127.0.0.1 port {base} minpoll -2 maxpoll 0 iburst\n\
             server localhost port {base} nts ntsport {} minpoll -2 maxpoll 0 iburst\n\
             ntstrustedcerts {}\nntsdumpdir {d}\nmakestep 1.0 3\ndriftfile {d}/drift\n\
             logdir {d}\nlog measurements statistics tracking\n\
             bindcmdaddress {d}/run/client.sock\ncmdport {}\nallow 127.0.0.1\nport {}\n",
            base + 1,
            pki.ca.display(),
            base + 2,
            base + 3
        ),
    )
    .unwrap();
    let name = "the_daemon_works_under_filter_level_1";
    let mut server = child(name, "server", dir);
    std::thread::sleep(Duration::from_millis(700));
    let client = child(name, "client", dir);
    std::thread::sleep(Duration::from_secs(4));
    let config = ntpkit::chrony::config::Config::load(&dir.join("client.conf")).unwrap();
    let sources = ntpkit::linux::ctl::query(&config, "sources");
    let out = client.wait_with_output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(dir.join("client.log")).unwrap_or_default();
    // Synchronised (the time-out's status is 0 only then), not killed.
    assert!(out.status.success(), "{out:?}\n{log}");
    assert!(
        log.contains("NTS session with localhost: 8 cookies from NTS-KE"),
        "{log}"
    );
    assert!(log.contains("Timeout reached"), "{log}");
    let sources = sources.unwrap();
    assert!(sources.contains("^* 127.0.0.1"), "{sources}");
    assert!(std::fs::metadata(dir.join("drift")).unwrap().len() > 0);
    for file in ["measurements.log", "statistics.log", "tracking.log"] {
        assert!(
            std::fs::metadata(dir.join(file)).unwrap().len() > 0,
            "{file}"
        );
    }
}
