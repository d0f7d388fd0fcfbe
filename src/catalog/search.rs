//! Title search over SQLite FTS5 (`title_search`, tokenizer `unicode61 remove_diacritics 2`,
//! so `Amelie` finds `Amélie`). Viewer input never reaches FTS5's query syntax: it is cut
//! into words and each word becomes a quoted prefix term, so `NEAR(`, `"` or `' OR 1=1 --`
//! are just words. Ranked by bm25 with the name weighted above people and tags, and those
//! above the synopsis.

use rusqlite::{Connection, params};

use super::titles::{self, Title};
use super::{CatalogError, visibility};

/// Words beyond this are ignored (each is a prefix scan).
const MAX_TERMS: usize = 8;

/// Rewrites the title's search row from its current fields. Only movies and series are
/// searched; other kinds are removed.
pub fn reindex(tx: &Connection, id: &str) -> Result<(), CatalogError> {
    tx.execute("DELETE FROM title_search WHERE title_id = ?1", [id])?;
    let Some(title) = titles::find(tx, id)? else {
        return Ok(());
    };
    if title.parent_id.is_some() {
        return Ok(());
    }
    let people: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT p.name FROM title_people tp JOIN people p ON p.id = tp.person_id
             WHERE tp.title_id = ?1 ORDER BY tp.position",
        )?;
        stmt.query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut labels = titles::tags_of(tx, id)?;
    labels.extend(titles::genres_of(tx, id)?);
    tx.execute(
        "INSERT INTO title_search (title_id, name, synopsis, people, tags) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, title.name, title.synopsis, people.join(" "), labels.join(" ")],
    )?;
    Ok(())
}

/// The FTS5 query for what someone typed: every word must match, the last one (still being
/// typed) and every other as a prefix. `None` when there is no word to look for.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

/// Who is searching: viewers see live titles only, the dashboard sees everything.
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    Viewer { now: i64 },
    Staff,
}

pub fn search(
    conn: &Connection,
    input: &str,
    audience: Audience,
    limit: u32,
) -> Result<Vec<Title>, CatalogError> {
    let Some(query) = fts_query(input) else {
        return Ok(Vec::new());
    };
    let (live, now) = match audience {
        Audience::Viewer { now } => (visibility::live_sql(3), now),
        Audience::Staff => ("1".to_string(), 0),
    };
    // The best matches first (FTS5's `rank`, set to the weighted bm25 in migration 008,
    // lets it keep only the top ones), then their titles; drafts and the like are dropped
    // after, from a few more than asked for. When that leaves too few, titles viewers cannot
    // see may have crowded out ones they can: then every match is ranked (slower, rarer).
    let sql = format!(
        "WITH hits AS MATERIALIZED (
             SELECT title_id, rank FROM title_search WHERE title_search MATCH ?1
             ORDER BY rank LIMIT ?4)
         SELECT {cols} FROM hits JOIN titles t ON t.id = hits.title_id
         WHERE {live} AND ?3 = ?3 ORDER BY hits.rank, t.name LIMIT ?2",
        cols = titles::COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut run = |cap: i64| -> Result<Vec<Title>, CatalogError> {
        let rows = stmt.query_map(params![query, limit, now, cap], titles::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let cap = i64::from(limit) * 4 + 40;
    let found = run(cap)?;
    if found.len() < limit as usize && matches!(audience, Audience::Viewer { .. }) {
        // Only when the cap cut matches off (few matches is the usual reason for few
        // results, and then there is nothing more to find).
        let matches: i64 = conn.query_row(
            "SELECT count(*) FROM (SELECT 1 FROM title_search WHERE title_search MATCH ?1 LIMIT ?2)",
            params![query, cap + 1],
            |r| r.get(0),
        )?;
        if matches > cap {
            return run(-1);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_never_reaches_the_query_syntax() {
        assert_eq!(fts_query("ame"), Some("\"ame\"*".into()));
        assert_eq!(
            fts_query("' OR 1=1 --"),
            Some("\"OR\"* \"1\"* \"1\"*".into())
        );
        assert_eq!(fts_query("NEAR(\"x"), Some("\"NEAR\"* \"x\"*".into()));
        assert_eq!(fts_query("\"\" -- ()"), None);
    }
}
