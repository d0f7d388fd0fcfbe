//! Marquee: a self-hosted streaming service in one binary.

pub mod config;
pub mod jobs;
pub mod media;
