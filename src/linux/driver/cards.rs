//! Hardware timestamps (`hwtimestamp`): the interfaces whose network cards
//! timestamp NTP packets, each card's clock tracked against the clock the
//! driver steers ([`HwClock`]), and the cards' timestamps turned into that
//! clock's time.
//!
//! A card's clock is read (`PTP_SYS_OFFSET*`) only when one of its
//! timestamps is to be converted and the last reading is `2^minpoll` s
//! old, as chronyd reads it. A timestamp that cannot be converted (the
//! card's clock not read often enough yet, an interface not switched on)
//! leaves the kernel's software one in its place.

use std::string::String;
use std::vec::Vec;

use crate::chrony::config::HwTimestampLine;
use crate::hwclock::{HwClock, SampleOutcome};
use crate::linux::clock::DriverClock;
use crate::linux::hwts::{all_interfaces, HwInterface, HwOptions};
use crate::linux::socket::client::HwStamp;
use crate::time::{NtpDuration, NtpTimestamp};

/// Bytes a frame carries around an NTP packet over IPv4 (Ethernet 14, IP
/// 20, UDP 8) and over IPv6 (IP 40), when the kernel does not say.
const L2_OVERHEAD: [u32; 2] = [42, 62];

/// The frame check sequence after the packet, bytes.
const FCS: u32 = 4;

/// One interface with hardware timestamping on.
#[derive(Debug)]
struct Card {
    interface: HwInterface,
    clock: HwClock,
    tx_comp: f64,
    rx_comp: f64,
}

/// The cards switched on. See the [module documentation](self).
#[derive(Debug, Default)]
pub(super) struct Cards {
    cards: Vec<Card>,
}

impl Cards {
    /// Switches on the interfaces of the `hwtimestamp` lines (`*`: every
    /// interface that can). One that cannot is warned of, naming its line
    /// (with `*`, those that cannot are left out quietly, as chronyd does);
    /// its packets keep the kernel's timestamps. `precision`: the system
    /// clock's, seconds.
    pub fn open(lines: &[HwTimestampLine], precision: f64) -> Self {
        let mut cards: Vec<Card> = Vec::new();
        for line in lines {
            let every = line.interface == "*";
            let names: Vec<String> = if every {
                match all_interfaces() {
                    Ok(names) => names,
                    Err(e) => {
                        log::warn!("{}: could not list the interfaces: {e}", line.location);
                        continue;
                    }
                }
            } else {
                Vec::from([line.interface.clone()])
            };
            let options = HwOptions {
                nocrossts: line.nocrossts,
                rxfilter: line.rxfilter,
            };
            for name in names {
                if cards.iter().any(|c| c.interface.name == name) {
                    continue;
                }
                match HwInterface::open(&name, &options, precision) {
                    Ok(interface) => {
                        log::info!("Enabled HW timestamping on {name}");
                        cards.push(Card {
                            interface,
                            clock: HwClock::new(line.clock),
                            tx_comp: line.tx_comp,
                            rx_comp: line.rx_comp,
                        });
                    }
                    Err(e) if every => log::debug!("No HW timestamping on {name}: {e}"),
                    Err(e) => log::warn!(
                        "{}: could not enable HW timestamping on {name}: {e} \
                         (its packets keep the kernel's timestamps)",
                        line.location
                    ),
                }
            }
        }
        Cards { cards }
    }

    /// Whether any card is on.
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// The card of interface `if_index`; when the kernel did not say, the
    /// only card, if there is one.
    fn card(&mut self, if_index: Option<u32>) -> Option<&mut Card> {
        match if_index {
            Some(index) => self
                .cards
                .iter_mut()
                .find(|c| c.interface.if_index == index),
            None if self.cards.len() == 1 => self.cards.first_mut(),
            None => None,
        }
    }

    /// The time on `clock` of a card's timestamp `stamp`: of a packet
    /// received (`received`: its NTP length and whether it came over
    /// IPv6), moved from the start of its frame to the end, as the kernel
    /// stamps it, less `rxcomp`; of a packet sent, plus `txcomp`. None if
    /// the card's clock cannot convert it yet. With the conversion's
    /// error, seconds.
    pub fn convert<C: DriverClock>(
        &mut self,
        stamp: &HwStamp,
        received: Option<(usize, bool)>,
        clock: &C,
    ) -> Option<(NtpTimestamp, f64)> {
        let now = clock.now().ok()?;
        let card = self.card(stamp.if_index)?;
        if card.clock.needs_sample(now) {
            card.sample(clock);
        }
        let correction = match received {
            Some((length, ipv6)) => {
                if !card.interface.rx_timestamps {
                    return None;
                }
                let l2 = stamp.l2_length.unwrap_or_else(|| {
                    u32::try_from(length)
                        .unwrap_or(u32::MAX)
                        .saturating_add(L2_OVERHEAD[usize::from(ipv6)])
                });
                receive_correction(l2, card.interface.link_speed, card.rx_comp)
            }
            None => card.tx_comp,
        };
        card.clock
            .cook(stamp.raw + NtpDuration::from_seconds_f64(correction))
    }

    /// Drops what the cards' clocks were read against (the clock changed
    /// by an amount not known): they are read afresh.
    pub fn forget(&mut self) {
        for card in &mut self.cards {
            card.clock.clear();
        }
    }

    /// The clock the driver steers was changed at `at` (its time): it runs
    /// `rate_change` faster from then on and jumped by `step` seconds.
    pub fn clock_changed(&mut self, at: NtpTimestamp, rate_change: f64, step: f64) {
        for card in &mut self.cards {
            card.clock.clock_changed(at, rate_change, step);
        }
    }
}

/// What moves a card's receive timestamp of a frame `l2_length` bytes
/// long (its check sequence aside) on a link of `link_speed` Mb/s from the
/// frame's start to its end, less `rx_comp`, seconds.
fn receive_correction(l2_length: u32, link_speed: u32, rx_comp: f64) -> f64 {
    let bits = f64::from(l2_length.saturating_add(FCS)) * 8.0;
    bits / (f64::from(link_speed.max(1)) * 1e6) - rx_comp
}

impl Card {
    /// Reads the card's clock against the system clock, and takes the
    /// pair (the system time mapped onto `clock`); then reads the link
    /// speed again, as chronyd does with each reading (a link renegotiated
    /// at another speed moves every receive timestamp).
    fn sample<C: DriverClock>(&mut self, clock: &C) {
        let reading = match self.interface.phc.poll() {
            Ok(Some(reading)) => reading,
            // (A step of the system clock during the reading.)
            Ok(None) => return,
            Err(e) => {
                log::warn!("Could not read the clock of {}: {e}", self.interface.name);
                return;
            }
        };
        let local = clock.at_system_time(reading.system);
        if let SampleOutcome::Reset(off) =
            self.clock
                .add_sample(reading.reference, local, reading.error)
        {
            log::info!(
                "HW clock of {} reset: a reading was {off:.9} s off its line",
                self.interface.name
            );
        }
        self.interface.update_link_speed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 90-byte frame (48 bytes of NTP over IPv4) and its 4-byte check
    /// sequence take 752 ns at 1 Gb/s, 7.52 ns at 100 Gb/s.
    #[test]
    fn a_receive_timestamp_moves_to_the_frames_end() {
        assert!((receive_correction(90, 1000, 0.0) - 752e-9).abs() < 1e-15);
        assert!((receive_correction(90, 100_000, 0.0) - 7.52e-9).abs() < 1e-15);
        assert!((receive_correction(90, 1000, 645e-9) - 107e-9).abs() < 1e-15);
        assert_eq!(48 + L2_OVERHEAD[0], 90);
        // A speed of 0 is never divided by.
        assert!(receive_correction(90, 0, 0.0).is_finite());
    }
}
