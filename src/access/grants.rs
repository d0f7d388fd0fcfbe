//! Access given outside a payment: comps made by the operator and access codes, made in
//! batches (for tickets at the door, gifts, partners) and redeemed by viewers. Every path
//! here runs inside the caller's write transaction, so a redemption is counted once even
//! when the same code is typed on two devices at the same moment.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::AccessError;
use super::codes;

/// At most this many codes per batch (a CSV someone can still open).
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// As if subscribed to this plan.
    Plan(String),
    /// One title (or pay-per-view event).
    Title(String),
}

impl Scope {
    /// `("plan" | "title", id)`, as stored.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Scope::Plan(id) => ("plan", id),
            Scope::Title(id) => ("title", id),
        }
    }

    fn from_parts(scope: &str, id: String) -> Scope {
        match scope {
            "plan" => Scope::Plan(id),
            _ => Scope::Title(id),
        }
    }

    /// The plan or title must exist.
    fn check(&self, c: &Connection) -> Result<(), AccessError> {
        let (table, id) = match self {
            Scope::Plan(id) => ("plans", id),
            Scope::Title(id) => ("titles", id),
        };
        let found: Option<i64> = c
            .query_row(&format!("SELECT 1 FROM {table} WHERE id = ?1"), [id], |r| {
                r.get(0)
            })
            .optional()?;
        match found {
            Some(_) => Ok(()),
            None => Err(AccessError::NotFound(match self {
                Scope::Plan(id) => format!("plan {id}"),
                Scope::Title(id) => format!("title {id}"),
            })),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantRow {
    pub id: i64,
    pub user_id: i64,
    #[serde(flatten)]
    pub scope: Scope,
    pub until: Option<i64>,
    pub source: String,
    pub code: Option<String>,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A comp: the operator gives `user_id` a plan or a title, until `until` (None: for good).
pub fn comp(
    tx: &Connection,
    user_id: i64,
    scope: &Scope,
    until: Option<i64>,
    note: &str,
    by: &str,
    now: i64,
) -> Result<i64, AccessError> {
    scope.check(tx)?;
    if until.is_some_and(|u| u <= now) {
        return Err(AccessError::Invalid("the end date is in the past".into()));
    }
    let (kind, id) = scope.parts();
    tx.execute(
        "INSERT INTO grants (user_id, scope, scope_id, until, source, note, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, 'comp', ?5, ?6, ?7)",
        params![user_id, kind, id, until, note, by, now],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Ends a grant now (the viewer's next token request is refused).
pub fn revoke(tx: &Connection, user_id: i64, grant_id: i64, now: i64) -> Result<(), AccessError> {
    let changed = tx.execute(
        "UPDATE grants SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![grant_id, user_id, now],
    )?;
    if changed == 0 {
        return Err(AccessError::NotFound(format!("grant {grant_id}")));
    }
    Ok(())
}

pub fn of_user(c: &Connection, user_id: i64) -> Result<Vec<GrantRow>, AccessError> {
    let mut stmt = c.prepare(
        "SELECT id, user_id, scope, scope_id, until, source, code, note, created_by, created_at,
                revoked_at
         FROM grants WHERE user_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(GrantRow {
            id: r.get(0)?,
            user_id: r.get(1)?,
            scope: Scope::from_parts(&r.get::<_, String>(2)?, r.get(3)?),
            until: r.get(4)?,
            source: r.get(5)?,
            code: r.get(6)?,
            note: r.get(7)?,
            created_by: r.get(8)?,
            created_at: r.get(9)?,
            revoked_at: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone)]
pub struct NewBatch {
    pub name: String,
    pub scope: Scope,
    /// For a plan: how many days each redemption gives.
    pub days: Option<u32>,
    pub count: usize,
    pub uses_per_code: u32,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub days: Option<u32>,
    pub uses_per_code: u32,
    pub expires_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub codes: u32,
    pub redeemed: u32,
}

/// Makes a batch of codes; returns its id.
pub fn create_batch(
    tx: &Connection,
    batch: &NewBatch,
    by: &str,
    now: i64,
) -> Result<i64, AccessError> {
    let name = batch.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccessError::Invalid(
            "a batch needs a name of 1 to 100 characters".into(),
        ));
    }
    if batch.count == 0 || batch.count > MAX_BATCH {
        return Err(AccessError::Invalid(format!(
            "a batch holds 1 to {MAX_BATCH} codes"
        )));
    }
    if !(1..=1_000_000).contains(&batch.uses_per_code) {
        return Err(AccessError::Invalid(
            "each code allows 1 to 1000000 redemptions".into(),
        ));
    }
    let days = match (&batch.scope, batch.days) {
        (Scope::Plan(_), Some(d)) if (1..=3660).contains(&d) => Some(d),
        (Scope::Plan(_), _) => {
            return Err(AccessError::Invalid(
                "codes for a plan give 1 to 3660 days".into(),
            ));
        }
        (Scope::Title(_), _) => None,
    };
    if batch.expires_at.is_some_and(|e| e <= now) {
        return Err(AccessError::Invalid(
            "the batch would expire in the past".into(),
        ));
    }
    batch.scope.check(tx)?;
    let (kind, id) = batch.scope.parts();
    tx.execute(
        "INSERT INTO code_batches (name, scope, scope_id, days, uses_per_code, expires_at,
                                   created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            name,
            kind,
            id,
            days,
            batch.uses_per_code,
            batch.expires_at,
            by,
            now
        ],
    )?;
    let batch_id = tx.last_insert_rowid();
    let mut insert =
        tx.prepare("INSERT OR IGNORE INTO access_codes (code, batch_id) VALUES (?1, ?2)")?;
    let mut made = 0;
    // A repeat of a code from an earlier batch (1 in 2^60 per pair) is simply made again.
    while made < batch.count {
        for code in codes::generate(batch.count - made) {
            made += insert.execute(params![code, batch_id])?;
        }
    }
    Ok(batch_id)
}

const BATCH_COLUMNS: &str = "b.id, b.name, b.scope, b.scope_id, b.days, b.uses_per_code, \
     b.expires_at, b.created_by, b.created_at, \
     (SELECT count(*) FROM access_codes a WHERE a.batch_id = b.id), \
     (SELECT coalesce(sum(uses), 0) FROM access_codes a WHERE a.batch_id = b.id)";

fn batch_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Batch> {
    Ok(Batch {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: Scope::from_parts(&r.get::<_, String>(2)?, r.get(3)?),
        days: r.get(4)?,
        uses_per_code: r.get(5)?,
        expires_at: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
        codes: r.get(9)?,
        redeemed: r.get(10)?,
    })
}

pub fn batches(c: &Connection) -> Result<Vec<Batch>, AccessError> {
    let mut stmt = c.prepare(&format!(
        "SELECT {BATCH_COLUMNS} FROM code_batches b ORDER BY b.id DESC"
    ))?;
    let rows = stmt.query_map([], batch_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn batch(c: &Connection, id: i64) -> Result<Batch, AccessError> {
    c.query_row(
        &format!("SELECT {BATCH_COLUMNS} FROM code_batches b WHERE b.id = ?1"),
        [id],
        batch_from_row,
    )
    .optional()?
    .ok_or_else(|| AccessError::NotFound(format!("code batch {id}")))
}

/// A batch's codes with how often each was used, for the CSV export.
pub fn batch_codes(c: &Connection, id: i64) -> Result<Vec<(String, u32)>, AccessError> {
    batch(c, id)?;
    let mut stmt =
        c.prepare("SELECT code, uses FROM access_codes WHERE batch_id = ?1 ORDER BY rowid")?;
    let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What redeeming a code gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redeemed {
    #[serde(flatten)]
    pub scope: Scope,
    pub until: Option<i64>,
}

/// Redeems `typed` for `user_id`. Every refusal reads the same to the viewer, so codes
/// cannot be told apart by probing ("not valid" covers unknown, used up and expired).
pub fn redeem(
    tx: &Connection,
    user_id: i64,
    typed: &str,
    now: i64,
) -> Result<Redeemed, AccessError> {
    let invalid = || AccessError::Invalid("this code is not valid".into());
    let code = codes::normalize(typed).ok_or_else(invalid)?;
    let found = tx
        .query_row(
            "SELECT b.scope, b.scope_id, b.days, b.uses_per_code, b.expires_at, a.uses
             FROM access_codes a JOIN code_batches b ON b.id = a.batch_id WHERE a.code = ?1",
            [&code],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((scope, scope_id, days, uses_per_code, expires_at, uses)) = found else {
        return Err(invalid());
    };
    if uses >= uses_per_code || expires_at.is_some_and(|e| e <= now) {
        return Err(invalid());
    }
    let already: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM code_redemptions WHERE code = ?1 AND user_id = ?2",
            params![code, user_id],
            |r| r.get(0),
        )
        .optional()?;
    if already.is_some() {
        return Err(AccessError::Invalid(
            "you have already redeemed this code".into(),
        ));
    }
    let scope = Scope::from_parts(&scope, scope_id);
    // A plan code extends what the viewer already holds from codes and comps of that plan.
    let until = match (&scope, days) {
        (Scope::Plan(plan), Some(days)) => {
            let held: Option<i64> = tx.query_row(
                "SELECT max(until) FROM grants WHERE user_id = ?1 AND scope = 'plan'
                   AND scope_id = ?2 AND revoked_at IS NULL AND until > ?3",
                params![user_id, plan, now],
                |r| r.get(0),
            )?;
            Some(held.unwrap_or(now).max(now) + days * 86_400)
        }
        _ => None,
    };
    tx.execute(
        "UPDATE access_codes SET uses = uses + 1 WHERE code = ?1",
        [&code],
    )?;
    tx.execute(
        "INSERT INTO code_redemptions (code, user_id, redeemed_at) VALUES (?1, ?2, ?3)",
        params![code, user_id, now],
    )?;
    let (kind, id) = scope.parts();
    tx.execute(
        "INSERT INTO grants (user_id, scope, scope_id, until, source, code, created_at)
         VALUES (?1, ?2, ?3, ?4, 'code', ?5, ?6)",
        params![user_id, kind, id, until, code, now],
    )?;
    Ok(Redeemed { scope, until })
}
