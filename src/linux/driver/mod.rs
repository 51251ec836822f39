//! The Linux shell around a [`Node`]: one UDP socket per followed server
//! (or, with `acquisitionport`, one shared by them all, or the serving
//! sockets: [`ClientSockets`](crate::linux::settings::ClientSockets)), the
//! serving sockets, a clock and chronyc's command sockets, waited on with
//! `poll(2)` on one thread. All the logic is the node's (the
//! simulator drives the same node); the shell only moves bytes,
//! timestamps, clock actions and files, and says what happened in
//! chronyd's words through the [`log`] crate (the program chooses where
//! the lines go).
//!
//! - It sends the requests the node asks for and hands back their kernel
//!   transmit timestamps with their tokens; it hands the node each
//!   response with the kernel's receive time, read on the disciplined
//!   clock, taken only from the address and port its source's requests go
//!   to, on the socket they leave from. (Requests that leave from a
//!   serving socket keep the time read just before the send: those
//!   sockets do not ask for transmit timestamps.)
//! - It answers clients in batches ([`serve`](crate::linux::serve)).
//! - It carries out the clock actions at once, and writes the drift file
//!   and chronyd's log files when the node's events say so.
//! - It sleeps until the node's next deadline or a datagram, never longer
//!   and never in a busy loop.
//! - On every way out (a stop, an error, a panic unwinding through it) the
//!   node ends the slew in progress and the clock is left at the frequency
//!   estimate, as chronyd leaves it ([`Driver::finish`]).
//! - NTS sources get their NTS-KE when the node asks, over non-blocking
//!   connections this loop waits on, and keep their cookies in
//!   `ntsdumpdir` across restarts.
//! - With `dumpdir`, the sources' measurement histories are saved on the
//!   way out and (with `-r`, [`Settings::reload`]) restored at start, so
//!   that a restarted node corrects the clock at once.
//!
//! Embedding it takes a few lines:
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ntpkit::linux::clock::VirtualClock;
//! use ntpkit::linux::driver::Driver;
//! use ntpkit::linux::settings::{Settings, Upstream};
//! use ntpkit::system::SourceConfig;
//!
//! let settings = Settings {
//!     upstreams: vec![Upstream::resolve("pool.ntp.org", 123, SourceConfig::default().with_iburst(true))?],
//!     ..Settings::default()
//! };
//! let mut driver = Driver::new(settings, VirtualClock::new(), None)?;
//! driver.run(&AtomicBool::new(false))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod broadcast;
mod cards;
mod commands;
mod error;
mod events;
mod files;
mod histories;
mod inspect;
mod jumps;
mod logging;
mod lookup;
mod nts;
mod outgoing;
mod peers;
mod receiving;
mod refclocks;
mod replace;
mod serving;
mod setup;
mod tempcomp;
mod view;

use std::boxed::Box;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::random::OsRandom;

use crate::chrony::config::DEFAULT_LOGCHANGE;
use crate::clock::{ClockAction, StepWatch};
use crate::discipline::MaxChange;
use crate::linux::clock::DriverClock;
use crate::linux::cmdmon::CmdmonServer;
use crate::linux::nts::ke_client::NtsSettings;
use crate::linux::serve::Serving;
use crate::linux::settings::{Family, Settings, Upstream};
use crate::linux::socket::client::TxStamps;
use crate::linux::socket::{NtpSocket, Poller};
use crate::node::{Datagram, Node};
use crate::report::TimestampSource;
use crate::system::{ModeEnd, ReferenceMode, SourceId, MAX_REQUEST_LEN};
use crate::time::NtpTimestamp;
use error::io_error;
pub use error::DriverError;
use logging::LogFiles;
use outgoing::{is_request, ClientPorts, Route};
use peers::Peer;
use serving::ServeSockets;
use tempcomp::TempComp;

/// How many servers a driver follows at most.
pub const MAX_SOURCES: usize = 64;

/// How many of its sources may be reference clocks.
pub const MAX_REFCLOCKS: usize = 8;

/// The node a driver runs: [`MAX_SOURCES`] sources (each may use NTS), up
/// to [`MAX_REFCLOCKS`] of them reference clocks.
pub type DriverNode<'a> = Node<'a, MAX_SOURCES, MAX_SOURCES, MAX_REFCLOCKS>;

/// The Linux shell. See the [module documentation](self).
pub struct Driver<'a, C: DriverClock> {
    node: Box<DriverNode<'a>>,
    peers: Vec<Peer>,
    /// Where the requests leave from, and the shared client sockets.
    client: ClientPorts,
    clock: C,
    cmdmon: Option<CmdmonServer>,
    serving: ServeSockets,
    /// The NTS sources' handshakes (none without NTS sources).
    ke: Option<nts::KeRunner>,
    /// The sources to start when `initstepslew` is done.
    later: Vec<Upstream>,
    /// What NTS sources started later need.
    nts_settings: NtsSettings,
    /// How the reference mode ended (`-q`, `-Q`, `initstepslew`).
    mode_end: Option<ModeEnd>,
    driftfile: Option<PathBuf>,
    /// Where the sources' histories are saved and restored (`dumpdir`).
    dumpdir: Option<PathBuf>,
    measure_only: bool,
    maxchange: Option<MaxChange>,
    /// Clock updates correcting more than this are logged, seconds.
    logchange: f64,
    log_files: Option<LogFiles>,
    /// `tempcomp`'s sensor and compensation.
    tempcomp: Option<TempComp>,
    /// `broadcast`'s destinations.
    broadcasts: broadcast::Broadcasts,
    /// The frequency the node set last, ppm (the clock runs at it with
    /// `tempcomp`'s compensation on top).
    node_frequency: f64,
    /// The frequency the clock was last set to, ppm (`tempcomp`'s
    /// compensation included): how much a change changes its rate.
    applied_frequency: Option<f64>,
    /// The network cards timestamping packets (`hwtimestamp`).
    cards: cards::Cards,
    /// Watches the system clock for steps made by someone else.
    jumps: StepWatch,
    /// When a bad source was last looked up for a replacement.
    last_replacement: Option<Instant>,
    /// The lookup of a bad source's name under way.
    replacement: Option<replace::Replacement>,
    /// Where the monotonic readings the watch takes count from.
    started: Instant,
    finished: bool,
    /// The address family kept to (`-4`, `-6`), also by `chronyc add`.
    family: Option<Family>,
    /// `chronyc shutdown` was asked: the loop ends.
    shutdown: bool,
    /// The configuration file (`reload sources` reads its `sourcedir`
    /// files again).
    config_path: Option<PathBuf>,
    /// The key file (`rekey` reads it again).
    keyfile: Option<PathBuf>,
}

impl<C: DriverClock> fmt::Debug for Driver<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("peers", &self.peers)
            .field("serving", &self.serving)
            .field("cmdmon", &self.cmdmon)
            .finish_non_exhaustive()
    }
}

impl<'a, C: DriverClock> Driver<'a, C> {
    fn now(&self) -> Result<NtpTimestamp, DriverError<C::Error>> {
        self.clock.now().map_err(DriverError::Clock)
    }

    /// Runs until `stop` is set (or an error), then [`finishes`](Self::finish).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), DriverError<C::Error>> {
        let result = (|| {
            while !stop.load(Ordering::Relaxed) && !self.shutdown {
                self.run_once(None)?;
            }
            Ok(())
        })();
        let finished = self.finish();
        result.and(finished)
    }

    /// One turn of the loop: send what is due, wait for datagrams (at most
    /// until the node's next deadline, or `max_wait`), handle them, carry
    /// out the clock actions and answer chronyc's commands.
    pub fn run_once(&mut self, max_wait: Option<Duration>) -> Result<(), DriverError<C::Error>> {
        self.transmit()?;
        self.read_refclocks()?;
        let now = self.now()?;
        let until_due = self.node.poll_timeout().map(|due| {
            let seconds = self.clock.system_interval((due - now).to_seconds_f64());
            Duration::from_secs_f64(seconds.clamp(0.0, 1e9))
        });
        let until_temperature = self
            .tempcomp
            .as_ref()
            .map(|t| t.due().saturating_duration_since(Instant::now()));
        // (The monotonic clock is read only when there is a broadcast.)
        let until_broadcast = self.broadcasts.until_due(Instant::now);
        let until_handshake = self.ke.as_ref().and_then(|ke| ke.until_due(Instant::now()));
        let until_lookup = self.replacement.as_ref().map(|_| lookup::CHECK);
        let wait = [
            until_due,
            max_wait,
            until_temperature,
            until_broadcast,
            until_handshake,
            until_lookup,
        ]
        .into_iter()
        .flatten()
        .min();
        let mut poller = Poller::new();
        // Each socket a source's requests leave from: its own (by the
        // source's id, which a source started meanwhile does not have), and
        // the shared ones (by family).
        let own: Vec<(SourceId, usize)> = self
            .peers
            .iter()
            .filter_map(|peer| match &peer.route {
                Route::Own(out) => {
                    Some((peer.id, poller.add_with_error_queue(&out.socket.as_fd())))
                }
                _ => None,
            })
            .collect();
        let shared: Vec<(usize, usize)> = self
            .client
            .shared()
            .map(|(f, out)| (f, poller.add_with_error_queue(&out.socket.as_fd())))
            .collect();
        let commands: Vec<usize> = self
            .cmdmon
            .iter()
            .flat_map(|c| c.fds())
            .map(|fd| poller.add(&fd))
            .collect();
        // The NTS-KE connections (their handshakes finish in transmit()).
        let handshakes: Vec<usize> = self
            .ke
            .iter()
            .flat_map(|ke| ke.fds())
            .map(|(fd, output)| poller.add_with_output(&fd, output))
            .collect();
        let served: Vec<(usize, usize)> = self
            .serving
            .live()
            .map(|(socket, s)| (socket, poller.add(s)))
            .collect();
        let refclocks: Vec<(SourceId, usize)> = self
            .refclock_fds()
            .into_iter()
            .map(|(id, fd)| (id, poller.add(&fd)))
            .collect();
        poller.wait(wait).map_err(io_error("poll"))?;
        if let Some(ke) = &mut self.ke {
            let ready: Vec<(bool, bool)> = handshakes
                .iter()
                .map(|&i| (poller.is_ready(i), poller.is_writable(i)))
                .collect();
            ke.advance(&ready, Instant::now());
        }
        self.watch_for_jumps()?;
        self.broadcasts
            .send_due(Instant::now, &mut self.node, &self.clock, &self.serving);
        for (id, index) in own {
            if poller.has_error_queue(index) {
                let (clock, cards) = (&self.clock, &mut self.cards);
                let peer = self.peers.iter_mut().find(|p| p.id == id);
                if let Some(Route::Own(out)) = peer.map(|p| &mut p.route) {
                    let taken = out.transmit_timestamps(|t| transmit_time(t, cards, clock));
                    for (token, time, source) in taken {
                        self.node.handle_tx_timestamp(token, time, source);
                    }
                }
            }
            if poller.is_readable(index) {
                self.receive_own(id)?;
            }
        }
        for (f, index) in shared {
            if poller.has_error_queue(index) {
                let (clock, cards) = (&self.clock, &mut self.cards);
                if let Some(out) = self.client.shared_mut(f) {
                    let taken = out.transmit_timestamps(|t| transmit_time(t, cards, clock));
                    for (token, time, source) in taken {
                        self.node.handle_tx_timestamp(token, time, source);
                    }
                }
            }
            if poller.is_readable(index) {
                self.receive_shared(f)?;
            }
        }
        for (socket, index) in served {
            if poller.is_ready(index) {
                let sources: Vec<(SocketAddr, SourceId)> = self
                    .peers
                    .iter()
                    .filter(|p| p.on_server(socket))
                    .map(|p| (p.address, p.id))
                    .collect();
                if self.serving.answer(
                    socket,
                    &mut self.node,
                    &self.clock,
                    &sources,
                    &mut self.cards,
                ) {
                    self.settle()?;
                }
            }
        }
        for (id, index) in refclocks {
            if poller.is_ready(index) {
                self.receive_refclock(id)?;
            }
        }
        let now = self.now()?;
        self.node.handle_timeout(now);
        self.settle()?;
        self.replace_bad_sources(now);
        self.read_temperature()?;
        let ready: Vec<bool> = commands.iter().map(|&i| poller.is_ready(i)).collect();
        if ready.contains(&true) {
            self.answer_commands(&ready)?;
        }
        Ok(())
    }

    /// The way out: the node ends the slew in progress and leaves the
    /// clock at the frequency estimate, the drift is saved, and so are the
    /// NTS sources' cookies and (with `dumpdir`) the sources' histories.
    /// Called by [`run`](Self::run), and on drop (a panic unwinding
    /// through the driver included) if not before.
    pub fn finish(&mut self) -> Result<(), DriverError<C::Error>> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let now = self.now()?;
        self.node.shutdown(now);
        if let Some(ke) = &self.ke {
            nts::save_cookies(&self.node, &self.peers, ke, now);
        }
        let settled = self.settle();
        // The samples as the clock is left: at its frequency estimate.
        self.dump();
        settled
    }

    /// Carries out the node's actions at once (none in measure-only mode)
    /// and acts on its events.
    fn settle(&mut self) -> Result<(), DriverError<C::Error>> {
        while let Some(action) = self.node.poll_action() {
            if self.measure_only {
                continue;
            }
            let action = match action {
                ClockAction::SetFrequency { ppm } => {
                    self.node_frequency = ppm;
                    let compensation = self.tempcomp.as_ref().map_or(0.0, TempComp::applied);
                    ClockAction::SetFrequency {
                        ppm: tempcomp::compensated(ppm, compensation),
                    }
                }
                action => action,
            };
            self.apply_to_clock(&action)?;
            if let ClockAction::Step { .. } = action {
                let (wall, monotonic) = self.readings();
                self.jumps.rebase(wall, monotonic);
            }
        }
        let now = self.now()?;
        while let Some(event) = self.node.poll_event() {
            self.handle_event(&event, now)?;
        }
        Ok(())
    }

    /// Carries out `action` on the clock, and tells the cards' trackers
    /// how it changed the clock's rate or time.
    fn apply_to_clock(&mut self, action: &ClockAction) -> Result<(), DriverError<C::Error>> {
        let at = if self.cards.is_empty() && !self.refclocks_track_clock() {
            None
        } else {
            Some(self.now()?)
        };
        self.clock.apply(action).map_err(DriverError::Clock)?;
        match *action {
            ClockAction::SetFrequency { ppm } => {
                match (at, self.applied_frequency) {
                    (Some(at), Some(old)) => {
                        let change = (1.0 + ppm * 1e-6) / (1.0 + old * 1e-6) - 1.0;
                        self.cards.clock_changed(at, change, 0.0);
                        self.refclocks_clock_changed(Some((at, change, 0.0)));
                    }
                    // By how much the rate changed is not known: what the
                    // cards' clocks were read against no longer holds.
                    (Some(_), None) => {
                        self.cards.forget();
                        self.refclocks_clock_changed(None);
                    }
                    (None, _) => {}
                }
                self.applied_frequency = Some(ppm);
            }
            ClockAction::Step { offset } => {
                if let Some(at) = at {
                    let step = offset.to_seconds_f64();
                    self.cards.clock_changed(at, 0.0, step);
                    self.refclocks_clock_changed(Some((at, 0.0, step)));
                }
            }
            ClockAction::SetStatus(_) => {}
        }
        Ok(())
    }

    /// Sends every request that is due (after taking in the NTS-KE
    /// handshakes that finished and starting those the node wants).
    fn transmit(&mut self) -> Result<(), DriverError<C::Error>> {
        self.run_handshakes()?;
        let mut buf = [0u8; MAX_REQUEST_LEN];
        loop {
            // T1 is the clock read just before the send, until the kernel's
            // transmit timestamp replaces it.
            let now = self.now()?;
            let Some(transmit) = self.node.poll_transmit(now, &mut OsRandom, &mut buf) else {
                // The polls that wanted NTS-KE instead of a request.
                return self.run_handshakes();
            };
            let Some(peer) = self.peers.iter_mut().find(|p| p.id == transmit.source) else {
                continue;
            };
            let (bytes, token, to) = (transmit.bytes, transmit.token, peer.address);
            let sent = match &mut peer.route {
                Route::Own(out) => out.send(bytes, to, token, now),
                Route::Shared(f) => match self.client.shared_mut(*f) {
                    Some(out) => out.send(bytes, to, token, now),
                    None => Err(io::Error::other("no client socket")),
                },
                Route::Server(index) => self.serving.send_to(*index, bytes, to),
                // The node sends nothing to a reference clock.
                Route::Refclock(_) => continue,
            };
            if let Err(e) = sent {
                log::warn!("Could not send to {}: {e}", peer.name);
            }
        }
    }
}

impl<C: DriverClock> Driver<'_, C> {
    /// Takes in the NTS-KE handshakes that finished and starts those the
    /// node's polls want.
    fn run_handshakes(&mut self) -> Result<(), DriverError<C::Error>> {
        if let Some(ke) = &mut self.ke {
            let now = self.clock.now().map_err(DriverError::Clock)?;
            nts::run_handshakes(
                &mut self.node,
                &mut self.peers,
                ke,
                now,
                &mut self.client,
                &self.serving,
            );
        }
        Ok(())
    }
}

/// A request's transmit time on `clock` from the kernel's timestamps of
/// it: the card's, converted, when it can be; else the kernel's software
/// one.
fn transmit_time<C: DriverClock>(
    stamps: TxStamps,
    cards: &mut cards::Cards,
    clock: &C,
) -> Option<outgoing::Transmitted> {
    if let Some((time, error)) = stamps
        .hardware
        .and_then(|stamp| cards.convert(&stamp, None, clock))
    {
        return Some(outgoing::Transmitted {
            time,
            source: TimestampSource::Hardware,
            error,
        });
    }
    stamps.software.map(|time| outgoing::Transmitted {
        time: clock.at_system_time(time),
        source: TimestampSource::Kernel,
        error: 0.0,
    })
}

impl<C: DriverClock> Drop for Driver<'_, C> {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("On the way out: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
