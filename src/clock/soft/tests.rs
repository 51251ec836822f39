//! The virtual clock's arithmetic, over a time source moved by hand.

use super::*;
use crate::report::TimedatectlReport;
use crate::test_util::manual_time::{advance, manual, status};

#[test]
fn virtual_clock_runs_at_its_frequency() {
    let (time, source) = manual();
    let mut clock = VirtualClock::with_source(source);
    assert_eq!(clock.now().unwrap(), time.get());
    clock.set_frequency(100.0).unwrap();
    advance(&time, 1000.0);
    assert!((clock.offset().to_seconds_f64() - 0.1).abs() < 1e-9);
    clock.set_frequency(-50.0).unwrap();
    advance(&time, 1000.0);
    assert!((clock.offset().to_seconds_f64() - 0.05).abs() < 1e-9);
}

#[test]
fn virtual_clock_steps() {
    let (time, source) = manual();
    let mut clock = VirtualClock::with_source(source);
    clock.step(NtpDuration::from_seconds(-100)).unwrap();
    assert_eq!(
        clock.now().unwrap(),
        time.get() - NtpDuration::from_seconds(100)
    );
}

#[test]
fn virtual_clock_status_grows_like_the_kernel() {
    let (time, source) = manual();
    let mut clock = VirtualClock::with_source(source);
    // What `timedatectl` would say about the clock.
    let timedatectl = |clock: &VirtualClock<_>| {
        TimedatectlReport::from_status(&clock.sync_status(), clock.now().ok())
    };
    assert!(!timedatectl(&clock).synchronized());
    clock
        .set_status(&status(true, LeapIndicator::NoWarning))
        .unwrap();
    assert!(timedatectl(&clock).synchronized());
    advance(&time, 1000.0);
    assert!((clock.sync_status().max_error - 0.5155).abs() < 1e-9);
    advance(&time, 40_000.0);
    assert_eq!(clock.sync_status().max_error, 16.0);
    assert!(!timedatectl(&clock).synchronized());
}
