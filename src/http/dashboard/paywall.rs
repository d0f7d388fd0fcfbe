//! `/admin/paywall`: plans (prices, trial, stream limit, on sale or hidden) and batches of
//! access codes with their CSV; and the access level form on a title's page. Every change
//! goes through `services::paywall`, as the API's do, and applies without a restart.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::{Saved, render, when};
use crate::access::AccessError;
use crate::access::grants::{self, NewBatch, Scope};
use crate::access::level::{AccessLevel, Price};
use crate::access::plans::{self, PlanFields};
use crate::accounts::roles::{Permission, perm};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};
use crate::http::watch::money;
use crate::services::PaywallServiceError;
use crate::services::paywall::LevelTarget;

impl From<AccessError> for PageError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::NotFound(what) => PageError::NotFound(format!("{what} not found")),
            AccessError::Invalid(m) => PageError::BadRequest(m),
            e @ AccessError::UnknownOffer => PageError::BadRequest(e.to_string()),
            other => PageError::internal(other),
        }
    }
}

impl From<PaywallServiceError> for PageError {
    fn from(e: PaywallServiceError) -> Self {
        match e {
            PaywallServiceError::Access(e) => e.into(),
            PaywallServiceError::Payments(e) => e.into(),
            other => PageError::internal(other),
        }
    }
}

/// `7.99` (or `7,99`, `7`) as minor units; empty: none.
pub(super) fn parse_money(what: &str, s: &str) -> Result<Option<i64>, PageError> {
    let s = s.trim().replace(',', ".");
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || PageError::BadRequest(format!("{what}: {s:?} is not an amount like 7.99"));
    let (whole, cents) = match s.split_once('.') {
        Some((w, c)) if c.len() == 1 => (w, format!("{c}0")),
        Some((w, c)) if c.len() == 2 => (w, c.to_owned()),
        Some(_) => return Err(bad()),
        None => (s.as_str(), "00".to_owned()),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 7 {
        return Err(bad());
    }
    let cents: i64 = cents.parse().map_err(|_| bad())?;
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    Ok(Some(whole * 100 + cents))
}

fn amount_input(amount: Option<i64>) -> String {
    amount.map_or(String::new(), |a| format!("{}.{:02}", a / 100, a % 100))
}

#[derive(Serialize)]
struct PlanRow {
    id: String,
    name: String,
    description: String,
    currency: String,
    monthly: String,
    yearly: String,
    prices: String,
    trial_days: u32,
    stream_limit: u32,
    public: bool,
    archived: bool,
    /// Subscribers who pay an older price (a migration moves them).
    on_old_price: i64,
}

#[derive(Serialize)]
struct BatchRow {
    id: i64,
    name: String,
    grants: String,
    uses_per_code: u32,
    codes: u32,
    redeemed: u32,
    expires: Option<String>,
    created: String,
}

/// What a batch's codes give, by name: "Explorer for 30 days", "Kelp Forest for good".
fn grants_text(names: &crate::http::words::Names, scope: &Scope, days: Option<u32>) -> String {
    match (scope, days) {
        (Scope::Plan(p), Some(d)) => format!("{} for {d} days", names.plan(p)),
        (Scope::Plan(p), None) => names.plan(p),
        (Scope::Title(t), _) => format!("{} for good", names.title(t)),
    }
}

/// After a migration: what it did.
#[derive(Deserialize)]
pub struct ShowQuery {
    migrated: Option<u32>,
    failed: Option<u32>,
    remaining: Option<u32>,
}

#[get("/admin/paywall")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingRead>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, PageError> {
    let (all_plans, batches) = state
        .db
        .read(|c| Ok::<_, AccessError>((plans::list(c)?, grants::batches(c)?)))
        .await?;
    let old_prices = super::offers::on_old_prices(&state).await?;
    let offer_rows = super::offers::rows(&state).await?;
    let migration = query.migrated.map(|m| {
        format!(
            "{m} subscribers moved to the current price; {} refused by Stripe (see the log); {} left.",
            query.failed.unwrap_or(0),
            query.remaining.unwrap_or(0)
        )
    });
    let plan_rows: Vec<PlanRow> = all_plans
        .iter()
        .map(|p| {
            let f = &p.fields;
            let prices = [
                f.monthly_amount
                    .map(|m| format!("{} a month", money(m, &f.currency))),
                f.yearly_amount
                    .map(|y| format!("{} a year", money(y, &f.currency))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" or ");
            PlanRow {
                id: p.id.clone(),
                name: f.name.clone(),
                description: f.description.clone(),
                currency: f.currency.clone(),
                monthly: amount_input(f.monthly_amount),
                yearly: amount_input(f.yearly_amount),
                prices,
                trial_days: f.trial_days,
                stream_limit: f.stream_limit,
                public: f.public,
                archived: p.archived,
                on_old_price: old_prices
                    .iter()
                    .find(|(id, _)| *id == p.id)
                    .map_or(0, |(_, n)| *n),
            }
        })
        .collect();
    let names = crate::http::words::Names::load(
        &state,
        batches
            .iter()
            .filter_map(|b| match &b.scope {
                Scope::Title(t) => Some(t.clone()),
                Scope::Plan(_) => None,
            })
            .collect(),
    )
    .await?;
    let batch_rows: Vec<BatchRow> = batches
        .iter()
        .map(|b| BatchRow {
            id: b.id,
            name: b.name.clone(),
            grants: grants_text(&names, &b.scope, b.days),
            uses_per_code: b.uses_per_code,
            codes: b.codes,
            redeemed: b.redeemed,
            expires: b.expires_at.map(when),
            created: when(b.created_at),
        })
        .collect();
    let can_write = admin.viewer.user().role.may(Permission::BillingWrite);
    render(
        &state,
        &admin.viewer,
        "/admin/paywall",
        "admin/paywall.html",
        StatusCode::OK,
        minijinja::context! {
            plans => minijinja::Value::from(minijinja::value::Serde(&plan_rows)),
            batches => minijinja::Value::from(minijinja::value::Serde(&batch_rows)),
            offers => minijinja::Value::from(minijinja::value::Serde(&offer_rows)),
            migration,
            can_write,
        },
    )
}

#[derive(Deserialize)]
struct PlanForm {
    name: String,
    #[serde(default)]
    description: String,
    currency: String,
    #[serde(default)]
    monthly: String,
    #[serde(default)]
    yearly: String,
    #[serde(default)]
    trial_days: String,
    stream_limit: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    archived: Option<String>,
}

fn whole(what: &str, s: &str) -> Result<u32, PageError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    s.parse()
        .map_err(|_| PageError::BadRequest(format!("{what}: {s:?} is not a whole number")))
}

impl PlanForm {
    fn fields(&self) -> Result<PlanFields, PageError> {
        Ok(PlanFields {
            name: self.name.clone(),
            description: self.description.clone(),
            currency: self.currency.trim().to_lowercase(),
            monthly_amount: parse_money("Monthly price", &self.monthly)?,
            yearly_amount: parse_money("Yearly price", &self.yearly)?,
            trial_days: whole("Trial days", &self.trial_days)?,
            stream_limit: whole("Players at once", &self.stream_limit)?,
            public: self.public.is_some(),
        })
    }
}

#[post("/admin/paywall/plans")]
pub async fn create_plan(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
) -> Result<HttpResponse, PageError> {
    let form: PlanForm = admin.viewer.form()?;
    state
        .paywall
        .create_plan(&admin.viewer.actor(), form.fields()?)
        .await?;
    Ok(super::saved("/admin/paywall", Saved::PlanCreated))
}

#[post("/admin/paywall/plans/{id}")]
pub async fn save_plan(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: PlanForm = admin.viewer.form()?;
    state
        .paywall
        .update_plan(
            &admin.viewer.actor(),
            &id,
            form.fields()?,
            Some(form.archived.is_some()),
        )
        .await?;
    Ok(super::saved("/admin/paywall", Saved::PlanSaved))
}

#[derive(Deserialize)]
struct BatchForm {
    name: String,
    /// `plan:<id>`, or `title:` with the title's name in `title`.
    grants: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    days: String,
    count: String,
    #[serde(default)]
    uses_per_code: String,
}

#[post("/admin/paywall/codes")]
pub async fn create_batch(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
) -> Result<HttpResponse, PageError> {
    let form: BatchForm = admin.viewer.form()?;
    let scope = match form.grants.trim().split_once(':') {
        Some(("plan", id)) => Scope::Plan(id.trim().to_owned()),
        Some(("title", _)) if !form.title.trim().is_empty() => {
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
    let days = match whole("Days", &form.days)? {
        0 => None,
        d => Some(d),
    };
    let batch = NewBatch {
        name: form.name,
        scope,
        days,
        count: whole("Number of codes", &form.count)? as usize,
        uses_per_code: whole("Uses per code", &form.uses_per_code)?.max(1),
        expires_at: None,
    };
    let made = state
        .paywall
        .create_batch(&admin.viewer.actor(), batch)
        .await?;
    Ok(super::saved(
        &format!("/admin/paywall#batch-{}", made.id),
        Saved::CodesMade,
    ))
}

#[get("/admin/paywall/codes/{id}/csv")]
pub async fn batch_csv(
    state: web::Data<AppState>,
    _admin: Admin<perm::BillingRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let (batch, codes) = state
        .db
        .read(move |c| Ok::<_, AccessError>((grants::batch(c, id)?, grants::batch_codes(c, id)?)))
        .await?;
    crate::http::paywall_api::csv_answer(&batch, &codes).map_err(PageError::internal)
}

/// The access level form of a title's page, filled from its current level.
#[derive(Serialize, Default)]
pub struct LevelForm {
    /// inherit, public, registered, subscribers, purchase or pay_per_view.
    pub kind: &'static str,
    pub plans: Vec<String>,
    pub currency: String,
    pub rent: String,
    pub buy: String,
    pub event_id: String,
    pub ticket: String,
    pub starts_at: String,
    pub ends_at: String,
    pub free_preview: bool,
}

impl LevelForm {
    pub fn of(level: Option<&AccessLevel>, free_preview: bool) -> LevelForm {
        let mut form = LevelForm {
            kind: "inherit",
            currency: "eur".into(),
            free_preview,
            ..LevelForm::default()
        };
        let Some(level) = level else { return form };
        match level {
            AccessLevel::Public => form.kind = "public",
            AccessLevel::Registered => form.kind = "registered",
            AccessLevel::Subscribers { plans } => {
                form.kind = "subscribers";
                form.plans = plans.clone();
            }
            AccessLevel::Purchase { rent, buy } => {
                form.kind = "purchase";
                if let Some(p) = rent.as_ref().or(buy.as_ref()) {
                    form.currency = p.currency.clone();
                }
                form.rent = amount_input(rent.as_ref().map(|p| p.amount));
                form.buy = amount_input(buy.as_ref().map(|p| p.amount));
            }
            AccessLevel::PayPerView {
                event_id,
                price,
                starts_at,
                ends_at,
            } => {
                form.kind = "pay_per_view";
                form.event_id = event_id.clone();
                form.currency = price.currency.clone();
                form.ticket = amount_input(Some(price.amount));
                form.starts_at = super::titles::local_input(Some(*starts_at));
                form.ends_at = super::titles::local_input(Some(*ends_at));
            }
        }
        form
    }
}

#[derive(Deserialize)]
struct LevelFormBody {
    kind: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    rent: String,
    #[serde(default)]
    buy: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    free_preview: Option<String>,
}

fn level_from(form: &LevelFormBody, plans: Vec<String>) -> Result<Option<AccessLevel>, PageError> {
    let currency = form.currency.trim().to_lowercase();
    let price = |what: &str, s: &str| -> Result<Option<Price>, PageError> {
        Ok(parse_money(what, s)?.map(|amount| Price {
            amount,
            currency: currency.clone(),
        }))
    };
    Ok(Some(match form.kind.as_str() {
        "inherit" => return Ok(None),
        "public" => AccessLevel::Public,
        "registered" => AccessLevel::Registered,
        "subscribers" => AccessLevel::Subscribers { plans },
        "purchase" => AccessLevel::Purchase {
            rent: price("Rental price", &form.rent)?,
            buy: price("Purchase price", &form.buy)?,
        },
        "pay_per_view" => AccessLevel::PayPerView {
            event_id: form.event_id.trim().to_owned(),
            price: price("Ticket price", &form.ticket)?
                .ok_or_else(|| PageError::BadRequest("a ticket needs a price".into()))?,
            starts_at: super::titles::parse_input("Event start", &form.starts_at)?,
            ends_at: super::titles::parse_input("Event end", &form.ends_at)?,
        },
        other => return Err(PageError::BadRequest(format!("no access level {other:?}"))),
    }))
}

#[post("/admin/titles/{id}/access")]
pub async fn save_title_level(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let form: LevelFormBody = admin.viewer.form()?;
    let plans: Vec<String> = url::form_urlencoded::parse(admin.viewer.form_bytes())
        .filter(|(k, _)| k == "plans")
        .map(|(_, v)| v.into_owned())
        .collect();
    let level = level_from(&form, plans)?;
    let id = id.into_inner();
    state
        .paywall
        .set_level(
            &admin.viewer.actor(),
            LevelTarget::Title(id.clone()),
            level,
            form.free_preview.is_some(),
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/titles/{id}#access"),
        Saved::AccessSaved,
    ))
}
