//! The daemon as a process, as chronyd is one: going to the background
//! (two forks, the first parent waiting until the daemon is up or says why
//! it is not), the PID file, dropping root to a user while keeping only
//! the capabilities the clock and the server port need, the real-time
//! scheduler, locked memory, and telling systemd it is ready.

// fork(2), setuid(2), capset(2), sched_setscheduler(2), mlockall(2):
// small libc calls, each says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::string::{String, ToString};

use crate::linux::files::write_atomically;

/// The daemon's end of the pipe its first parent waits on: a message
/// written there is printed by the parent, which then exits 1; closing it
/// lets the parent exit 0.
#[derive(Debug)]
pub struct StartupPipe(std::fs::File);

impl StartupPipe {
    /// Reports why the daemon could not start (the waiting parent prints
    /// it and exits 1).
    pub fn fail(mut self, message: &str) {
        let _ = self.0.write_all(message.as_bytes());
    }

    /// The daemon is up: the waiting parent exits 0.
    pub fn ready(self) {}
}

/// Which process [`daemonize`] returned in.
#[derive(Debug)]
pub enum Background {
    /// The daemon, with the pipe its first parent waits on.
    Daemon(StartupPipe),
    /// A parent that is done: the first one once the daemon is up (0) or
    /// said why not (1, the message printed), or the intermediate one
    /// (0). The caller returns this status from `main` at once: the
    /// library never ends the process itself.
    Parent(u8),
}

/// Goes to the background as chronyd does: fork (the parent waits on a
/// pipe for the daemon's message), a new session, fork again, `/` as the
/// working directory, and `/dev/null` as standard input, output and
/// error. Returns in every process: in the daemon with its
/// [`StartupPipe`], in each parent with its exit status. Call before any
/// thread is started.
pub fn daemonize() -> io::Result<Background> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors, owned from here on.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded here (the caller's promise); the child only
    // goes on with ordinary code.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        _ => {
            drop(writer);
            let mut message = String::new();
            let mut reader = std::fs::File::from(reader);
            let _ = reader.read_to_string(&mut message);
            if message.is_empty() {
                return Ok(Background::Parent(0));
            }
            eprintln_raw(&message);
            return Ok(Background::Parent(1));
        }
    }
    drop(reader);
    // SAFETY: setsid(2) takes no arguments.
    unsafe { libc::setsid() };
    // SAFETY: as above: still one thread.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        // The intermediate parent: the daemon goes on.
        _ => return Ok(Background::Parent(0)),
    }
    std::env::set_current_dir("/")?;
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
    }
    Ok(Background::Daemon(StartupPipe(std::fs::File::from(writer))))
}

/// Writes `message` and a newline to standard error.
fn eprintln_raw(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}

/// Whether the PID file at `path` names a process that is alive: then
/// another daemon runs (chronyd's check, in its words).
pub fn check_pidfile(path: &Path) -> Result<(), String> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<libc::pid_t>() else {
        return Ok(());
    };
    // SAFETY: getsid(2) takes a PID, touches no memory.
    if pid > 0 && unsafe { libc::getsid(pid) } >= 0 {
        return Err(std::format!(
            "Another chronyd may already be running (pid={pid}), check {}",
            path.display()
        ));
    }
    Ok(())
}

/// Writes this process's PID to `path` (mode 0644).
pub fn write_pidfile(path: &Path) -> io::Result<()> {
    write_atomically(
        path,
        std::format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )
}

/// The user and group IDs of user `name`.
pub fn user_ids(name: &str) -> Result<(libc::uid_t, libc::gid_t), String> {
    let fail = || std::format!("Could not get user/group ID of {name}");
    let c_name = CString::new(name).map_err(|_| fail())?;
    // SAFETY: a NUL-terminated name; the result points into static storage
    // of libc, read at once.
    let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if entry.is_null() {
        return Err(fail());
    }
    // SAFETY: non-null, as getpwnam(3) returns it.
    let entry = unsafe { &*entry };
    Ok((entry.pw_uid, entry.pw_gid))
}

/// The capabilities kept after dropping root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keep {
    /// `CAP_SYS_TIME`: the clock is steered.
    pub sys_time: bool,
    /// `CAP_NET_BIND_SERVICE`: the NTP port is under 1024.
    pub net_bind_service: bool,
}

const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_TIME: u32 = 25;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Becomes user `uid` and group `gid` (no supplementary groups), keeping
/// only the capabilities in `keep` (effective and permitted), as chronyd
/// drops root.
pub fn drop_root(uid: libc::uid_t, gid: libc::gid_t, keep: Keep) -> io::Result<()> {
    let check = |rc: libc::c_int, what: &str| {
        if rc == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            Err(io::Error::new(e.kind(), std::format!("{what}: {e}")))
        }
    };
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) },
        "prctl(PR_SET_KEEPCAPS)",
    )?;
    // SAFETY: no groups: a null list of length 0.
    check(
        unsafe { libc::setgroups(0, std::ptr::null()) },
        "Could not set groups",
    )?;
    // SAFETY: integer arguments.
    check(unsafe { libc::setgid(gid) }, "Could not set GID")?;
    // SAFETY: integer arguments.
    check(unsafe { libc::setuid(uid) }, "Could not set UID")?;
    let mut mask = 0u32;
    if keep.sys_time {
        mask |= 1 << CAP_SYS_TIME;
    }
    if keep.net_bind_service {
        mask |= 1 << CAP_NET_BIND_SERVICE;
    }
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask,
            permitted: mask,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset(2) with a version-3 header and its two data words.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    check(rc as libc::c_int, "capset")
}

/// Stop on SIGINT, SIGTERM and SIGHUP, as chronyd does: from now on these
/// signals set `flag`, which [`Driver::run`](crate::linux::driver::Driver::run) checks after every wakeup (a
/// signal interrupts `poll(2)`).
pub fn stop_on_signals(flag: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> io::Result<()> {
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(())
}

/// Whether the process is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes nothing.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the process under SCHED_FIFO at `priority` (chronyd `-P`).
pub fn set_scheduler(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: a sched_param of the stated type.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Locks the process's memory, now and to come (chronyd `-m`).
pub fn lock_memory() -> io::Result<()> {
    // SAFETY: integer flags.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Tells the service manager the daemon is up (`Type=notify` units;
/// nothing without `NOTIFY_SOCKET`).
pub fn notify_ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
            log::warn!("Could not notify the service manager: {e}");
        }
    }
}

/// A line of `/proc/self/status` (`Uid`, `CapEff`, …), for tests and
/// reports.
pub fn status_field(name: &str) -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files() {
        let tmp = tempfile::Builder::new()
            .prefix("ntpkit-pid-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let path = dir.join("chronyd.pid");
        assert_eq!(check_pidfile(&path), Ok(()));
        write_pidfile(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            std::format!("{}\n", std::process::id())
        );
        // This process is alive: another daemon would be refused.
        let refused = check_pidfile(&path).unwrap_err();
        assert!(
            refused.starts_with("Another chronyd may already be running (pid="),
            "{refused}"
        );
        // A PID nobody has (beyond the kernel's maximum) is stale.
        fs::write(&path, "2147483646\n").unwrap();
        assert_eq!(check_pidfile(&path), Ok(()));
        fs::write(&path, "garbage\n").unwrap();
        assert_eq!(check_pidfile(&path), Ok(()));
    }

    #[test]
    fn users_are_looked_up() {
        assert_eq!(user_ids("root"), Ok((0, 0)));
        assert_eq!(
            user_ids("no-such-user-ntpkit"),
            Err("Could not get user/group ID of no-such-user-ntpkit".into())
        );
    }

    #[test]
    fn status_fields() {
        assert!(status_field("Pid").unwrap().parse::<u32>().is_ok());
        assert!(status_field("CapEff").is_some());
        assert_eq!(status_field("NoSuchField"), None);
    }
}
