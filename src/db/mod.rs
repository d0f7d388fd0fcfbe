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
    #[error(
        "the database {path} has schema version {found}, but this Marquee ({binary}) knows schema versions up to {supported}: \
         it was last used by a newer Marquee. Run that newer version again (schema upgrades are forward-only), \
         or restore a backup made with this version (`marquee restore --force`)"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
        binary: &'static str,
    },
    #[error("cannot snapshot the database to {path} before upgrading it: {reason}")]
    Snapshot { path: String, reason: String },
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_init.sql")),
        M::up(include_str!("migrations/002_job_retries.sql")),
        M::up(include_str!("migrations/003_uploads.sql")),
        M::up(include_str!("migrations/004_accounts.sql")),
        M::up(include_str!("migrations/005_audit.sql")),
        M::up(include_str!("migrations/006_settings.sql")),
        M::up(include_str!("migrations/007_api_key_scopes.sql")),
        M::up(include_str!("migrations/008_catalog.sql")),
        M::up(include_str!("migrations/009_webhooks.sql")),
        M::up(include_str!("migrations/010_artwork.sql")),
        M::up(include_str!("migrations/011_catalog_version.sql")),
        M::up(include_str!("migrations/012_people_index.sql")),
        M::up(include_str!("migrations/013_monetisation.sql")),
        M::up(include_str!("migrations/014_offers.sql")),
        M::up(include_str!("migrations/015_subscription_events.sql")),
        M::up(include_str!("migrations/016_segments.sql")),
        M::up(include_str!("migrations/017_campaigns.sql")),
        M::up(include_str!("migrations/018_alerts.sql")),
        M::up(include_str!("migrations/019_recommendations.sql")),
        M::up(include_str!("migrations/020_signin_hardening.sql")),
        M::up(include_str!("migrations/021_billing_hardening.sql")),
        M::up(include_str!("migrations/022_api_key_parent.sql")),
        M::up(include_str!("migrations/023_trusted_devices.sql")),
        M::up(include_str!("migrations/024_signup.sql")),
        M::up(include_str!("migrations/025_guest_checkout.sql")),
        M::up(include_str!("migrations/026_my_account.sql")),
        M::up(include_str!("migrations/027_self_made_accounts.sql")),
    ])
}

/// `text` for a `LIKE … ESCAPE '\'` pattern: `%` and `_` in it match only themselves.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The schema version this binary writes: the number of migrations (rusqlite_migration
/// keeps it in `PRAGMA user_version`).
pub fn schema_version() -> i64 {
    MIGRATION_COUNT
}

const MIGRATION_COUNT: i64 = 27;

/// The schema version recorded in a database (0 for a new, empty one).
pub fn schema_version_of(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Copies the database `conn` has open into a new file at `dest` with SQLite's online
/// backup API: a consistent snapshot even while the server writes, which a file copy of a
/// live WAL database is not. All pages are copied in one step, so no write can interleave.
pub fn snapshot(conn: &Connection, dest: &Path) -> rusqlite::Result<()> {
    let mut target = Connection::open(dest)?;
    let backup = rusqlite::backup::Backup::new(conn, &mut target)?;
    // -1: every page in one step, under one read transaction (run_to_completion takes
    // only positive steps, between which a write would restart the copy).
    let mut busy_waits = 0;
    loop {
        match backup.step(-1)? {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => {}
            // Locked or busy: wait as long as any other call would (`busy_timeout`).
            _ if busy_waits * 50 < BUSY_TIMEOUT.as_millis() => {
                busy_waits += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed locked".into()),
                ));
            }
        }
    }
    drop(backup);
    // The copy is one self-contained file: no WAL beside it.
    target.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// Opens the database at `path` read-only, with no migrations: for taking a backup beside a
/// running server, whatever its schema version.
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Refuses a database from a newer binary; snapshots a database that has data before
/// applying pending migrations to it (upgrades are forward-only, so the snapshot in
/// `<db folder>/backups/` is the way back), then migrates.
fn upgrade(conn: &mut Connection, path: &Path, now: i64) -> Result<(), DbError> {
    let found = schema_version_of(conn)?;
    if found > MIGRATION_COUNT {
        return Err(DbError::NewerSchema {
            path: path.display().to_string(),
            found,
            supported: MIGRATION_COUNT,
            binary: concat!("version ", env!("CARGO_PKG_VERSION")),
        });
    }
    if found > 0 && found < MIGRATION_COUNT {
        let folder = path.parent().unwrap_or(Path::new(".")).join("backups");
        let dest = folder.join(format!("pre-migration-{found}-{MIGRATION_COUNT}-{now}.db"));
        let snapshot_error = |reason: String| DbError::Snapshot {
            path: dest.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(&folder).map_err(|e| snapshot_error(e.to_string()))?;
        snapshot(conn, &dest).map_err(|e| snapshot_error(e.to_string()))?;
        tracing::info!(from = found, to = MIGRATION_COUNT, backup = ?dest, "upgrading the database schema; a snapshot was taken first");
    }
    migrations().to_latest(conn)?;
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows are overwritten with zeros, not left in free pages: a deleted member's
    // data must not live on in the file, nor in a backup copied from it page by page.
    conn.pragma_update(None, "secure_delete", "ON")?;
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        upgrade(&mut writer, path, now as i64)?;
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
        let started = std::time::Instant::now();
        let mut conn = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let value = f(&tx)?;
        tx.commit().map_err(DbError::from)?;
        crate::metrics::global().db_write(started.elapsed());
        Ok(value)
    }

    /// Copies the write-ahead log into the database file and empties the log (as far as
    /// readers allow): after a deletion, no earlier image of the deleted rows' pages is
    /// left in the log.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db
                .writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|_| DbError::Task)?
    }

    pub fn read_blocking<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let started = std::time::Instant::now();
        let conn = self.readers.get().map_err(DbError::from)?;
        let value = f(&conn);
        crate::metrics::global().db_read(started.elapsed());
        value
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
        // The version this binary reports is the one its migrations reach.
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        assert_eq!(schema_version_of(&conn).unwrap(), schema_version());
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
