//! Access decided per media. One asset may be played by several titles (an episode linked
//! to a movie's file, a trailer cut from the feature, the same film in two places), and
//! which title a viewer reaches it through must not matter: editors link media and arrange
//! titles without `billing:write`, so no title they make can open paid media.
//!
//! The rule, for a play of title T whose media is M:
//! 1. T itself is decided as always (`entitlement::decide`: its window, then its level).
//! 2. Every *other* title linking M that is paid — its level (own or inherited) is not
//!    public and it is not free by design (a trailer, a marked preview) — must let the
//!    viewer in too, on its level alone. Its own publishing state and window do not matter:
//!    a draft, scheduled or expired paid title still guards its media (unpublishing or
//!    rescheduling needs no `billing:write`). Free titles sharing M add nothing: a free
//!    title is free only for its own media.
//! 3. The first refusal is the answer, with that title's reason and remedies. Allowed,
//!    access runs until the earliest end of them all; a play that reaches paid media
//!    through a free title is on the paid title's basis (so it gets a token, never the
//!    public path), and every rental the play starts is recorded.
//!
//! The origin's side of the same rule is `store::asset_is_free`: media is free on the
//! public path only when no title linking it is paid.

use super::entitlement::{Basis, Decision, Policy, TitleAccess, ViewerState, decide, decide_level};

/// A play's answer under the per-media rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayDecision {
    /// The title whose answer this is: the paid title that refused, else the first paid
    /// title that allowed (the played one first), else the played title.
    pub title: TitleAccess,
    pub decision: Decision,
    /// The paid titles that allowed the play, the played one first: each bounds the pass.
    pub paid: Vec<TitleAccess>,
    /// Owners (as purchases name them) of the rentals whose window this play starts.
    pub starts_rentals: Vec<String>,
}

/// May the viewer play `title`, whose media the paid titles `sharing` also play, at `now`?
pub fn decide_play(
    title: &TitleAccess,
    sharing: &[TitleAccess],
    viewer: &ViewerState,
    policy: &Policy,
    now: i64,
) -> PlayDecision {
    let first = decide(title, viewer, policy, now);
    let Decision::Allowed {
        until,
        basis,
        starts_rental,
    } = first
    else {
        return PlayDecision {
            title: title.clone(),
            decision: first,
            paid: Vec::new(),
            starts_rentals: Vec::new(),
        };
    };
    let mut until = until;
    let mut basis = basis;
    let mut paid = Vec::new();
    let mut starts_rentals = Vec::new();
    if title.is_paid() {
        paid.push(title.clone());
        if starts_rental {
            starts_rentals.push(title.title_id.clone());
        }
    }
    for other in sharing.iter().filter(|t| t.is_paid()) {
        match decide_level(other, viewer, policy, now) {
            Decision::Allowed {
                until: other_until,
                basis: other_basis,
                starts_rental,
            } => {
                until = earliest(until, other_until);
                if basis == Basis::Free {
                    basis = other_basis;
                }
                if starts_rental && !starts_rentals.contains(&other.title_id) {
                    starts_rentals.push(other.title_id.clone());
                }
                paid.push(other.clone());
            }
            denied => {
                return PlayDecision {
                    title: other.clone(),
                    decision: denied,
                    paid: Vec::new(),
                    starts_rentals: Vec::new(),
                };
            }
        }
    }
    PlayDecision {
        title: paid.first().cloned().unwrap_or_else(|| title.clone()),
        decision: Decision::Allowed {
            until,
            basis,
            starts_rental: !starts_rentals.is_empty(),
        },
        paid,
        starts_rentals,
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    //! The per-media table: a played title (free, registered, subscribers) against the paid
    //! titles that share its media, for each kind of viewer.

    use super::*;
    use crate::access::entitlement::{Reason, Rental, Subscription, SubscriptionStatus};
    use crate::access::level::AccessLevel;
    use crate::access::test_db::{rent, subscribers};

    const NOW: i64 = 1_000_000;

    fn title(id: &str, level: AccessLevel) -> TitleAccess {
        TitleAccess {
            title_id: id.into(),
            above: Vec::new(),
            level,
            free_preview: false,
            live_from: Some(0),
            live_until: None,
        }
    }

    fn signed_in() -> ViewerState {
        ViewerState {
            user_id: Some(7),
            ..ViewerState::default()
        }
    }

    fn subscriber() -> ViewerState {
        ViewerState {
            subscriptions: vec![Subscription {
                plan_id: "club".into(),
                status: SubscriptionStatus::Active,
                period_end: NOW + 500,
                stream_limit: 2,
            }],
            ..signed_in()
        }
    }

    fn renter(of: &str) -> ViewerState {
        ViewerState {
            rentals: vec![Rental {
                title_id: of.into(),
                first_play_at: None,
                window_secs: 100,
            }],
            ..signed_in()
        }
    }

    /// What the play comes to: the basis and until, or the refusal and whose it is.
    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Allowed(Basis, Option<i64>),
        Denied(Reason, &'static str),
    }

    fn outcome(d: &PlayDecision) -> Outcome {
        match &d.decision {
            Decision::Allowed { basis, until, .. } => Outcome::Allowed(basis.clone(), *until),
            Decision::Denied { reason, .. } => Outcome::Denied(
                reason.clone(),
                match d.title.title_id.as_str() {
                    "played" => "played",
                    "movie" => "movie",
                    "other" => "other",
                    _ => "?",
                },
            ),
        }
    }

    #[test]
    fn a_viewer_must_satisfy_every_paid_title_that_plays_the_same_media() {
        use Outcome::*;
        let free = title("played", AccessLevel::Public);
        let registered = title("played", AccessLevel::Registered);
        let premium = title("played", subscribers());
        let movie = title("movie", subscribers());
        let rental = title("movie", rent());
        let trailer = TitleAccess {
            free_preview: true,
            ..title("played", subscribers())
        };
        let free_other = title("other", AccessLevel::Public);
        let preview_other = TitleAccess {
            free_preview: true,
            ..title("other", rent())
        };
        let draft_movie = TitleAccess {
            live_from: None,
            ..title("movie", subscribers())
        };
        let expired_movie = TitleAccess {
            live_until: Some(NOW - 1),
            ..title("movie", subscribers())
        };
        let scheduled_episode = TitleAccess {
            live_from: Some(NOW + 10),
            ..title("played", AccessLevel::Registered)
        };
        let sub_until = Some(NOW + 500);
        #[rustfmt::skip]
        let table: Vec<(&str, &TitleAccess, Vec<&TitleAccess>, ViewerState, Outcome)> = vec![
            // Nothing else plays the media: the title's own answer.
            ("free alone, signed out", &free, vec![], ViewerState::default(), Allowed(Basis::Free, None)),
            ("registered alone", &registered, vec![], signed_in(), Allowed(Basis::SignedIn, None)),
            // Free titles sharing the media change nothing.
            ("free with a free title", &free, vec![&free_other], ViewerState::default(), Allowed(Basis::Free, None)),
            ("free with a marked preview", &free, vec![&preview_other], ViewerState::default(), Allowed(Basis::Free, None)),
            // A free title linked to a subscribers-only movie's media.
            ("free, movie paid, signed out", &free, vec![&movie], ViewerState::default(), Denied(Reason::SignInRequired, "movie")),
            ("free, movie paid, no plan", &free, vec![&movie], signed_in(), Denied(Reason::NoPlan, "movie")),
            ("free, movie paid, subscriber", &free, vec![&movie], subscriber(), Allowed(Basis::Plan("club".into()), sub_until)),
            // The attack: an episode under `registered` linked to the movie's media.
            ("registered, movie paid, no plan", &registered, vec![&movie], signed_in(), Denied(Reason::NoPlan, "movie")),
            ("registered, movie paid, signed out", &registered, vec![&movie], ViewerState::default(), Denied(Reason::SignInRequired, "played")),
            ("registered, movie paid, subscriber", &registered, vec![&movie], subscriber(), Allowed(Basis::SignedIn, sub_until)),
            // A trailer is free only for its own media.
            ("trailer on the movie's media, no plan", &trailer, vec![&movie], signed_in(), Denied(Reason::NoPlan, "movie")),
            ("trailer on the movie's media, subscriber", &trailer, vec![&movie], subscriber(), Allowed(Basis::Plan("club".into()), sub_until)),
            // A paid title guards its media whatever its own publishing state.
            ("free, movie a draft, no plan", &free, vec![&draft_movie], signed_in(), Denied(Reason::NoPlan, "movie")),
            ("free, movie expired, no plan", &free, vec![&expired_movie], signed_in(), Denied(Reason::NoPlan, "movie")),
            ("free, movie expired, subscriber", &free, vec![&expired_movie], subscriber(), Allowed(Basis::Plan("club".into()), sub_until)),
            // The played title's own window still applies first.
            ("scheduled episode, movie paid, subscriber", &scheduled_episode, vec![&movie], subscriber(), Denied(Reason::NotYetReleased { at: Some(NOW + 10) }, "played")),
            // Both paid: both must allow; the first refusal is the answer.
            ("subscribers, rental shares it, subscriber", &premium, vec![&rental], subscriber(), Denied(Reason::NotPurchased, "movie")),
            ("subscribers, rental shares it, renter", &premium, vec![&rental], renter("movie"), Denied(Reason::NoPlan, "played")),
            ("free, rental shares it, renter", &free, vec![&rental], renter("movie"), Allowed(Basis::Rental, Some(NOW + 100))),
            ("free, movie and rental share it, subscriber", &free, vec![&movie, &rental], subscriber(), Denied(Reason::NotPurchased, "movie")),
        ];
        for (case, played, sharing, viewer, expected) in table {
            let sharing: Vec<TitleAccess> = sharing.into_iter().cloned().collect();
            let got = decide_play(played, &sharing, &viewer, &Policy::default(), NOW);
            assert_eq!(outcome(&got), expected, "{case}");
        }
    }

    #[test]
    fn a_play_through_a_free_title_starts_the_paid_titles_rental() {
        let free = title("played", AccessLevel::Public);
        let rental = title("movie", rent());
        let got = decide_play(&free, &[rental], &renter("movie"), &Policy::default(), NOW);
        assert_eq!(got.starts_rentals, vec!["movie".to_string()]);
        assert!(matches!(
            got.decision,
            Decision::Allowed {
                starts_rental: true,
                ..
            }
        ));
        assert_eq!(got.title.title_id, "movie");
        assert_eq!(got.paid.len(), 1);
    }
}
