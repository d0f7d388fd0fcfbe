//! The entitlement engine: one pure function from (the title's access, the viewer's state,
//! the operator's policy, now) to a decision. Allowed says until when and on what basis;
//! denied says why and what would let the viewer in. Loading the viewer's state from the
//! database is the caller's job, so this file decides and stores nothing.

use serde::Serialize;

use super::level::{AccessLevel, Price};

/// The operator's rules that are not part of any one title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a subscription whose payment failed keeps playing.
    pub past_due_grace_secs: i64,
    /// How long a rental plays once started.
    pub rental_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            past_due_grace_secs: 3 * 24 * 3600,
            rental_secs: 48 * 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In its free trial, until the period's end.
    Trialing,
    /// Paid up until the period's end (also when cancelled at the period's end).
    Active,
    /// A renewal payment failed at `since`; it plays for the grace period.
    PastDue { since: i64 },
    /// Cancelled or expired.
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub plan_id: String,
    pub status: SubscriptionStatus,
    /// The end of the paid (or trial) period.
    pub period_end: i64,
    /// Players at once on this plan.
    pub stream_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rental {
    pub title_id: String,
    /// None until the first play, which starts the window.
    pub first_play_at: Option<i64>,
    /// The window bought (the policy's at the time of purchase).
    pub window_secs: i64,
}

/// Access given outside a payment: a comp by the operator or a redeemed access code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub scope: GrantScope,
    /// None: for good.
    pub until: Option<i64>,
    /// A plan grant plays like the plan, with its players-at-once limit (None: no limit).
    pub stream_limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum GrantScope {
    /// As if subscribed to this plan.
    Plan(String),
    /// This one title (or event).
    Title(String),
}

/// Everything about the viewer the decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ViewerState {
    /// The account, when signed in.
    pub user_id: Option<i64>,
    pub subscriptions: Vec<Subscription>,
    pub rentals: Vec<Rental>,
    /// Titles bought for good.
    pub owned: Vec<String>,
    /// Pay-per-view events with a ticket.
    pub tickets: Vec<String>,
    pub grants: Vec<Grant>,
    /// Players this account has running now (from heartbeats), not counting this one.
    pub streams_in_use: u32,
}

/// The title as the engine sees it: its id (what purchases, rentals and grants name), its
/// access level (the nearest one set: its own, its season's, its collection's), whether it
/// is a free preview (trailers), and its publishing window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleAccess {
    pub title_id: String,
    /// When the level comes from above: the title asked about. A grant for it opens it
    /// too, so a code for one episode plays that episode of a paid series.
    pub above: Vec<String>,
    pub level: AccessLevel,
    pub free_preview: bool,
    pub live_from: Option<i64>,
    pub live_until: Option<i64>,
}

impl TitleAccess {
    /// Whether playing it takes more than being there: a level other than public, and not
    /// free by design (a trailer or a marked preview).
    pub fn is_paid(&self) -> bool {
        !self.free_preview && self.level != AccessLevel::Public
    }

    /// The title this was asked about (`title_id` names the level's owner, which may be
    /// its season or series): the one a checkout for this level names.
    pub fn asked_about(&self) -> &str {
        self.above.first().map_or(&self.title_id, String::as_str)
    }

    /// Whether a title grant naming `id` is for this title.
    fn named_by(&self, id: &str) -> bool {
        self.title_id == id || self.above.iter().any(|a| a == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Decision {
    Allowed {
        /// When access ends, if it does (a rental's window, a period's end, the event's end).
        until: Option<i64>,
        basis: Basis,
        /// This play starts a rental's window (the caller records `first_play_at`).
        starts_rental: bool,
    },
    Denied {
        reason: Reason,
        /// What would let the viewer in, best first.
        remedies: Vec<Remedy>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Basis {
    Free,
    SignedIn,
    Plan(String),
    Trial(String),
    /// A past-due subscription inside its grace period.
    Grace(String),
    Rental,
    Owned,
    Ticket,
    Grant,
}

impl Basis {
    /// In words, for support: "the plan club", "a rental".
    pub fn words(&self) -> String {
        match self {
            Basis::Free => "free to watch".into(),
            Basis::SignedIn => "being signed in".into(),
            Basis::Plan(p) => format!("the plan {p}"),
            Basis::Trial(p) => format!("a trial of the plan {p}"),
            Basis::Grace(p) => format!("the grace period of the plan {p} after a failed payment"),
            Basis::Rental => "a rental".into(),
            Basis::Owned => "a purchase".into(),
            Basis::Ticket => "a ticket".into(),
            Basis::Grant => "a comp or an access code".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    NotYetReleased { at: Option<i64> },
    WindowClosed,
    SignInRequired,
    NoPlan,
    PlanDoesNotInclude,
    PaymentPastDue,
    StreamLimitReached { limit: u32 },
    NotPurchased,
    RentalExpired,
    NoTicket,
    EventNotStarted { at: i64 },
    EventOver,
}

impl Reason {
    /// What a viewer is told, in one sentence.
    pub fn sentence(&self) -> &'static str {
        match self {
            Reason::NotYetReleased { .. } => "This title is not out yet.",
            Reason::WindowClosed => "This title is no longer available.",
            Reason::SignInRequired => "Sign in to watch this.",
            Reason::NoPlan => "This title is for subscribers.",
            Reason::PlanDoesNotInclude => "Your plan does not include this title.",
            Reason::PaymentPastDue => {
                "Your last payment did not go through, and the grace period is over."
            }
            Reason::StreamLimitReached { .. } => {
                "Your plan's players are all in use; stop one on another device to watch here."
            }
            Reason::NotPurchased => "Rent or buy this title to watch it.",
            Reason::RentalExpired => "Your rental has ended.",
            Reason::NoTicket => "This event needs a ticket.",
            Reason::EventNotStarted { .. } => "You have a ticket; the event has not started yet.",
            Reason::EventOver => "This event is over.",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Remedy {
    SignIn,
    /// Any of these plans (empty: any plan).
    Subscribe {
        plans: Vec<String>,
    },
    Rent {
        price: Price,
    },
    Buy {
        price: Price,
    },
    Ticket {
        price: Price,
    },
    /// Redeem an access code.
    Code,
    /// Fix the card of the past-due subscription.
    UpdatePayment,
    /// Stop a player on another device.
    StopAnotherStream,
}

fn denied(reason: Reason, remedies: Vec<Remedy>) -> Decision {
    Decision::Denied { reason, remedies }
}

/// May the viewer play the title at `now`?
pub fn decide(title: &TitleAccess, viewer: &ViewerState, policy: &Policy, now: i64) -> Decision {
    match title.live_from {
        Some(from) if from <= now => {}
        at => return denied(Reason::NotYetReleased { at }, Vec::new()),
    }
    if title.live_until.is_some_and(|until| until <= now) {
        return denied(Reason::WindowClosed, Vec::new());
    }
    let decision = decide_level(title, viewer, policy, now);
    // Nothing outlives the title's own window.
    match decision {
        Decision::Allowed {
            until,
            basis,
            starts_rental,
        } => Decision::Allowed {
            until: earliest(until, title.live_until),
            basis,
            starts_rental,
        },
        denied => denied,
    }
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn allowed(until: Option<i64>, basis: Basis) -> Decision {
    Decision::Allowed {
        until,
        basis,
        starts_rental: false,
    }
}

/// The level's answer alone, without the title's publishing window (`media` asks it of the
/// other paid titles that share a played title's media).
pub(super) fn decide_level(
    title: &TitleAccess,
    viewer: &ViewerState,
    policy: &Policy,
    now: i64,
) -> Decision {
    if title.free_preview || title.level == AccessLevel::Public {
        return allowed(None, Basis::Free);
    }
    let signed_in = viewer.user_id.is_some();
    // A grant for this very title opens it whatever its level (an event's, only during the
    // event: see `pay_per_view`).
    let event = matches!(title.level, AccessLevel::PayPerView { .. });
    if signed_in
        && !event
        && let Some(grant) = viewer.grants.iter().find(|g| {
            matches!(&g.scope, GrantScope::Title(id) if title.named_by(id))
                && g.until.is_none_or(|u| u > now)
        })
    {
        return allowed(grant.until, Basis::Grant);
    }
    match &title.level {
        AccessLevel::Public => allowed(None, Basis::Free),
        AccessLevel::Registered if signed_in => allowed(None, Basis::SignedIn),
        AccessLevel::Registered => denied(Reason::SignInRequired, vec![Remedy::SignIn]),
        AccessLevel::Subscribers { plans } => subscribers(plans, viewer, policy, now),
        AccessLevel::Purchase { rent, buy } => purchase(title, rent, buy, viewer, now),
        AccessLevel::PayPerView {
            event_id,
            price,
            starts_at,
            ends_at,
        } => pay_per_view(title, event_id, price, (*starts_at, *ends_at), viewer, now),
    }
}

fn subscribers(plans: &[String], viewer: &ViewerState, policy: &Policy, now: i64) -> Decision {
    let subscribe = Remedy::Subscribe {
        plans: plans.to_vec(),
    };
    if viewer.user_id.is_none() {
        return denied(Reason::SignInRequired, vec![Remedy::SignIn, subscribe]);
    }
    let qualifies = |plan: &str| plans.is_empty() || plans.iter().any(|p| p == plan);
    // What each subscription gives now: (until, basis), or nothing.
    let standing = |s: &Subscription| -> Option<(i64, Basis)> {
        match s.status {
            SubscriptionStatus::Active if s.period_end > now => {
                Some((s.period_end, Basis::Plan(s.plan_id.clone())))
            }
            SubscriptionStatus::Trialing if s.period_end > now => {
                Some((s.period_end, Basis::Trial(s.plan_id.clone())))
            }
            SubscriptionStatus::PastDue { since } if since + policy.past_due_grace_secs > now => {
                Some((
                    since + policy.past_due_grace_secs,
                    Basis::Grace(s.plan_id.clone()),
                ))
            }
            _ => None,
        }
    };
    let mut best: Option<(i64, Basis, u32)> = None;
    for s in viewer
        .subscriptions
        .iter()
        .filter(|s| qualifies(&s.plan_id))
    {
        if let Some((until, basis)) = standing(s)
            && best.as_ref().is_none_or(|(u, _, _)| until > *u)
        {
            best = Some((until, basis, s.stream_limit));
        }
    }
    if let Some((until, basis, limit)) = best {
        if viewer.streams_in_use >= limit {
            return denied(
                Reason::StreamLimitReached { limit },
                vec![Remedy::StopAnotherStream],
            );
        }
        return allowed(Some(until), basis);
    }
    // A comp or an access code for a qualifying plan, with the plan's stream limit.
    if let Some(grant) = viewer.grants.iter().find(|g| {
        matches!(&g.scope, GrantScope::Plan(p) if qualifies(p)) && g.until.is_none_or(|u| u > now)
    }) {
        if let Some(limit) = grant.stream_limit
            && viewer.streams_in_use >= limit
        {
            return denied(
                Reason::StreamLimitReached { limit },
                vec![Remedy::StopAnotherStream],
            );
        }
        return allowed(grant.until, Basis::Grant);
    }
    let past_due = viewer
        .subscriptions
        .iter()
        .any(|s| qualifies(&s.plan_id) && matches!(s.status, SubscriptionStatus::PastDue { .. }));
    if past_due {
        return denied(Reason::PaymentPastDue, vec![Remedy::UpdatePayment]);
    }
    let other_plan = viewer.subscriptions.iter().any(|s| standing(s).is_some());
    if other_plan {
        denied(Reason::PlanDoesNotInclude, vec![subscribe, Remedy::Code])
    } else {
        denied(Reason::NoPlan, vec![subscribe, Remedy::Code])
    }
}

fn purchase(
    title: &TitleAccess,
    rent: &Option<Price>,
    buy: &Option<Price>,
    viewer: &ViewerState,
    now: i64,
) -> Decision {
    let offers: Vec<Remedy> = rent
        .iter()
        .map(|p| Remedy::Rent { price: p.clone() })
        .chain(buy.iter().map(|p| Remedy::Buy { price: p.clone() }))
        .collect();
    if viewer.user_id.is_none() {
        let mut remedies = vec![Remedy::SignIn];
        remedies.extend(offers);
        return denied(Reason::SignInRequired, remedies);
    }
    if viewer.owned.contains(&title.title_id) {
        return allowed(None, Basis::Owned);
    }
    let rentals = viewer
        .rentals
        .iter()
        .filter(|r| r.title_id == title.title_id);
    let mut expired = false;
    let mut unstarted: Option<&Rental> = None;
    for rental in rentals {
        match rental.first_play_at {
            Some(start) if start + rental.window_secs > now => {
                return allowed(Some(start + rental.window_secs), Basis::Rental);
            }
            Some(_) => expired = true,
            None => unstarted = unstarted.or(Some(rental)),
        }
    }
    if let Some(rental) = unstarted {
        return Decision::Allowed {
            until: Some(now + rental.window_secs),
            basis: Basis::Rental,
            starts_rental: true,
        };
    }
    let mut remedies = offers;
    remedies.push(Remedy::Code);
    if expired {
        denied(Reason::RentalExpired, remedies)
    } else {
        denied(Reason::NotPurchased, remedies)
    }
}

fn pay_per_view(
    title: &TitleAccess,
    event_id: &str,
    price: &Price,
    (starts_at, ends_at): (i64, i64),
    viewer: &ViewerState,
    now: i64,
) -> Decision {
    if now >= ends_at {
        return denied(Reason::EventOver, Vec::new());
    }
    let ticket = Remedy::Ticket {
        price: price.clone(),
    };
    if viewer.user_id.is_none() {
        return denied(Reason::SignInRequired, vec![Remedy::SignIn, ticket]);
    }
    // A ticket, or a code or comp for the event or for this title.
    let has_ticket = viewer.tickets.iter().any(|t| t == event_id)
        || viewer.grants.iter().any(|g| {
            matches!(&g.scope, GrantScope::Title(id) if id == event_id || title.named_by(id))
                && g.until.is_none_or(|u| u > now)
        });
    if !has_ticket {
        return denied(Reason::NoTicket, vec![ticket, Remedy::Code]);
    }
    if now < starts_at {
        return denied(Reason::EventNotStarted { at: starts_at }, Vec::new());
    }
    allowed(Some(ends_at), Basis::Ticket)
}
