//! Responses to live requests: the engine sends its requests on its own
//! schedule, and each response echoes the request's cookie as its origin
//! while every other byte, and when it arrives, is the fuzzer's. The
//! engine must never panic; it either uses a response or refuses it with
//! a typed error, and a refused response leaves the clock alone (no
//! action at all); every action carries finite values, and the reports
//! still print.
//!
//! Input: one byte of settings, then records of [delay ms: u16 LE]
//! [length in 32-bit words: u8][that many bytes of response].
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntpkit::clock::ClockAction;
use ntpkit::discipline::{DisciplineConfig, MakeStep};
use ntpkit::report::chronyc::{SourceStats, Sources, Style, Tracking};
use ntpkit::sim::SimRng;
use ntpkit::system::{HandleError, SourceConfig, System, SystemConfig};
use ntpkit::time::{NtpDuration, NtpTimestamp};
use ntpkit::wire::{Packet, ReferenceId};

/// At most this many exchanges per input, so that every run is short.
const EXCHANGES: usize = 32;

fn check(action: &ClockAction) {
    match action {
        ClockAction::SetFrequency { ppm } => assert!(ppm.is_finite(), "{action:?}"),
        ClockAction::Step { .. } => {}
        ClockAction::SetStatus(status) => {
            assert!(
                status.max_error.is_finite() && status.max_error >= 0.0,
                "{action:?}"
            );
            assert!(
                status.est_error.is_finite() && status.est_error >= 0.0,
                "{action:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, mut rest)) = data.split_first() else {
        return;
    };
    let config = SystemConfig::default()
        .with_discipline(
            DisciplineConfig::default().with_makestep((settings & 1 != 0).then_some(MakeStep {
                threshold: 0.1,
                limit: if settings & 2 != 0 { -1 } else { 3 },
            })),
        )
        .with_minsources(1 + usize::from(settings >> 2 & 1))
        .with_maxjitter(if settings & 8 != 0 { 1e-4 } else { 1.0 });
    let mut system = System::new(config, None);
    let mut rng = SimRng::new(u64::from(settings));
    let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let source = SourceConfig::default()
        .with_iburst(settings & 16 != 0)
        .with_minpoll(if settings & 32 != 0 { -2 } else { 6 });
    let sources = [
        system
            .add_source(source, ReferenceId::from_bits(0x0a00_0001), now)
            .unwrap(),
        system
            .add_source(source, ReferenceId::from_bits(0x0a00_0002), now)
            .unwrap(),
    ];
    while let Some(action) = system.poll_action() {
        check(&action);
    }
    let mut request = [0u8; 48];
    let mut response = [0u8; 1020];
    for _ in 0..EXCHANGES {
        let Some((head, tail)) = rest.split_first_chunk::<3>() else {
            break;
        };
        let delay_ms = u16::from_le_bytes([head[0], head[1]]);
        let len = (usize::from(head[2]) * 4).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;

        // The next request, when the engine sends it.
        let Some((id, sent, _)) = (loop {
            let Some(due) = system.poll_timeout() else {
                break None;
            };
            now = if due > now { due } else { now };
            system.handle_timeout(now);
            while let Some(action) = system.poll_action() {
                check(&action);
            }
            if let Some(sent) = system.poll_transmit(now, &mut rng, &mut request) {
                break Some(sent);
            }
        }) else {
            break;
        };
        assert_eq!(sent, 48);
        let cookie = Packet::new_header(&request[..])
            .unwrap()
            .transmit_timestamp();

        // Its response: the fuzzer's bytes with the cookie as the origin.
        let packet = &mut response[..len];
        packet.copy_from_slice(bytes);
        if let Ok(mut header) = Packet::new_header(&mut *packet) {
            header.set_origin_timestamp(cookie);
        }
        now = now + NtpDuration::from_nanos(i64::from(delay_ms) * 1_000_000);
        match system
            .handle_response(now, id, packet, ntpkit::report::TimestampSource::Kernel)
            .result
        {
            Ok(_) => {
                while let Some(action) = system.poll_action() {
                    check(&action);
                }
            }
            Err(error) => {
                assert!(
                    system.poll_action().is_none(),
                    "a refused response ({error}) moved the clock"
                );
                if let HandleError::PanicThreshold(offset) = error {
                    assert!(offset.is_finite());
                }
                let _ = error.to_string();
            }
        }

        // Whatever came in, the reports print.
        let names = ["a", "b"];
        let rows: Vec<_> = sources
            .iter()
            .zip(names)
            .filter_map(|(&s, name)| Some((name, system.source_report(s, now)?)))
            .collect();
        let stats: Vec<_> = sources
            .iter()
            .zip(names)
            .filter_map(|(&s, name)| Some((name, system.source_stats(s, now)?)))
            .collect();
        let tracking = system.tracking(now);
        for style in [Style::Plain, Style::Verbose, Style::Csv] {
            let _ = Sources { rows: &rows, style }.to_string();
            let _ = SourceStats {
                rows: &stats,
                style,
            }
            .to_string();
            let _ = Tracking {
                name: "a",
                report: &tracking,
                style,
            }
            .to_string();
        }
        let _ = system.reference(now);
        let _ = system.sync_status(now);
        let _ = system.drift();
    }
});
