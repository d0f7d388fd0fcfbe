//! Request bodies a handler holds whole in memory before acting on them (a beacon, a
//! Stripe event). Each is read with a size limit and a deadline, so a client that sends
//! one slowly, over HTTP/2 too where `request_gate` does not see bodies, holds neither the
//! connection nor what was buffered of it for longer than the deadline.

use std::time::Duration;

use actix_web::web;

/// How long a small body may take to arrive: one from a real client is a packet or a few.
pub const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Why a body was not read.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    TooLarge,
    TooSlow,
    /// The client ended the body early or sent a malformed one.
    CutOff,
}

impl BodyError {
    /// What to tell the client, in words.
    pub fn words(&self) -> &'static str {
        match self {
            BodyError::TooLarge => "the body is too large",
            BodyError::TooSlow => "the body came too slowly",
            BodyError::CutOff => "the body was cut off",
        }
    }
}

/// The whole body, at most `limit` bytes, arrived within `SMALL_BODY_DEADLINE`.
pub async fn read_small_body(payload: web::Payload, limit: usize) -> Result<web::Bytes, BodyError> {
    match tokio::time::timeout(SMALL_BODY_DEADLINE, payload.to_bytes_limited(limit)).await {
        Err(_) => Err(BodyError::TooSlow),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Ok(Ok(Err(_))) => Err(BodyError::CutOff),
        Ok(Ok(Ok(body))) => Ok(body),
    }
}
