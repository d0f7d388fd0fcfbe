//! Buying: `POST /checkout` (a plan, or a rental, purchase or ticket) sends the viewer to
//! Stripe Checkout; `GET /checkout/return` fulfils the session at once on the way back;
//! `POST /account/billing` opens the Customer Portal; `POST /stripe/webhook` takes Stripe's
//! events on the raw body. What each does is `services::billing`'s.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::safe_next;
use super::session::{PageError, Viewer, see_other};
use super::small_body::BodyError;
use crate::payments::PaymentsError;
use crate::services::billing::{Purchase, ReturnUrls};

/// The largest webhook body read (Stripe's events are a few kilobytes).
const WEBHOOK_LIMIT: usize = 512 * 1024;

impl From<PaymentsError> for PageError {
    fn from(e: PaymentsError) -> Self {
        match e {
            PaymentsError::Invalid(m) => PageError::BadRequest(m),
            e @ PaymentsError::UnknownOffer => PageError::BadRequest(e.to_string()),
            PaymentsError::NotConfigured => PageError::BadRequest(e.to_string()),
            other => PageError::internal(other),
        }
    }
}

#[derive(Deserialize)]
struct CheckoutForm {
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// An offer code typed beside the plan.
    #[serde(default)]
    offer: Option<String>,
    /// The page to come back to.
    back: String,
}

#[post("/checkout")]
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: CheckoutForm = viewer.form()?;
    let user = viewer.user().id.0;
    // A typed offer code counts against the account's wrong guesses, as everywhere.
    let typed_code = form.offer.as_deref().is_some_and(|o| !o.trim().is_empty());
    if typed_code && super::watch::code_wait(&state, user).await?.is_some() {
        return Err(PageError::BadRequest(
            "Too many wrong codes: wait a minute and try again.".into(),
        ));
    }
    let purchase = match (form.plan, form.title, form.kind) {
        (Some(plan_id), None, _) => Purchase::Plan {
            plan_id,
            yearly: match form.interval.as_deref() {
                Some("year") => true,
                Some("month") | None => false,
                Some(_) => return Err(PageError::BadRequest("bill monthly or yearly".into())),
            },
            offer_code: form.offer,
        },
        (None, Some(title_id), Some(kind)) => Purchase::Title { title_id, kind },
        _ => return Err(PageError::BadRequest("choose a plan or an offer".into())),
    };
    let back = safe_next(Some(&form.back), viewer.user());
    let base = super::storefront::public_base(&state, &req);
    let escaped: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let urls = ReturnUrls {
        success: format!(
            "{base}/checkout/return?session_id={{CHECKOUT_SESSION_ID}}&back={escaped}"
        ),
        cancel: format!("{base}{back}"),
    };
    let current = state.settings.settings.current();
    let what = match &purchase {
        Purchase::Plan { plan_id, .. } => plan_id.clone(),
        Purchase::Title { title_id, .. } => title_id.clone(),
    };
    let started = state
        .billing
        .checkout(
            &current.stripe,
            &current.paywall,
            user,
            &viewer.user().email,
            purchase,
            urls,
        )
        .await;
    // A code that names no offer counts as a guess. A checkout started is not yet
    // something given, so it clears nothing.
    if typed_code && matches!(started, Err(PaymentsError::UnknownOffer)) {
        super::watch::code_failed(&state, user).await?;
    }
    let started = started?;
    // For the funnel: a checkout was opened at Stripe.
    state
        .beacons
        .checkout_started(user, &what, crate::clock::now() * 1000);
    Ok(see_other(&started, []))
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    session_id: String,
    #[serde(default)]
    back: Option<String>,
}

#[get("/checkout/return")]
pub async fn returned(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let back = safe_next(query.back.as_deref(), viewer.user());
    match state
        .billing
        .returned(&stripe, viewer.user().id.0, &query.session_id)
        .await
    {
        Ok(_) => Ok(see_other(&back, [])),
        // Stripe cannot be asked now: the payment is made and its webhook will unlock the
        // title; the page says so instead of failing.
        Err(e @ (PaymentsError::Stripe(_) | PaymentsError::Db(_))) => {
            tracing::warn!(error = %e, "the return from Checkout could not be confirmed yet; the webhook will apply it");
            let (path, fragment) = back
                .split_once('#')
                .map_or((back.as_str(), ""), |(p, f)| (p, f));
            let sep = if path.contains('?') { '&' } else { '?' };
            let hash = if fragment.is_empty() {
                String::new()
            } else {
                format!("#{fragment}")
            };
            Ok(see_other(&format!("{path}{sep}checkout=pending{hash}"), []))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct OfferForm {
    offer: String,
}

/// The refusals an offer code can meet, as short words for the account page's address (so
/// nothing typed is echoed back) and the sentence shown for each.
const OFFER_REFUSALS: &[(&str, &str, &str)] = &[
    (
        "no offer has this code",
        "unknown",
        "No offer has that code.",
    ),
    ("already", "used", "You have taken that offer already."),
    ("fully taken", "full", "That offer has been fully taken."),
    (
        "not available now",
        "closed",
        "That offer is not available now.",
    ),
    ("has ended", "closed", "That offer is not available now."),
    (
        "current subscription",
        "no-plan",
        "That offer is for members with a current subscription.",
    ),
    (
        "for new members",
        "new-only",
        "That offer is for new members: use it when you subscribe.",
    ),
    (
        "not for this plan",
        "plan",
        "That offer is not for your plan.",
    ),
    (
        "not paid through Stripe",
        "manual",
        "That offer cannot apply to your subscription.",
    ),
    (
        "",
        "wait",
        "Too many wrong codes: wait a minute and try again.",
    ),
];

pub(super) fn offer_refusal_text(word: &str) -> &'static str {
    OFFER_REFUSALS.iter().find(|(_, w, _)| *w == word).map_or(
        "That offer could not be applied; try again later.",
        |(_, _, text)| text,
    )
}

/// A member types an offer code on their account page: it goes onto their subscription.
#[post("/account/offer")]
pub async fn redeem_offer(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let form: OfferForm = viewer.form()?;
    let user = viewer.user().id.0;
    if super::watch::code_wait(&state, user).await?.is_some() {
        return Ok(see_other("/account?offer=wait", []));
    }
    let stripe = state.settings.settings.current().stripe.clone();
    let taken = state
        .paywall
        .redeem_offer_code(&stripe, &viewer.actor(), user, &form.offer)
        .await;
    // Only a code that names no offer counts as a wrong guess; only one applied clears
    // the count (a known code refused for this account changes nothing).
    match &taken {
        Ok(_) => super::watch::code_worked(&state, user).await?,
        Err(crate::services::PaywallServiceError::Access(
            crate::access::AccessError::UnknownOffer,
        )) => super::watch::code_failed(&state, user).await?,
        Err(_) => {}
    }
    let word = match taken {
        Ok(_) => "taken",
        Err(crate::services::PaywallServiceError::Access(
            crate::access::AccessError::UnknownOffer,
        )) => "unknown",
        Err(crate::services::PaywallServiceError::Access(crate::access::AccessError::Invalid(
            m,
        ))) => OFFER_REFUSALS
            .iter()
            .find(|(needle, _, _)| !needle.is_empty() && m.contains(needle))
            .map_or("failed", |(_, w, _)| w),
        Err(e) => {
            tracing::warn!(error = %e, "an offer code could not be applied");
            "failed"
        }
    };
    Ok(see_other(&format!("/account?offer={word}"), []))
}

#[post("/account/billing")]
pub async fn portal(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let back = format!("{}/account", super::storefront::public_base(&state, &req));
    let url = state
        .billing
        .portal(&stripe, viewer.user().id.0, back)
        .await?;
    Ok(see_other(&url, []))
}

/// Stripe's events. 400 for a bad signature or body (Stripe shows it and stops), 500 when
/// acting failed (Stripe sends it again later; the event id makes that safe).
#[post("/stripe/webhook")]
pub async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    // Read whole before the signature can be checked, so with a deadline: a body sent
    // slowly (Stripe's never is) holds what was buffered of it only that long.
    let body = match super::small_body::read_small_body(body, WEBHOOK_LIMIT).await {
        Ok(b) => b,
        Err(e @ BodyError::TooLarge) => {
            return HttpResponse::PayloadTooLarge().body(format!("{}\n", e.words()));
        }
        Err(e @ BodyError::TooSlow) => {
            return HttpResponse::RequestTimeout().body(format!("{}\n", e.words()));
        }
        Err(e @ BodyError::CutOff) => {
            return HttpResponse::BadRequest().body(format!("{}\n", e.words()));
        }
    };
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let stripe = state.settings.settings.current().stripe.clone();
    match state.billing.webhook(&stripe, &signature, &body).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"received": true})),
        Err(e @ (PaymentsError::Signature(_) | PaymentsError::Invalid(_))) => {
            tracing::warn!(error = %e, "a Stripe webhook was refused");
            HttpResponse::BadRequest().body(format!("{e}\n"))
        }
        Err(e @ PaymentsError::NotConfigured) => {
            HttpResponse::ServiceUnavailable().body(format!("{e}\n"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "a Stripe webhook could not be applied yet");
            HttpResponse::InternalServerError().body("not applied yet; send it again\n")
        }
    }
}
