use std::vec::Vec;

use super::*;
use crate::clock::ClockAction;
use crate::report::TimestampSource;
use crate::test_util::TestRng;
use crate::time::NtpDuration;
use crate::wire::Header;

/// A perfect stratum-1 server `ahead` seconds ahead of the local clock,
/// answering 10 ms after the request left: the response and when it
/// arrives (local time).
fn answer(request: &[u8], local_send: NtpTimestamp, ahead: f64) -> ([u8; 48], NtpTimestamp) {
    let server_time = local_send + NtpDuration::from_seconds_f64(ahead + 0.005);
    let reference = Reference {
        reference_id: ReferenceId::from_bits(0x4750_5300),
        ..Reference::local(1, server_time)
    };
    let reply = crate::server::reply_to(request, server_time, &reference);
    (reply, local_send + NtpDuration::from_seconds_f64(0.01))
}

fn stepping() -> SystemConfig {
    SystemConfig {
        discipline: DisciplineConfig {
            makestep: Some(MakeStep {
                threshold: 0.1,
                limit: 3,
            }),
            ..DisciplineConfig::default()
        },
        ..SystemConfig::default()
    }
}

#[test]
fn per_source_state_is_fixed_and_small() {
    let size = core::mem::size_of::<Source>();
    assert!(size <= SOURCE_STATE_BYTES, "{size}");
}

#[test]
fn capacity() {
    let mut system = System::<2>::with_capacity(SystemConfig::default(), None);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    for _ in 0..2 {
        system
            .add_source(SourceConfig::default(), ReferenceId::NONE, now)
            .unwrap();
    }
    assert_eq!(
        system.add_source(SourceConfig::default(), ReferenceId::NONE, now),
        Err(CapacityError { capacity: 2 })
    );
    assert_eq!(system.sources().count(), 2);
}

#[test]
fn synchronises_and_serves() {
    let mut system = System::new(stepping(), None);
    let mut rng = TestRng::new(1);
    let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
    assert_eq!(system.reference(now), Reference::UNSYNCHRONIZED);
    assert_eq!(
        system.poll_action(),
        Some(ClockAction::SetFrequency { ppm: 0.0 })
    );
    let id = system
        .add_source(
            SourceConfig {
                iburst: true,
                ..SourceConfig::default()
            },
            ReferenceId::from_bits(0xc0a8_0001),
            now,
        )
        .unwrap();
    assert!(system
        .poll_transmit(now, &mut rng, &mut [0u8; 48])
        .is_none());
    // Acquiring: the source may answer.
    assert!(system.is_acquiring(now));
    let mut steps = 0.0;
    for _ in 0..6 {
        now = system.poll_timeout().unwrap();
        system.handle_timeout(now);
        let mut buf = [0u8; 48];
        let (source, len, _) = system.poll_transmit(now, &mut rng, &mut buf).unwrap();
        assert_eq!((source, len), (id, 48));
        // The request hides our precision and time.
        assert_eq!(buf[3] as i8, 32);
        assert_ne!(Header::decode(&buf).unwrap().transmit_timestamp, now);
        // The server runs 0.25 s ahead of our clock, less what we stepped.
        let (reply, rx) = answer(&buf, now, 0.25 - steps);
        system
            .handle_response(rx, id, &reply, TimestampSource::Kernel)
            .result
            .unwrap();
        // A second copy is refused.
        assert_eq!(
            system
                .handle_response(rx, id, &reply, TimestampSource::Kernel)
                .result,
            Err(HandleError::Response(ResponseError::BogusOrigin))
        );
        while let Some(action) = system.poll_action() {
            if let ClockAction::Step { offset } = action {
                steps += offset.to_seconds_f64();
            }
        }
        now = rx;
    }
    assert!((steps - 0.25).abs() < 1e-6, "{steps}");
    assert!(!system.is_acquiring(now));
    let reference = system.reference(now);
    assert_eq!(reference.stratum, 2);
    assert_eq!(reference.reference_id, ReferenceId::from_bits(0xc0a8_0001));
    assert_eq!(system.selected(), Some(id));
    let report = system.source_report(id, now).unwrap();
    assert_eq!(report.state, SourceState::Selected);
    assert_eq!(report.reach, 0o77);
    assert!(report.adjusted_offset.abs() < 1e-6);
    let stats = system.source_stats(id, now).unwrap();
    assert!(stats.samples >= 4);
    let tracking = system.tracking(now);
    assert_eq!(tracking.stratum, 2);
    assert!(system.sync_status(now).synchronized);
    assert!(system.sync_status(now).max_error < 0.1);
    let served = system.reference(now);
    let max_error = system.sync_status(now).max_error;
    // Silence: after 8 unanswered polls the source is unreachable and no
    // longer selected, but the clock keeps its reference, as chronyd's
    // does (only a lost majority unsynchronises it): its root dispersion
    // and maximum error grow instead.
    for _ in 0..8 {
        now = system.poll_timeout().unwrap();
        system.handle_timeout(now);
        let _ = system.poll_transmit(now, &mut rng, &mut [0u8; 48]);
    }
    system.handle_timeout(now);
    assert_eq!(system.source_report(id, now).unwrap().reach, 0);
    assert_eq!(system.selected(), None);
    assert_eq!(system.unselected(), Some(Unselected::NoSelectableSources));
    assert!(system.sync_status(now).synchronized);
    assert!(system.sync_status(now).max_error > max_error);
    let still = system.reference(now);
    assert_eq!(
        (still.reference_id, still.stratum, still.leap),
        (served.reference_id, served.stratum, served.leap)
    );
    assert!(still.root_dispersion > served.root_dispersion);
    assert_eq!(system.tracking(now).leap, LeapIndicator::NoWarning);
    assert_eq!(system.tracking(now).reference_id, served.reference_id);
}

/// The stored samples follow every frequency the clock was given, at the
/// moment it was given: a slew that ended late is accounted for as long
/// as it really ran.
#[test]
fn samples_follow_the_frequency_actually_applied() {
    let mut system = System::new(SystemConfig::default(), None);
    let mut rng = TestRng::new(2);
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let id = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, start)
        .unwrap();
    // One exchange: the clock is 0.01 s behind; no makestep, so a slew.
    let now = system.poll_timeout().unwrap();
    let mut buf = [0u8; 48];
    system.poll_transmit(now, &mut rng, &mut buf).unwrap();
    let (reply, rx) = answer(&buf, now, 0.01);
    system
        .handle_response(rx, id, &reply, TimestampSource::Kernel)
        .result
        .unwrap();
    let end = system.discipline.poll_timeout().expect("a slew");
    let offset_now = |system: &System, at| {
        let stats = system.sources[id.0].as_ref().unwrap().stats();
        stats.fit().unwrap().predict(at).0
    };
    // Were the slew ended on time, the 0.01 s would be gone.
    assert!(
        offset_now(&system, end).abs() < 1e-9,
        "{}",
        offset_now(&system, end)
    );
    // It ends 5 s late: it ran 5 s longer at its rate.
    let late = end + NtpDuration::from_seconds(5);
    let rate = system.frequency_ppm() * 1e-6;
    system.handle_timeout(late);
    let over = 5.0 * rate / (1.0 + rate);
    assert!(over > 1e-3, "{over}");
    assert!(
        (offset_now(&system, late) + over).abs() < 1e-9,
        "{} {over}",
        offset_now(&system, late)
    );
}

/// With `leapsectz`, a leap second the table has at the coming midnight is
/// announced to the clock and to clients although the sources do not; the
/// sources' vote stands on other days.
#[test]
fn leap_table_announces_the_coming_leap_second() {
    // 3_900_000_000 NTP is Unix 1_691_011_200; the next midnight is
    // 1_691_020_800 (the record's correction goes from 0 to 1 there).
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    for (midnight, expected) in [
        (1_691_020_800, LeapIndicator::InsertSecond),
        (1_691_020_800 + 86_400, LeapIndicator::NoWarning),
    ] {
        let table = LeapTable::parse(&crate::leap::tests::tzif(b'2', &[(midnight, 1)])).unwrap();
        let mut system = System::new(stepping(), None);
        system.set_leap_table(Some(table));
        let mut rng = TestRng::new(2);
        let id = system
            .add_source(
                SourceConfig {
                    iburst: true,
                    ..SourceConfig::default()
                },
                ReferenceId::from_bits(0xc0a8_0001),
                start,
            )
            .unwrap();
        let mut now = start;
        while system.is_acquiring(now) || !system.sync_status(now).synchronized {
            now = system.poll_timeout().unwrap();
            assert!((now - start).to_seconds_f64() < 600.0, "never synchronised");
            system.handle_timeout(now);
            let mut buf = [0u8; 48];
            if system.poll_transmit(now, &mut rng, &mut buf).is_some() {
                let (reply, rx) = answer(&buf, now, 0.0);
                system
                    .handle_response(rx, id, &reply, TimestampSource::Kernel)
                    .result
                    .unwrap();
                now = rx;
            }
            while system.poll_action().is_some() {}
        }
        assert_eq!(system.sync_status(now).leap, expected);
        assert_eq!(system.tracking(now).leap, expected);
        assert_eq!(system.reference(now).leap, expected);
    }
}

#[cfg(feature = "nts")]
/// A session of `cookies` cookies (of 100 bytes, as chronyd's) under
/// made-up keys.
fn session(cookies: usize) -> crate::nts::NtsSession {
    use crate::nts::{AeadAlgorithm, AeadKey, NtsSession, SessionKeys};
    let keys = SessionKeys {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let mut session = NtsSession::new(keys);
    for i in 0..cookies {
        session.add_cookie(&[i as u8; 100]).unwrap();
    }
    session
}

#[cfg(feature = "nts")]
#[test]
fn nts_sources_get_their_sessions_through_nts_ke() {
    let mut system = System::<3, 1>::with_capacity(SystemConfig::default(), None);
    let mut rng = TestRng::new(3);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let plain = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, now)
        .unwrap();
    let nts = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, now)
        .unwrap();
    let other = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, now)
        .unwrap();
    assert_eq!(system.poll_nts_ke(), None);
    system.set_source_auth(nts, SourceAuth::Nts).unwrap();
    // One NTS slot only.
    assert_eq!(
        system.set_source_auth(other, SourceAuth::Nts),
        Err(AuthError::NtsCapacity { capacity: 1 })
    );
    assert_eq!(
        system.set_nts_session(plain, session(8), now),
        Err(AuthError::NotNts)
    );
    // Nothing is wanted before the NTS source's first poll, which finds
    // no session: it sends nothing and wants NTS-KE, handed out once.
    assert_eq!(system.poll_nts_ke(), None);
    let first = system.poll_timeout().unwrap();
    let mut buf = [0u8; MAX_REQUEST_LEN];
    let mut sent = Vec::new();
    let mut at = first;
    while at < first + NtpDuration::from_seconds(1) {
        while let Some((source, _, _)) = system.poll_transmit(at, &mut rng, &mut buf) {
            sent.push(source);
        }
        at = system.poll_timeout().unwrap();
    }
    assert_eq!(sent, [plain, other]);
    assert_eq!(system.requests(nts), Some(0));
    assert_eq!(system.poll_nts_ke(), Some(nts));
    assert_eq!(system.poll_nts_ke(), None);
    // It fails to connect: no attempt for 16 s.
    assert_eq!(
        system.nts_ke_failed(nts, first, KeEnding::Connection),
        Ok(16)
    );
    let report = system.auth_report(nts, first).unwrap();
    assert_eq!(
        (
            report.mode,
            report.ke_attempts,
            report.cookies,
            report.last_ke_ago
        ),
        (AuthMode::Nts, 1, 0, None)
    );
    // The NTS source's next poll wants it again.
    let retry = loop {
        let due = system.poll_timeout().unwrap();
        while system.poll_transmit(due, &mut rng, &mut buf).is_some() {}
        if system.poll_nts_ke() == Some(nts) {
            break due;
        }
    };
    assert!(retry >= first + NtpDuration::from_seconds(16));
    system.set_nts_session(nts, session(8), retry).unwrap();
    let later = retry + NtpDuration::from_seconds(10);
    let report = system.auth_report(nts, later).unwrap();
    assert_eq!(
        (
            report.key_type,
            report.key_id,
            report.key_length,
            report.ke_attempts,
            report.last_ke_ago,
            report.cookies,
            report.cookie_length,
            report.nak
        ),
        (15, 1, 256, 2, Some(10), 8, 100, false)
    );
    // The next poll sends an NTS request, spending a cookie; the refresh
    // is due `nts_refresh` after it.
    let (due, len) = loop {
        let due = system.poll_timeout().unwrap();
        let sent = core::iter::from_fn(|| system.poll_transmit(due, &mut rng, &mut buf))
            .find(|(source, _, _)| *source == nts);
        if let Some((_, len, _)) = sent {
            break (due, len);
        }
    };
    assert_eq!(len, 48 + 36 + 104 + 40, "one cookie, no placeholder");
    let state = system.nts_state(nts).unwrap();
    assert_eq!(state.cookies(), 7);
    let refresh = due + NtpDuration::from_seconds_f64(system.config().nts_refresh);
    assert_eq!(state.refresh_at(), Some(refresh));
    // Leaving NTS frees the slot for another source.
    system.set_source_auth(nts, SourceAuth::None).unwrap();
    assert!(system.nts_state(nts).is_none());
    system.set_source_auth(other, SourceAuth::Nts).unwrap();
    let mut wanted = None;
    while wanted.is_none() {
        let due = system.poll_timeout().unwrap();
        while system.poll_transmit(due, &mut rng, &mut buf).is_some() {}
        wanted = system.poll_nts_ke();
    }
    assert_eq!(wanted, Some(other));
}

#[cfg(feature = "auth")]
#[test]
fn keyed_sources_report_their_key() {
    use crate::auth::{Key, KeyType};
    let mut system = System::new(SystemConfig::default(), None);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let id = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, now)
        .unwrap();
    assert_eq!(system.auth_report(id, now), Some(AuthReport::default()));
    let key = Key::new(6, KeyType::Aes128, &[3; 16]).unwrap();
    system.set_source_auth(id, SourceAuth::Key(key)).unwrap();
    assert_eq!(system.source_auth(id), Some(&SourceAuth::Key(key)));
    let report = system.auth_report(id, now).unwrap();
    assert_eq!(
        (
            report.mode,
            report.key_id,
            report.key_type,
            report.key_length
        ),
        (AuthMode::SymmetricKey, 6, 13, 128)
    );
    // A keyed request: NTPv4, 16-byte CMAC.
    let mut rng = TestRng::new(4);
    let mut buf = [0u8; MAX_REQUEST_LEN];
    let due = system.poll_timeout().unwrap();
    assert_eq!(
        system
            .poll_transmit(due, &mut rng, &mut buf)
            .map(|(source, len, _)| (source, len)),
        Some((id, 68))
    );
    assert_eq!(
        system.set_source_auth(SourceId(5), SourceAuth::None),
        Err(AuthError::UnknownSource)
    );
}

/// A step from outside moves the timers with the clock, drops what was
/// measured, and unselects until the source answers again.
#[test]
fn a_step_from_outside_drops_the_samples_and_keeps_the_schedule() {
    let mut system = System::new(stepping(), None);
    let mut rng = TestRng::new(3);
    let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let id = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, now)
        .unwrap();
    let mut exchange = |system: &mut System, now: NtpTimestamp, ahead: f64| {
        system.handle_timeout(now);
        let mut buf = [0u8; 48];
        let (_, len, _) = system.poll_transmit(now, &mut rng, &mut buf).unwrap();
        let (reply, rx) = answer(&buf[..len], now, ahead);
        system
            .handle_response(rx, id, &reply, TimestampSource::Kernel)
            .result
            .unwrap();
        while system.poll_action().is_some() {}
        rx
    };
    for _ in 0..4 {
        now = system.poll_timeout().unwrap();
        now = exchange(&mut system, now, 0.0);
    }
    assert_eq!(system.selected(), Some(id));
    assert!(system.source_stats(id, now).unwrap().samples >= 4);
    let due = system.poll_timeout().unwrap();
    // Someone sets the clock 100 s ahead: the server is now 100 s behind.
    let jumped = now + NtpDuration::from_seconds(100);
    system.clock_jumped(jumped, 100.0);
    assert_eq!(
        system.poll_timeout(),
        Some(due + NtpDuration::from_seconds(100))
    );
    assert_eq!(system.source_stats(id, jumped).map_or(0, |s| s.samples), 0);
    assert_eq!(system.selected(), None);
    assert_eq!(system.unselected(), Some(Unselected::NoSelectableSources));
    assert!(!system.sync_status(jumped).synchronized);
    // The next answer is measured afresh: 100 s to set back (a step, as
    // makestep allows within its first updates).
    let now = system.poll_timeout().unwrap();
    exchange(&mut system, now, -100.0);
    assert_eq!(system.selected(), Some(id));
    assert!(
        (system.last_offset() + 100.0).abs() < 1e-3,
        "{}",
        system.last_offset()
    );
}

/// Polls `system`'s one source `count` times from `now`, answered by a
/// server `ahead` seconds ahead (or not at all); returns the time after.
fn exchanges(
    system: &mut System,
    rng: &mut TestRng,
    mut now: NtpTimestamp,
    count: usize,
    ahead: Option<f64>,
) -> NtpTimestamp {
    for _ in 0..count {
        let due = system.poll_timeout().unwrap();
        if due > now {
            now = due;
        }
        system.handle_timeout(now);
        let mut buf = [0u8; 48];
        let (id, len, _) = system.poll_transmit(now, rng, &mut buf).unwrap();
        if let Some(ahead) = ahead {
            let (reply, rx) = answer(&buf[..len], now, ahead);
            let _ = system.handle_response(rx, id, &reply, TimestampSource::Kernel);
            now = rx;
        }
    }
    now
}

#[test]
fn reference_modes_correct_once_from_three_samples() {
    let cases = [
        (ReferenceMode::UpdateOnce, 0.25, true),
        (ReferenceMode::PrintOnce, 0.25, false),
        (ReferenceMode::InitStepSlew { threshold: 1.0 }, 0.25, false),
        (ReferenceMode::InitStepSlew { threshold: 1.0 }, -2.0, true),
    ];
    for (mode, ahead, stepped) in cases {
        let config = SystemConfig {
            mode,
            ..SystemConfig::default()
        };
        let mut system = System::new(config, None);
        let mut rng = TestRng::new(4);
        let start = NtpTimestamp::from_parts(3_900_000_000, 0);
        let source_config = SourceConfig {
            iburst: true,
            ..SourceConfig::default()
        };
        system
            .add_source(source_config, ReferenceId::NONE, start)
            .unwrap();
        while system.poll_action().is_some() {}
        // Two samples are not enough for a correction nothing corrects.
        let now = exchanges(&mut system, &mut rng, start, 2, Some(ahead));
        assert_eq!(system.take_mode_end(), None, "{mode:?}");
        assert_eq!(system.mode(), mode);
        exchanges(&mut system, &mut rng, now, 1, Some(ahead));
        let Some(ModeEnd::Updated {
            mode: ended,
            offset,
            stepped: was_stepped,
        }) = system.take_mode_end()
        else {
            panic!("{mode:?}: no update");
        };
        assert_eq!((ended, was_stepped), (mode, stepped), "{mode:?}");
        assert!((offset - ahead).abs() < 1e-3, "{mode:?}: {offset}");
        assert_eq!(system.mode(), ReferenceMode::Normal);
        let actions: Vec<_> = core::iter::from_fn(|| system.poll_action()).collect();
        let step = actions.iter().find_map(|a| match a {
            ClockAction::Step { offset } => Some(offset.to_seconds_f64()),
            _ => None,
        });
        let slews = actions
            .iter()
            .any(|a| matches!(a, ClockAction::SetFrequency { ppm } if *ppm != 0.0));
        match mode {
            ReferenceMode::PrintOnce => assert!(actions.is_empty(), "{actions:?}"),
            _ if stepped => assert!(step.is_some_and(|s| (s - ahead).abs() < 1e-3)),
            _ => assert!(step.is_none() && slews, "{mode:?}: {actions:?}"),
        }
        // The clock was not updated as by a normal update.
        assert!(!system.sync_status(now).synchronized);
    }
}

#[test]
fn reference_modes_end_when_no_source_can_answer_in_time() {
    let config = SystemConfig {
        mode: ReferenceMode::UpdateOnce,
        ..SystemConfig::default()
    };
    let mut system = System::new(config, None);
    let mut rng = TestRng::new(5);
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    system
        .add_source(SourceConfig::default(), ReferenceId::NONE, start)
        .unwrap();
    // Unanswered: after 5 settled polls, the 2 left cannot give 3 samples.
    let now = exchanges(&mut system, &mut rng, start, 5, None);
    assert_eq!(system.take_mode_end(), None);
    exchanges(&mut system, &mut rng, now, 1, None);
    assert_eq!(
        system.take_mode_end(),
        Some(ModeEnd::NoSource {
            mode: ReferenceMode::UpdateOnce
        })
    );
    assert_eq!(system.mode(), ReferenceMode::Normal);
}

/// `chronyc settime` with `manual`: the first sample steps the clock by
/// its offset (makestep allows it), the second also changes the drift by
/// what the two show; the samples follow the corrections, and without
/// `manual` nothing is taken.
#[test]
fn manual_time_input_corrects_offset_then_frequency() {
    let mut off = System::new(stepping(), None);
    let t0 = NtpTimestamp::from_parts(3_900_000_000, 0);
    assert_eq!(
        off.settime(t0, t0),
        Err(crate::manual::ManualError::Disabled)
    );
    let mut system = System::new(
        SystemConfig {
            manual: true,
            ..stepping()
        },
        None,
    );
    let drain = |system: &mut System| {
        let mut steps = Vec::new();
        let mut frequency = None;
        while let Some(action) = system.poll_action() {
            match action {
                ClockAction::Step { offset } => steps.push(offset.to_seconds_f64()),
                ClockAction::SetFrequency { ppm } => frequency = Some(ppm),
                ClockAction::SetStatus(_) => {}
            }
        }
        (steps, frequency)
    };
    // The clock is 0.5 s fast.
    let first = system
        .settime(t0, t0 - NtpDuration::from_seconds_f64(0.5))
        .unwrap();
    assert!((first.offset - 0.5).abs() < 1e-9 && first.dfreq_ppm == 0.0);
    let (steps, _) = drain(&mut system);
    assert_eq!(steps.len(), 1);
    assert!((steps[0] + 0.5).abs() < 1e-9, "{steps:?}");
    // The step moved the sample: no offset left against the clock now.
    let sample = system.manual().samples()[0];
    assert!(sample.slewed_offset.abs() < 1e-9 && (sample.original_offset - 0.5).abs() < 1e-9);
    // An hour later (after the step) it is 0.36 s fast again: it gains
    // 100 ppm.
    let t1 = t0 + NtpDuration::from_seconds_f64(3600.0 - 0.5);
    let (preview, drift) = system
        .settime_preview(t1, t1 - NtpDuration::from_seconds_f64(0.36))
        .unwrap();
    let second = system
        .settime(t1, t1 - NtpDuration::from_seconds_f64(0.36))
        .unwrap();
    assert_eq!(preview, second);
    assert!((second.dfreq_ppm - 100.0).abs() < 0.1, "{second:?}");
    assert!((drift - 100.0).abs() < 0.1);
    let (steps, frequency) = drain(&mut system);
    assert!((steps[0] + 0.36).abs() < 1e-9, "{steps:?}");
    // Slowed down by 100 ppm.
    assert!((frequency.unwrap() + 100.0).abs() < 0.1, "{frequency:?}");
    assert!((system.drift().frequency_ppm - 100.0).abs() < 0.1);
    // Not synchronised to any source: manual input is no reference.
    assert!(!system.sync_status(t1).synchronized);
    system.delete_manual(0).unwrap();
    assert_eq!(system.manual().samples().len(), 1);
    system.reset_manual();
    assert!(system.manual().samples().is_empty());
}

#[test]
fn three_sigma_widens_for_few_samples_and_tends_to_three() {
    assert_eq!(super::three_sigma(0), None);
    let factors: Vec<f64> = (1..200)
        .map(|dof| super::three_sigma(dof).unwrap())
        .collect();
    assert!(factors.windows(2).all(|w| w[0] > w[1]), "{factors:?}");
    assert!(factors[0] > 200.0 && factors[29] < 3.3);
    assert!((factors[198] - 3.0).abs() < 0.05);
}

/// Polls every source due until `until`, each answered by a server of its
/// stratum in `strata` (0: no answer), 10 ms away and on time.
fn serve_strata(
    system: &mut System,
    rng: &mut TestRng,
    mut now: NtpTimestamp,
    until: NtpTimestamp,
    strata: &[(SourceId, u8)],
) -> NtpTimestamp {
    while let Some(due) = system.poll_timeout().filter(|&due| due < until) {
        if due > now {
            now = due;
        }
        system.handle_timeout(now);
        let mut buf = [0u8; 48];
        while let Some((id, len, _)) = system.poll_transmit(now, rng, &mut buf) {
            let stratum = strata.iter().find(|(s, _)| *s == id).map_or(0, |(_, n)| *n);
            if stratum == 0 {
                continue;
            }
            let server_time = now + NtpDuration::from_seconds_f64(0.005);
            let reply = crate::server::reply_to(
                &buf[..len],
                server_time,
                &Reference::local(stratum, server_time),
            );
            let rx = now + NtpDuration::from_seconds_f64(0.01);
            let _ = system.handle_response(rx, id, &reply, TimestampSource::Kernel);
        }
    }
    if until > now {
        until
    } else {
        now
    }
}

/// `local stratum 5 orphan`: of two orphans (stratum 5), only the one
/// with a smaller reference ID than ours is followed, and only while no
/// real source is selectable; a source of a lower stratum wins over it.
#[test]
fn orphan_mode_follows_a_smaller_orphan_only_without_a_real_source() {
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let id = |last: u8| ReferenceId::from_ip([10, 0, 0, last].into());
    // A node at 10.0.0.`own`, in orphan mode at stratum 5, with servers
    // at 10.0.0.`servers`.
    let orphan_node = |own: u8, servers: &[u8]| {
        let mut system: System = System::new(SystemConfig::default(), None);
        system.set_orphan_stratum(Some(5));
        let ids: Vec<SourceId> = servers
            .iter()
            .map(|&last| {
                let source = system
                    .add_source(SourceConfig::default(), id(last), start)
                    .unwrap();
                system.set_own_reference_id(source, id(own));
                source
            })
            .collect();
        (system, ids)
    };
    let (mut system, ids) = orphan_node(2, &[1, 3, 9]);
    let (smaller, larger, real) = (ids[0], ids[1], ids[2]);
    let mut rng = TestRng::new(3);
    let orphans = [(smaller, 5), (larger, 5)];
    let now = serve_strata(
        &mut system,
        &mut rng,
        start,
        start + NtpDuration::from_seconds(600),
        &orphans,
    );
    assert_eq!(system.selected(), Some(smaller));
    // The larger orphan alone is never followed.
    let (mut alone, ids) = orphan_node(2, &[3]);
    let only = ids[0];
    serve_strata(
        &mut alone,
        &mut rng,
        start,
        start + NtpDuration::from_seconds(600),
        &[(only, 5)],
    );
    assert_eq!(alone.selected(), None);
    // Of two orphans with smaller IDs, only the smallest is a candidate
    // (as chronyd): each serves its own time, and the group settles on
    // one root.
    let (mut third, ids) = orphan_node(3, &[1, 2]);
    let (root, middle) = (ids[0], ids[1]);
    serve_strata(
        &mut third,
        &mut rng,
        start,
        start + NtpDuration::from_seconds(600),
        &[(root, 5), (middle, 5)],
    );
    assert_eq!(third.selected(), Some(root));
    assert!(third.selection_interval(root).is_some());
    assert!(third.selection_interval(middle).is_none());
    // A real source (stratum 2) takes over from the orphan.
    let all = [(smaller, 5), (larger, 5), (real, 2)];
    serve_strata(
        &mut system,
        &mut rng,
        now,
        now + NtpDuration::from_seconds(1200),
        &all,
    );
    assert_eq!(system.selected(), Some(real));
}

/// The wander is the frequency's changes squared over the time they took:
/// none for a steady frequency; steps of 1 ppb every 100 s give
/// 1e-9/√100 s/s per √s; only the last 16 updates count.
#[test]
fn frequency_history_measures_the_wander() {
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let at = |i: u32| start + NtpDuration::from_seconds(i64::from(i) * 100);
    let mut steady = FrequencyHistory::default();
    for i in 0..20 {
        steady.push(at(i), 5e-6);
    }
    assert_eq!(steady.wander(), 0.0);
    let mut walking = FrequencyHistory::default();
    for i in 0..40 {
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        walking.push(at(i), 5e-6 + sign * 0.5e-9);
    }
    assert!(
        (walking.wander() - 1e-10).abs() < 1e-15,
        "{}",
        walking.wander()
    );
    for i in 40..56 {
        walking.push(at(i), 7e-6);
    }
    assert_eq!(walking.wander(), 0.0, "the walk has left the ring");
    assert_eq!(FrequencyHistory::default().wander(), 0.0);
}

/// A reference clock read every second on a local clock 20 ms behind and
/// 50 ppm slow: one sample each 16 s, selected as a stratum-1 source, and
/// the discipline brings the clock to it; readings never leave a packet.
#[test]
fn a_reference_clock_is_followed_through_its_filtered_samples() {
    let mut system = System::new(SystemConfig::default(), None);
    let mut rng = TestRng::new(3);
    let mut truth = NtpTimestamp::from_parts(3_900_000_000, 0);
    let (mut offset, mut ppm, natural) = (-0.02_f64, 0.0_f64, -50e-6);
    let gps = ReferenceId::from_bits(0x4750_5300);
    let refclock = RefclockConfig {
        delay: 1e-3,
        stratum: 0,
        ..RefclockConfig::default()
    };
    let id = system
        .add_refclock(SourceConfig::default(), refclock, gps, truth)
        .unwrap();
    let local = |truth: NtpTimestamp, offset: f64| truth + NtpDuration::from_seconds_f64(offset);
    let (mut samples, mut updates, mut readings) = (0, 0, 0);
    while readings < 1200 {
        // Time passes to the next timer (the local clock runs 1 + rate).
        let now = local(truth, offset);
        let rate = natural + ppm * 1e-6;
        let wait = (system.poll_timeout().unwrap() - now)
            .to_seconds_f64()
            .max(0.0)
            / (1.0 + rate);
        let wait = wait + 1e-9;
        offset += rate * wait;
        truth = truth + NtpDuration::from_seconds_f64(wait);
        let now = local(truth, offset);
        assert!(system
            .poll_transmit(now, &mut rng, &mut [0u8; 48])
            .is_none());
        if let Some(due) = system.poll_refclock(now) {
            assert_eq!(due, id);
            let noise = if readings % 2 == 0 { 2e-6 } else { -2e-6 };
            let reading = Reading {
                time: now,
                reference: truth + NtpDuration::from_seconds_f64(noise),
                leap: LeapIndicator::NoWarning,
                error: 0.0,
            };
            let accepted = system.refclock_reading(now, id, &reading).unwrap();
            assert!((accepted.raw_offset + offset - noise).abs() < 1e-8);
            assert_eq!(accepted.polled, readings % 16);
            readings += 1;
            match system.refclock_polled(now, id) {
                RefclockPolled::Sample(_, Ok(used)) => {
                    samples += 1;
                    updates += u32::from(used == Used::ClockUpdated);
                }
                RefclockPolled::Polling | RefclockPolled::NoSample => {}
                other => panic!("{other:?}"),
            }
            if readings == 16 {
                assert_eq!(samples, 1, "one sample of the first 16 readings");
            }
        }
        system.handle_timeout(now);
        while let Some(action) = system.poll_action() {
            match action {
                ClockAction::SetFrequency { ppm: p } => ppm = p,
                ClockAction::Step { offset: step } => offset += step.to_seconds_f64(),
                ClockAction::SetStatus(_) => {}
            }
        }
    }
    assert_eq!(samples, 1200 / 16);
    assert!(updates > 60, "{updates}");
    assert_eq!(system.selected(), Some(id));
    let now = local(truth, offset);
    let report = system.source_report(id, now).unwrap();
    assert_eq!(report.mode, SourceMode::LocalClock);
    assert_eq!((report.stratum, report.poll, report.reach), (0, 4, 0xff));
    let reference = system.reference(now);
    assert_eq!((reference.reference_id, reference.stratum), (gps, 1));
    assert!(offset.abs() < 1e-4, "{offset}");
    assert!((ppm - 50.0).abs() < 1.0, "{ppm}");
    // Without readings the intervals give no sample and reach drains.
    let mut now = now;
    for _ in 0..16 * 8 {
        now = now + NtpDuration::from_seconds(1);
        if system.poll_refclock(now).is_some() {
            assert!(matches!(
                system.refclock_polled(now, id),
                RefclockPolled::Polling | RefclockPolled::NoSample
            ));
        }
    }
    assert_eq!(system.source_report(id, now).unwrap().reach, 0);
}

#[test]
fn doffset_slews_the_clock_on_top_of_the_slew_in_progress() {
    let mut system = System::<2>::with_capacity(SystemConfig::default(), None);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let frequency = system.drift().frequency_ppm;
    let ahead =
        |system: &System<2>, at: NtpTimestamp| (system.corrected_time(at) - at).to_seconds_f64();
    // Negative: the clock is moved forward, so its time as served is
    // ahead at once, and the clock runs fast until it is.
    system.accumulate_offset(now, -0.1);
    assert!(
        (ahead(&system, now) - 0.1).abs() < 1e-9,
        "{}",
        ahead(&system, now)
    );
    let Some(ClockAction::SetFrequency { ppm }) = system.poll_action() else {
        panic!("no slew");
    };
    assert!(ppm > frequency + 1000.0, "{ppm}");
    // A second one adds to what is still to come.
    let later = now + NtpDuration::from_seconds_f64(0.1);
    let left = ahead(&system, later);
    assert!(left > 0.0 && left < 0.1, "{left}");
    system.accumulate_offset(later, -0.05);
    assert!((ahead(&system, later) - (left + 0.05)).abs() < 1e-9);
    // Back by as much: nothing is left to slew, the rate is the estimate's.
    system.accumulate_offset(later, left + 0.05);
    assert_eq!(ahead(&system, later), 0.0);
    assert_eq!(system.drift().frequency_ppm, frequency);
}

#[test]
fn dfreq_raises_the_drift_estimate_and_slows_the_clock() {
    let mut system = System::<2>::with_capacity(SystemConfig::default(), None);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let drift = system.drift().frequency_ppm;
    system.accumulate_frequency(now, 2.5);
    // The clock is taken to gain 2.5 ppm more than thought (the drift is
    // the uncorrected clock's, as chronyd's frequency), so it is corrected
    // 2.5 ppm slower.
    let Some(ClockAction::SetFrequency { ppm }) = system.poll_action() else {
        panic!("no frequency set");
    };
    assert!((ppm - (-drift - 2.5)).abs() < 1e-9, "{ppm}");
    assert!((system.drift().frequency_ppm - (drift + 2.5)).abs() < 1e-9);
    // Nothing is slewed.
    assert_eq!(system.corrected_time(now), now);
}

/// A `filter` span that ends with a poll whose request went unanswered,
/// or with an answer a test refused, still puts its median into the
/// statistics, and that sample is used at once (selection, the clock's
/// update), as chronyd uses it: not left until a later good answer.
#[test]
fn a_filter_span_ended_without_a_sample_is_used() {
    let mut system = System::new(SystemConfig::default(), None);
    let mut rng = TestRng::new(4);
    let mut now = NtpTimestamp::from_parts(3_900_000_000, 0);
    let config = SourceConfig::default()
        .with_minpoll(4)
        .with_maxpoll(4)
        .with_filter(2)
        .with_maxdelay(0.015);
    let id = system
        .add_source(config, ReferenceId::from_bits(0xc0a8_0001), now)
        .unwrap();
    let (mut at_poll, mut at_refusal) = (0, 0);
    // (Counted by the requests sent: other timers wake the system too.)
    let mut poll = 0;
    for _ in 0..64 {
        if poll == 16 {
            break;
        }
        now = system.poll_timeout().unwrap();
        system.handle_timeout(now);
        let mut buf = [0u8; 48];
        let Some((source, _, _)) = system.poll_transmit(now, &mut rng, &mut buf) else {
            continue;
        };
        poll += 1;
        if let Some((filtered, result)) = system.take_filtered_use() {
            assert_eq!(filtered, id);
            result.unwrap();
            at_poll += 1;
        }
        // Each span of 2 polls: a good answer, then a lost one (spans
        // 0, 2, ...) or one too slow for `maxdelay` (spans 1, 3, ...).
        let lost = poll % 4 == 2;
        if lost {
            continue;
        }
        let (reply, mut rx) = answer(&buf, now, 0.01);
        let slow = poll % 4 == 0;
        if slow {
            rx = rx + NtpDuration::from_seconds_f64(0.01);
        }
        let handled = system.handle_response(rx, source, &reply, TimestampSource::Kernel);
        if slow {
            // Refused itself, it ended the span: the median was used.
            let tests = handled.exchange.unwrap().tests;
            assert_ne!(tests, crate::source::ALL_TESTS);
            handled.result.unwrap();
            at_refusal += 1;
        }
        while system.poll_action().is_some() {}
    }
    assert!(at_poll >= 3 && at_refusal >= 3, "{at_poll} {at_refusal}");
    assert!(system.source_stats(id, now).unwrap().samples >= 6);
}

#[test]
fn doffset_steps_a_clock_that_cannot_slew() {
    let config = SystemConfig {
        discipline: DisciplineConfig {
            maxslewrate_ppm: 0.0,
            ..DisciplineConfig::default()
        },
        ..SystemConfig::default()
    };
    let mut system = System::<2>::with_capacity(config, None);
    let now = NtpTimestamp::from_parts(3_900_000_000, 0);
    while system.poll_action().is_some() {}
    system.accumulate_offset(now, 0.25);
    assert_eq!(
        system.poll_action(),
        Some(ClockAction::Step {
            offset: NtpDuration::from_seconds_f64(-0.25)
        })
    );
}

#[test]
fn a_source_wants_replacement_after_8_unanswered_polls_or_4_selections_as_a_falseticker() {
    let mut rng = TestRng::new(9);
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let fast = SourceConfig::default().with_minpoll(0).with_maxpoll(0);
    let mut buf = [0u8; 48];
    // A server that never answers: from its 8th poll on.
    let mut system = System::<1>::with_capacity(SystemConfig::default(), None);
    let silent = system.add_source(fast, ReferenceId::NONE, start).unwrap();
    for polls in 1..=10 {
        let now = system.poll_timeout().unwrap();
        system.handle_timeout(now);
        assert!(system.poll_transmit(now, &mut rng, &mut buf).is_some());
        assert_eq!(
            system.wants_replacement(silent),
            polls >= 8,
            "{polls} polls"
        );
    }
    // Three agree (5 ms ahead), one is 1 s off: the falseticker only.
    let mut system = System::<4>::with_capacity(SystemConfig::default(), None);
    let ahead = [0.005, 0.005, 0.005, 1.0];
    let ids: Vec<SourceId> = ahead
        .iter()
        .map(|_| system.add_source(fast, ReferenceId::NONE, start).unwrap())
        .collect();
    let mut now = start;
    // Selections after its own samples that found it a falseticker.
    let mut found = 0;
    while now < start + NtpDuration::from_seconds(20) {
        now = system.poll_timeout().unwrap();
        system.handle_timeout(now);
        while let Some((source, len, _)) = system.poll_transmit(now, &mut rng, &mut buf) {
            let i = ids.iter().position(|&id| id == source).unwrap();
            let (reply, rx) = answer(&buf[..len], now, ahead[i]);
            let _ = system.handle_response(rx, source, &reply, TimestampSource::Kernel);
            if i == 3 && system.select_report(source, now).unwrap().state == 'x' {
                found += 1;
                // Not before the 4th in a row: one may be a passing one.
                assert_eq!(system.wants_replacement(source), found >= 4, "{found}");
            }
        }
    }
    assert!(found >= 4, "{found}");
    assert_eq!(system.select_report(ids[3], now).unwrap().state, 'x');
    assert!(system.wants_replacement(ids[3]));
    for &id in &ids[..3] {
        assert!(!system.wants_replacement(id));
    }
}

/// chrony's `refclock ... local` (106-refclock's last case, without its
/// server): a local clock whose frequency swings by ±100 ppm over 1000 s,
/// beside a free-running reference clock 0.4 s and 1000 ppm off, read
/// every second and polled every 4 s. The reference clock is never
/// selected, its readings count within the second, and the clock follows
/// its changes: its time keeps to a straight line within a few hundred
/// microseconds (100 µs RMS), where the swing alone would take it 16 ms
/// either way. Readings that stop for 6 s, longer than the lock lasts,
/// start it again from nothing (the clock keeps what it gained while it
/// ran free), and it follows as closely again (117 µs RMS).
#[test]
fn the_clock_follows_a_local_reference_clock() {
    use core::f64::consts::PI;
    let mut system = System::new(SystemConfig::default(), None);
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let refclock = RefclockConfig {
        poll: 2,
        local: true,
        ..RefclockConfig::default()
    };
    let id = system
        .add_refclock(SourceConfig::default(), refclock, ReferenceId::NONE, start)
        .unwrap();
    // A server, never answering: its statistics take the clock as steady
    // while it follows the reference clock.
    let server = system
        .add_source(SourceConfig::default(), ReferenceId::NONE, start)
        .unwrap();
    let steady = |system: &System| system.source(server).unwrap().stats().is_steady();
    // The clock's natural frequency error at `t` seconds, and how much it
    // gains from `a` to `b`.
    let (swing, period) = (1e-4, 1000.0);
    let gained = |a: f64, b: f64| {
        swing * period / (2.0 * PI)
            * (Float::cos(2.0 * PI * a / period) - Float::cos(2.0 * PI * b / period))
    };
    let (mut t, mut offset, mut ppm) = (0.0_f64, 0.0_f64, 0.0_f64);
    let at = |t: f64| start + NtpDuration::from_seconds_f64(t);
    let mut trace = Vec::new();
    let mut noise = TestRng::new(5);
    let mut lost = 0;
    while t < 3000.0 {
        let now = at(t + offset);
        let next = system
            .poll_timeout()
            .map_or(1.0, |due| (due - now).to_seconds_f64())
            .clamp(0.0, 1.0)
            + 1e-9;
        // The clock runs at 1 + natural + correction (to first order).
        offset += gained(t, t + next) + ppm * 1e-6 * next;
        t += next;
        let now = at(t + offset);
        while system
            .poll_transmit(now, &mut noise, &mut [0u8; 48])
            .is_some()
        {}
        if system.poll_refclock(now).is_some() {
            let jitter = (f64::from(noise.next_u32()) / f64::from(u32::MAX) - 0.5) * 2e-7;
            let reading = Reading {
                time: now,
                reference: at(t + 0.4 + 1e-3 * t + jitter),
                leap: LeapIndicator::NoWarning,
                error: 0.0,
            };
            // The driver gives nothing for 6 s: the next reading has lost
            // the lock.
            let taken = (!(1500.0..1506.0).contains(&t))
                .then(|| system.refclock_reading(now, id, &reading));
            match taken {
                Some(Ok(accepted)) => {
                    assert!(
                        accepted.pulse && accepted.offset.abs() < 1.0,
                        "{accepted:?}"
                    );
                    assert_eq!(accepted.leap, LeapIndicator::Unsynchronized);
                }
                Some(Err(e)) => {
                    assert_eq!(
                        (e, t > 1506.0 && t < 1508.0),
                        (ReadingError::LostLock, true)
                    );
                    assert!(system.source(id).unwrap().stats().is_empty());
                    assert!(!steady(&system));
                    lost += 1;
                }
                None => {}
            }
            let _ = system.refclock_polled(now, id);
            // Six samples (24 s) make a line to follow.
            let samples = system.source(id).unwrap().stats().len();
            assert_eq!(steady(&system), samples >= FOLLOW_SAMPLES, "{t}");
            if t > 300.0 {
                trace.push((t, offset));
            }
        }
        system.handle_timeout(now);
        while let Some(action) = system.poll_action() {
            match action {
                ClockAction::SetFrequency { ppm: p } => ppm = p,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(system.selected(), None, "never selected");
    }
    assert!(steady(&system));
    assert_eq!(lost, 1, "the lock is lost once");
    assert!(trace.len() > 2600, "{}", trace.len());
    // The clock against the straight line through its offsets, before the
    // lock was lost and once it follows again (the clock ran free between:
    // it keeps what it gained then, as chronyd's does).
    for span in [300.0..1500.0, 1600.0..3000.0] {
        let part: Vec<(f64, f64)> = trace
            .iter()
            .copied()
            .filter(|p| span.contains(&p.0))
            .collect();
        let (rms, worst) = off_a_line(&part);
        assert!(
            rms < 1.5e-4 && worst < 2.5e-4,
            "{span:?}: rms {rms}, worst {worst}"
        );
    }
}

/// How far `points` (time, offset) lie from the straight line through
/// them: the RMS and the worst.
fn off_a_line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (mean_t, mean_o) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = points
        .iter()
        .map(|p| (p.0 - mean_t) * (p.1 - mean_o))
        .sum::<f64>()
        / points
            .iter()
            .map(|p| (p.0 - mean_t) * (p.0 - mean_t))
            .sum::<f64>();
    let residuals = points.iter().map(|p| p.1 - mean_o - slope * (p.0 - mean_t));
    let rms = Float::sqrt(residuals.clone().map(|r| r * r).sum::<f64>() / n);
    (rms, residuals.fold(0.0_f64, |m, r| m.max(r.abs())))
}

/// A system whose served time is smoothed as `smoothtime 1e4 1e-6`
/// (119-smoothtime's last case), smoothing from `start` on.
fn smoothing_from(start: NtpTimestamp) -> System<2> {
    let config = SystemConfig {
        smoothing: Some(SmoothConfig {
            max_freq_ppm: 1e4,
            max_wander_ppm: 1e-6,
            leap_only: false,
        }),
        ..SystemConfig::default()
    };
    let mut system = System::<2>::with_capacity(config, None);
    assert!(system.smoothtime(start, true));
    system
}

/// A served time smoothed (`smoothtime 1e4 1e-6`, active) runs on at the
/// rate it had while the clock's frequency swings ±400 ppm every 250 s
/// (a reference clock that swings, as chrony's 119-smoothtime's last
/// case): each change is owed as the fraction of the old rate it is, so
/// the swings cancel. (Owed as the bare difference, each pair of swings
/// left the served rate 4·0.0004² = 0.64 ppm further off: 14 ms in
/// 5000 s.)
#[test]
fn smoothing_keeps_the_served_rate_through_frequency_swings() {
    // The clock's reading (it runs at 1 + its correction) and true time.
    let mut clock = NtpTimestamp::from_parts(3_900_000_000, 0);
    let mut system = smoothing_from(clock);
    let mut true_elapsed = 0.0;
    let served_at_start = system.served_time(clock);
    let mut change = 400.0;
    for _ in 0..20 {
        let correction = -system.drift().frequency_ppm * 1e-6;
        clock = clock + NtpDuration::from_seconds_f64(250.0 * (1.0 + correction));
        true_elapsed += 250.0;
        system.accumulate_frequency(clock, change);
        change = if change > 0.0 { -800.0 } else { 800.0 };
    }
    let served = (system.served_time(clock) - served_at_start).to_seconds_f64();
    assert!(
        (served - true_elapsed).abs() < 1e-6,
        "{:e}",
        served - true_elapsed
    );
}

/// A served time smoothed while it owes a frequency (800 ppm) runs on at
/// its rate through a fast slew of the clock (0.1 s): the smoothing pays
/// on the monotonic time scale, which the slew does not speed up. (On the
/// clock's own time it paid the 800 ppm faster while the slew lasted: 80
/// µs off after it.)
#[test]
fn smoothing_keeps_the_served_rate_through_a_slew() {
    let start = NtpTimestamp::from_parts(3_900_000_000, 0);
    let mut system = smoothing_from(start);
    let served_at_start = system.served_time(start);
    system.accumulate_frequency(start, 800.0);
    system.accumulate_offset(start, -0.1);
    // The clock's correction (ppm) as the system sets it, and the clock's
    // reading (kept in seconds: 20 000 roundings to 2⁻³² s would be a
    // microsecond).
    let mut ppm = 0.0;
    let mut slewed = false;
    let (mut clock, mut clock_elapsed, mut true_elapsed) = (start, 0.0, 0.0);
    for _ in 0..20_000 {
        while let Some(action) = system.poll_action() {
            if let ClockAction::SetFrequency { ppm: set } = action {
                ppm = set;
            }
        }
        slewed |= ppm > 1000.0;
        clock_elapsed += 0.01 * (1.0 + ppm * 1e-6);
        clock = start + NtpDuration::from_seconds_f64(clock_elapsed);
        true_elapsed += 0.01;
        if system.poll_timeout().is_some_and(|due| due <= clock) {
            system.handle_timeout(clock);
        }
    }
    assert!(slewed);
    assert!((ppm + 800.0).abs() < 1e-6, "{ppm}");
    let served = (system.served_time(clock) - served_at_start).to_seconds_f64();
    assert!(
        (served - true_elapsed).abs() < 1e-6,
        "{:e}",
        served - true_elapsed
    );
}
