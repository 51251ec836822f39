//! What the crate's unit tests share: the seeded generator, and the log
//! lines the code under test wrote on this thread.

pub(crate) use crate::xoshiro::Xoshiro256 as TestRng;

/// The log lines written on the test's own thread (tests run on threads
/// of their own, so each sees its own lines).
#[cfg(feature = "linux")]
pub(crate) mod logs {
    use std::cell::RefCell;
    use std::string::{String, ToString};
    use std::sync::Once;
    use std::vec::Vec;

    std::thread_local! {
        static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &log::Record<'_>) {
            let line = record.args().to_string();
            LINES.with(|lines| lines.borrow_mut().push(line));
        }

        fn flush(&self) {}
    }

    static CAPTURE: Capture = Capture;
    static INSTALL: Once = Once::new();

    /// Starts capturing (once per process; every level).
    pub(crate) fn capture() {
        INSTALL.call_once(|| {
            let _ = log::set_logger(&CAPTURE);
            log::set_max_level(log::LevelFilter::Trace);
        });
    }

    /// The lines written on this thread since the last call.
    pub(crate) fn take() -> Vec<String> {
        LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
    }
}

/// A time source a test moves by hand, and a status to set.
#[cfg(feature = "std")]
pub(crate) mod manual_time {
    use std::cell::Cell;
    use std::rc::Rc;

    use crate::clock::SyncStatus;
    use crate::time::{NtpDuration, NtpTimestamp};
    use crate::wire::LeapIndicator;

    /// A status to set on a clock: 15.5 ms maximum error, 0.25 ms
    /// estimated.
    pub(crate) fn status(synchronized: bool, leap: LeapIndicator) -> SyncStatus {
        SyncStatus {
            synchronized,
            max_error: 0.015_5,
            est_error: 0.000_25,
            leap,
        }
    }

    /// The time, and a source reading it.
    pub(crate) fn manual() -> (Rc<Cell<NtpTimestamp>>, impl Fn() -> NtpTimestamp) {
        let time = Rc::new(Cell::new(NtpTimestamp::from_parts(3_900_000_000, 0)));
        let source = time.clone();
        (time, move || source.get())
    }

    /// Moves the time on by `seconds`.
    pub(crate) fn advance(time: &Cell<NtpTimestamp>, seconds: f64) {
        time.set(time.get() + NtpDuration::from_seconds_f64(seconds));
    }
}
