//! The offers part of `/admin/paywall`: offers listed with what they give and how often
//! they were taken, made and changed from one form; a plan's subscribers moved to its
//! current price; and an offer given from a member's page. Every change goes through
//! `services::offers`, as the API's do.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::paywall::parse_money;
use super::titles::{local_input, parse_input};
use crate::access::offers::{self, Audience, Offer, OfferDuration, OfferFields, OfferKind};
use crate::accounts::roles::perm;
use crate::http::AppState;
use crate::http::session::{Admin, PageError, see_other};

/// An offer as the dashboard lists and edits it.
#[derive(Serialize)]
pub struct OfferRow {
    id: i64,
    name: String,
    code: String,
    kind: &'static str,
    value: String,
    currency: String,
    duration: &'static str,
    months: String,
    audience: &'static str,
    plan_ids: Vec<String>,
    starts_at: String,
    ends_at: String,
    cap: String,
    gives: String,
    redemptions: i64,
    archived: bool,
}

impl From<Offer> for OfferRow {
    fn from(o: Offer) -> Self {
        let f = &o.fields;
        OfferRow {
            id: o.id,
            gives: f.describe(),
            name: f.name.clone(),
            code: f.code.clone().unwrap_or_default(),
            kind: match f.kind {
                OfferKind::Percent => "percent",
                OfferKind::Fixed => "fixed",
                OfferKind::FreePeriod => "free_period",
            },
            value: match f.kind {
                OfferKind::Fixed => format!("{}.{:02}", f.value / 100, f.value % 100),
                _ => f.value.to_string(),
            },
            currency: f.currency.clone().unwrap_or_else(|| "eur".into()),
            duration: match f.duration {
                OfferDuration::Once => "once",
                OfferDuration::Repeating => "repeating",
                OfferDuration::Forever => "forever",
            },
            months: f.duration_months.map(|m| m.to_string()).unwrap_or_default(),
            audience: match f.audience {
                Audience::New => "new",
                Audience::Existing => "existing",
                Audience::Both => "both",
            },
            plan_ids: f.plan_ids.clone(),
            starts_at: local_input(f.starts_at),
            ends_at: local_input(f.ends_at),
            cap: f.max_redemptions.map(|m| m.to_string()).unwrap_or_default(),
            redemptions: o.redemptions,
            archived: o.archived,
        }
    }
}

pub async fn rows(state: &AppState) -> Result<Vec<OfferRow>, PageError> {
    let all = state.db.read(offers::list).await?;
    Ok(all.into_iter().map(OfferRow::from).collect())
}

#[derive(Deserialize)]
struct OfferForm {
    name: String,
    #[serde(default)]
    code: String,
    kind: String,
    value: String,
    #[serde(default)]
    currency: String,
    duration: String,
    #[serde(default)]
    months: String,
    audience: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    cap: String,
    #[serde(default)]
    archived: Option<String>,
}

fn number(what: &str, s: &str) -> Result<Option<i64>, PageError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| PageError::BadRequest(format!("{what}: {s:?} is not a whole number")))
}

impl OfferForm {
    fn fields(&self, plan_ids: Vec<String>) -> Result<OfferFields, PageError> {
        let kind = match self.kind.as_str() {
            "percent" => OfferKind::Percent,
            "fixed" => OfferKind::Fixed,
            "free_period" => OfferKind::FreePeriod,
            other => return Err(PageError::BadRequest(format!("no kind of offer {other:?}"))),
        };
        let value = match kind {
            OfferKind::Fixed => parse_money("Amount off", &self.value)?,
            _ => number("Value", &self.value)?,
        }
        .ok_or_else(|| PageError::BadRequest("an offer needs a value".into()))?;
        let when = |what: &str, s: &str| -> Result<Option<i64>, PageError> {
            Ok(Some(parse_input(what, s)?).filter(|t| *t != 0))
        };
        Ok(OfferFields {
            name: self.name.clone(),
            code: Some(self.code.clone()),
            kind,
            value,
            currency: Some(self.currency.trim().to_lowercase()),
            duration: match self.duration.as_str() {
                "repeating" => OfferDuration::Repeating,
                "forever" => OfferDuration::Forever,
                _ => OfferDuration::Once,
            },
            duration_months: number("Months", &self.months)?.map(|m| m.clamp(0, 1000) as u32),
            audience: match self.audience.as_str() {
                "new" => Audience::New,
                "existing" => Audience::Existing,
                _ => Audience::Both,
            },
            plan_ids,
            starts_at: when("Starts", &self.starts_at)?,
            ends_at: when("Ends", &self.ends_at)?,
            max_redemptions: number("Redemption cap", &self.cap)?,
        })
    }
}

fn plan_ids(admin: &Admin<perm::BillingWrite>) -> Vec<String> {
    url::form_urlencoded::parse(admin.viewer.form_bytes())
        .filter(|(k, _)| k == "plans")
        .map(|(_, v)| v.into_owned())
        .collect()
}

#[post("/admin/paywall/offers")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
) -> Result<HttpResponse, PageError> {
    let form: OfferForm = admin.viewer.form()?;
    let made = state
        .paywall
        .create_offer(&admin.viewer.actor(), form.fields(plan_ids(&admin))?)
        .await?;
    Ok(super::saved(
        &format!("/admin/paywall#offer-{}", made.id),
        Saved::OfferCreated,
    ))
}

#[post("/admin/paywall/offers/{id}")]
pub async fn save(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: OfferForm = admin.viewer.form()?;
    let id = id.into_inner();
    state
        .paywall
        .update_offer(
            &admin.viewer.actor(),
            id,
            form.fields(plan_ids(&admin))?,
            form.archived.is_some(),
        )
        .await?;
    Ok(super::saved(
        &format!("/admin/paywall#offer-{id}"),
        Saved::OfferSaved,
    ))
}

/// Subscribers of each plan who pay something other than its current price.
pub async fn on_old_prices(state: &AppState) -> Result<Vec<(String, i64)>, PageError> {
    let now = crate::clock::now();
    Ok(state
        .db
        .read(move |c| crate::access::holdings::on_old_price_counts(c, now))
        .await?)
}

#[post("/admin/paywall/plans/{id}/migrate")]
pub async fn migrate(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let report = state
        .paywall
        .migrate_plan_price(&stripe, &admin.viewer.actor(), &id)
        .await?;
    let to = format!(
        "/admin/paywall?migrated={}&failed={}&remaining={}#plan-{}",
        report.migrated, report.failed, report.remaining, id
    );
    Ok(see_other(&to, []))
}

#[derive(Deserialize)]
struct GiveForm {
    offer_id: i64,
}

#[post("/admin/members/{id}/offers")]
pub async fn give(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let form: GiveForm = admin.viewer.form()?;
    let id = id.into_inner();
    let stripe = state.settings.settings.current().stripe.clone();
    state
        .paywall
        .apply_offer(&stripe, &admin.viewer.actor(), id, form.offer_id)
        .await?;
    Ok(super::saved(
        &format!("/admin/members/{id}#paywall"),
        Saved::OfferGiven,
    ))
}
