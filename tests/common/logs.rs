//! The log lines the code under test wrote on the test's own thread (the
//! `log` crate has one logger per process; tests run on threads of their
//! own, so each sees its own lines). Every line is also printed, as the
//! daemon would print it, for a failing test's output.

// Not every test crate that includes `common` reads log lines.
#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        eprintln!("{}: {line}", record.level());
        LINES.with(|lines| lines.borrow_mut().push(line));
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;
static INSTALL: Once = Once::new();

/// Starts capturing (once per process; every level from informational).
pub fn capture() {
    INSTALL.call_once(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// Every line written on this thread so far.
pub fn lines() -> Vec<String> {
    LINES.with(|lines| lines.borrow().clone())
}
