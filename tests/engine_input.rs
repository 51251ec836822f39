//! No network input makes the engine panic, and junk never moves the clock,
//! from a server or a symmetric peer.

// Needs what the sim feature brings; without it this test is empty.
#![cfg(all(feature = "sim", target_os = "linux"))]

use ntpkit::clock::ClockAction;
use ntpkit::sim::SimRng;
use ntpkit::system::{SourceConfig, System, SystemConfig};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::{Packet, ReferenceId};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_responses_never_panic_nor_move_the_clock(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..20),
        echo_cookie in any::<bool>(),
        peer in any::<bool>(),
    ) {
        let mut system = System::new(SystemConfig::default(), None);
        let mut rng = SimRng::new(9);
        let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
        let id = system
            .add_source(SourceConfig::default().with_peer(peer), ReferenceId::NONE, now)
            .unwrap();
        // Construction sets the frequency (0 ppm without a drift file), and
        // nothing else.
        prop_assert_eq!(system.poll_action(), Some(ClockAction::SetFrequency { ppm: 0.0 }));
        prop_assert_eq!(system.poll_action(), None);
        // Until a response is accepted (random bytes almost never are one),
        // no action at all comes out: no frequency, no step, no status.
        let mut accepted = false;
        for mut packet in packets {
            now = system.poll_timeout().unwrap();
            system.handle_timeout(now);
            let mut request = [0u8; 48];
            system.poll_transmit(now, &mut rng, &mut request).unwrap();
            if echo_cookie && packet.len() >= 48 {
                // Even with the right cookie, junk fields must not panic.
                let cookie = Packet::new_header(&request[..]).unwrap().transmit_timestamp();
                Packet::new_header(&mut packet[..]).unwrap().set_origin_timestamp(cookie);
                // A symmetric peer takes symmetric packets (mode 1) only.
                if peer {
                    packet[0] = (packet[0] & !0x07) | 1;
                }
            }
            accepted |= system.handle_response(now, id, &packet, ntpkit::report::TimestampSource::Kernel).result.is_ok();
            while let Some(action) = system.poll_action() {
                prop_assert!(accepted, "junk moved the clock: {:?}", action);
                // After an accepted response, no action carries a non-finite value.
                if let ClockAction::SetFrequency { ppm } = action {
                    prop_assert!(ppm.is_finite());
                }
            }
            let _ = system.tracking(now);
            let _ = system.reference(now);
            let _ = system.source_report(id, now);
            let _ = system.source_stats(id, now);
        }
    }
}
