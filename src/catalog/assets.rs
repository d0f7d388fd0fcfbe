use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::CatalogError;
use crate::media::{PackageManifest, Sidecar};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetStatus {
    Queued,
    Processing,
    Ready,
    Failed,
}

impl AssetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Queued => "queued",
            AssetStatus::Processing => "processing",
            AssetStatus::Ready => "ready",
            AssetStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => AssetStatus::Queued,
            "processing" => AssetStatus::Processing,
            "ready" => AssetStatus::Ready,
            "failed" => AssetStatus::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: AssetStatus,
    pub progress: f64,
    pub eta_secs: Option<i64>,
    pub error: Option<String>,
    pub source_path: PathBuf,
    pub source_size: u64,
    pub source_mtime: i64,
    pub content_hash: Option<String>,
    pub sidecars: Vec<Sidecar>,
    pub duration_secs: Option<f64>,
    pub manifest: Option<PackageManifest>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ready_at: Option<i64>,
}

const COLUMNS: &str = "id, title, description, status, progress, eta_secs, error, source_path, source_size, \
    source_mtime, content_hash, sidecars, duration_secs, manifest, created_at, updated_at, ready_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<Asset, CatalogError>> {
    let status: String = row.get(3)?;
    let sidecars: String = row.get(11)?;
    let manifest: Option<String> = row.get(13)?;
    let id: String = row.get(0)?;
    let parsed = (|| {
        let status = AssetStatus::parse(&status)
            .ok_or_else(|| CatalogError::Corrupt(format!("status {status}")))?;
        let sidecars = serde_json::from_str(&sidecars)
            .map_err(|e| CatalogError::Corrupt(format!("sidecars: {e}")))?;
        let manifest = manifest
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| CatalogError::Corrupt(format!("manifest: {e}")))?;
        Ok::<_, CatalogError>((status, sidecars, manifest))
    })();
    let source_path: String = row.get(7)?;
    Ok(match parsed {
        Ok((status, sidecars, manifest)) => Ok(Asset {
            id,
            title: row.get(1)?,
            description: row.get(2)?,
            status,
            progress: row.get(4)?,
            eta_secs: row.get(5)?,
            error: row.get(6)?,
            source_path: PathBuf::from(source_path),
            source_size: row.get::<_, i64>(8)? as u64,
            source_mtime: row.get(9)?,
            content_hash: row.get(10)?,
            sidecars,
            duration_secs: row.get(12)?,
            manifest,
            created_at: row.get(14)?,
            updated_at: row.get(15)?,
            ready_at: row.get(16)?,
        }),
        Err(e) => Err(e),
    })
}

fn query_one(
    conn: &Connection,
    sql_where: &str,
    params: impl rusqlite::Params,
) -> Result<Option<Asset>, CatalogError> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE {sql_where} LIMIT 1");
    conn.query_row(&sql, params, from_row)
        .optional()?
        .transpose()
}

pub struct NewAsset {
    pub id: String,
    pub title: String,
    pub source_path: PathBuf,
    pub source_size: u64,
    pub source_mtime: i64,
    pub content_hash: Option<String>,
    pub sidecars: Vec<Sidecar>,
}

#[cfg(test)]
impl NewAsset {
    /// An asset from `source` with nothing else known, for tests.
    pub fn for_test(id: &str, source: PathBuf) -> Self {
        NewAsset {
            id: id.into(),
            title: id.into(),
            source_path: source,
            source_size: 1,
            source_mtime: 1,
            content_hash: None,
            sidecars: Vec::new(),
        }
    }
}

/// Inserts an asset. A `failure` records a source that cannot even be queued (a lone image,
/// say): the asset is created `failed` with that reason and no job.
pub fn insert(
    conn: &Connection,
    new: &NewAsset,
    failure: Option<&str>,
    now: i64,
) -> Result<(), CatalogError> {
    let sidecars =
        serde_json::to_string(&new.sidecars).map_err(|e| CatalogError::Corrupt(e.to_string()))?;
    let status = if failure.is_some() {
        AssetStatus::Failed
    } else {
        AssetStatus::Queued
    };
    conn.execute(
        "INSERT INTO assets (id, title, status, error, source_path, source_size, source_mtime, content_hash, sidecars, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            new.id,
            new.title,
            status.as_str(),
            failure,
            new.source_path.to_string_lossy(),
            new.source_size as i64,
            new.source_mtime,
            new.content_hash,
            sidecars,
            now
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Asset, CatalogError> {
    query_one(conn, "id = ?1", [id])?.ok_or_else(|| CatalogError::NotFound(id.to_string()))
}

/// A live (not failed) asset with the same content, for de-duplication.
pub fn find_by_hash(conn: &Connection, hash: &str) -> Result<Option<Asset>, CatalogError> {
    query_one(conn, "content_hash = ?1 AND status != 'failed'", [hash])
}

/// The newest asset made from this exact file (same path, size and mtime), whatever its state.
pub fn find_by_source(
    conn: &Connection,
    path: &str,
    size: u64,
    mtime: i64,
) -> Result<Option<Asset>, CatalogError> {
    query_one(
        conn,
        "source_path = ?1 AND source_size = ?2 AND source_mtime = ?3 ORDER BY created_at DESC",
        params![path, size as i64, mtime],
    )
}

/// The latest failed asset whose source is at `path` (an operator may fix the file in place).
pub fn find_failed_by_source(conn: &Connection, path: &str) -> Result<Option<Asset>, CatalogError> {
    query_one(
        conn,
        "source_path = ?1 AND status = 'failed' ORDER BY updated_at DESC",
        [path],
    )
}

/// Gives a failed asset another go with the file as it is now: back to `queued`, reason
/// cleared. The caller enqueues the job in the same transaction.
pub fn reset_for_retry(conn: &Connection, new: &NewAsset, now: i64) -> Result<(), CatalogError> {
    let sidecars =
        serde_json::to_string(&new.sidecars).map_err(|e| CatalogError::Corrupt(e.to_string()))?;
    let changed = conn.execute(
        "UPDATE assets SET status = 'queued', progress = 0, eta_secs = NULL, error = NULL, source_path = ?2,
                source_size = ?3, source_mtime = ?4, content_hash = ?5, sidecars = ?6, updated_at = ?7
         WHERE id = ?1 AND status = 'failed'",
        params![
            new.id,
            new.source_path.to_string_lossy(),
            new.source_size as i64,
            new.source_mtime,
            new.content_hash,
            sidecars,
            now
        ],
    )?;
    if changed == 0 {
        return Err(CatalogError::NotFound(new.id.clone()));
    }
    Ok(())
}

/// Assets still waiting for or undergoing processing whose source is at `path`.
pub fn find_pending_by_source(
    conn: &Connection,
    path: &str,
) -> Result<Option<Asset>, CatalogError> {
    query_one(
        conn,
        "source_path = ?1 AND status IN ('queued', 'processing')",
        [path],
    )
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<AssetStatus>,
    /// Assets whose title contains this, ignoring ASCII case.
    pub title: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

pub fn list(conn: &Connection, q: &ListQuery) -> Result<(Vec<Asset>, u64), CatalogError> {
    let status = q.status.map(AssetStatus::as_str);
    let title = q
        .title
        .as_deref()
        .map(|t| format!("%{}%", crate::db::escape_like(t)));
    const FILTER: &str =
        "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR title LIKE ?2 ESCAPE '\\')";
    let sql = format!(
        "SELECT {COLUMNS} FROM assets WHERE {FILTER} ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![status, title, q.limit, q.offset], from_row)?;
    let mut assets = Vec::new();
    for row in rows {
        assets.push(row??);
    }
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM assets WHERE {FILTER}"),
        params![status, title],
        |r| r.get(0),
    )?;
    Ok((assets, total as u64))
}

/// Whether an asset with this id exists.
pub fn exists(conn: &Connection, id: &str) -> Result<bool, CatalogError> {
    Ok(conn
        .query_row("SELECT 1 FROM assets WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Every asset not yet ready, oldest first (crash recovery walks these).
pub fn unfinished(conn: &Connection) -> Result<Vec<Asset>, CatalogError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assets WHERE status IN ('queued', 'processing') ORDER BY created_at"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    rows.map(|r| r?).collect()
}

/// Ready assets whose manifest does not list the package's files (made by an older version).
pub fn ready_without_file_list(conn: &Connection) -> Result<Vec<String>, CatalogError> {
    let mut stmt = conn.prepare(
        "SELECT id FROM assets WHERE status = 'ready'
           AND coalesce(json_array_length(manifest, '$.files'), 0) = 0 ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces a ready asset's manifest.
pub fn set_manifest(
    conn: &Connection,
    id: &str,
    manifest: &PackageManifest,
    now: i64,
) -> Result<(), CatalogError> {
    let json = serde_json::to_string(manifest).map_err(|e| CatalogError::Corrupt(e.to_string()))?;
    conn.execute(
        "UPDATE assets SET manifest = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'ready'",
        params![id, json, now],
    )?;
    Ok(())
}

pub fn set_status(
    conn: &Connection,
    id: &str,
    status: AssetStatus,
    now: i64,
) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE assets SET status = ?2, progress = CASE WHEN ?2 = 'queued' THEN 0 ELSE progress END,
                eta_secs = NULL, error = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, status.as_str(), now],
    )?;
    super::visibility::refresh_for_asset(conn, id)
}

pub fn set_progress(
    conn: &Connection,
    id: &str,
    progress: f64,
    eta_secs: Option<i64>,
    now: i64,
) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE assets SET progress = ?2, eta_secs = ?3, updated_at = ?4 WHERE id = ?1 AND status = 'processing'",
        params![id, progress, eta_secs, now],
    )?;
    Ok(())
}

pub fn mark_ready(
    conn: &Connection,
    id: &str,
    source_path: &std::path::Path,
    manifest: &PackageManifest,
    now: i64,
) -> Result<(), CatalogError> {
    let json = serde_json::to_string(manifest).map_err(|e| CatalogError::Corrupt(e.to_string()))?;
    let changed = conn.execute(
        "UPDATE assets SET status = 'ready', progress = 100, eta_secs = NULL, error = NULL, source_path = ?2,
                manifest = ?3, duration_secs = ?4, ready_at = ?5, updated_at = ?5 WHERE id = ?1",
        params![id, source_path.to_string_lossy(), json, manifest.duration_secs, now],
    )?;
    // A package for an asset that no longer exists must not look published.
    if changed == 0 {
        return Err(CatalogError::NotFound(id.to_string()));
    }
    let title: String =
        conn.query_row("SELECT title FROM assets WHERE id = ?1", [id], |r| r.get(0))?;
    crate::webhooks::outbox::emit(
        conn,
        "asset.ready",
        serde_json::json!({"id": id, "title": title, "duration_secs": manifest.duration_secs}),
        now,
    )?;
    super::visibility::refresh_for_asset(conn, id)
}

pub fn mark_failed(
    conn: &Connection,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE assets SET status = 'failed', eta_secs = NULL, error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, reason, now],
    )?;
    let title: Option<String> = conn
        .query_row("SELECT title FROM assets WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    if let Some(title) = title {
        crate::webhooks::outbox::emit(
            conn,
            "asset.failed",
            serde_json::json!({"id": id, "title": title, "error": reason}),
            now,
        )?;
    }
    super::visibility::refresh_for_asset(conn, id)
}

pub fn update_details(
    conn: &Connection,
    id: &str,
    title: Option<&str>,
    description: Option<&str>,
    now: i64,
) -> Result<(), CatalogError> {
    let changed = conn.execute(
        "UPDATE assets SET title = coalesce(?2, title), description = coalesce(?3, description), updated_at = ?4
         WHERE id = ?1",
        params![id, title, description, now],
    )?;
    if changed == 0 {
        return Err(CatalogError::NotFound(id.to_string()));
    }
    Ok(())
}

/// Removes the row (and, by cascade, its jobs).
pub fn delete(conn: &Connection, id: &str) -> Result<(), CatalogError> {
    if conn.execute("DELETE FROM assets WHERE id = ?1", [id])? == 0 {
        return Err(CatalogError::NotFound(id.to_string()));
    }
    // Titles keep the link and show "media missing"; viewers stop seeing them now.
    super::visibility::refresh_for_asset(conn, id)
}

/// Short, URL-safe, unguessable id.
pub fn new_asset_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let bytes: [u8; 12] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}
