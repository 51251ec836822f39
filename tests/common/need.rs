//! What the `#[ignore]`d tests need, checked when they run: a missing
//! peer or privilege fails the test with the reason (it was asked for
//! with `--include-ignored`, so not running it is a failure, not a pass).

use std::path::PathBuf;

use super::chrony::{find_program, is_root};

/// The program `name`, installed (`scripts/install-peers.sh` installs
/// the peers).
pub fn program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "this test needs {name}, which is not installed: run scripts/install-peers.sh \
             (as root), or leave out --include-ignored"
        )
    })
}

/// Root: chronyd starts only as root (it drops to user _chrony), and
/// port 123 is privileged.
pub fn root(why: &str) {
    assert!(
        is_root(),
        "this test needs root ({why}): run it as root, or leave out --include-ignored"
    );
}

/// chronyd and chronyc installed, and root to start chronyd.
pub fn chronyd() {
    program("chronyd");
    program("chronyc");
    root("chronyd starts only as root, then drops to user _chrony");
}
