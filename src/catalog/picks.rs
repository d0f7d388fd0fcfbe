//! Editing a hand-picked, ordered list of titles (a hand-picked rail, a collection) one step
//! at a time, as the dashboard's buttons do: add at the end, move up or down, remove.

use super::CatalogError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickEdit {
    Add(String),
    Remove(String),
    /// `-1` up, `1` down (other values count by their sign).
    Move(String, i64),
}

impl PickEdit {
    /// Reads the dashboard's `action` and `title` fields.
    pub fn from_form(action: &str, title: String) -> Result<Self, CatalogError> {
        Ok(match action {
            "add" => PickEdit::Add(title),
            "remove" => PickEdit::Remove(title),
            "up" => PickEdit::Move(title, -1),
            "down" => PickEdit::Move(title, 1),
            other => {
                return Err(CatalogError::Invalid(format!(
                    "{other:?} is not add, remove, up or down"
                )));
            }
        })
    }

    /// Applies the edit to `ids`. Adding a title already there or moving past an end
    /// changes nothing; naming a title that is not there is an error.
    pub fn apply(&self, ids: &mut Vec<String>) -> Result<(), CatalogError> {
        let at = |ids: &[String], id: &str| {
            ids.iter()
                .position(|x| x == id)
                .ok_or_else(|| CatalogError::Invalid(format!("{id} is not in the list")))
        };
        match self {
            PickEdit::Add(id) if ids.contains(id) => {}
            PickEdit::Add(id) => ids.push(id.clone()),
            PickEdit::Remove(id) => {
                let i = at(ids, id)?;
                ids.remove(i);
            }
            PickEdit::Move(id, by) => {
                let i = at(ids, id)?;
                let to = (i as i64 + by.signum()).clamp(0, ids.len() as i64 - 1) as usize;
                let item = ids.remove(i);
                ids.insert(to, item);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn edits_add_move_and_remove_one_title_at_a_time() {
        let mut ids = list(&["a", "b"]);
        PickEdit::Add("c".into()).apply(&mut ids).unwrap();
        PickEdit::Add("a".into()).apply(&mut ids).unwrap();
        assert_eq!(ids, list(&["a", "b", "c"]));
        PickEdit::from_form("up", "c".into())
            .unwrap()
            .apply(&mut ids)
            .unwrap();
        assert_eq!(ids, list(&["a", "c", "b"]));
        PickEdit::Move("a".into(), -1).apply(&mut ids).unwrap();
        PickEdit::Move("b".into(), 5).apply(&mut ids).unwrap();
        assert_eq!(ids, list(&["a", "c", "b"]));
        PickEdit::Remove("c".into()).apply(&mut ids).unwrap();
        assert_eq!(ids, list(&["a", "b"]));
        assert!(PickEdit::Remove("zz".into()).apply(&mut ids).is_err());
        assert!(PickEdit::from_form("sideways", "a".into()).is_err());
        assert_eq!(ids, list(&["a", "b"]));
    }
}
