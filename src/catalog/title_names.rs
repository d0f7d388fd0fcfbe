//! Titles by the names people know them by: each title's label (an episode's names its
//! series, season and number; an extra's its title), the labels a typed fragment matches
//! (the dashboard's search-as-you-type title pickers), and the one title a typed label or
//! name picks. Pages show labels wherever they would otherwise show an id.

use std::collections::HashMap;

use rusqlite::{Connection, params_from_iter};

use super::CatalogError;

/// A title's label, computed in SQL so matching and showing use the same words.
const LABEL: &str = "CASE
    WHEN t.kind = 'episode' AND p.name IS NOT NULL THEN
        p.name || ', season ' || coalesce(t.season_number, 0) || ' episode ' || coalesce(t.episode_number, 0) || ': ' || t.name
    WHEN t.kind = 'extra' AND p.name IS NOT NULL THEN p.name || ': ' || t.name
    ELSE t.name END";

const FROM: &str = "FROM titles t LEFT JOIN titles p ON p.id = t.parent_id";

/// A title as pages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub label: String,
    /// movie, series, episode or extra.
    pub kind: String,
}

/// Labels of the titles `ids` names that exist, by id.
pub fn labels(
    conn: &Connection,
    ids: &[String],
) -> Result<HashMap<String, Labelled>, CatalogError> {
    let mut out = HashMap::new();
    // SQLite's bound-parameter limit is far above any page's worth; chunks keep it so.
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt = conn.prepare(&format!(
            "SELECT t.id, {LABEL}, t.kind {FROM} WHERE t.id IN ({marks})"
        ))?;
        let rows = stmt.query_map(params_from_iter(chunk), |r| {
            Ok((
                r.get::<_, String>(0)?,
                Labelled {
                    label: r.get(1)?,
                    kind: r.get(2)?,
                },
            ))
        })?;
        for row in rows {
            let (id, labelled) = row?;
            out.insert(id, labelled);
        }
    }
    Ok(out)
}

/// Up to `limit` labels containing `typed` (case-insensitive), movies and series first.
pub fn suggest(conn: &Connection, typed: &str, limit: u32) -> Result<Vec<String>, CatalogError> {
    let pattern = format!("%{}%", crate::db::escape_like(typed.trim()));
    let mut stmt = conn.prepare(&format!(
        "SELECT {LABEL} AS label {FROM} WHERE label LIKE ?1 ESCAPE '\\'
         ORDER BY t.kind NOT IN ('movie', 'series'), label COLLATE NOCASE LIMIT ?2"
    ))?;
    let rows = stmt.query_map(rusqlite::params![pattern, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What a typed title picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// One title: its id and label.
    One { id: String, label: String },
    /// No title has this label or name.
    Nothing,
    /// Several titles have this name: their labels, to choose one of.
    Several(Vec<String>),
}

/// The title whose label is `typed` (case-insensitive), else the one whose name is; an
/// exact id (a link or script that names the title by it) picks that title.
pub fn pick(conn: &Connection, typed: &str) -> Result<Picked, CatalogError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(Picked::Nothing);
    }
    for column in ["t.id", "label", "t.name"] {
        let mut stmt = conn.prepare(&format!(
            "SELECT t.id, {LABEL} AS label {FROM} WHERE {column} = ?1{}
             ORDER BY t.kind NOT IN ('movie', 'series'), label LIMIT 20",
            // Ids are exact; names are matched as people type them.
            if column == "t.id" {
                ""
            } else {
                " COLLATE NOCASE"
            }
        ))?;
        let found: Vec<(String, String)> = stmt
            .query_map([typed], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        match found.len() {
            0 => continue,
            1 => {
                let (id, label) = found.into_iter().next().expect("one");
                return Ok(Picked::One { id, label });
            }
            _ => return Ok(Picked::Several(found.into_iter().map(|(_, l)| l).collect())),
        }
    }
    Ok(Picked::Nothing)
}
