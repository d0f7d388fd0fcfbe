//! Integration tests: the real binary, real SQLite, real FFmpeg, media made in the test.

mod api;
mod cli;
mod crash;
mod hls_check;
mod inbox;
mod ingest_rules;
mod origin;
mod player;
mod safety;
mod sources;
mod support;
mod tls;
