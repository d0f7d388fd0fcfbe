//! "Did you mean": the nearest spelling of each typed word among the words of the live
//! titles' names, people, tags and genres (`Vocabulary`). It is built once per catalog
//! version (the storefront keeps it beside its search results), from live titles only, so
//! a draft's name is never suggested. A look-up compares, by Damerau-Levenshtein distance,
//! only the few words that share the most trigrams with the typed one and are of a near
//! length, so a large catalog does not make each keystroke slow.

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;

use super::search::{self, Audience};
use super::titles::Title;
use super::{CatalogError, visibility};

/// Words shorter than this are not corrected: too many words are one letter away.
const MIN_CORRECTED_CHARS: usize = 4;
/// Longer words are ignored (nobody types them, and they would only cost).
const MAX_WORD_CHARS: usize = 40;
/// How many of the words sharing the most trigrams are compared letter by letter.
const CANDIDATES: usize = 32;
/// Words beyond this are kept as typed (as `search::MAX_TERMS`).
const MAX_TERMS: usize = 8;

struct Word {
    /// As first seen in a live title, shown in the suggestion.
    spelling: String,
    /// How many times it occurs: the more common of two equally near words wins.
    uses: u32,
}

pub struct Vocabulary {
    /// By lower-case form, sorted, so "is this a prefix of a word" is one range look-up.
    words: BTreeMap<String, u32>,
    entries: Vec<Word>,
    lower: Vec<String>,
    /// Each trigram of a word padded as `"  word "`, with the words that have it.
    grams: HashMap<[char; 3], Vec<u32>>,
}

fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn trigrams(lower: &str) -> Vec<[char; 3]> {
    let padded: Vec<char> = "  ".chars().chain(lower.chars()).chain([' ']).collect();
    let mut grams: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// How far a typed word of this many letters may be from a suggestion.
fn max_distance(chars: usize) -> usize {
    if chars >= 8 { 2 } else { 1 }
}

impl Vocabulary {
    /// The words of every title live at `now` (their search rows: name, people, tags and
    /// genres; synopses are left out, they are not what people name).
    pub fn load(conn: &Connection, now: i64) -> Result<Vocabulary, CatalogError> {
        // CROSS JOIN keeps the search table as the outer loop: its title_id is not indexed.
        let sql = format!(
            "SELECT s.name, s.people, s.tags FROM title_search s CROSS JOIN titles t
             ON t.id = s.title_id WHERE {live}",
            live = visibility::live_sql(1)
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([now], |r| {
            Ok([r.get::<_, String>(0)?, r.get(1)?, r.get(2)?])
        })?;
        let mut vocabulary = Vocabulary {
            words: BTreeMap::new(),
            entries: Vec::new(),
            lower: Vec::new(),
            grams: HashMap::new(),
        };
        for row in rows {
            for text in row? {
                for word in words_of(&text) {
                    vocabulary.add(word);
                }
            }
        }
        Ok(vocabulary)
    }

    fn add(&mut self, word: &str) {
        if word.chars().count() > MAX_WORD_CHARS {
            return;
        }
        let lower = word.to_lowercase();
        if let Some(&i) = self.words.get(&lower) {
            self.entries[i as usize].uses += 1;
            return;
        }
        let i = self.entries.len() as u32;
        for gram in trigrams(&lower) {
            self.grams.entry(gram).or_default().push(i);
        }
        self.words.insert(lower.clone(), i);
        self.lower.push(lower);
        self.entries.push(Word {
            spelling: word.to_string(),
            uses: 1,
        });
    }

    /// Whether some word starts with `lower` (search matches words by prefix).
    fn begins_a_word(&self, lower: &str) -> bool {
        self.words
            .range::<str, _>((std::ops::Bound::Included(lower), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(w, _)| w.starts_with(lower))
    }

    /// The nearest word to `typed`, when one is near enough.
    fn nearest(&self, typed: &str) -> Option<&str> {
        let lower = typed.to_lowercase();
        let chars = lower.chars().count();
        if !(MIN_CORRECTED_CHARS..=MAX_WORD_CHARS).contains(&chars) {
            return None;
        }
        let most = max_distance(chars);
        let mut shared: HashMap<u32, u32> = HashMap::new();
        for gram in trigrams(&lower) {
            for &i in self.grams.get(&gram).into_iter().flatten() {
                *shared.entry(i).or_default() += 1;
            }
        }
        let mut candidates: Vec<(u32, u32)> = shared
            .into_iter()
            .filter(|&(i, _)| self.lower[i as usize].chars().count().abs_diff(chars) <= most)
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        candidates.truncate(CANDIDATES);
        candidates
            .into_iter()
            .filter_map(|(i, _)| {
                let distance = strsim::damerau_levenshtein(&lower, &self.lower[i as usize]);
                (distance <= most).then_some((distance, i))
            })
            .min_by(|a, b| {
                let uses = |i: u32| self.entries[i as usize].uses;
                a.0.cmp(&b.0).then(uses(b.1).cmp(&uses(a.1)))
            })
            .map(|(_, i)| self.entries[i as usize].spelling.as_str())
    }

    /// What was probably meant: each word that begins no word of a live title replaced by
    /// the nearest one. `None` when nothing would change.
    pub fn correct(&self, input: &str) -> Option<String> {
        let mut changed = false;
        let words: Vec<&str> = words_of(input)
            .take(MAX_TERMS)
            .map(|typed| {
                if self.begins_a_word(&typed.to_lowercase()) {
                    return typed;
                }
                match self.nearest(typed) {
                    Some(near) => {
                        changed = true;
                        near
                    }
                    None => typed,
                }
            })
            .collect();
        changed.then(|| words.join(" "))
    }
}

/// For a search that found nothing: what was probably meant, with what that finds (viewers'
/// titles only), when it finds something.
pub fn meant(
    conn: &Connection,
    input: &str,
    words: &Vocabulary,
    now: i64,
    limit: u32,
) -> Result<Option<(String, Vec<Title>)>, CatalogError> {
    let Some(meant) = words.correct(input) else {
        return Ok(None);
    };
    let found = search::search(conn, &meant, Audience::Viewer { now }, limit)?;
    Ok((!found.is_empty()).then_some((meant, found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary(words: &[&str]) -> Vocabulary {
        let mut v = Vocabulary {
            words: BTreeMap::new(),
            entries: Vec::new(),
            lower: Vec::new(),
            grams: HashMap::new(),
        };
        for w in words {
            v.add(w);
        }
        v
    }

    #[test]
    fn a_typo_is_corrected_and_a_known_word_kept() {
        let v = vocabulary(&["Coral", "Reef", "Amélie", "Ocean", "Oceans"]);
        assert_eq!(v.correct("koral"), Some("Coral".into()));
        assert_eq!(v.correct("croal reef"), Some("Coral reef".into()));
        assert_eq!(v.correct("coral"), None);
        assert_eq!(v.correct("cor"), None);
        // Short words are not guessed at; far words are not suggested.
        assert_eq!(v.correct("ocan"), Some("Ocean".into()));
        assert_eq!(v.correct("kor"), None);
        assert_eq!(v.correct("zebra"), None);
    }
}
