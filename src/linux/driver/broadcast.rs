//! chrony's `broadcast INTERVAL ADDRESS [PORT]`: the node's time, as it
//! serves it, sent to ADDRESS every INTERVAL seconds (the first an
//! interval after the start) from the serving socket of its family, with
//! the interval's log2 as the packet's poll. Nothing is received: a
//! broadcast client is not part of chrony 4.3 either.

use super::DriverNode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::serving::ServeSockets;
use crate::linux::clock::DriverClock;
use crate::linux::settings::Broadcast;
use crate::linux::socket::realtime_now;
use crate::wire::set_transmit_timestamp;

/// The longest interval, seconds (chrony's: 2^24).
const MAX_INTERVAL: u32 = 1 << 24;

/// One destination and when its next packet is due.
#[derive(Debug)]
struct Destination {
    to: SocketAddr,
    interval: Duration,
    poll: i8,
    next: Instant,
}

/// The destinations of `broadcast` lines.
#[derive(Debug, Default)]
pub(super) struct Broadcasts {
    destinations: Vec<Destination>,
}

impl Broadcasts {
    /// The destinations of `list`, each due an interval from `start` (read
    /// only when there is one).
    pub fn new(list: &[Broadcast], start: impl FnOnce() -> Instant) -> Broadcasts {
        if list.is_empty() {
            return Broadcasts::default();
        }
        let start = start();
        let destinations = list
            .iter()
            .map(|b| {
                let seconds = b.interval.clamp(1, MAX_INTERVAL);
                let interval = Duration::from_secs(u64::from(seconds));
                Destination {
                    to: b.to,
                    interval,
                    // log2 of at most 2^24: fits.
                    poll: f64::from(seconds).log2().round() as i8,
                    next: start + interval,
                }
            })
            .collect();
        Broadcasts { destinations }
    }

    /// How long until the next packet is due, if any is configured (`now`
    /// is read only then).
    pub fn until_due(&self, now: impl FnOnce() -> Instant) -> Option<Duration> {
        if self.destinations.is_empty() {
            return None;
        }
        let now = now();
        self.destinations
            .iter()
            .map(|d| d.next.saturating_duration_since(now))
            .min()
    }

    /// Sends the packets due at `now` (monotonic; read only when a
    /// destination is configured), each from the first
    /// serving socket of its destination's family, stamped with `clock`'s
    /// time right before it leaves. A destination that cannot be sent to is
    /// logged, and tried again at its next interval.
    pub fn send_due<C: DriverClock>(
        &mut self,
        now: impl FnOnce() -> Instant,
        node: &mut DriverNode<'_>,
        clock: &C,
        serving: &ServeSockets,
    ) {
        if self.destinations.is_empty() {
            return;
        }
        let now = now();
        for destination in self.destinations.iter_mut().filter(|d| d.next <= now) {
            // chrony requeues from the send: the schedule may drift.
            destination.next = now + destination.interval;
            let Ok(time) = clock.now() else {
                continue;
            };
            let mut buf = [0u8; 48];
            let Some(len) = node.broadcast(time, destination.poll, &mut buf) else {
                continue;
            };
            let Some((index, _)) = serving.ntp_for(destination.to) else {
                log::warn!(
                    "Could not broadcast to {}: no NTP server socket of its family",
                    destination.to
                );
                continue;
            };
            set_transmit_timestamp(
                &mut buf[..len],
                node.transmit_time(clock.at_system_time(realtime_now())),
            );
            if let Err(e) = serving.send_to(index, &buf[..len], destination.to) {
                log::warn!("Could not broadcast to {}: {e}", destination.to);
            }
        }
    }
}
