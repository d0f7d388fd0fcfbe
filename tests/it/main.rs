//! Integration tests: the real binary, real SQLite, real FFmpeg, media made in the test.

mod hls_check;
mod sources;
mod support;
