//! Payments through Stripe: Checkout for subscriptions and one-time purchases, the Customer
//! Portal, webhooks checked on the raw body (`stripe_signature`) and recorded by event id
//! before anything is done, and the records they change (`sync`). `stripe_api` makes the
//! few API calls; everything here works without Stripe configured, which only turns the
//! buying off.

pub mod guest;
pub mod stripe_api;
pub mod stripe_signature;
pub mod sync;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("payments are not set up on this server")]
    NotConfigured,
    /// Stripe refused (a bad key, a request it would not take); the sentence says which
    /// call.
    #[error("{0}")]
    Stripe(String),
    /// Stripe could not be reached or failed on its side (a 5xx): worth trying again soon.
    #[error("{0}")]
    Unavailable(String),
    /// Something from outside (an event, a form) that is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// A typed offer code that names no offer (counted against the account's guesses).
    #[error("no offer has this code")]
    UnknownOffer,
    #[error("the webhook signature does not check out: {0}")]
    Signature(#[from] stripe_signature::SignatureError),
}

impl From<rusqlite::Error> for PaymentsError {
    fn from(e: rusqlite::Error) -> Self {
        PaymentsError::Db(DbError::Sqlite(e))
    }
}
