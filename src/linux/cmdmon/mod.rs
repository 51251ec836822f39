//! chronyc's command protocol on Linux sockets: the node's side
//! ([`CmdmonServer`]: chronyd's Unix datagram socket and UDP port, in the
//! caller's `poll(2)` loop) and a client ([`Client`], what `--ctl` uses,
//! speaking to ntpkit or to chronyd alike).
//!
//! As chronyd: the Unix socket at `bindcmdaddress PATH` (default
//! [`DEFAULT_CMD_SOCKET`]) answers every command, UDP port `cmdport` (default
//! [`DEFAULT_CMD_PORT`], on 127.0.0.1 and ::1) the monitoring commands from
//! localhost and `cmdallow`-ed hosts; `bindcmdaddress /` turns the socket
//! off, `cmdport 0` the port. A socket path or port another daemon holds
//! is an error at start; a socket file left by a daemon that is gone is
//! replaced.
//!
//! ```no_run
//! use ntpkit::chrony::control::Snapshot;
//! use ntpkit::linux::cmdmon::{CmdmonServer, CmdmonSettings};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut server = CmdmonServer::bind(&CmdmonSettings::default())?;
//! let snapshot = Snapshot::default(); // the node implements `Provider` instead
//! loop {
//!     // poll(2) on server.fds() with the node's other sockets, then:
//!     let served = server.serve_pending(&snapshot)?;
//!     for action in served.actions {
//!         // carry out burst, makestep, online, offline, reselect
//!         # let _ = action;
//!     }
//!     # break;
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod server;

use std::boxed::Box;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::vec::Vec;

use crate::chrony::config::{DEFAULT_CMD_PORT, DEFAULT_CMD_SOCKET};
use crate::cmdmon::CommandAccess;

pub use client::{Client, QueryError, SourceRow, Target, DEFAULT_TIMEOUT};
pub use server::{CmdmonServer, Served};

/// Where and to whom the command protocol is served.
#[derive(Debug, Clone)]
pub struct CmdmonSettings {
    /// The Unix socket's path (`None`: `bindcmdaddress /`, no socket).
    pub socket: Option<PathBuf>,
    /// The UDP port (0: `cmdport 0`, no UDP).
    pub port: u16,
    /// The addresses UDP is bound to (`bindcmdaddress ADDRESS`; default
    /// 127.0.0.1 and ::1).
    pub addresses: Vec<IpAddr>,
    /// Who may ask over UDP (`cmdallow`/`cmddeny`; default localhost).
    pub access: Box<CommandAccess>,
}

impl Default for CmdmonSettings {
    fn default() -> Self {
        CmdmonSettings {
            socket: Some(PathBuf::from(DEFAULT_CMD_SOCKET)),
            port: DEFAULT_CMD_PORT,
            addresses: std::vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            ],
            access: Box::new(CommandAccess::localhost()),
        }
    }
}

impl CmdmonSettings {
    /// The socket path as chrony.conf gives it: `/` turns the socket off.
    pub fn socket_from_config(path: &str) -> Option<PathBuf> {
        (path != "/").then(|| PathBuf::from(path))
    }
}

/// Why the command sockets could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmdmonError {
    /// A live socket answers at the path: another daemon (chronyd, or a
    /// second ntpkit node) serves it.
    #[error("{path}: another daemon's command socket is live there (is chronyd running?)")]
    SocketInUse {
        /// The path.
        path: PathBuf,
    },
    /// The socket's directory lets other users in: anyone could send any
    /// command (chronyd refuses it too).
    #[error(
        "{path}: mode {mode:04o} lets other users reach the command socket; make it 0750 or 0700"
    )]
    OpenDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The path exists and is not a socket (it is never removed).
    #[error("{path}: exists and is not a socket")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another process holds the UDP port.
    #[error("UDP {address}:{port}: held by another daemon (is chronyd running?)")]
    PortInUse {
        /// The address.
        address: IpAddr,
        /// The port.
        port: u16,
    },
    /// Any other failure, with what was being done.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: std::string::String,
        /// The error.
        source: io::Error,
    },
}
