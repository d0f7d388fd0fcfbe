//! Durable transcode jobs: the queue in SQLite, the supervisor that runs each job in a
//! `marquee worker` child process, and publishing finished packages.

pub mod admin;
pub mod control;
pub mod process;
pub mod protocol;
pub mod publish;
pub mod queue;
pub mod runner;
pub mod supervisor;
pub mod worker;
