//! Outgoing webhooks, signed per the Standard Webhooks scheme: endpoints with their own
//! secrets (`endpoints`), the signature (`signing`), and the durable outbox every event is
//! written to in the transaction of the change it reports (`outbox`). Sending, retrying and
//! disabling endpoints that keep failing is `services::webhooks`'s loop. `target`: which
//! addresses they may go to (public ones, and the ranges the operator allows).

pub mod endpoints;
pub mod outbox;
pub mod signing;
pub mod target;

use crate::db::DbError;

/// Every event type Marquee sends (later issues add theirs here).
pub const EVENT_TYPES: &[&str] = &[
    "asset.ready",
    "asset.failed",
    "title.published",
    "title.unpublished",
    "member.created",
    "member.deleted",
    "webhook.test",
];

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("no webhook endpoint {0}")]
    NotFound(i64),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for WebhookError {
    fn from(e: rusqlite::Error) -> Self {
        WebhookError::Db(DbError::Sqlite(e))
    }
}
