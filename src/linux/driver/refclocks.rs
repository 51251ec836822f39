//! The reference clocks a driver reads. Each is a [`Peer`] whose route is
//! its device (so reports, logs and chronyc name it by its reference ID,
//! its address the ID as an IPv4 address, as chronyd reports it); the node
//! says when to read it, and its readings go to the node with their system
//! time read on the driver's clock.

use std::boxed::Box;
use std::net::{IpAddr, SocketAddr};
use std::string::ToString;
use std::vec::Vec;

use super::outgoing::Route;
use super::peers::Peer;
use super::{Driver, DriverError, DriverNode};
use crate::linux::clock::DriverClock;
use crate::linux::refclock::{self, Driver as Device};
use crate::linux::settings::{Refclock, Upstream, UpstreamAuth};
use crate::system::{ReadingError, SourceId};
use crate::time::NtpTimestamp;
use crate::wire::ReferenceId;

/// Opens every reference clock and adds it to the node: one that cannot be
/// opened stops the start, naming its line (chronyd exits too).
pub(super) fn open_refclocks<E: std::fmt::Debug + std::fmt::Display>(
    node: &mut DriverNode<'_>,
    refclocks: &[Refclock],
    now: NtpTimestamp,
) -> Result<Vec<Peer>, DriverError<E>> {
    let mut peers = Vec::new();
    for refclock in refclocks {
        let precision = crate::time::log2_to_seconds(node.system().config().precision);
        let device =
            Device::open(&refclock.driver, &refclock.parameter, precision).map_err(|source| {
                DriverError::Refclock {
                    origin: refclock.origin.clone(),
                    source,
                }
            })?;
        let id = node
            .add_refclock(
                refclock.config,
                refclock.refclock,
                refclock.reference_id,
                now,
            )
            .map_err(|_| DriverError::TooManyRefclocks)?;
        let name = refid_name(refclock.reference_id);
        let address = SocketAddr::new(IpAddr::V4(refclock.reference_id.to_ipv4()), 0);
        log::info!(
            "Reference clock {name}: {} {}",
            refclock.driver,
            refclock.parameter
        );
        peers.push(Peer {
            upstream: Upstream {
                name: name.clone(),
                address,
                config: refclock.config,
                auth: UpstreamAuth::None,
                from_sourcedir: false,
            },
            name,
            id,
            address,
            route: Route::Refclock(Box::new(device)),
            local: None,
            nts: None,
        });
    }
    Ok(peers)
}

impl<C: DriverClock> Driver<'_, C> {
    /// The device of reference clock `id`.
    fn device(&mut self, id: SourceId) -> Option<&mut Device> {
        self.peers.iter_mut().find_map(|p| match &mut p.route {
            Route::Refclock(device) if p.id == id => Some(device.as_mut()),
            _ => None,
        })
    }

    /// Whether any source is a reference clock.
    pub(super) fn has_refclocks(&self) -> bool {
        self.peers.iter().any(Peer::is_refclock)
    }

    /// Whether a reference clock tracks its clock against the system
    /// clock (a PHC with `extpps`), and so must hear of its changes.
    pub(super) fn refclocks_track_clock(&self) -> bool {
        self.peers.iter().any(|p| match &p.route {
            Route::Refclock(device) => device.tracks_system_clock(),
            _ => false,
        })
    }

    /// Tells the reference clocks that track the system clock how it
    /// changed (see [`Device::clock_changed`]).
    pub(super) fn refclocks_clock_changed(&mut self, change: Option<(NtpTimestamp, f64, f64)>) {
        for peer in &mut self.peers {
            if let Route::Refclock(device) = &mut peer.route {
                device.clock_changed(change);
            }
        }
    }

    /// Reads each reference clock whose driver poll is due (a driver
    /// whose samples arrive by themselves counts its polls only), and
    /// carries out what their samples do. (The clock is read here only
    /// when there are reference clocks.)
    pub(super) fn read_refclocks(&mut self) -> Result<(), DriverError<C::Error>> {
        if !self.has_refclocks() {
            return Ok(());
        }
        loop {
            let now = self.now()?;
            let Some(id) = self.node.poll_refclock(now) else {
                return Ok(());
            };
            let read = match self.device(id) {
                Some(device) if device.is_polled() => device.poll(),
                _ => Ok(None),
            };
            match read {
                Ok(Some(reading)) => self.take_reading(id, &reading)?,
                Ok(None) => {}
                Err(e) => log::debug!("Could not read refclock {}: {e}", self.name_of(id)),
            }
            let now = self.now()?;
            let _ = self.node.refclock_polled(now, id);
            self.settle()?;
        }
    }

    /// The descriptors of reference clocks whose samples arrive on them
    /// (SOCK), with their ids.
    pub(super) fn refclock_fds(&self) -> Vec<(SourceId, std::os::fd::BorrowedFd<'_>)> {
        self.peers
            .iter()
            .filter_map(|p| match &p.route {
                Route::Refclock(device) => Some((p.id, device.fd()?)),
                _ => None,
            })
            .collect()
    }

    /// Takes what arrived on reference clock `id`'s descriptor.
    pub(super) fn receive_refclock(&mut self, id: SourceId) -> Result<(), DriverError<C::Error>> {
        let readings = match self.device(id) {
            Some(device) => device.receive(),
            None => return Ok(()),
        };
        match readings {
            Ok(readings) => {
                for reading in &readings {
                    self.take_reading(id, reading)?;
                }
            }
            Err(e) => log::debug!("Could not read refclock {}: {e}", self.name_of(id)),
        }
        self.settle()
    }

    /// Gives a reading to the node, its system time on the driver's
    /// clock (a pulse: where in the second it came).
    fn take_reading(
        &mut self,
        id: SourceId,
        reading: &refclock::Reading,
    ) -> Result<(), DriverError<C::Error>> {
        let now = self.now()?;
        if reading.pulse {
            let time = self.clock.at_system_time(reading.system);
            let second = time.second_fraction();
            if let Err(e) = self.node.handle_refclock_pulse(now, id, time, second) {
                self.not_used(id, "pulse", e);
            }
            return Ok(());
        }
        let reading = crate::refclock::Reading {
            time: self.clock.at_system_time(reading.system),
            reference: reading.reference,
            leap: reading.leap,
            error: reading.error,
        };
        if let Err(e) = self.node.handle_refclock_reading(now, id, &reading) {
            self.not_used(id, "reading", e);
        }
        Ok(())
    }

    /// Logs why reference clock `id`'s `what` was not used: a local
    /// reference clock's lost lock as a warning (as chronyd warns of it),
    /// the rest for debugging.
    fn not_used(&self, id: SourceId, what: &str, e: ReadingError) {
        match e {
            ReadingError::LostLock => log::warn!("Refclock {}: {e}", self.name_of(id)),
            _ => log::debug!("Refclock {} {what} not used: {e}", self.name_of(id)),
        }
    }

    fn name_of(&self, id: SourceId) -> std::string::String {
        self.peers
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| "?".to_string(), |p| p.name.clone())
    }
}

/// A reference ID as chronyd names a reference clock: its printable
/// characters.
fn refid_name(id: ReferenceId) -> std::string::String {
    id.to_bytes()
        .iter()
        .filter(|b| (0x20..0x7f).contains(*b))
        .map(|&b| char::from(b))
        .collect()
}
