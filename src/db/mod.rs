//! SQLite storage: WAL, busy timeout, foreign keys, migrations compiled in. One writer
//! connection behind a mutex (SQLite allows one writer anyway; queuing here avoids
//! SQLITE_BUSY), a small pool of readers. Every call runs on the blocking pool, never on
//! the async executor.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool error: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("database task panicked or was cancelled")]
    Task,
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_init.sql")),
        M::up(include_str!("migrations/002_job_retries.sql")),
    ])
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    readers: r2d2::Pool<SqliteConnectionManager>,
}

impl Db {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        migrations().to_latest(&mut writer)?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.busy_timeout(BUSY_TIMEOUT)?;
                c.pragma_update(None, "foreign_keys", "ON")
            });
        let readers = r2d2::Pool::builder().max_size(4).build(manager)?;
        Ok(Db {
            writer: Arc::new(Mutex::new(writer)),
            readers,
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer, committing if it returns Ok.
    pub fn write_blocking<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut conn = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(DbError::from)?;
        Ok(value)
    }

    pub fn read_blocking<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.readers.get().map_err(DbError::from)?;
        f(&conn)
    }

    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|_| E::from(DbError::Task))?
    }

    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_blocking(f))
            .await
            .map_err(|_| E::from(DbError::Task))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn opens_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|tx| {
            tx.execute("INSERT INTO api_keys (name, prefix, secret_hash, created_at) VALUES ('a', 'p', 'h', 0)", [])
                .map_err(DbError::from)
        })
        .unwrap();
        let n: i64 = db
            .read_blocking(|c| {
                c.query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .unwrap();
        assert_eq!(n, 1);
    }
}
