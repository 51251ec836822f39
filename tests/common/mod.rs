//! Helpers the integration tests share.

/// Ends the test early, printing why (a peer or privilege is missing):
/// such tests pass without running, and say so.
#[allow(unused_macros)]
macro_rules! skip {
    ($($why:tt)*) => {{
        eprintln!("skipped: {}", format!($($why)*));
        return;
    }};
}

pub mod certs;
pub mod chrony;
pub mod logs;
