//! Integration tests: the real binary, real SQLite, real FFmpeg, media made in the test.

mod access;
mod accounts;
mod acme;
mod api;
mod catalog;
mod cli;
mod crash;
mod dashboard;
mod h2_limits;
mod hls_check;
mod inbox;
mod ingest_rules;
mod install;
mod install_systemd;
mod members;
mod ops;
mod origin;
mod player;
mod safety;
mod service;
mod settings;
mod sources;
mod static_binary;
mod support;
mod tls;
mod uploads;
