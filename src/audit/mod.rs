//! The audit log: who changed what and when. Every change an operator would want to trace
//! (settings, roles, API keys, deletes) records one entry inside the transaction that makes
//! the change, so the log and the change are never out of step.

use rusqlite::{Connection, Row, params};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for AuditError {
    fn from(e: rusqlite::Error) -> Self {
        AuditError::Db(crate::db::DbError::Sqlite(e))
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in person (`label`: their email).
    User { id: i64, label: String },
    /// An API key (`label`: its name).
    ApiKey { id: i64, label: String },
    /// A command run on the server (`marquee admin create`, `marquee apikey create`).
    Shell,
}

impl Actor {
    /// Who, in words: the account's email, the key's name, or "shell".
    pub fn label(&self) -> &str {
        self.parts().2
    }

    fn parts(&self) -> (&'static str, Option<i64>, &str) {
        match self {
            Actor::User { id, label } => ("user", Some(*id), label),
            Actor::ApiKey { id, label } => ("api_key", Some(*id), label),
            Actor::Shell => ("shell", None, "shell"),
        }
    }
}

/// One entry as the dashboard and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub action: String,
    pub target: String,
    /// JSON object with what changed.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Records one change. `detail` must not hold secrets (passwords, keys, tokens).
pub fn record(
    conn: &Connection,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<(), AuditError> {
    let (kind, id, label) = actor.parts();
    conn.execute(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor_label, action, target, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![now, kind, id, label, action, target, detail.to_string()],
    )?;
    Ok(())
}

/// Which entries to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries whose action starts with this (`settings.` or `member.role`).
    pub action: Option<String>,
    /// Entries whose actor label contains this (case-insensitive).
    pub actor: Option<String>,
    /// Entries whose target starts with this (`asset:` or `member:12`).
    pub target: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
    /// Entries with an id below this (the last page's smallest id): newest first, paged.
    pub before_id: Option<i64>,
}

pub const MAX_LIMIT: u32 = 500;

fn entry(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let detail: String = r.get(7)?;
    Ok(Entry {
        id: r.get(0)?,
        at: r.get(1)?,
        actor_kind: r.get(2)?,
        actor_id: r.get(3)?,
        actor_label: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}

/// Entries matching `filter`, newest first.
pub fn list(conn: &Connection, filter: &Filter) -> Result<Vec<Entry>, AuditError> {
    if filter.limit == 0 || filter.limit > MAX_LIMIT {
        return Err(AuditError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let like = crate::db::escape_like;
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor_kind, actor_id, actor_label, action, target, detail
         FROM audit_log
         WHERE (?1 IS NULL OR action LIKE ?1 || '%' ESCAPE '\\')
           AND (?2 IS NULL OR actor_label LIKE '%' || ?2 || '%' ESCAPE '\\')
           AND (?3 IS NULL OR target LIKE ?3 || '%' ESCAPE '\\')
           AND (?4 IS NULL OR at >= ?4)
           AND (?5 IS NULL OR at < ?5)
           AND (?6 IS NULL OR id < ?6)
         ORDER BY id DESC LIMIT ?7",
    )?;
    let rows = stmt.query_map(
        params![
            filter.action.as_deref().map(like),
            filter.actor.as_deref().map(like),
            filter.target.as_deref().map(like),
            filter.since,
            filter.until,
            filter.before_id,
            filter.limit,
        ],
        entry,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db() -> (tempfile::TempDir, crate::db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn entries_are_listed_newest_first_and_filtered() {
        let (_dir, db) = db();
        let owner = Actor::User {
            id: 1,
            label: "owner@example.com".into(),
        };
        let key = Actor::ApiKey {
            id: 7,
            label: "ci_100%".into(),
        };
        db.write_blocking(|tx| {
            record(
                tx,
                &owner,
                "settings.update",
                "setting:site_name",
                json!({"from": "A", "to": "B"}),
                10,
            )?;
            record(tx, &key, "asset.delete", "asset:abc", json!({}), 20)?;
            record(
                tx,
                &owner,
                "member.role",
                "member:2",
                json!({"to": "editor"}),
                30,
            )?;
            record(
                tx,
                &Actor::Shell,
                "apikey.create",
                "apikey:3",
                json!({}),
                40,
            )?;
            Ok::<_, AuditError>(())
        })
        .unwrap();
        let all = |f: Filter| db.read_blocking(move |c| list(c, &f)).unwrap();
        let base = Filter {
            limit: 100,
            ..Filter::default()
        };
        let every = all(base.clone());
        assert_eq!(
            every.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![40, 30, 20, 10]
        );
        assert_eq!(every[3].detail["to"], "B");
        assert_eq!(every[0].actor_kind, "shell");
        let by_owner = all(Filter {
            actor: Some("OWNER@".into()),
            ..base.clone()
        });
        assert_eq!(by_owner.len(), 2);
        // `%` in a filter is a character, not a wildcard.
        let pct = all(Filter {
            actor: Some("100%".into()),
            ..base.clone()
        });
        assert_eq!(pct.len(), 1);
        assert!(
            all(Filter {
                actor: Some("1%0".into()),
                ..base.clone()
            })
            .is_empty()
        );
        let settings = all(Filter {
            action: Some("settings.".into()),
            ..base.clone()
        });
        assert_eq!(settings.len(), 1);
        let window = all(Filter {
            since: Some(20),
            until: Some(40),
            ..base.clone()
        });
        assert_eq!(
            window.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![30, 20]
        );
        let page2 = all(Filter {
            before_id: Some(every[1].id),
            limit: 1,
            ..base.clone()
        });
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0].at, 20);
        assert!(db.read_blocking(|c| list(c, &Filter::default())).is_err());
    }
}
