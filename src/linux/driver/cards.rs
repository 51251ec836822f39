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

use std::boxed::Box;
use std::fmt;
use std::string::String;
use std::vec::Vec;

use crate::chrony::config::HwTimestampLine;
use crate::hwclock::{HwClock, SampleOutcome};
use crate::linux::clock::DriverClock;
use crate::linux::hwts::{all_interfaces, HwInterface, HwOptions};
use crate::linux::refclock::{Reading, RefclockError};
use crate::linux::socket::client::HwStamp;
use crate::time::{NtpDuration, NtpTimestamp};

/// Bytes a frame carries around an NTP packet over IPv4 (Ethernet 14, IP
/// 20, UDP 8) and over IPv6 (IP 40), when the kernel does not say.
const L2_OVERHEAD: [u32; 2] = [42, 62];

/// The frame check sequence after the packet, bytes.
const FCS: u32 = 4;

/// What the tracking needs of an interface whose card timestamps
/// packets ([`HwInterface`]; a stand-in in the tests).
trait Device: fmt::Debug + Send {
    /// The interface's name.
    fn name(&self) -> &str;
    /// Its index.
    fn if_index(&self) -> u32;
    /// Whether the card timestamps received packets.
    fn rx_timestamps(&self) -> bool;
    /// Its link speed, Mb/s.
    fn link_speed(&self) -> u32;
    /// Reads the link speed again.
    fn update_link_speed(&mut self);
    /// Reads the card's clock against the system clock (none: the system
    /// clock stepped during the reading).
    fn read_clock(&mut self) -> Result<Option<Reading>, RefclockError>;
}

impl Device for HwInterface {
    fn name(&self) -> &str {
        &self.name
    }
    fn if_index(&self) -> u32 {
        self.if_index
    }
    fn rx_timestamps(&self) -> bool {
        self.rx_timestamps
    }
    fn link_speed(&self) -> u32 {
        self.link_speed
    }
    fn update_link_speed(&mut self) {
        HwInterface::update_link_speed(self);
    }
    fn read_clock(&mut self) -> Result<Option<Reading>, RefclockError> {
        self.phc.poll()
    }
}

/// One interface with hardware timestamping on.
#[derive(Debug)]
struct Card {
    device: Box<dyn Device>,
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
                if cards.iter().any(|c| c.device.name() == name) {
                    continue;
                }
                match HwInterface::open(&name, &options, precision) {
                    Ok(interface) => {
                        log::info!("Enabled HW timestamping on {name}");
                        cards.push(Card {
                            device: Box::new(interface),
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
            Some(index) => self.cards.iter_mut().find(|c| c.device.if_index() == index),
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
        let card = self.card(stamp.if_index)?;
        let now = clock.now().ok()?;
        if card.clock.needs_sample(now) {
            card.sample(clock);
        }
        let correction = match received {
            Some((length, ipv6)) => {
                if !card.device.rx_timestamps() {
                    return None;
                }
                let l2 = stamp.l2_length.unwrap_or_else(|| {
                    u32::try_from(length)
                        .unwrap_or(u32::MAX)
                        .saturating_add(L2_OVERHEAD[usize::from(ipv6)])
                });
                receive_correction(l2, card.device.link_speed(), card.rx_comp)
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
        let reading = match self.device.read_clock() {
            Ok(Some(reading)) => reading,
            // (A step of the system clock during the reading.)
            Ok(None) => return,
            Err(e) => {
                log::warn!("Could not read the clock of {}: {e}", self.device.name());
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
                self.device.name()
            );
        }
        self.device.update_link_speed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TimeSource, VirtualClock};
    use crate::hwclock::HwClockConfig;
    use crate::wire::LeapIndicator;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::sync::Arc;

    /// The system clock of the test: a time it is told.
    #[derive(Debug, Clone)]
    struct Told(Arc<AtomicU64>);

    impl Told {
        fn advance(&self, seconds: f64) {
            let now = self.now() + NtpDuration::from_seconds_f64(seconds);
            self.0.store(now.to_bits(), Ordering::Relaxed);
        }
    }

    impl TimeSource for Told {
        fn now(&self) -> NtpTimestamp {
            NtpTimestamp::from_bits(self.0.load(Ordering::Relaxed))
        }
    }

    /// A card whose clock is 10 s behind the system clock and 5 ppm slow,
    /// read exactly, on a 1 Gb/s link.
    #[derive(Debug)]
    struct StandIn {
        system: Told,
        reads: Arc<AtomicU32>,
    }

    fn card_time(system: NtpTimestamp, start: NtpTimestamp) -> NtpTimestamp {
        let since = (system - start).to_seconds_f64();
        start + NtpDuration::from_seconds_f64(since * (1.0 - 5e-6) - 10.0)
    }

    impl Device for StandIn {
        fn name(&self) -> &str {
            "eth9"
        }
        fn if_index(&self) -> u32 {
            9
        }
        fn rx_timestamps(&self) -> bool {
            true
        }
        fn link_speed(&self) -> u32 {
            1000
        }
        fn update_link_speed(&mut self) {}
        fn read_clock(&mut self) -> Result<Option<Reading>, RefclockError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let system = self.system.now();
            Ok(Some(Reading {
                system,
                reference: card_time(system, start()),
                leap: LeapIndicator::NoWarning,
                pulse: false,
                error: 0.0,
            }))
        }
    }

    fn start() -> NtpTimestamp {
        NtpTimestamp::from_seconds_f64(3_900_000_000.0)
    }

    /// The driver's glue, end to end with a stand-in card: the card's
    /// clock is read when a timestamp is to be converted and the last
    /// reading is a second old; a received packet's timestamp is moved to
    /// its frame's end; the converted times are the driver clock's (here
    /// a virtual clock 0.5 s ahead of the system clock) and stay so when
    /// the clock's frequency changes, once the change is told.
    #[test]
    fn card_timestamps_convert_to_the_clocks_time() {
        let system = Told(Arc::new(AtomicU64::new(start().to_bits())));
        let mut clock = VirtualClock::with_source(system.clone());
        clock.step(NtpDuration::from_seconds_f64(0.5)).unwrap();
        let reads = Arc::new(AtomicU32::new(0));
        let mut cards = Cards {
            cards: Vec::from([Card {
                device: Box::new(StandIn {
                    system: system.clone(),
                    reads: reads.clone(),
                }),
                clock: HwClock::new(HwClockConfig::default()),
                tx_comp: 0.0,
                rx_comp: 0.0,
            }]),
        };
        let advance = |seconds: f64| system.advance(seconds);
        let stamp = |raw: NtpTimestamp| HwStamp {
            raw,
            if_index: Some(9),
            l2_length: Some(90),
        };
        // Two readings a second apart are needed before anything converts.
        let now = || system.now();
        assert_eq!(
            cards.convert(&stamp(card_time(now(), start())), None, &clock),
            None
        );
        advance(0.5);
        assert_eq!(
            cards.convert(&stamp(card_time(now(), start())), None, &clock),
            None
        );
        assert_eq!(
            reads.load(Ordering::Relaxed),
            1,
            "read at most once a second"
        );
        advance(0.6);
        // A frame received 0.3 s ago: its start on the card's clock.
        let received = now() - NtpDuration::from_seconds_f64(0.3);
        let frame = NtpDuration::from_seconds_f64(94.0 * 8.0 / 1e9);
        let raw = card_time(received - frame, start());
        let (time, error) = cards
            .convert(&stamp(raw), Some((48, false)), &clock)
            .unwrap();
        assert_eq!(reads.load(Ordering::Relaxed), 2);
        let expected = clock.at_system_time(received);
        assert!(
            (time - expected).to_seconds_f64().abs() < 1e-9,
            "{:?}",
            time - expected
        );
        assert!(error > 0.0 && error < 1e-6);
        // Another interface's timestamps are not this card's.
        let other = HwStamp {
            if_index: Some(3),
            ..stamp(raw)
        };
        assert_eq!(cards.convert(&other, None, &clock), None);
        // The clock runs 100 ppm faster from now on: told, the card's
        // readings follow, and a transmit timestamp 0.5 s on converts to
        // the clock's time then.
        let at = clock.now().unwrap();
        clock.set_frequency(100.0).unwrap();
        cards.clock_changed(at, 100e-6, 0.0);
        advance(0.5);
        let (time, _) = cards
            .convert(&stamp(card_time(now(), start())), None, &clock)
            .unwrap();
        let expected = clock.now().unwrap();
        assert!(
            (time - expected).to_seconds_f64().abs() < 1e-9,
            "{:?}",
            time - expected
        );
    }

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
