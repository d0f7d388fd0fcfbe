//! Who may play what. A title (or its season, collection or extra) carries an access level
//! (`level`); the one entitlement engine (`entitlement::decide`) answers "may this viewer
//! play this title now, until when, and if not, why and what would let them". The watch
//! page, the origin's token minting, the API and the dashboard all ask it; nothing else
//! decides access. Time comes in as a parameter, so trials, rentals, grace periods and
//! event windows are decided the same way in tests and in production.

pub mod codes;
pub mod entitlement;
pub mod grants;
pub mod holdings;
pub mod level;
pub mod media;
pub mod offers;
pub mod plans;
pub mod store;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0} not found")]
    NotFound(String),
    /// A sentence for the person who asked.
    #[error("{0}")]
    Invalid(String),
    /// A typed offer code that names no offer (counted against the account's guesses).
    #[error("no offer has this code")]
    UnknownOffer,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for AccessError {
    fn from(e: rusqlite::Error) -> Self {
        AccessError::Db(DbError::Sqlite(e))
    }
}

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod test_db;
#[cfg(test)]
mod tests;
