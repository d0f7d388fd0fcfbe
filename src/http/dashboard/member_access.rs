//! The paywall part of a member's page: what they hold (comps and redeemed codes, with an
//! "end now" button), a comp form, and "why can't this member play this title?", which
//! shows the entitlement engine's own answer.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::when;
use crate::access::entitlement::Decision;
use crate::access::grants::{self, Scope};
use crate::access::{AccessError, holdings};
use crate::access::{offers, plans};
use crate::accounts::roles::{Permission, perm};
use crate::http::AppState;
use crate::http::session::{Admin, PageError, Viewer};
use crate::http::watch::money;

#[derive(Serialize)]
struct GrantLine {
    id: i64,
    what: String,
    until: String,
    source: String,
    note: String,
    by: String,
    ended: Option<String>,
}

#[derive(Serialize)]
struct Why {
    title: String,
    level: String,
    allowed: bool,
    answer: String,
    remedies: Vec<String>,
    /// Recent passes and origin decisions for this member and title: (when, who, what).
    recent: Vec<(String, &'static str, String)>,
}

#[derive(Serialize)]
struct SubscriptionLine {
    id: i64,
    plan: String,
    status: String,
    price: String,
    renews: String,
    source: String,
    /// The subscription in Stripe's dashboard, where support looks it up.
    stripe_url: Option<String>,
    manual: bool,
    open: bool,
}

#[derive(Serialize)]
struct PurchaseLine {
    id: i64,
    what: String,
    price: String,
    bought: String,
    state: String,
    refundable: bool,
}

#[derive(Serialize)]
struct PlayingLine {
    title: String,
    since: String,
    last_beat: String,
}

#[derive(Serialize)]
pub struct MemberAccess {
    subscriptions: Vec<SubscriptionLine>,
    purchases: Vec<PurchaseLine>,
    /// Subscription invoices from Stripe: (when, amount, status).
    invoices: Vec<(String, String, String)>,
    playing: Vec<PlayingLine>,
    grants: Vec<GrantLine>,
    plans: Vec<(String, String)>,
    /// Offers that may be given to a member who subscribes: (id, name and what it gives).
    retention_offers: Vec<(i64, String)>,
    /// Offers this member took: (name, what it gives, when).
    offers_taken: Vec<(String, String, String)>,
    why: Option<Why>,
    can_write: bool,
}

/// The section, or `None` for someone who may not read billing.
pub async fn section(
    state: &AppState,
    viewer: &Viewer,
    user_id: i64,
    why_title: Option<String>,
) -> Result<Option<MemberAccess>, PageError> {
    let role = viewer.user().role;
    if !role.may(Permission::BillingRead) {
        return Ok(None);
    }
    let (held, on_offer, subs, bought) = state
        .db
        .read(move |c| {
            Ok::<_, AccessError>((
                grants::of_user(c, user_id)?,
                plans::list(c)?,
                holdings::subscriptions(c, user_id)?,
                holdings::purchases(c, user_id)?,
            ))
        })
        .await?;
    let invoices = state
        .db
        .read(move |c| crate::payments::sync::invoices_of(c, user_id))
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|i| (when(i.created), money(i.amount, &i.currency), i.status))
        .collect();
    let (all_offers, taken) = state
        .db
        .read(move |c| Ok::<_, AccessError>((offers::list(c)?, offers::taken_offers(c, user_id)?)))
        .await?;
    let retention_offers = all_offers
        .into_iter()
        .filter(|o| {
            offers::open_now(o, crate::clock::now()) && o.fields.audience != offers::Audience::New
        })
        .map(|o| (o.id, format!("{}: {}", o.fields.name, o.fields.describe())))
        .collect();
    let offers_taken = taken
        .into_iter()
        .map(|(name, gives, at)| (name, gives, when(at)))
        .collect();
    let now = crate::clock::now();
    let playing_now = state.playback.streams().playing(user_id, now);
    // Plans and titles by their names.
    let mentioned: Vec<String> = bought
        .iter()
        .map(|p| p.target_id.clone())
        .chain(held.iter().filter_map(|g| match &g.scope {
            Scope::Title(t) => Some(t.clone()),
            Scope::Plan(_) => None,
        }))
        .chain(playing_now.iter().map(|p| p.title_id.clone()))
        .collect();
    let names = crate::http::words::Names::load(state, mentioned).await?;
    let subscriptions = subs
        .into_iter()
        .map(|s| SubscriptionLine {
            id: s.id,
            status: subscription_state(&s.status, s.cancel_at_period_end),
            price: if s.amount > 0 {
                format!("{} a {}", money(s.amount, &s.currency), s.interval)
            } else {
                "no charge".into()
            },
            renews: when(s.period_end),
            source: match s.source.as_str() {
                "manual" => "given by hand".into(),
                "stripe" => "Stripe".into(),
                other => other.replace('_', " "),
            },
            stripe_url: s
                .stripe_subscription_id
                .as_deref()
                .map(|id| format!("https://dashboard.stripe.com/subscriptions/{id}")),
            manual: s.source == "manual",
            open: s.status != "ended",
            plan: names.plan(&s.plan_id),
        })
        .collect();
    let purchases = bought
        .into_iter()
        .map(|p| PurchaseLine {
            id: p.id,
            what: match p.kind.as_str() {
                "rent" => format!("Rental of {}", names.title(&p.target_id)),
                "buy" => format!("Purchase of {}", names.title(&p.target_id)),
                _ => format!("Ticket for the event “{}”", p.target_id),
            },
            price: money(p.amount, &p.currency),
            bought: when(p.created_at),
            state: match (p.refunded_at, p.window_secs, p.first_play_at) {
                (Some(at), _, _) => format!("refunded {}", when(at)),
                (None, Some(_), None) => "not started".into(),
                (None, Some(w), Some(start)) if start + w > now => {
                    format!("plays until {}", when(start + w))
                }
                (None, Some(_), Some(_)) => "ended".into(),
                (None, None, _) => "held".into(),
            },
            refundable: p.refunded_at.is_none(),
        })
        .collect();
    let playing = playing_now
        .into_iter()
        .map(|p| PlayingLine {
            title: names.title(&p.title_id),
            since: when(p.since),
            last_beat: when(p.last_beat),
        })
        .collect();
    let grants = held
        .into_iter()
        .map(|g| GrantLine {
            id: g.id,
            what: names.scope(&g.scope),
            until: g.until.map_or("for good".into(), when),
            source: g.code.map_or(g.source, |c| format!("code {c}")),
            note: g.note,
            by: g.created_by,
            ended: match (g.revoked_at, g.until) {
                (Some(at), _) => Some(format!("ended {}", when(at))),
                (None, Some(u)) if u <= now => Some("expired".into()),
                _ => None,
            },
        })
        .collect();
    let why = match why_title.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(typed) => {
            let title = typed.trim().to_owned();
            let (picked_id, answer) = match super::titles::pick_title(state, &title).await? {
                Ok((id, _label)) => (Some(id), String::new()),
                Err(refusal) => (None, refusal),
            };
            let paywall = state.settings.settings.current().paywall.clone();
            let found = match &picked_id {
                Some(id) => {
                    state
                        .playback
                        .decision(id, Some(user_id), None, &paywall, now)
                        .await?
                }
                None => None,
            };
            let picked_id = picked_id.unwrap_or_default();
            Some(match found {
                None => Why {
                    title,
                    level: String::new(),
                    allowed: false,
                    answer: if answer.is_empty() {
                        "There is no such title.".into()
                    } else {
                        answer
                    },
                    remedies: Vec::new(),
                    recent: Vec::new(),
                },
                Some((access, decision)) => {
                    let names =
                        crate::http::words::Names::load(state, vec![access.title_id.clone()])
                            .await?;
                    let recent: Vec<(String, &'static str, String)> = state
                        .playback
                        .recent(&picked_id, user_id)
                        .await?
                        .into_iter()
                        .map(|d| {
                            let at = match d.since {
                                Some(since) => format!("{} to {}", when(since), when(d.at)),
                                None => when(d.at),
                            };
                            (at, d.source, names.plans_named(&d.what))
                        })
                        .collect();
                    let level = format!(
                        "{}{}",
                        names.level_in_force(&access.level, &access.title_id, &picked_id),
                        if access.free_preview {
                            ", free preview"
                        } else {
                            ""
                        }
                    );
                    match decision {
                        Decision::Allowed { until, basis, .. } => Why {
                            title,
                            level,
                            allowed: true,
                            answer: format!(
                                "May play, on the basis of {}{}.",
                                names.basis(&basis),
                                until.map_or(String::new(), |u| format!(", until {}", when(u)))
                            ),
                            remedies: Vec::new(),
                            recent: recent.clone(),
                        },
                        Decision::Denied { reason, remedies } => Why {
                            title,
                            level,
                            allowed: false,
                            answer: reason.sentence().into(),
                            remedies: remedies.iter().map(|r| names.remedy(r)).collect(),
                            recent,
                        },
                    }
                }
            })
        }
    };
    Ok(Some(MemberAccess {
        subscriptions,
        purchases,
        playing,
        grants,
        plans: on_offer
            .into_iter()
            .filter(|p| !p.archived)
            .map(|p| (p.id, p.fields.name))
            .collect(),
        retention_offers,
        offers_taken,
        invoices,
        why,
        can_write: role.may(Permission::BillingWrite),
    }))
}

#[derive(Deserialize)]
struct CompForm {
    /// `plan:<id>` or `title:<id>`.
    grants: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    note: String,
}

#[post("/admin/members/{id}/comp")]
pub async fn comp(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: CompForm = admin.viewer.form()?;
    let id = id.into_inner();
    let scope = match form.grants.split_once(':') {
        Some(("plan", p)) => Scope::Plan(p.to_owned()),
        _ if !form.title.trim().is_empty() => {
            let (title, _) = super::titles::pick_title(&state, &form.title)
                .await?
                .map_err(PageError::BadRequest)?;
            Scope::Title(title)
        }
        _ => {
            return Err(PageError::BadRequest(
                "Choose a plan, or type the name of a title.".into(),
            ));
        }
    };
    let days: i64 = match form.days.trim() {
        "" => 0,
        d => d
            .parse()
            .ok()
            .filter(|d| (1..=3660).contains(d))
            .ok_or_else(|| PageError::BadRequest("days: 1 to 3660, or empty for good".into()))?,
    };
    let until = (days > 0).then(|| crate::clock::now() + days * 86_400);
    let note = form.note.chars().take(500).collect();
    state
        .paywall
        .comp(&admin.viewer.actor(), id, scope, until, note)
        .await?;
    Ok(super::saved(
        &format!("/admin/members/{id}#paywall"),
        Saved::CompGiven,
    ))
}

#[post("/admin/members/{id}/grants/{grant}/end")]
pub async fn revoke(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, PageError> {
    let (id, grant) = path.into_inner();
    state
        .paywall
        .revoke(&admin.viewer.actor(), id, grant)
        .await?;
    Ok(super::saved(
        &format!("/admin/members/{id}#paywall"),
        Saved::GrantEnded,
    ))
}

#[derive(Deserialize)]
struct DaysForm {
    #[serde(default)]
    plan: String,
    days: String,
}

fn days_of(s: &str) -> Result<i64, PageError> {
    s.trim()
        .parse()
        .ok()
        .filter(|d| (1..=3660).contains(d))
        .ok_or_else(|| PageError::BadRequest("days: 1 to 3660".into()))
}

#[post("/admin/members/{id}/subscriptions")]
pub async fn subscribe(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: DaysForm = admin.viewer.form()?;
    let id = id.into_inner();
    state
        .paywall
        .start_subscription(&admin.viewer.actor(), id, form.plan, days_of(&form.days)?)
        .await?;
    Ok(super::saved(
        &format!("/admin/members/{id}#paywall"),
        Saved::SubscriptionStarted,
    ))
}

/// `extend` (with days) or `cancel` a subscription; `refund` a purchase.
#[post("/admin/members/{id}/{what}/{item}/{action}")]
pub async fn act(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    path: web::Path<(i64, String, i64, String)>,
) -> Result<HttpResponse, PageError> {
    let (user, what, item, action) = path.into_inner();
    let actor = admin.viewer.actor();
    let stripe = state.settings.settings.current().stripe.clone();
    let done = match (what.as_str(), action.as_str()) {
        ("subscriptions", "extend") => {
            let form: DaysForm = admin.viewer.form()?;
            state
                .paywall
                .extend_subscription(&actor, user, item, days_of(&form.days)?)
                .await?;
            Saved::SubscriptionExtended
        }
        ("subscriptions", "cancel") => {
            state
                .paywall
                .cancel_subscription(&actor, &stripe, user, item)
                .await?;
            Saved::SubscriptionCancelled
        }
        ("purchases", "refund") => {
            state
                .paywall
                .refund_purchase(&actor, &stripe, user, item)
                .await?;
            Saved::PurchaseRefunded
        }
        _ => return Err(PageError::NotFound(format!("no action {what}/{action}"))),
    };
    Ok(super::saved(
        &format!("/admin/members/{user}#paywall"),
        done,
    ))
}

/// A subscription's state as support reads it ("free trial", "payment overdue"), never
/// Stripe's status word.
fn subscription_state(status: &str, ends_at_period_end: bool) -> String {
    let state = match status {
        "trialing" => "free trial",
        "active" => "active",
        "past_due" => "payment overdue",
        "ended" => "ended",
        other => other,
    };
    if ends_at_period_end && status != "ended" {
        format!("{state}, ends at period end")
    } else {
        state.to_owned()
    }
}
