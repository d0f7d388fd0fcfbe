//! The entitlement table: every access level against every viewer state, at one moment,
//! with the reason or basis each gives; then the publishing window and the times allowed
//! access ends.

use super::entitlement::{
    Basis, Decision, Grant, GrantScope, Policy, Reason, Remedy, Rental, Subscription,
    SubscriptionStatus, TitleAccess, ViewerState, decide,
};
use super::level::{AccessLevel, Price};

const NOW: i64 = 1_000_000;
const HOUR: i64 = 3600;
const T: &str = "title1";

fn eur(amount: i64) -> Price {
    Price {
        amount,
        currency: "eur".into(),
    }
}

fn levels() -> Vec<(&'static str, AccessLevel)> {
    vec![
        ("public", AccessLevel::Public),
        ("registered", AccessLevel::Registered),
        ("any plan", AccessLevel::Subscribers { plans: vec![] }),
        (
            "gold only",
            AccessLevel::Subscribers {
                plans: vec!["gold".into()],
            },
        ),
        (
            "rent or buy",
            AccessLevel::Purchase {
                rent: Some(eur(399)),
                buy: Some(eur(1299)),
            },
        ),
        (
            "pay-per-view",
            AccessLevel::PayPerView {
                event_id: "final".into(),
                price: eur(999),
                starts_at: NOW - 10,
                ends_at: NOW + 100,
            },
        ),
    ]
}

fn signed_in() -> ViewerState {
    ViewerState {
        user_id: Some(7),
        ..ViewerState::default()
    }
}

fn subscribed(plan: &str, status: SubscriptionStatus, period_end: i64) -> ViewerState {
    ViewerState {
        subscriptions: vec![Subscription {
            plan_id: plan.into(),
            status,
            period_end,
            stream_limit: 2,
        }],
        ..signed_in()
    }
}

fn renting(first_play_at: Option<i64>) -> ViewerState {
    ViewerState {
        rentals: vec![Rental {
            title_id: T.into(),
            first_play_at,
            window_secs: 48 * HOUR,
        }],
        ..signed_in()
    }
}

fn granted(scope: GrantScope) -> ViewerState {
    ViewerState {
        grants: vec![Grant {
            scope,
            until: Some(NOW + 100),
            stream_limit: None,
        }],
        ..signed_in()
    }
}

fn states() -> Vec<(&'static str, ViewerState)> {
    use SubscriptionStatus::*;
    vec![
        ("signed out", ViewerState::default()),
        ("signed in", signed_in()),
        ("gold", subscribed("gold", Active, NOW + 1000)),
        ("silver", subscribed("silver", Active, NOW + 1000)),
        ("gold trial", subscribed("gold", Trialing, NOW + 500)),
        ("gold trial over", subscribed("gold", Trialing, NOW - 1)),
        ("gold period over", subscribed("gold", Active, NOW)),
        (
            "gold past due, in grace",
            subscribed("gold", PastDue { since: NOW - HOUR }, NOW - HOUR),
        ),
        (
            "gold past due, beyond grace",
            subscribed(
                "gold",
                PastDue {
                    since: NOW - 4 * 24 * HOUR,
                },
                NOW - 4 * 24 * HOUR,
            ),
        ),
        ("gold ended", subscribed("gold", Ended, NOW + 1000)),
        (
            "gold, two players running",
            ViewerState {
                streams_in_use: 2,
                ..subscribed("gold", Active, NOW + 1000)
            },
        ),
        ("gold by code", granted(GrantScope::Plan("gold".into()))),
        ("rental not started", renting(None)),
        ("rental running", renting(Some(NOW - HOUR))),
        ("rental over", renting(Some(NOW - 49 * HOUR))),
        (
            "owned",
            ViewerState {
                owned: vec![T.into()],
                ..signed_in()
            },
        ),
        (
            "ticket",
            ViewerState {
                tickets: vec!["final".into()],
                ..signed_in()
            },
        ),
        ("title by code", granted(GrantScope::Title(T.into()))),
    ]
}

/// A decision in a word: the basis when allowed, the reason when not.
fn word(d: &Decision) -> String {
    match d {
        Decision::Allowed {
            basis,
            starts_rental,
            ..
        } => {
            let w = match basis {
                Basis::Free => "free",
                Basis::SignedIn => "signed in",
                Basis::Plan(_) => "plan",
                Basis::Trial(_) => "trial",
                Basis::Grace(_) => "grace",
                Basis::Rental if *starts_rental => "rental starts",
                Basis::Rental => "rental",
                Basis::Owned => "owned",
                Basis::Ticket => "ticket",
                Basis::Grant => "grant",
            };
            w.to_string()
        }
        Decision::Denied { reason, .. } => match reason {
            Reason::NotYetReleased { .. } => "unreleased",
            Reason::WindowClosed => "closed",
            Reason::SignInRequired => "SIGN IN",
            Reason::NoPlan => "NO PLAN",
            Reason::PlanDoesNotInclude => "OTHER PLAN",
            Reason::PaymentPastDue => "PAST DUE",
            Reason::StreamLimitReached { .. } => "STREAMS",
            Reason::NotPurchased => "NOT BOUGHT",
            Reason::RentalExpired => "RENTAL OVER",
            Reason::NoTicket => "NO TICKET",
            Reason::EventNotStarted { .. } => "NOT STARTED",
            Reason::EventOver => "OVER",
        }
        .to_string(),
    }
}

fn title(level: AccessLevel) -> TitleAccess {
    TitleAccess {
        title_id: T.into(),
        above: Vec::new(),
        level,
        free_preview: false,
        live_from: Some(NOW - 1000),
        live_until: None,
    }
}

#[test]
fn every_level_against_every_viewer_state() {
    // Columns: public, registered, any plan, gold only, rent or buy, pay-per-view.
    #[rustfmt::skip]
    let expected: &[(&str, [&str; 6])] = &[
        ("signed out", ["free", "SIGN IN", "SIGN IN", "SIGN IN", "SIGN IN", "SIGN IN"]),
        ("signed in", ["free", "signed in", "NO PLAN", "NO PLAN", "NOT BOUGHT", "NO TICKET"]),
        ("gold", ["free", "signed in", "plan", "plan", "NOT BOUGHT", "NO TICKET"]),
        ("silver", ["free", "signed in", "plan", "OTHER PLAN", "NOT BOUGHT", "NO TICKET"]),
        ("gold trial", ["free", "signed in", "trial", "trial", "NOT BOUGHT", "NO TICKET"]),
        ("gold trial over", ["free", "signed in", "NO PLAN", "NO PLAN", "NOT BOUGHT", "NO TICKET"]),
        ("gold period over", ["free", "signed in", "NO PLAN", "NO PLAN", "NOT BOUGHT", "NO TICKET"]),
        ("gold past due, in grace", ["free", "signed in", "grace", "grace", "NOT BOUGHT", "NO TICKET"]),
        ("gold past due, beyond grace", ["free", "signed in", "PAST DUE", "PAST DUE", "NOT BOUGHT", "NO TICKET"]),
        ("gold ended", ["free", "signed in", "NO PLAN", "NO PLAN", "NOT BOUGHT", "NO TICKET"]),
        ("gold, two players running", ["free", "signed in", "STREAMS", "STREAMS", "NOT BOUGHT", "NO TICKET"]),
        ("gold by code", ["free", "signed in", "grant", "grant", "NOT BOUGHT", "NO TICKET"]),
        ("rental not started", ["free", "signed in", "NO PLAN", "NO PLAN", "rental starts", "NO TICKET"]),
        ("rental running", ["free", "signed in", "NO PLAN", "NO PLAN", "rental", "NO TICKET"]),
        ("rental over", ["free", "signed in", "NO PLAN", "NO PLAN", "RENTAL OVER", "NO TICKET"]),
        ("owned", ["free", "signed in", "NO PLAN", "NO PLAN", "owned", "NO TICKET"]),
        ("ticket", ["free", "signed in", "NO PLAN", "NO PLAN", "NOT BOUGHT", "ticket"]),
        ("title by code", ["free", "grant", "grant", "grant", "grant", "ticket"]),
    ];
    let policy = Policy::default();
    let levels = levels();
    let states = states();
    assert_eq!(states.len(), expected.len());
    let mut wrong = Vec::new();
    for ((state_name, viewer), (row_name, row)) in states.iter().zip(expected) {
        assert_eq!(state_name, row_name);
        for ((level_name, level), want) in levels.iter().zip(row) {
            let got = word(&decide(&title(level.clone()), viewer, &policy, NOW));
            if got != *want {
                wrong.push(format!(
                    "{state_name} × {level_name}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn denials_say_what_would_let_the_viewer_in() {
    let policy = Policy::default();
    let levels = levels();
    let remedies = |level: usize, viewer: &ViewerState| match decide(
        &title(levels[level].1.clone()),
        viewer,
        &policy,
        NOW,
    ) {
        Decision::Denied { remedies, .. } => remedies,
        allowed => panic!("{allowed:?}"),
    };
    assert_eq!(
        remedies(3, &signed_in()),
        vec![
            Remedy::Subscribe {
                plans: vec!["gold".into()]
            },
            Remedy::Code
        ]
    );
    assert_eq!(
        remedies(4, &ViewerState::default()),
        vec![
            Remedy::SignIn,
            Remedy::Rent { price: eur(399) },
            Remedy::Buy { price: eur(1299) }
        ]
    );
    let past_due = subscribed(
        "gold",
        SubscriptionStatus::PastDue {
            since: NOW - 4 * 24 * HOUR,
        },
        NOW,
    );
    assert_eq!(remedies(2, &past_due), vec![Remedy::UpdatePayment]);
    assert_eq!(
        remedies(5, &signed_in()),
        vec![Remedy::Ticket { price: eur(999) }, Remedy::Code]
    );
}

#[test]
fn access_ends_with_the_period_the_rental_the_event_and_the_title_window() {
    let policy = Policy::default();
    let levels = levels();
    let until =
        |t: &TitleAccess, viewer: &ViewerState, now: i64| match decide(t, viewer, &policy, now) {
            Decision::Allowed { until, .. } => until,
            denied => panic!("{denied:?}"),
        };
    let gold = subscribed("gold", SubscriptionStatus::Active, NOW + 1000);
    assert_eq!(
        until(&title(levels[2].1.clone()), &gold, NOW),
        Some(NOW + 1000)
    );
    // A rental's window starts at the first play.
    assert_eq!(
        until(&title(levels[4].1.clone()), &renting(None), NOW),
        Some(NOW + 48 * HOUR)
    );
    assert_eq!(
        until(&title(levels[4].1.clone()), &renting(Some(NOW - HOUR)), NOW),
        Some(NOW + 47 * HOUR)
    );
    let grace = subscribed(
        "gold",
        SubscriptionStatus::PastDue { since: NOW - HOUR },
        NOW,
    );
    assert_eq!(
        until(&title(levels[2].1.clone()), &grace, NOW),
        Some(NOW - HOUR + policy.past_due_grace_secs)
    );
    // Nothing outlives the title's own window.
    let closing = TitleAccess {
        live_until: Some(NOW + 10),
        ..title(levels[2].1.clone())
    };
    assert_eq!(until(&closing, &gold, NOW), Some(NOW + 10));
    let ticket = ViewerState {
        tickets: vec!["final".into()],
        ..signed_in()
    };
    assert_eq!(
        until(&title(levels[5].1.clone()), &ticket, NOW),
        Some(NOW + 100)
    );
}

#[test]
fn windows_and_events_decide_before_anything_is_bought() {
    let policy = Policy::default();
    let gold = subscribed("gold", SubscriptionStatus::Active, NOW + 10_000);
    let level = AccessLevel::Subscribers { plans: vec![] };
    let word_at =
        |t: &TitleAccess, viewer: &ViewerState, now: i64| word(&decide(t, viewer, &policy, now));
    let scheduled = TitleAccess {
        live_from: Some(NOW + 50),
        ..title(level.clone())
    };
    assert_eq!(word_at(&scheduled, &gold, NOW), "unreleased");
    assert_eq!(word_at(&scheduled, &gold, NOW + 50), "plan");
    let draft = TitleAccess {
        live_from: None,
        ..title(level.clone())
    };
    assert_eq!(word_at(&draft, &gold, NOW), "unreleased");
    let expiring = TitleAccess {
        live_until: Some(NOW + 5),
        ..title(level)
    };
    assert_eq!(word_at(&expiring, &gold, NOW + 5), "closed");
    // A trailer plays for anyone.
    let trailer = TitleAccess {
        free_preview: true,
        ..title(AccessLevel::Subscribers { plans: vec![] })
    };
    assert_eq!(word_at(&trailer, &ViewerState::default(), NOW), "free");
    // An event: not before it starts, not after it ends, even with a ticket or a code.
    let event = title(AccessLevel::PayPerView {
        event_id: "final".into(),
        price: eur(999),
        starts_at: NOW + 60,
        ends_at: NOW + 120,
    });
    let ticket = ViewerState {
        tickets: vec!["final".into()],
        ..signed_in()
    };
    assert_eq!(word_at(&event, &ticket, NOW), "NOT STARTED");
    assert_eq!(word_at(&event, &ticket, NOW + 60), "ticket");
    assert_eq!(word_at(&event, &ticket, NOW + 120), "OVER");
    assert_eq!(
        word_at(&event, &granted(GrantScope::Title(T.into())), NOW + 120),
        "OVER"
    );
}

#[test]
fn levels_are_checked() {
    assert!(
        AccessLevel::Purchase {
            rent: None,
            buy: None
        }
        .check()
        .is_err()
    );
    let bad_currency = AccessLevel::Purchase {
        rent: Some(Price {
            amount: 100,
            currency: "EURO".into(),
        }),
        buy: None,
    };
    assert!(bad_currency.check().is_err());
    let backwards = AccessLevel::PayPerView {
        event_id: "e".into(),
        price: eur(100),
        starts_at: 10,
        ends_at: 10,
    };
    assert!(backwards.check().is_err());
    assert!(levels().iter().all(|(_, l)| l.check().is_ok()));
}
