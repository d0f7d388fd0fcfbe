//! The line protocol between the server and a `marquee worker` child: the request goes in
//! as JSON on stdin, one JSON event per line comes back on stdout.

use serde::{Deserialize, Serialize};

use crate::media::PackageManifest;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    Progress {
        percent: f64,
    },
    Done {
        manifest: PackageManifest,
    },
    /// The source cannot be packaged; retrying will not help.
    Failed {
        reason: String,
    },
}

/// Exit status of a worker that reported `Failed`.
pub const EXIT_INPUT_FAILED: i32 = 3;
