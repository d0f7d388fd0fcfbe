//! Cast and crew: the people credited on a title, in billing order. Optional; search finds
//! titles by them. Editors type them one per line in the dashboard (`Ann Lee as Maya`,
//! `Director: Bo Chen`); the API and sidecars send a list.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::CatalogError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditRole {
    #[default]
    Cast,
    Director,
    Writer,
    Producer,
}

impl CreditRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditRole::Cast => "cast",
            CreditRole::Director => "director",
            CreditRole::Writer => "writer",
            CreditRole::Producer => "producer",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_lowercase().as_str() {
            "cast" => CreditRole::Cast,
            "director" => CreditRole::Director,
            "writer" => CreditRole::Writer,
            "producer" => CreditRole::Producer,
            _ => return None,
        })
    }

    /// The label a line starts with in the dashboard (`Director: …`).
    fn label(self) -> &'static str {
        match self {
            CreditRole::Cast => "Cast",
            CreditRole::Director => "Director",
            CreditRole::Writer => "Writer",
            CreditRole::Producer => "Producer",
        }
    }
}

/// One person credited on a title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    pub name: String,
    /// `cast` when absent.
    #[serde(default)]
    pub role: CreditRole,
    /// The part played, for cast.
    #[serde(default)]
    pub character: String,
}

pub const MAX_CREDITS: usize = 100;
const MAX_NAME: usize = 100;

pub fn check(credits: &[Credit]) -> Result<(), CatalogError> {
    if credits.len() > MAX_CREDITS {
        return Err(CatalogError::Invalid(format!(
            "at most {MAX_CREDITS} people per title"
        )));
    }
    for c in credits {
        let one_line = |s: &str| s.chars().count() <= MAX_NAME && !s.chars().any(char::is_control);
        if c.name.trim().is_empty() || !one_line(&c.name) || !one_line(&c.character) {
            return Err(CatalogError::Invalid(format!(
                "people: {:?} must be a name of 1 to {MAX_NAME} characters on one line",
                c.name
            )));
        }
        if c.role != CreditRole::Cast && !c.character.trim().is_empty() {
            return Err(CatalogError::Invalid(format!(
                "people: {} is credited as {}; only cast play a character",
                c.name.trim(),
                c.role.as_str()
            )));
        }
    }
    Ok(())
}

/// Replaces a title's credits. A person credited twice in one role keeps the first place.
/// The caller reindexes search (the people column) in the same transaction.
pub fn set(tx: &Connection, title_id: &str, credits: &[Credit]) -> Result<(), CatalogError> {
    check(credits)?;
    let before = people_of(tx, title_id)?;
    tx.execute("DELETE FROM title_people WHERE title_id = ?1", [title_id])?;
    for (position, c) in credits.iter().enumerate() {
        let name = c.name.trim();
        tx.execute(
            // The spelling typed last wins (`ann lee` corrected to `Ann Lee`).
            "INSERT INTO people (name) VALUES (?1) ON CONFLICT (name) DO UPDATE SET name = excluded.name",
            [name],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO title_people (title_id, person_id, role, character, position)
             SELECT ?1, id, ?2, ?3, ?4 FROM people WHERE name = ?5",
            params![
                title_id,
                c.role.as_str(),
                c.character.trim(),
                position as i64,
                name
            ],
        )?;
    }
    forget_uncredited(tx, &before)
}

/// The people credited on a title (ids).
pub fn people_of(tx: &Connection, title_id: &str) -> Result<Vec<i64>, CatalogError> {
    let mut stmt = tx.prepare_cached("SELECT person_id FROM title_people WHERE title_id = ?1")?;
    let rows = stmt.query_map([title_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Of these people, removes those credited nowhere any more, so the table only holds who
/// is on a title (and a misspelling goes with its last credit).
pub fn forget_uncredited(tx: &Connection, people: &[i64]) -> Result<(), CatalogError> {
    for id in people {
        tx.execute(
            "DELETE FROM people WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM title_people WHERE person_id = ?1)",
            [id],
        )?;
    }
    Ok(())
}

/// A title's credits in billing order.
pub fn of(conn: &Connection, title_id: &str) -> Result<Vec<Credit>, CatalogError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.name, tp.role, tp.character FROM title_people tp JOIN people p ON p.id = tp.person_id
         WHERE tp.title_id = ?1 ORDER BY tp.position",
    )?;
    let rows = stmt.query_map([title_id], |r| {
        let role: String = r.get(1)?;
        Ok(Credit {
            name: r.get(0)?,
            role: CreditRole::parse(&role).unwrap_or_default(),
            character: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Reads the dashboard's one-per-line form: `Name`, `Name as Character` (cast), or a role
/// first: `Director: Name`, `Writer: Name`, `Producer: Name`, `Cast: Name as Character`.
/// A line starting with anything else before a colon is a cast line as it stands.
pub fn parse_lines(text: &str) -> Result<Vec<Credit>, CatalogError> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // `Director: …` names a role; any other colon is part of a name or a character.
        let (role, rest) = match line
            .split_once(':')
            .and_then(|(label, rest)| Some((CreditRole::parse(label)?, rest.trim())))
        {
            Some(found) => found,
            None => (CreditRole::Cast, line),
        };
        let (name, character) = match rest.split_once(" as ") {
            Some((name, character)) if role == CreditRole::Cast => (name.trim(), character.trim()),
            _ => (rest, ""),
        };
        out.push(Credit {
            name: name.to_string(),
            role,
            character: character.to_string(),
        });
    }
    check(&out)?;
    Ok(out)
}

/// The inverse of [`parse_lines`], for the dashboard's text box.
pub fn to_lines(credits: &[Credit]) -> String {
    credits
        .iter()
        .map(|c| match (c.role, c.character.is_empty()) {
            (CreditRole::Cast, true) => c.name.clone(),
            (CreditRole::Cast, false) => format!("{} as {}", c.name, c.character),
            (role, _) => format!("{}: {}", role.label(), c.name),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_roles_and_characters_and_write_back_the_same() {
        let text = "Ann Lee as Maya\n  \nBo Chen\nDirector: Cy Diaz\nwriter:Dee Ek\nCast: Eve Fo as The Keeper";
        let credits = parse_lines(text).unwrap();
        let summary: Vec<(&str, CreditRole, &str)> = credits
            .iter()
            .map(|c| (c.name.as_str(), c.role, c.character.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("Ann Lee", CreditRole::Cast, "Maya"),
                ("Bo Chen", CreditRole::Cast, ""),
                ("Cy Diaz", CreditRole::Director, ""),
                ("Dee Ek", CreditRole::Writer, ""),
                ("Eve Fo", CreditRole::Cast, "The Keeper"),
            ]
        );
        assert_eq!(parse_lines(&to_lines(&credits)).unwrap(), credits);
    }

    #[test]
    fn a_colon_that_names_no_role_is_part_of_the_line() {
        let credits = parse_lines("Ann Lee as Agent: Zero\nGaffer: Al").unwrap();
        assert_eq!(credits[0].character, "Agent: Zero");
        assert_eq!(
            (credits[1].role, credits[1].name.as_str()),
            (CreditRole::Cast, "Gaffer: Al")
        );
        assert_eq!(parse_lines(&to_lines(&credits)).unwrap(), credits);
    }

    #[test]
    fn empty_names_and_too_many_people_are_refused() {
        assert!(parse_lines("Director:   ").is_err());
        let too_many = "A\n".repeat(MAX_CREDITS + 1);
        assert!(parse_lines(&too_many).is_err());
        assert!(
            check(&[Credit {
                name: "Al".into(),
                role: CreditRole::Director,
                character: "Bob".into()
            }])
            .is_err()
        );
    }
}
