//! The time the catalog and the storefront go by, in Unix seconds. One function rather than
//! a handle threaded through every constructor, like `metrics::global`.
//!
//! Debug builds only: `MARQUEE_TEST_CLOCK_FILE` names a file holding a number of seconds to
//! add, so tests can move a running server through scheduled publish and expiry windows
//! without waiting. A release build never reads it.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    system_now() + test_offset()
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(debug_assertions)]
fn test_offset() -> i64 {
    std::env::var_os("MARQUEE_TEST_CLOCK_FILE")
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(not(debug_assertions))]
fn test_offset() -> i64 {
    0
}
