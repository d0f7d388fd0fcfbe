//! The `uploads` table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::Owner;

/// One upload as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// 32 hex characters: 128 random bits.
    pub id: String,
    pub size: u64,
    /// Bytes synced to disk: the offset the client resumes from.
    pub received: u64,
    /// The client's `Upload-Metadata` as sent.
    pub metadata: String,
    pub filename: Option<String>,
    pub filetype: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    /// The asset the finished file became (or, when `duplicate`, the one it duplicates).
    pub asset_id: Option<String>,
    pub duplicate: bool,
}

impl Upload {
    pub fn is_complete(&self) -> bool {
        self.completed_at.is_some()
    }
}

const COLUMNS: &str = "id, size, received, metadata, filename, filetype, created_at, expires_at, completed_at, asset_id, duplicate";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        received: r.get::<_, i64>(2)? as u64,
        metadata: r.get(3)?,
        filename: r.get(4)?,
        filetype: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        completed_at: r.get(8)?,
        asset_id: r.get(9)?,
        duplicate: r.get(10)?,
    })
}

pub fn insert(conn: &Connection, owner: &Owner, upload: &Upload) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO uploads (id, owner, size, received, metadata, filename, filetype, created_at, updated_at, expires_at)
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![
            upload.id,
            owner.as_str(),
            upload.size as i64,
            upload.metadata,
            upload.filename,
            upload.filetype,
            upload.created_at,
            upload.expires_at
        ],
    )?;
    Ok(())
}

/// The owner's upload with this id, expired or not.
pub fn get(conn: &Connection, owner: &Owner, id: &str) -> rusqlite::Result<Option<Upload>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM uploads WHERE id = ?1 AND owner = ?2"),
        params![id, owner.as_str()],
        from_row,
    )
    .optional()
}

/// Bytes announced by unfinished uploads in progress (created or written to after
/// `active_since`) and not received yet: the space they will still take. A stalled
/// upload holds none; its bytes count again when they flow.
pub fn outstanding_bytes(conn: &Connection, now: i64, active_since: i64) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COALESCE(SUM(size - received), 0) FROM uploads
         WHERE completed_at IS NULL AND expires_at > ?1 AND updated_at > ?2",
        params![now, active_since],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// The owner's unfinished uploads in progress (created or written to after `active_since`).
pub fn in_progress_of(
    conn: &Connection,
    owner: &Owner,
    now: i64,
    active_since: i64,
) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM uploads
         WHERE owner = ?1 AND completed_at IS NULL AND expires_at > ?2 AND updated_at > ?3",
        params![owner.as_str(), now, active_since],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// Records bytes synced to disk; never moves the offset back.
pub fn set_received(
    conn: &Connection,
    id: &str,
    received: u64,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE uploads SET received = ?2, updated_at = ?3, expires_at = ?4
         WHERE id = ?1 AND completed_at IS NULL AND received <= ?2",
        params![id, received as i64, now, expires_at],
    )?;
    Ok(())
}

/// Moves the offset back to the bytes a `.part` file really holds (they went missing).
pub fn lower_received(conn: &Connection, id: &str, on_disk: u64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE uploads SET received = ?2 WHERE id = ?1 AND completed_at IS NULL AND received > ?2",
        params![id, on_disk as i64],
    )?;
    Ok(())
}

pub fn mark_complete(
    conn: &Connection,
    id: &str,
    asset_id: &str,
    duplicate: bool,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE uploads SET completed_at = ?2, updated_at = ?2, asset_id = ?3, duplicate = ?4 WHERE id = ?1",
        params![id, now, asset_id, duplicate],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(())
}

/// Uploads whose every byte is on disk but which have not been handed to ingest (a crash
/// came between the two).
pub fn received_but_unfinished(conn: &Connection) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE completed_at IS NULL AND received = size"
    ))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn expired(conn: &Connection, now: i64) -> rusqlite::Result<Vec<Upload>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE expires_at <= ?1"
    ))?;
    stmt.query_map([now], from_row)?.collect()
}

/// Whether an unfinished upload with this id exists (its `.part` file is in use).
pub fn is_unfinished(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM uploads WHERE id = ?1 AND completed_at IS NULL)",
        [id],
        |r| r.get(0),
    )
}
