//! A disciplined clock of the program's own, without CAP_SYS_TIME: the
//! daemon's [`Node`](crate::node::Node) follows NTP servers and steers a
//! [`VirtualClock`](crate::clock::VirtualClock) in software; any thread reads it through a
//! [`ClockHandle`], with an error bound.
//!
//! ```no_run
//! let clock = ntpkit::keeper::Keeper::new(["pool.ntp.org:123"]).spawn_thread()?;
//! clock.wait_synchronized(std::time::Duration::from_secs(60));
//! let now = clock.now();
//! println!("{:?} ± {:?}", now.time, now.error);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! With the `tokio` feature, `Keeper::spawn` runs the same node as a
//! task instead of a thread:
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn run() -> std::io::Result<()> {
//! let clock = ntpkit::keeper::Keeper::new(["pool.ntp.org:123"]).spawn().await?;
//! clock.synchronized().await;
//! let now = clock.now();
//! println!("between {:?} and {:?}", now.earliest(), now.latest());
//! # Ok(())
//! # }
//! ```
//!
//! - **What it runs.** One [`Node`](crate::node::Node), as the daemon and the
//!   simulator run it: chrony's defaults for each server with `iburst`,
//!   `makestep 1 -1` (the software clock is stepped whenever it is more
//!   than a second off: nobody else is stepped), the same response checks,
//!   filter, selection and discipline. The software clock starts at the
//!   system time and is then the node's alone: the system clock is never
//!   changed. On Linux it counts the oscillator's raw time (and time
//!   suspended), so another daemon stepping or slewing the system clock
//!   cannot move it; elsewhere it rides on the system clock and notices
//!   steps of it over 10 s.
//! - **The error bound** ([`BoundedTime::error`]) is the node's
//!   [`error_bound`](crate::node::Node::error_bound): from the followed
//!   server's own samples, half their round trip, the server's root
//!   distance, and what the clock can have drifted since, at three standard
//!   errors (wide while few samples are in: Student's t). `None` until the
//!   clock follows a server with a measured frequency (seconds to a minute
//!   after the start) and while no majority of the servers agrees; it
//!   grows while they do not answer. In every world and seed of the
//!   simulator the true time lies within it, except the rare seconds
//!   README lists.
//! - **Serving.** [`Keeper::serve`] also answers NTP clients on an address
//!   with the disciplined time, as chronyd would (everyone is allowed: put
//!   it behind the firewall you need).
//! - **Timestamps** are read from the clock around the socket calls (no
//!   kernel timestamps): a few microseconds of noise on a LAN.
//! - Logging goes through the `log` crate.
//! - Dropping the last [`ClockHandle`] stops the node (its thread or task
//!   ends), as does [`ClockHandle::shutdown`].

mod base;
mod engine;
#[cfg(feature = "tokio")]
mod task;
mod thread;

use std::io;
use std::net::SocketAddr;
use std::string::String;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use std::vec::Vec;

use crate::report::TrackingReport;

use engine::Engine;

/// The most servers a keeper follows.
pub const MAX_SERVERS: usize = crate::system::DEFAULT_CAPACITY;

/// What to follow and whether to serve: build it, then
/// [`spawn_thread`](Self::spawn_thread) (or, with `tokio`,
/// `spawn`).
#[derive(Debug, Clone)]
pub struct Keeper {
    servers: Vec<String>,
    serve: Option<SocketAddr>,
}

impl Keeper {
    /// Follow `servers` (each `"host:port"`; every address a name resolves
    /// to is followed, up to [`MAX_SERVERS`] in all).
    pub fn new<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> Keeper {
        Keeper {
            servers: servers.into_iter().map(Into::into).collect(),
            serve: None,
        }
    }

    /// Also answer NTP requests on `address` with the disciplined time
    /// (unsynchronised answers until it is synchronised, as chronyd gives).
    pub fn serve(mut self, address: SocketAddr) -> Keeper {
        self.serve = Some(address);
        self
    }

    /// Starts the node on a thread of its own. Names are resolved here.
    pub fn spawn_thread(self) -> io::Result<ClockHandle> {
        let found = self.servers.iter().map(|name| {
            let addresses = std::net::ToSocketAddrs::to_socket_addrs(name.as_str());
            (name, addresses.map(Iterator::collect))
        });
        thread::spawn(addresses(found)?, self.serve)
    }

    /// Starts the node as a task on the current tokio runtime. Names are
    /// resolved here.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn spawn(self) -> io::Result<ClockHandle> {
        let mut found = Vec::new();
        for name in &self.servers {
            let addresses = tokio::net::lookup_host(name.as_str()).await;
            found.push((name, addresses.map(Iterator::collect)));
        }
        task::spawn(addresses(found)?, self.serve).await
    }
}

/// Every address the servers' names resolved to, in order, without
/// repeats; a failed lookup is an error naming the server.
fn addresses<'n>(
    found: impl IntoIterator<Item = (&'n String, io::Result<Vec<SocketAddr>>)>,
) -> io::Result<Vec<SocketAddr>> {
    let mut addresses = Vec::new();
    for (name, lookup) in found {
        let found =
            lookup.map_err(|e| io::Error::new(e.kind(), std::format!("server {name}: {e}")))?;
        for address in found {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    if addresses.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no server address to follow",
        ));
    }
    if addresses.len() > MAX_SERVERS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            std::format!(
                "{} server addresses, at most {MAX_SERVERS}",
                addresses.len()
            ),
        ));
    }
    Ok(addresses)
}

/// The time, with how far from true time it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundedTime {
    /// The disciplined clock's time.
    pub time: SystemTime,
    /// How far true time may be from `time`, either way; `None` while not
    /// known (see the [module documentation](self)).
    pub error: Option<Duration>,
}

impl BoundedTime {
    /// The earliest true time can be (`None`: not known).
    pub fn earliest(&self) -> Option<SystemTime> {
        self.error.and_then(|e| self.time.checked_sub(e))
    }

    /// The latest true time can be (`None`: not known).
    pub fn latest(&self) -> Option<SystemTime> {
        self.error.and_then(|e| self.time.checked_add(e))
    }
}

/// The state a handle shares with the node's thread or task.
#[derive(Debug)]
struct Shared {
    engine: Mutex<Engine>,
    /// Signalled whenever the node has taken in what came (a response, a
    /// timer), and when it stops.
    changed: Condvar,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::Notify,
    /// Set once: the node's thread or task is to end.
    stopping: AtomicBool,
    /// Wakes the task to end.
    #[cfg(feature = "tokio")]
    stop: tokio::sync::Notify,
}

impl Shared {
    fn new(engine: Engine) -> Shared {
        Shared {
            engine: Mutex::new(engine),
            changed: Condvar::new(),
            #[cfg(feature = "tokio")]
            notify: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            #[cfg(feature = "tokio")]
            stop: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // The engine holds no invariant a panic elsewhere could break
        // halfway (every call leaves it whole), so a poisoned lock is used.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Tells the readers that the node took something in.
    fn changed(&self) {
        // Taken and let go, so that a reader between its check and its
        // wait cannot miss the signal.
        drop(self.lock());
        self.changed.notify_all();
        #[cfg(feature = "tokio")]
        self.notify.notify_waiters();
    }

    /// Ends the node's thread or task (soon after: a thread's receivers
    /// look every [`thread::RECEIVE_WAIT`]).
    fn stop(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(feature = "tokio")]
        self.stop.notify_one();
        self.changed();
    }
}

/// A handle on the disciplined clock: cheap to clone, `Send + Sync`. The
/// node stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct ClockHandle {
    shared: Arc<Shared>,
    /// Dropped with the last handle: stops the node.
    _owner: Arc<Owner>,
}

/// Stops the node when the last handle goes.
#[derive(Debug)]
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.stop();
    }
}

impl ClockHandle {
    fn new(shared: Arc<Shared>) -> ClockHandle {
        ClockHandle {
            _owner: Arc::new(Owner(shared.clone())),
            shared,
        }
    }

    /// The time now, with its error bound.
    pub fn now(&self) -> BoundedTime {
        self.shared.lock().now()
    }

    /// Whether the error bound is known now.
    pub fn is_synchronized(&self) -> bool {
        self.now().error.is_some()
    }

    /// Waits until the error bound is known, up to `timeout`; whether it is.
    pub fn wait_synchronized(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut engine = self.shared.lock();
        loop {
            if engine.now().error.is_some() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.shared.stopping() {
                return false;
            }
            engine = self
                .shared
                .changed
                .wait_timeout(engine, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until the error bound is known; returns at once if the node
    /// has stopped.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn synchronized(&self) -> bool {
        loop {
            let changed = self.shared.notify.notified();
            {
                if self.shared.lock().now().error.is_some() {
                    return true;
                }
                if self.shared.stopping() {
                    return false;
                }
            }
            changed.await;
        }
    }

    /// `chronyc tracking`'s values now.
    pub fn tracking(&self) -> TrackingReport {
        self.shared.lock().tracking()
    }

    /// The address the node serves on, when it serves
    /// ([`Keeper::serve`]; the port the system chose for port 0).
    pub fn serving_on(&self) -> Option<SocketAddr> {
        self.shared.lock().serving_on
    }

    /// Stops the node now (its thread or task ends soon after); the
    /// handles keep reading the clock, which then runs free.
    pub fn shutdown(&self) {
        self.shared.stop();
    }
}
