//! Who may use Marquee: API keys today; viewer and admin accounts come later.

pub mod apikeys;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for AccountsError {
    fn from(e: rusqlite::Error) -> Self {
        AccountsError::Db(DbError::Sqlite(e))
    }
}
