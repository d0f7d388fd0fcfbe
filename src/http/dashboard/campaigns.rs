//! `/admin/campaigns`: retention campaigns made from a segment and a retention offer, sent
//! by email and/or banner with a holdout, and each one's report (sent, opened, redeemed,
//! and the targets' renewals against the holdout's). A live campaign can be edited (its
//! texts, banner and end); every change is in the audit log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::Saved;
use super::render;
use super::titles::{local_input, parse_input};
use crate::accounts::roles::perm;
use crate::campaigns::report::{self, Report};
use crate::campaigns::{CampaignError, CampaignFields, store};
use crate::http::AppState;
use crate::http::session::{Admin, PageError};

const DEFAULT_BODY: &str = "Hello {{name}},\n\nWe have an offer for you: take it here: {{link}}\n\nNo more offers by email: {{unsubscribe}}\n";

#[derive(Deserialize)]
pub struct CampaignForm {
    name: String,
    segment_id: i64,
    offer_id: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    banner: Option<String>,
    #[serde(default)]
    banner_text: String,
    holdout_percent: u32,
    frequency_cap_days: u32,
    /// `YYYY-MM-DDTHH:MM` (UTC); empty: now.
    #[serde(default)]
    send_at: String,
    /// Days the banner shows and the link works.
    days: u32,
}

impl CampaignForm {
    fn fields(&self, now: i64) -> Result<CampaignFields, PageError> {
        // To the minute, as the form shows it back.
        let send_at = match parse_input("send at", &self.send_at)? {
            0 => now - now.rem_euclid(60),
            t => t,
        };
        if !(1..=365).contains(&self.days) {
            return Err(PageError::BadRequest("the offer runs 1 to 365 days".into()));
        }
        Ok(CampaignFields {
            name: self.name.clone(),
            segment_id: self.segment_id,
            offer_id: self.offer_id,
            email: self.email.is_some(),
            subject: self.subject.clone(),
            body: self.body.replace("\r\n", "\n"),
            banner: self.banner.is_some(),
            banner_text: self.banner_text.clone(),
            holdout_percent: self.holdout_percent,
            frequency_cap_days: self.frequency_cap_days,
            send_at,
            ends_at: send_at + i64::from(self.days) * 86_400,
        })
    }
}

fn page_error(e: CampaignError) -> PageError {
    match e {
        CampaignError::Invalid(m) => PageError::BadRequest(m),
        CampaignError::NotFound => PageError::NotFound("no such campaign".into()),
        other => PageError::internal(other),
    }
}

#[derive(Serialize)]
struct Row {
    id: i64,
    name: String,
    status: String,
    send_at: String,
}

#[derive(Serialize)]
struct FormView {
    name: String,
    segment_id: i64,
    offer_id: i64,
    email: bool,
    subject: String,
    body: String,
    banner: bool,
    banner_text: String,
    holdout_percent: u32,
    frequency_cap_days: u32,
    send_at: String,
    days: i64,
    sent: bool,
}

#[derive(Serialize)]
struct ReportView {
    report: Report,
    target_rate: String,
    holdout_rate: String,
    lift: Option<String>,
}

fn percent(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn report_view(report: Report) -> ReportView {
    ReportView {
        target_rate: percent(report.target_renewal.rate()),
        holdout_rate: percent(report.holdout_renewal.rate()),
        lift: report.lift().map(|(d, low, high)| {
            format!(
                "{:+.1} points (95 % interval {:+.1} to {:+.1})",
                d * 100.0,
                low * 100.0,
                high * 100.0
            )
        }),
        report,
    }
}

async fn render_page(
    state: &AppState,
    admin: &Admin<perm::BillingRead>,
    id: Option<i64>,
) -> Result<HttpResponse, PageError> {
    let now = crate::clock::now();
    let (campaigns, segments, offers, editing, report) = state
        .db
        .read(move |c| -> Result<_, PageError> {
            let campaigns = store::list(c).map_err(page_error)?;
            let segments = crate::analytics::segments::list(c).map_err(PageError::internal)?;
            let offers = crate::access::offers::list(c).map_err(PageError::internal)?;
            let (editing, report) = match id {
                Some(id) => (
                    Some(store::get(c, id).map_err(page_error)?),
                    Some(report::report(c, id, now).map_err(page_error)?),
                ),
                None => (None, None),
            };
            Ok((campaigns, segments, offers, editing, report))
        })
        .await?;
    let rows: Vec<Row> = campaigns
        .iter()
        .map(|c| Row {
            id: c.id,
            name: c.fields.name.clone(),
            status: c.status.clone(),
            send_at: local_input(Some(c.fields.send_at)).replace('T', " "),
        })
        .collect();
    let segments: Vec<(i64, String)> = segments.into_iter().map(|s| (s.id, s.name)).collect();
    let offers: Vec<(i64, String)> = offers
        .into_iter()
        .filter(|o| !o.archived && o.fields.audience != crate::access::offers::Audience::New)
        .map(|o| (o.id, format!("{} ({})", o.fields.name, o.fields.describe())))
        .collect();
    let form = match &editing {
        Some(c) => FormView {
            name: c.fields.name.clone(),
            segment_id: c.fields.segment_id,
            offer_id: c.fields.offer_id,
            email: c.fields.email,
            subject: c.fields.subject.clone(),
            body: c.fields.body.clone(),
            banner: c.fields.banner,
            banner_text: c.fields.banner_text.clone(),
            holdout_percent: c.fields.holdout_percent,
            frequency_cap_days: c.fields.frequency_cap_days,
            send_at: local_input(Some(c.fields.send_at)),
            days: (c.fields.ends_at - c.fields.send_at) / 86_400,
            sent: c.status != "scheduled",
        },
        None => FormView {
            name: String::new(),
            segment_id: 0,
            offer_id: 0,
            email: true,
            subject: "An offer for you".into(),
            body: DEFAULT_BODY.into(),
            banner: true,
            banner_text: "We have an offer for you: take it here".into(),
            holdout_percent: 10,
            frequency_cap_days: 14,
            send_at: String::new(),
            days: 14,
            sent: false,
        },
    };
    render(
        state,
        &admin.viewer,
        "/admin/campaigns",
        "admin/campaigns.html",
        StatusCode::OK,
        minijinja::context! {
            campaigns => minijinja::Value::from(minijinja::value::Serde(&rows)),
            segments => minijinja::Value::from(minijinja::value::Serde(&segments)),
            offers => minijinja::Value::from(minijinja::value::Serde(&offers)),
            form => minijinja::Value::from(minijinja::value::Serde(&form)),
            id,
            status => editing.as_ref().map(|c| c.status.clone()),
            report => minijinja::Value::from(minijinja::value::Serde(&report.map(report_view))),
        },
    )
}

#[get("/admin/campaigns")]
pub async fn list(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingRead>,
) -> Result<HttpResponse, PageError> {
    render_page(&state, &admin, None).await
}

#[get("/admin/campaigns/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingRead>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    render_page(&state, &admin, Some(path.into_inner())).await
}

async fn save(
    state: &AppState,
    admin: &Admin<perm::BillingWrite>,
    id: Option<i64>,
) -> Result<HttpResponse, PageError> {
    let form: CampaignForm = admin.viewer.form()?;
    let now = crate::clock::now();
    let fields = form.fields(now)?;
    let actor = admin.viewer.actor();
    let saved = state
        .db
        .write(move |tx| -> Result<i64, PageError> {
            let saved = store::save(tx, id, &fields, now).map_err(page_error)?;
            crate::audit::record(
                tx,
                &actor,
                if id.is_some() {
                    "campaign.change"
                } else {
                    "campaign.create"
                },
                &format!("campaign:{saved}"),
                serde_json::to_value(&fields).unwrap_or_default(),
                now,
            )
            .map_err(PageError::internal)?;
            Ok(saved)
        })
        .await?;
    state.campaign_wake.notify_one();
    Ok(super::saved(
        &format!("/admin/campaigns/{saved}"),
        Saved::CampaignSaved,
    ))
}

#[post("/admin/campaigns")]
pub async fn create(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
) -> Result<HttpResponse, PageError> {
    save(&state, &admin, None).await
}

#[post("/admin/campaigns/{id}")]
pub async fn change(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    save(&state, &admin, Some(path.into_inner())).await
}

/// Ends a campaign that went out, now: its banner goes and its links stop.
#[post("/admin/campaigns/{id}/end")]
pub async fn end(
    state: web::Data<AppState>,
    admin: Admin<perm::BillingWrite>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let actor = admin.viewer.actor();
    let now = crate::clock::now();
    state
        .db
        .write(move |tx| -> Result<(), PageError> {
            store::end_now(tx, id, now).map_err(page_error)?;
            crate::audit::record(
                tx,
                &actor,
                "campaign.end",
                &format!("campaign:{id}"),
                serde_json::json!({}),
                now,
            )
            .map_err(PageError::internal)
        })
        .await?;
    Ok(super::saved(
        &format!("/admin/campaigns/{id}"),
        Saved::CampaignEnded,
    ))
}
