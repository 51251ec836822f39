//! No network input makes the engine panic, and junk never moves the clock.

use ntpkit::sim::SimRng;
use ntpkit::system::{SourceConfig, System, SystemConfig};
use ntpkit::time::NtpTimestamp;
use ntpkit::wire::ReferenceId;
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_responses_never_panic(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..20),
        echo_cookie in any::<bool>(),
    ) {
        let mut system = System::new(SystemConfig::default(), None);
        let mut rng = SimRng::new(9);
        let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
        let id = system
            .add_source(SourceConfig::default(), ReferenceId::NONE, now)
            .unwrap();
        let _ = system.poll_action();
        for mut packet in packets {
            now = system.poll_timeout().unwrap();
            system.handle_timeout(now);
            let mut request = [0u8; 48];
            system.poll_transmit(now, &mut rng, &mut request).unwrap();
            if echo_cookie && packet.len() >= 32 {
                // Even with the right cookie, junk fields must not panic.
                packet[24..32].copy_from_slice(&request[40..48]);
            }
            let _ = system.handle_response(now, id, &packet);
            while let Some(action) = system.poll_action() {
                // Whatever came in, no action carries a non-finite value.
                if let ntpkit::clock::ClockAction::SetFrequency { ppm } = action {
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
