//! Marquee: a self-hosted streaming service in one binary.

pub mod accounts;
pub mod acme;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod disk;
pub mod http;
pub mod ingest;
pub mod ingest_cli;
pub mod jobs;
pub mod logging;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod playback;
pub mod server;
pub mod service_manager;
pub mod services;
pub mod settings;
pub mod tls;
pub mod uploads;
pub mod webhooks;
