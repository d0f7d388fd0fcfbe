//! Durable transcode jobs: the queue in SQLite, the supervisor that runs each job in a
//! `marquee worker` child process, publishing finished packages, and stopping a running
//! job (`control`).

pub mod control;
pub mod process;
pub mod protocol;
pub mod publish;
pub mod queue;
pub mod runner;
pub mod supervisor;
pub mod worker;
