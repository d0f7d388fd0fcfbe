//! Retention campaigns: a segment targeted with a retention offer by email and/or an
//! in-app banner. When a campaign goes out its audience is fixed (`choose`): a holdout
//! group (a hash of the campaign and member, so the same member always lands the same way)
//! gets nothing, members contacted by another campaign lately are skipped, and each target
//! gets a personal link. The report (`report`) sets the targets' renewals against the
//! holdout's, with a confidence interval.

pub mod report;
pub mod store;

pub use store::{Campaign, CampaignFields, Chosen, Group};

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Something the operator or member asked for that cannot be; the sentence says why.
    #[error("{0}")]
    Invalid(String),
    #[error("no such campaign")]
    NotFound,
}

/// Fills a template's `{{name}}`, `{{link}}` and `{{unsubscribe}}`.
pub fn fill(template: &str, name: &str, link: &str, unsubscribe: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{link}}", link)
        .replace("{{unsubscribe}}", unsubscribe)
}

/// Whether a member is in the holdout of a campaign keeping `percent` out: a hash of the
/// two, so it never changes and cannot be chosen.
pub fn in_holdout(campaign_id: i64, user_id: i64, percent: u32) -> bool {
    let digest = blake3::hash(format!("holdout:{campaign_id}:{user_id}").as_bytes());
    let n = u32::from_le_bytes(digest.as_bytes()[..4].try_into().expect("4 bytes"));
    n % 100 < percent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holdout_is_about_its_share_and_stable() {
        let held = (0..10_000).filter(|u| in_holdout(7, *u, 10)).count();
        assert!((800..1200).contains(&held), "{held}");
        assert_eq!(in_holdout(7, 42, 10), in_holdout(7, 42, 10));
        assert_eq!((0..1000).filter(|u| in_holdout(7, *u, 0)).count(), 0);
        assert_eq!(
            fill("Hi {{name}}: {{link}} ({{unsubscribe}})", "Ann", "L", "U"),
            "Hi Ann: L (U)"
        );
    }
}
