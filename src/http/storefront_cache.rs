//! What the storefront keeps in memory: the home page's rails (all but the per-viewer ones),
//! recent search results and the live titles' words for "did you mean". An entry stands
//! while the catalog's version is the one it was made at and no title's window has opened or closed since (`browse::freshness`, one
//! indexed query per request), so an edit, a publish or a scheduled release shows at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::access::level::AccessLevel;
use crate::catalog::browse::Card;
use crate::catalog::rails::Rail;
use crate::catalog::spelling::Vocabulary;

/// At most this many search results are kept (then the lot is dropped and refilled), so a
/// client sending endless distinct queries costs bounded memory: cards are kept without
/// their synopses, a few KB each, 40 per query.
const MAX_SEARCHES: usize = 500;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub version: i64,
    /// Made at this Unix second: a clock set back makes the entry stale too.
    pub at: i64,
    /// Good until this Unix second (the next window change).
    pub until: Option<i64>,
}

impl Stamp {
    fn holds(&self, current: &Stamp, now: i64) -> bool {
        self.version == current.version && self.at <= now && self.until.is_none_or(|u| now < u)
    }
}

/// The home page without its personal rails: every rail in order, with its cards (`None`
/// for a per-viewer rail, filled in per request), and the genres menu.
pub struct Home {
    pub rails: Vec<(Rail, Option<Vec<Card>>)>,
    pub genres: Vec<(String, String)>,
    /// The access levels of the paid titles among those cards, for their marks: about the
    /// titles only, so shared like the rails; levels move the catalog's version too. The
    /// words (plan names, prices) are made per request.
    pub levels: HashMap<String, AccessLevel>,
}

/// What a search shows: the cards, and when the words as typed found nothing, what was
/// probably meant (the cards are then that search's).
pub struct Found {
    pub cards: Vec<Card>,
    pub did_you_mean: Option<String>,
}

/// Search results by their normalised query.
type Searches = HashMap<String, (Stamp, Arc<Found>)>;

#[derive(Default)]
pub struct StorefrontCache {
    home: Mutex<Option<(Stamp, Arc<Home>)>>,
    searches: Mutex<Searches>,
    /// The live titles' words, for "did you mean" (built on the first search that finds
    /// nothing after a change).
    vocabulary: Mutex<Option<(Stamp, Arc<Vocabulary>)>>,
}

impl StorefrontCache {
    pub fn home(&self, current: &Stamp, now: i64) -> Option<Arc<Home>> {
        let kept = self.home.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|(stamp, _)| stamp.holds(current, now))
            .map(|(_, home)| home.clone())
    }

    pub fn keep_home(&self, stamp: Stamp, home: Arc<Home>) {
        *self.home.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, home));
    }

    pub fn vocabulary(&self, current: &Stamp, now: i64) -> Option<Arc<Vocabulary>> {
        let kept = self.vocabulary.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|(stamp, _)| stamp.holds(current, now))
            .map(|(_, words)| words.clone())
    }

    pub fn keep_vocabulary(&self, stamp: Stamp, words: Arc<Vocabulary>) {
        *self.vocabulary.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, words));
    }

    pub fn search(&self, query: &str, current: &Stamp, now: i64) -> Option<Arc<Found>> {
        let kept = self.searches.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(query)
            .filter(|(stamp, _)| stamp.holds(current, now))
            .map(|(_, cards)| cards.clone())
    }

    pub fn keep_search(&self, query: String, stamp: Stamp, cards: Arc<Found>) {
        let mut kept = self.searches.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MAX_SEARCHES {
            kept.retain(|_, (s, _)| s.version == stamp.version);
            if kept.len() >= MAX_SEARCHES {
                kept.clear();
            }
        }
        kept.insert(query, (stamp, cards));
    }
}
