use super::*;

fn at(seconds: f64) -> NtpTimestamp {
    NtpTimestamp::from_seconds_f64(5000.0 + seconds)
}

fn estimate(offset: f64, frequency: f64, skew: f64) -> Estimate {
    Estimate {
        offset,
        offset_sd: 1e-5,
        sample_sd: 1e-5,
        frequency,
        skew,
        root_delay: 1e-3,
        root_dispersion: 1e-3,
        leap: LeapIndicator::NoWarning,
        interval: 64.0,
    }
}

/// The default configuration with `makestep THRESHOLD LIMIT`.
fn stepping(threshold: f64, limit: i32) -> DisciplineConfig {
    DisciplineConfig {
        makestep: Some(MakeStep { threshold, limit }),
        ..DisciplineConfig::default()
    }
}

fn drain(discipline: &mut Discipline) -> std::vec::Vec<ClockAction> {
    core::iter::from_fn(|| discipline.poll_action()).collect()
}

fn frequency_of(actions: &[ClockAction]) -> Option<f64> {
    actions.iter().find_map(|a| match a {
        ClockAction::SetFrequency { ppm } => Some(*ppm),
        _ => None,
    })
}

#[test]
fn makestep_then_slew_then_panic() {
    let config = stepping(1.0, 1);
    let mut d = Discipline::new(None, config);
    assert_eq!(d.state(), DisciplineState::Unset);
    assert_eq!(drain(&mut d), [ClockAction::SetFrequency { ppm: 0.0 }]);
    let c = d.update(at(0.0), &estimate(5.0, 0.0, 1.0)).unwrap();
    assert_eq!(c.step, Some(5.0));
    assert_eq!(d.state(), DisciplineState::MeasuringFrequency);
    let actions = drain(&mut d);
    assert!(matches!(actions[0], ClockAction::Step { offset }
        if (offset.to_seconds_f64() - 5.0).abs() < 1e-9));
    assert_eq!(d.poll_timeout(), None, "nothing left to slew");
    // That step came before the frequency was known: the first update
    // with a measured frequency is the one the limit counts, and it may
    // still step.
    let c = d.update(at(5.0), &estimate(2.0, 1e-5, 1e-7)).unwrap();
    assert_eq!(c.step, Some(2.0));
    assert_eq!(d.state(), DisciplineState::Tracking);
    assert!((d.drift().frequency_ppm + 10.0).abs() < 1e-3);
    let _ = drain(&mut d);
    // Past the step limit, offsets are slewed: a frequency for a while.
    let c = d.update(at(69.0), &estimate(2.0, 0.0, 1e-7)).unwrap();
    assert_eq!(c.step, None);
    assert!((d.drift().frequency_ppm + 10.0).abs() < 1e-3);
    let slewing = frequency_of(&drain(&mut d)).unwrap();
    assert!(
        (slewing - (10.0 + config.maxslewrate_ppm)).abs() < 1e-6,
        "{slewing}"
    );
    let base = 10e-6;
    assert!((c.rate - (slewing * 1e-6 - base) / (1.0 + base)).abs() < 1e-12);
    assert!(d.pending(at(69.0)) > 1.99);
    // The slew ends when its time is up, back at the estimate.
    let end = d.poll_timeout().unwrap();
    assert_eq!(
        d.handle_timeout(end - NtpDuration::from_seconds(1)),
        Correction::default()
    );
    let c = d.handle_timeout(end);
    assert!(c.rate < -0.07, "{c:?}");
    assert_eq!(drain(&mut d), [ClockAction::SetFrequency { ppm: 10.0 }]);
    assert_eq!(d.pending(end), 0.0);
    // Over the panic threshold: an error, nothing done.
    assert_eq!(
        d.update(at(200.0), &estimate(2000.0, 0.0, 1e-7)),
        Err(DisciplineError::PanicThreshold { offset: 2000.0 })
    );
    assert!(drain(&mut d).is_empty());
    d.lose_sync(at(300.0));
    assert_eq!(d.state(), DisciplineState::Holdover);
    assert!(!d.sync_status(at(300.0)).synchronized);
}

/// `makestep 1 1` with a frequency that is never measured (every
/// estimate's skew over `maxupdateskew`): the two updates before a
/// regression could exist do not count, the third does, and after it
/// offsets are slewed, never stepped for ever.
#[test]
fn makestep_counts_at_most_two_updates_early() {
    let config = stepping(1.0, 1);
    let mut d = Discipline::new(None, config);
    let steps: std::vec::Vec<_> = (0..5)
        .map(|i| {
            d.update(at(f64::from(i) * 64.0), &estimate(3.0, 0.0, 1.0))
                .unwrap()
                .step
        })
        .collect();
    assert_eq!(steps, [Some(3.0), Some(3.0), Some(3.0), None, None]);
    assert_eq!(d.state(), DisciplineState::MeasuringFrequency);
}

/// A slew's frequency corrects exactly the offset asked, on a clock that
/// counts `1 + F` of its natural seconds: `duration · rate / (1 + base +
/// rate)` of the clock's time, whatever the base.
#[test]
fn a_slew_corrects_exactly_the_offset() {
    for (base_ppm, offset) in [(0.0, 0.25), (-100.0, 1.0), (400.0, -0.5), (30_000.0, 2.0)] {
        let drift = Drift {
            frequency_ppm: -base_ppm,
            skew_ppm: 0.01,
        };
        let mut d = Discipline::new(Some(drift), DisciplineConfig::default());
        let _ = drain(&mut d);
        d.update(at(0.0), &estimate(offset, 0.0, 1e-9)).unwrap();
        let ppm = frequency_of(&drain(&mut d)).unwrap();
        let (rate, base) = ((ppm - base_ppm) * 1e-6, base_ppm * 1e-6);
        let duration = (d.poll_timeout().unwrap() - at(0.0)).to_seconds_f64();
        let gained = duration * rate / (1.0 + base + rate);
        assert!(
            (gained - offset).abs() < 1e-9,
            "{base_ppm} {offset}: {gained}"
        );
        assert!(rate.abs() <= 83_333.333e-6 + 1e-12);
        assert!(
            (d.pending(at(duration / 2.0)) - offset / 2.0).abs() < 1e-6,
            "{base_ppm} {offset}"
        );
    }
}

/// chrony's corrtimeratio as chronyd applies it: an offset the size of
/// the estimate's error is spread over 1.5 update intervals (half the
/// ratio 3), ten times as large over a tenth of that; so the frequency
/// error a slew adds is small when the offset is.
#[test]
fn slews_take_longer_for_smaller_offsets() {
    let slew_time = |offset: f64| {
        let mut d = Discipline::new(None, DisciplineConfig::default());
        d.update(at(0.0), &estimate(offset, 0.0, 1e-9)).unwrap();
        (d.poll_timeout().unwrap() - at(0.0)).to_seconds_f64()
    };
    assert!((slew_time(1e-5) - 96.0).abs() < 1e-3, "{}", slew_time(1e-5));
    assert!((slew_time(1e-4) - 9.6).abs() < 1e-3);
    assert!((slew_time(-1e-4) - 9.6).abs() < 1e-3);
    // Never shorter than a second, never faster than maxslewrate.
    assert!((slew_time(1e-3) - 1.0).abs() < 1e-3);
    assert!((slew_time(0.1) - 0.1 * (1.0 + 83_333.333e-6) / 83_333.333e-6).abs() < 1e-6);
}

/// A slew's haste weighs the offset against its error as measured, not
/// as the frequency's error grows it with the samples' age (chronyd's
/// rule): a reference clock's one sample after its history was dropped,
/// 8 s old and of unknown frequency (2000 ppm), is still known to 1 µs.
#[test]
fn slews_weigh_the_offset_against_its_error_as_measured() {
    let mut d = Discipline::new(None, DisciplineConfig::default());
    d.update(at(0.0), &estimate(1e-6, 0.0, 1e-9)).unwrap();
    let aged = Estimate {
        offset_sd: 2e-3 * 8.0,
        sample_sd: 1e-6,
        interval: 16.0,
        ..estimate(0.1, 0.0, 1e-9)
    };
    d.update(at(16.0), &aged).unwrap();
    let slew_time = (d.poll_timeout().unwrap() - at(16.0)).to_seconds_f64();
    // At maxslewrate: 0.1 s in 1.2 s. (The aged error would have made
    // it 3.8 s, at a third of the rate.)
    let fastest = 0.1 * (1.0 + 83_333.333e-6) / 83_333.333e-6;
    assert!((slew_time - fastest).abs() < 1e-3, "{slew_time}");
}

/// The clock can only run so fast (Linux: ±10 % of the tick): a slew on
/// top of a large frequency correction takes the room that is left.
#[test]
fn slews_stay_within_the_clocks_reach() {
    let drift = Drift {
        frequency_ppm: -60_000.0,
        skew_ppm: 0.01,
    };
    let mut d = Discipline::new(Some(drift), DisciplineConfig::default());
    let _ = drain(&mut d);
    d.update(at(0.0), &estimate(1.0, 0.0, 1e-9)).unwrap();
    let ppm = frequency_of(&drain(&mut d)).unwrap();
    assert!((ppm - 100_000.0).abs() < 1e-6, "{ppm}");
}

#[test]
fn actions_are_merged_never_lost() {
    let config = stepping(0.1, -1);
    let mut d = Discipline::new(None, config);
    // Ten updates with nobody draining: the steps add up, the last
    // frequency and status win.
    for i in 0..10 {
        d.update(at(f64::from(i) * 64.0), &estimate(0.5, 1e-6, 1e-8))
            .unwrap();
    }
    let actions = drain(&mut d);
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(matches!(actions[0], ClockAction::Step { offset }
        if (offset.to_seconds_f64() - 5.0).abs() < 1e-9));
    assert!(matches!(actions[1], ClockAction::SetFrequency { .. }));
    assert!(matches!(actions[2], ClockAction::SetStatus(s) if s.synchronized));
}

#[test]
fn max_error_holds_what_is_left_uncorrected() {
    let config = DisciplineConfig {
        maxupdateskew_ppm: 100.0,
        ..DisciplineConfig::default()
    };
    let mut d = Discipline::new(None, config);
    // A 5 % frequency error the skew gate refuses to correct, and an
    // offset of 0.5 s still being slewed.
    d.update(at(0.0), &estimate(0.5, 0.05, 2e-3)).unwrap();
    let status = d.sync_status(at(0.0));
    assert!(status.max_error >= 0.5, "{status:?}");
    // 64 s later the uncorrected 5 % alone is worth over 3 s.
    let status = d.sync_status(at(64.0));
    assert!(status.max_error > 64.0 * 0.05 / 1.05, "{status:?}");
    // Corrected, the bound stays small.
    let c = d.handle_timeout(d.poll_timeout().unwrap());
    assert!(!c.is_none());
    d.update(at(64.0), &estimate(0.0, 0.0, 1e-6)).unwrap();
    assert!(d.sync_status(at(128.0)).max_error < 0.01);
}

#[test]
fn skew_gate_and_maxdrift() {
    let config = DisciplineConfig {
        maxdrift_ppm: 50.0,
        ..DisciplineConfig::default()
    };
    let mut d = Discipline::new(
        Some(Drift {
            frequency_ppm: 100.0,
            skew_ppm: 1.0,
        }),
        config,
    );
    assert_eq!(
        d.poll_action(),
        Some(ClockAction::SetFrequency { ppm: -50.0 })
    );
    // Too uncertain a frequency is not taken.
    d.update(at(0.0), &estimate(0.0, 1e-4, 0.01)).unwrap();
    assert!((d.drift().frequency_ppm - 50.0).abs() < 1e-9);
    // A good one is, within maxdrift.
    d.update(at(64.0), &estimate(0.0, -1e-4, 1e-7)).unwrap();
    assert!((d.drift().frequency_ppm - 50.0).abs() < 1e-9); // already at -50 ppm
}

#[test]
fn drift_file_round_trip() {
    let drift = Drift::parse("  -12.345678   0.250000\n").unwrap();
    assert_eq!(drift.frequency_ppm, -12.345678);
    assert_eq!(std::format!("{drift}"), "-12.345678 0.250000");
    assert_eq!(Drift::parse("1.0"), None);
    assert_eq!(Drift::parse("1.0 2.0 3.0"), None);
    assert_eq!(Drift::parse("nan 1"), None);
}

/// `maxchange 1 1 2`: the first update may correct anything; after it, an
/// offset over 1 s is ignored twice (nothing done to the clock) and the
/// third gives up; offsets within the limit go on being corrected.
#[test]
fn maxchange_ignores_then_gives_up() {
    let config = DisciplineConfig {
        maxchange: Some(MaxChange {
            offset: 1.0,
            start: 1,
            ignore: 2,
        }),
        ..stepping(0.5, -1)
    };
    let mut d = Discipline::new(None, config);
    drain(&mut d);
    // Before `start` updates: corrected (stepped) however large.
    assert_eq!(
        d.update(at(0.0), &estimate(5.0, 0.0, 1.0)).unwrap().step,
        Some(5.0)
    );
    drain(&mut d);
    for (i, give_up) in [(1, false), (2, false), (3, true)] {
        assert_eq!(
            d.update(at(64.0 * f64::from(i)), &estimate(-3.0, 0.0, 1e-7)),
            Err(DisciplineError::MaxChange {
                offset: -3.0,
                give_up
            })
        );
        assert!(drain(&mut d).is_empty(), "nothing done to the clock");
        // A small offset in between is corrected as usual.
        if !give_up {
            assert!(d
                .update(at(64.0 * f64::from(i) + 32.0), &estimate(0.8, 0.0, 1e-7))
                .unwrap()
                .step
                .is_some());
            drain(&mut d);
        }
    }
    // What the slew in progress is still to correct is not a change: the
    // first update slews 2 s; an offset of what is left is no change at
    // all, one 1.5 s beyond it is one.
    let mut d = Discipline::new(
        None,
        DisciplineConfig {
            makestep: None,
            ..config
        },
    );
    assert!(d.update(at(0.0), &estimate(2.0, 0.0, 1e-7)).is_ok());
    drain(&mut d);
    let left = d.pending(at(1.0));
    assert!(left > 1.0, "{left}");
    assert!(d.update(at(1.0), &estimate(left, 0.0, 1e-7)).is_ok());
    drain(&mut d);
    let left = d.pending(at(2.0));
    assert_eq!(
        d.update(at(2.0), &estimate(left + 1.5, 0.0, 1e-7)),
        Err(DisciplineError::MaxChange {
            offset: 1.5,
            give_up: false
        })
    );
    // A negative IGNORE never gives up.
    let mut d = Discipline::new(
        None,
        DisciplineConfig {
            maxchange: Some(MaxChange {
                offset: 1.0,
                start: 0,
                ignore: -1,
            }),
            ..config
        },
    );
    for i in 0..5 {
        assert_eq!(
            d.update(at(f64::from(i)), &estimate(2.0, 0.0, 1e-7)),
            Err(DisciplineError::MaxChange {
                offset: 2.0,
                give_up: false
            })
        );
    }
}

#[test]
fn a_slew_ended_late_takes_back_what_it_overshot() {
    let mut d = Discipline::new(None, DisciplineConfig::default());
    drain(&mut d);
    let start = at(0.0);
    d.update(start, &estimate(0.1, 0.0, 1e-7)).unwrap();
    let end = d.poll_timeout().unwrap();
    let rate = frequency_of(&drain(&mut d)).unwrap() * 1e-6;
    // Handled 0.7 ms late: the slew ran that much longer than planned.
    let late = end + NtpDuration::from_seconds_f64(7e-4);
    let c = d.handle_timeout(late);
    let overshoot = 7e-4 * rate / (1.0 + rate);
    assert!(overshoot > 5e-5, "{overshoot}");
    // The clock now runs slow until exactly that much is given back.
    assert!(c.rate < 0.0, "{c:?}");
    assert!(
        (d.pending(late) + overshoot).abs() < 1e-10,
        "{} vs {overshoot}",
        d.pending(late)
    );
    let back = d.poll_timeout().expect("a slew the other way");
    assert!((back - late).to_seconds_f64() >= MIN_SLEW_TIME);
    assert!(frequency_of(&drain(&mut d)).unwrap() < 0.0);
    // Ended on time, nothing is left over and nothing more is planned.
    d.handle_timeout(back);
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(frequency_of(&drain(&mut d)), Some(0.0));
}

/// Without updates for 2^i seconds, the clock runs at the frequency
/// averaged over about 2^i seconds: longer averages remember older
/// frequencies.
#[test]
fn fallback_drifts_take_over_when_updates_stop() {
    let config = DisciplineConfig {
        fallbackdrift: FallbackDrift::new(6, 8),
        ..DisciplineConfig::default()
    };
    // A saved drift holds the frequency while the measurements' skew is
    // too large to update it.
    let drift = Drift {
        frequency_ppm: -10.0,
        skew_ppm: 0.01,
    };
    let mut d = Discipline::new(Some(drift), config);
    let mut t = 0.0;
    for _ in 0..20 {
        d.update(at(t), &estimate(0.0, 0.0, 1.0)).unwrap();
        t += 64.0;
    }
    let before = d.frequency_ppm();
    // Then a measured frequency 20 ppm higher, for three updates.
    d.update(at(t), &estimate(0.0, 20e-6, 1e-9)).unwrap();
    for _ in 0..2 {
        t += 64.0;
        d.update(at(t), &estimate(0.0, 0.0, 1e-9)).unwrap();
    }
    let after = d.frequency_ppm();
    assert!((after - before - 20.0).abs() < 0.1, "{before} {after}");
    drain(&mut d);
    // Updates stop at t: nothing changes before 64 s.
    let last = at(t);
    assert_eq!(d.poll_timeout(), Some(at(t + 64.0)));
    assert_eq!(d.handle_timeout(at(t + 63.0)), Correction::default());
    assert!(d.is_synchronized());
    let mut fallbacks = std::vec::Vec::new();
    for i in 6..=8 {
        let due = d.poll_timeout().unwrap();
        assert_eq!(due, last + NtpDuration::from_seconds(1 << i));
        let c = d.handle_timeout(due);
        assert_ne!(c.rate, 0.0);
        fallbacks.push(frequency_of(&drain(&mut d)).unwrap());
        assert!(!d.is_synchronized());
    }
    assert_eq!(d.poll_timeout(), None, "the longest is kept");
    let [f6, f7, f8] = fallbacks[..] else {
        unreachable!()
    };
    assert!(
        before < f8 && f8 < f7 && f7 < f6 && f6 <= after,
        "{before} {f8} {f7} {f6} {after}"
    );
    assert!(after - f6 < 2.0, "the 64 s average is mostly the new one");
    // An update ends it.
    d.update(at(t + 300.0), &estimate(0.0, 0.0, 1e-9)).unwrap();
    assert_eq!(d.poll_timeout(), Some(at(t + 364.0)));
}

/// The monotonic scale (F323's) runs on through the offset corrections
/// and starts again (another epoch) at each step.
#[test]
fn the_monotonic_scale_leaves_out_offset_corrections() {
    let mut d = Discipline::new(None, DisciplineConfig::default());
    // The monotonic time at `t`, as seconds from `at(0)`, and its epoch.
    let mono = |d: &Discipline, t: NtpTimestamp| {
        let (offset, steps) = d.monotonic();
        (
            (t - at(0.0)).to_seconds_f64() + d.pending(t) + offset,
            steps,
        )
    };
    let now = at(100.0);
    let (before, steps) = mono(&d, now);
    d.update(now, &estimate(0.05, 0.0, 1e-6)).unwrap();
    // The corrected time jumped by 0.05 s; the monotonic one did not.
    assert!((d.pending(now) - 0.05).abs() < 1e-9);
    let (after, same) = mono(&d, now);
    assert!((after - before).abs() < 1e-9 && same == steps);
    // A correction back (the slew replaced by none) leaves it as well.
    d.end_slew(now);
    assert!((mono(&d, now).0 - before).abs() < 1e-9);
    d.clock_stepped(1.0);
    assert_ne!(d.monotonic().1, steps);
}

/// Following a `local` reference clock: its frequency change is made at
/// once, its offset in a slew of its own that an update's slew does not
/// replace, and that slew's end is told apart from the updates'.
#[test]
fn following_slews_beside_the_updates() {
    let mut d = Discipline::new(None, DisciplineConfig::default());
    let _ = drain(&mut d);
    // The line moved by 10 µs and 1 ppm (the clock fell behind, slow).
    let c = d.follow(at(0.0), 10e-6, 1e-6);
    assert!(c.step.is_none() && c.rate > 1e-6, "{c:?}");
    assert!(
        (d.drift().frequency_ppm + 1.0).abs() < 1e-9,
        "{:?}",
        d.drift()
    );
    assert!((d.pending(at(0.0)) - 10e-6).abs() < 1e-12);
    assert_eq!(d.update_pending(at(0.0)), 0.0);
    let ends = d.poll_timeout().unwrap();
    // An update slews its own offset; the following's is still to come.
    let _ = d.update(at(0.5), &estimate(1e-3, 0.0, 1e-7)).unwrap();
    let (all, update) = (d.pending(at(0.5)), d.update_pending(at(0.5)));
    assert!(update > 0.9e-3 && all - update > 0.0 && all - update < 10e-6);
    assert!(d.poll_timeout().unwrap() <= ends);
    // Its end is the following's change alone: the updates' slew runs on.
    assert_eq!(d.handle_timeout(ends), Correction::default());
    let c = d.end_due_follow(ends);
    assert!(c.rate < 0.0, "{c:?}");
    assert!((d.pending(ends) - d.update_pending(ends)).abs() < 1e-12);
    // Nothing to follow: no change.
    assert_eq!(d.end_due_follow(ends), Correction::default());
    assert_eq!(d.follow(at(2.0), f64::NAN, 0.0), Correction::default());
}
