//! chronyd's `-F LEVEL`: a system-call filter (seccomp) loaded once the
//! daemon has started and dropped root, as chronyd 4.3 loads its own.
//!
//! - Level 0: no filter.
//! - Level 1: only the system calls the daemon makes after starting are
//!   allowed (its loop, the NTS-KE server's thread, name resolution
//!   through the C library, the files it writes, the command sockets),
//!   with `socket` kept to the AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK
//!   domains.
//! - Level 2: everything is allowed except a few calls a time daemon has
//!   no use for: `execve`, `execveat`, `fork`, `vfork` and `ptrace`.
//! - A positive level kills the whole process on a blocked call
//!   (`SECCOMP_RET_KILL_PROCESS`); a negative one (-1, -2) sends it SIGSYS
//!   instead, which a debugger or `strace` shows (chronyd(8)).
//!
//! The filter covers every thread (`SECCOMP_FILTER_FLAG_TSYNC`) and the
//! threads started later. It is compiled to BPF by `seccompiler`
//! (rust-vmm, pure Rust) for x86_64 and aarch64.

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why the filter could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A level other than -2 to 2.
    #[error("Unsupported filter level {0}")]
    Level(i32),
    /// The machine has no filter ntpkit knows of.
    #[error("system call filters are not supported on {0}")]
    Arch(&'static str),
    /// Compiling or loading the filter failed.
    #[error("Failed to load seccomp filter : {0}")]
    Load(String),
}

/// The system calls level 1 allows, besides `socket` (domains checked).
/// chronyd 4.3's list, and what ntpkit's own loop, its threads (Rust's
/// standard library) and rustls use, as `strace -f` of a loopback run
/// showed them.
const ALLOWED: &[libc::c_long] = &[
    // Clock.
    libc::SYS_adjtimex,
    libc::SYS_clock_adjtime,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_nanosleep,
    // Process and threads.
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getrlimit,
    libc::SYS_prlimit64,
    libc::SYS_prctl,
    libc::SYS_rseq,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_set_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_yield,
    libc::SYS_wait4,
    libc::SYS_futex,
    // Memory.
    libc::SYS_brk,
    libc::SYS_madvise,
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_munmap,
    // Files.
    libc::SYS_close,
    libc::SYS_openat,
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pwrite64,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_mkdirat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_unlinkat,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_eventfd2,
    // Sockets.
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_bind,
    libc::SYS_connect,
    libc::SYS_listen,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_recvmmsg,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
    libc::SYS_shutdown,
    libc::SYS_socketpair,
    // Waiting.
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    // A reference clock's shared memory (SHM), detached on the way out.
    libc::SYS_shmdt,
    // Miscellaneous.
    libc::SYS_getrandom,
    libc::SYS_sysinfo,
    libc::SYS_uname,
];

/// The older calls x86_64 has beside the generic ones.
#[cfg(target_arch = "x86_64")]
const ALLOWED_ARCH: &[libc::c_long] = &[
    libc::SYS_access,
    libc::SYS_arch_prctl,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_dup2,
    libc::SYS_epoll_wait,
    libc::SYS_getdents,
    libc::SYS_lstat,
    libc::SYS_mkdir,
    libc::SYS_open,
    libc::SYS_pipe,
    libc::SYS_poll,
    libc::SYS_readlink,
    libc::SYS_rename,
    libc::SYS_select,
    libc::SYS_stat,
    libc::SYS_time,
    libc::SYS_unlink,
];

#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_ARCH: &[libc::c_long] = &[];

/// The socket domains level 1 allows.
const SOCKET_DOMAINS: &[libc::c_int] = &[
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_NETLINK,
];

/// The system calls level 2 blocks.
#[cfg(target_arch = "x86_64")]
const DENIED: &[libc::c_long] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_ptrace,
];

#[cfg(not(target_arch = "x86_64"))]
const DENIED: &[libc::c_long] = &[libc::SYS_execve, libc::SYS_execveat, libc::SYS_ptrace];

fn arch() -> Result<TargetArch, FilterError> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| FilterError::Arch(std::env::consts::ARCH))
}

fn load_error(e: impl ToString) -> FilterError {
    FilterError::Load(e.to_string())
}

/// The BPF program of `level` (1, 2, -1 or -2).
pub fn program(level: i32) -> Result<BpfProgram, FilterError> {
    let blocked = match level {
        1 | 2 => SeccompAction::KillProcess,
        -1 | -2 => SeccompAction::Trap,
        _ => return Err(FilterError::Level(level)),
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let filter = if level.abs() == 1 {
        for &call in ALLOWED.iter().chain(ALLOWED_ARCH) {
            rules.insert(call, Vec::new());
        }
        let domains = SOCKET_DOMAINS
            .iter()
            .map(|&domain| {
                let condition = SeccompCondition::new(
                    0,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::Eq,
                    domain as u64,
                )
                .map_err(load_error)?;
                SeccompRule::new(std::vec![condition]).map_err(load_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.insert(libc::SYS_socket, domains);
        SeccompFilter::new(rules, blocked, SeccompAction::Allow, arch()?)
    } else {
        for &call in DENIED {
            rules.insert(call, Vec::new());
        }
        SeccompFilter::new(rules, SeccompAction::Allow, blocked, arch()?)
    };
    filter.map_err(load_error)?.try_into().map_err(load_error)
}

/// Loads the filter of `level` on every thread of the process (none at
/// level 0). Once loaded it cannot be undone.
pub fn apply(level: i32) -> Result<(), FilterError> {
    if level == 0 {
        return Ok(());
    }
    let program = program(level)?;
    seccompiler::apply_filter_all_threads(&program).map_err(load_error)
}
