//! Buying: `POST /checkout` (a plan, or a rental, purchase or ticket) sends the viewer to
//! Stripe Checkout — a member, or a visitor with no account (a guest checkout, tied to
//! the browser by a cookie); `GET /checkout/return` fulfils the session at once on the way
//! back (a guest is signed in to an account their checkout made, or asked to sign in);
//! `POST /account/billing` opens the Customer Portal; `POST /stripe/webhook` takes Stripe's
//! events on the raw body. What each does is `services::billing`'s.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use super::account_pages::{local_path, private, safe_next, start_session};
use super::session::{PageError, Viewer, client_ip, form_sender, form_token, over_tls, see_other};
use super::small_body::BodyError;
use super::ui::page;
use crate::accounts::secret::Secret;
use crate::accounts::throttle::{self, ThrottleKey};
use crate::config::SignupMode;
use crate::payments::PaymentsError;
use crate::services::billing::{Buyer, GuestReturn, Purchase, ReturnUrls, Returned};

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

/// The largest checkout form read (a few short fields).
const FORM_LIMIT: usize = 16 * 1024;

/// The cookie that ties a guest checkout to the browser that started it: a random secret,
/// of which the database keeps only the SHA-256 (`payments::guest`). Only the return of a
/// browser that holds it may sign in to the account the checkout made, so a leaked return
/// URL signs no one in. `Lax`: it comes back on the top-level return from Stripe.
const CHECKOUT_COOKIE_TLS: &str = "__Host-marquee_checkout";
const CHECKOUT_COOKIE_PLAIN: &str = "marquee_checkout";
/// Long enough to pay (a Checkout Session lives a day at most).
const CHECKOUT_COOKIE_SECS: i64 = 24 * 3600;

fn checkout_cookie_name(req: &HttpRequest) -> &'static str {
    if over_tls(req) {
        CHECKOUT_COOKIE_TLS
    } else {
        CHECKOUT_COOKIE_PLAIN
    }
}

/// This browser's checkout secret, if it holds one.
fn presented_checkout_browser(req: &HttpRequest) -> Option<Secret> {
    req.cookie(checkout_cookie_name(req))
        .and_then(|c| Secret::parse(c.value()))
}

/// This browser's checkout secret (the one it holds, else a new one), and its cookie, set
/// again so that it lasts a day from this checkout.
fn checkout_browser(req: &HttpRequest) -> (Secret, Cookie<'static>) {
    let secret = presented_checkout_browser(req).unwrap_or_else(Secret::generate);
    let mut c = Cookie::build(checkout_cookie_name(req), secret.encode())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(CHECKOUT_COOKIE_SECS))
        .finish();
    c.set_secure(over_tls(req));
    (secret, c)
}

/// A page of the checkout's own (a result, or Stripe failing), in the site's frame.
struct ResultPage<'a> {
    heading: &'a str,
    lines: Vec<String>,
    sign_in: Option<String>,
    /// The "email me a sign-in link" form, with the email filled in or not.
    link_form: Option<String>,
    /// "Check again": the return URL, for a payment still being confirmed.
    again: Option<String>,
    back: String,
    back_label: &'a str,
}

fn result_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    p: ResultPage<'_>,
) -> Result<HttpResponse, PageError> {
    let (csrf, cookie) = form_token(req);
    let link_form = p.link_form.is_some() && state.mail.is_on();
    let resp = page(
        state,
        "checkout_result.html",
        status,
        minijinja::context! {
            heading => p.heading, lines => p.lines, sign_in => p.sign_in,
            link_form, email => p.link_form.unwrap_or_default(), csrf, again => p.again,
            back => p.back, back_label => p.back_label,
        },
    )?;
    Ok(private(resp, cookie))
}

/// Stripe could not start Checkout: a page in the site's frame (503 when Stripe could not
/// be reached or failed on its side, 502 when it refused, a bad key say), the cause logged.
/// Nothing was recorded before Stripe answered, so nothing changed.
fn payments_unavailable(
    req: &HttpRequest,
    state: &AppState,
    error: &PaymentsError,
    back: String,
) -> Result<HttpResponse, PageError> {
    let status = match error {
        PaymentsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    tracing::error!(error = %error, status = status.as_u16(), "Stripe could not start a checkout");
    let mut resp = result_page(
        req,
        state,
        status,
        ResultPage {
            heading: "Payments are unavailable right now",
            lines: vec![
                "Nothing was charged.".into(),
                "Try again in a minute.".into(),
            ],
            sign_in: None,
            link_form: None,
            again: None,
            back,
            back_label: "Go back",
        },
    )?;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct CheckoutForm {
    /// The session's CSRF token, or for a visitor with no account the double-submit token
    /// of `form_token`.
    #[serde(default)]
    csrf: String,
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

/// Whether too many wrong offer codes came lately: from this account, or for a visitor
/// with no account from this address.
async fn code_wait(
    state: &AppState,
    req: &HttpRequest,
    user: Option<i64>,
) -> Result<bool, PageError> {
    match user {
        Some(user) => Ok(super::watch::code_wait(state, user).await?.is_some()),
        None => {
            let (key, now) = (
                ThrottleKey::CodeGuessFrom(client_ip(req)),
                crate::clock::now(),
            );
            let wait = state
                .db
                .read(move |c| throttle::wait_for(c, &[key], now))
                .await
                .map_err(PageError::internal)?;
            Ok(wait.is_some())
        }
    }
}

async fn code_failed(
    state: &AppState,
    req: &HttpRequest,
    user: Option<i64>,
) -> Result<(), PageError> {
    match user {
        Some(user) => super::watch::code_failed(state, user).await,
        None => {
            let key = ThrottleKey::CodeGuessFrom(client_ip(req));
            let (policy, now) = (state.accounts.throttle, crate::clock::now());
            state
                .db
                .write(move |tx| throttle::record_failure(tx, &[key], &policy, now))
                .await
                .map_err(PageError::internal)
        }
    }
}

/// Where a visitor with no account goes instead of checkout, when checkout cannot make
/// them one: it makes an account for the email typed at Stripe, so only while anyone may
/// have one (`accounts.signup` open) and the owner of that address can be reached to take
/// it (email set up: the welcome link). Otherwise they sign up or sign in first, and come
/// back to `back`.
fn account_first(state: &AppState, back: &str) -> Option<String> {
    let open = state.settings.settings.current().accounts.signup == SignupMode::Open;
    if open && state.mail.is_on() {
        return None;
    }
    let page = if open { "/signup" } else { "/login" };
    Some(format!(
        "{page}?{}",
        serde_urlencoded::to_string([("next", back)]).unwrap_or_default()
    ))
}

fn too_many_checkouts(
    req: &HttpRequest,
    state: &AppState,
    wait: i64,
    back: String,
) -> Result<HttpResponse, PageError> {
    let minutes = (wait + 59) / 60;
    let mut resp = result_page(
        req,
        state,
        StatusCode::TOO_MANY_REQUESTS,
        ResultPage {
            heading: "Too many checkouts from your network",
            lines: vec![
                "Nothing was charged.".into(),
                format!(
                    "Try again in {minutes} minute{}, or sign in first.",
                    if minutes == 1 { "" } else { "s" }
                ),
            ],
            sign_in: Some(format!(
                "/login?{}",
                serde_urlencoded::to_string([("next", back.as_str())]).unwrap_or_default()
            )),
            link_form: None,
            again: None,
            back,
            back_label: "Go back",
        },
    )?;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Ok(resp)
}

/// Checkout, for a member or a visitor with no account. A signed-out form carries the
/// double-submit token (`csrf` from `form_token`); Stripe Checkout then asks for the email
/// and the account is the one it gives once paid (`BillingService::fulfil_guest`).
#[post("/checkout")]
pub async fn checkout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    if body.len() > FORM_LIMIT {
        return Err(PageError::BadRequest("the form is too large".into()));
    }
    let form: CheckoutForm =
        serde_urlencoded::from_bytes(&body).map_err(super::session::form_not_understood)?;
    let session = form_sender(&req, &state, &form.csrf).await?;
    let user = session.as_ref().map(|s| s.user.id.0);
    if session.is_none() {
        let back = if local_path(&form.back) {
            form.back.clone()
        } else {
            "/".to_owned()
        };
        if let Some(first) = account_first(&state, &back) {
            return Ok(see_other(&first, []));
        }
        let counted = state
            .billing
            .count_guest_checkout(client_ip(&req), &state.accounts.throttle)
            .await;
        if let Some(wait) = counted.map_err(PageError::internal)? {
            return too_many_checkouts(&req, &state, wait, back);
        }
    }
    // A typed offer code counts against the account's wrong guesses (a guest's, against
    // the address's), as everywhere.
    let typed_code = form.offer.as_deref().is_some_and(|o| !o.trim().is_empty());
    if typed_code && code_wait(&state, &req, user).await? {
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
    let back = match &session {
        Some(s) => safe_next(Some(&form.back), &s.user),
        None if local_path(&form.back) => form.back.clone(),
        None => "/".to_owned(),
    };
    let (buyer, browser_cookie) = match &session {
        Some(s) => (
            Buyer::Member {
                user_id: s.user.id.0,
                email: s.user.email.clone(),
            },
            None,
        ),
        None => {
            let (secret, cookie) = checkout_browser(&req);
            (
                Buyer::Guest {
                    browser_hash: secret.stored_hash(),
                },
                Some(cookie),
            )
        }
    };
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
        .checkout(&current.stripe, &current.paywall, &buyer, purchase, urls)
        .await;
    // A code that names no offer counts as a guess. A checkout started is not yet
    // something given, so it clears nothing.
    if typed_code && matches!(started, Err(PaymentsError::UnknownOffer)) {
        code_failed(&state, &req, user).await?;
    }
    let started = match started {
        Ok(url) => url,
        Err(e @ (PaymentsError::Stripe(_) | PaymentsError::Unavailable(_))) => {
            return payments_unavailable(&req, &state, &e, back);
        }
        Err(e) => return Err(e.into()),
    };
    // For the funnel: a checkout was opened at Stripe.
    if let Some(user) = user {
        state
            .beacons
            .checkout_started(user, &what, crate::clock::now() * 1000);
    }
    Ok(see_other(&started, browser_cookie))
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    session_id: String,
    #[serde(default)]
    back: Option<String>,
}

/// `back` with `checkout=pending` added: the page says the payment is being confirmed.
fn pending_at(back: &str) -> String {
    let (path, fragment) = back.split_once('#').map_or((back, ""), |(p, f)| (p, f));
    let sep = if path.contains('?') { '&' } else { '?' };
    let hash = if fragment.is_empty() {
        String::new()
    } else {
        format!("#{fragment}")
    };
    format!("{path}{sep}checkout=pending{hash}")
}

#[get("/checkout/return")]
pub async fn returned(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Option<Viewer>,
    query: web::Query<ReturnQuery>,
) -> Result<HttpResponse, PageError> {
    let stripe = state.settings.settings.current().stripe.clone();
    let signed_in = viewer.as_ref().map(|v| v.user().id.0);
    let back = match &viewer {
        Some(v) => safe_next(query.back.as_deref(), v.user()),
        None => query
            .back
            .clone()
            .filter(|b| local_path(b))
            .unwrap_or_else(|| "/".to_owned()),
    };
    let browser = presented_checkout_browser(&req).map(|s| s.stored_hash());
    let this_return = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/checkout/return".to_owned(), |p| p.as_str().to_owned());
    match state
        .billing
        .returned(&stripe, signed_in, &query.session_id, browser)
        .await
    {
        Ok(Returned::Member(_)) => Ok(see_other(&back, [])),
        Ok(Returned::SignInFirst) => Err(PageError::SignInRequired {
            next: this_return,
            api: false,
        }),
        Ok(Returned::Guest(guest)) => {
            guest_returned(&req, &state, viewer.as_ref(), guest, back).await
        }
        Ok(Returned::NotPaid) => pending_page(&req, &state, this_return, back),
        // Stripe cannot be asked now: the payment is made and its webhook will unlock the
        // title; the page says so instead of failing.
        Err(
            e @ (PaymentsError::Stripe(_) | PaymentsError::Unavailable(_) | PaymentsError::Db(_)),
        ) => {
            tracing::warn!(error = %e, "the return from Checkout could not be confirmed yet; the webhook will apply it");
            match viewer {
                Some(_) => Ok(see_other(&pending_at(&back), [])),
                None => pending_page(&req, &state, this_return, back),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// A guest's payment not confirmed yet: the page says so, with a way to look again.
fn pending_page(
    req: &HttpRequest,
    state: &AppState,
    this_return: String,
    back: String,
) -> Result<HttpResponse, PageError> {
    result_page(
        req,
        state,
        StatusCode::OK,
        ResultPage {
            heading: "Your payment is being confirmed",
            lines: vec![
                "Thank you. Stripe is still confirming your payment; this usually takes less than a minute.".into(),
                "Once it is confirmed, what you bought is on the account of the email you gave at checkout, and an email tells you how to sign in.".into(),
            ],
            sign_in: None,
            link_form: None,
            again: Some(this_return),
            back,
            back_label: "Go back",
        },
    )
}

/// Back from a paid guest checkout: signed in when this checkout made the account and
/// this is the browser that started it (once); else a page that asks the buyer to sign in
/// — paying with an address never opens the account that already had it.
async fn guest_returned(
    req: &HttpRequest,
    state: &AppState,
    viewer: Option<&Viewer>,
    guest: GuestReturn,
    back: String,
) -> Result<HttpResponse, PageError> {
    let Some(user) = guest.user.as_ref() else {
        return Err(PageError::NotFound(
            "the account this purchase went to has been deleted".into(),
        ));
    };
    if guest.sign_in {
        tracing::info!(
            user = user.id.0,
            "signed in on the return from a checkout that made the account"
        );
        return start_session(req, state, user, &back).await;
    }
    let own = viewer.is_some_and(|v| v.user().id == user.id);
    if own && !guest.trial_refused {
        return Ok(see_other(&back, []));
    }
    let sign_in_then_back = format!(
        "/login?{}",
        serde_urlencoded::to_string([("next", back.as_str())]).unwrap_or_default()
    );
    // The address the buyer typed is shown back only to the browser that paid.
    let email = if guest.this_browser {
        user.email.clone()
    } else {
        String::new()
    };
    let (heading, lines) = if guest.trial_refused {
        (
            "Your free trial was used before",
            vec![
                "The email you gave at checkout has had its free trial already, so this subscription was not started and nothing was charged.".to_owned(),
                "Sign in, then subscribe again without a trial.".to_owned(),
            ],
        )
    } else if guest.account_made {
        (
            "Thank you: your payment went through",
            vec![
                "An account was made for the email you gave at checkout, and what you bought is on it.".to_owned(),
                "We emailed it a link to choose your password. Sign in to watch.".to_owned(),
            ],
        )
    } else {
        (
            "Thank you: your payment went through",
            vec![
                "What you bought is on the account that uses the email you gave at checkout."
                    .to_owned(),
                "Sign in to that account to watch.".to_owned(),
            ],
        )
    };
    result_page(
        req,
        state,
        StatusCode::OK,
        ResultPage {
            heading,
            lines,
            sign_in: (!own).then_some(sign_in_then_back),
            link_form: (!own).then_some(email),
            again: None,
            back,
            back_label: "Go back",
        },
    )
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
