//! The watch page: the entitlement engine's answer for this viewer, then either the player
//! with its pass (free media on the public path, premium under a token it renews before
//! expiry) or, instead of a broken player, what would let the viewer in: sign in, plans,
//! rent or buy prices, a ticket, an access code. Also the player's token renewal and
//! progress reports.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::session::{Viewer, presented_session};
use super::shop::PlanCard;
use super::ui::{missing, page};
use crate::access::AccessError;
use crate::access::entitlement::{Decision, Reason, Remedy};
use crate::access::level::{AccessLevel, Price};
use crate::accounts::roles::Permission;
use crate::accounts::throttle;
use crate::catalog::{self, AssetStatus, browse, progress};
use crate::images::ArtKind;
use crate::playback::gate::{self, poster_url};
use crate::services::playback::{Asker, PlayAnswer, ProgressError, Refusal};
use crate::services::shop;

#[derive(Serialize)]
struct WatchView {
    id: String,
    title: String,
    description: String,
    duration: String,
    /// Seconds, for the player to tell a finished position from one to resume.
    duration_secs: Option<f64>,
    poster: Option<String>,
    /// Behind the paywall: the title's uploaded backdrop (else its series'), else the
    /// video's poster frame.
    backdrop: Option<String>,
    /// The series and episode number, or the title an extra belongs to.
    heading: Option<String>,
    /// That title's page.
    back: Option<String>,
    /// Where the player starts this signed-in viewer (seconds), by `progress::resume_at`:
    /// none, from the beginning.
    resume: Option<f64>,
    /// `progress::resume_at`'s bounds, for the position a signed-out viewer's browser kept.
    resume_from_secs: f64,
    finished_at: f64,
    /// With access: what the player fetches.
    player: Option<PlayerView>,
    /// Without: why, and what would let the viewer in.
    paywall: Option<PaywallView>,
    /// A staff member's preview of a title viewers cannot see: the band that says so.
    preview: Option<&'static str>,
    /// What the player shows when the title ends.
    end: Option<EndView>,
}

/// The end screen: the next episode with a countdown, or more like this. Links only: the
/// player fetches nothing of these titles' media (their watch pages decide access).
#[derive(Serialize)]
struct EndView {
    next: Option<super::storefront::CardView>,
    more: Vec<super::storefront::CardView>,
    /// Seconds before the next episode starts on its own.
    countdown: u32,
}

/// How long the end screen counts down before the next episode starts.
const NEXT_EPISODE_COUNTDOWN_SECS: u32 = 10;

#[derive(Serialize)]
struct PlayerView {
    playback_url: String,
    thumbnails: Option<String>,
    /// When the token runs out (Unix seconds); the player renews it before then.
    pass_expires: Option<i64>,
}

#[derive(Serialize, Default)]
struct PaywallView {
    reason: String,
    /// What the title needs, in words, where the reason does not say it ("Included with
    /// Explorer" for a visitor told to sign in).
    needs: Option<String>,
    /// The title whose access the viewer needs: the watched one, or another paid title that
    /// plays the same media. Its offers are the ones shown, and checkout names it.
    title: String,
    /// When that is another title: whose access is needed, in words.
    part_of: Option<String>,
    sign_in: Option<String>,
    /// Beside "Sign in" for a visitor: make an account and come back here.
    sign_up: Option<String>,
    plans: Vec<PlanCard>,
    rent: Option<String>,
    buy: Option<String>,
    ticket: Option<String>,
    /// The event's start: machine time for the page's script, and the same in UTC words
    /// for a browser that runs none.
    event_at: Option<EventTime>,
    code: bool,
    update_payment: bool,
    stop_another_stream: bool,
    /// Stripe is set up: the offers are buttons, for visitors too (checkout finds or makes
    /// the account).
    can_buy: bool,
    /// Something is for sale but Stripe is not set up: "Not on sale online yet".
    not_on_sale: Option<&'static str>,
}

#[derive(Serialize)]
struct EventTime {
    /// RFC 3339, UTC: `<time datetime>`.
    iso: String,
    /// "Monday 7 December 2026, 20:00 UTC".
    words: String,
}

fn event_time(at: i64) -> Option<EventTime> {
    let t = time::OffsetDateTime::from_unix_timestamp(at).ok()?;
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    let words = format!(
        "{} {} {} {}, {:02}:{:02} UTC",
        t.weekday(),
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minute()
    );
    Some(EventTime { iso, words })
}

fn clock(secs: Option<f64>) -> String {
    let s = secs.unwrap_or(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The paywall's heading. A visitor who is not signed in is told what the title needs, not
/// only to sign in: signing in is one way in among the buttons (a guest may pay, make an
/// account, or type a code).
fn heading(reason: &Reason, level: &AccessLevel) -> &'static str {
    if *reason != Reason::SignInRequired {
        return reason.sentence();
    }
    match level {
        AccessLevel::Subscribers { .. } => Reason::NoPlan.sentence(),
        AccessLevel::Purchase { .. } => Reason::NotPurchased.sentence(),
        AccessLevel::PayPerView { .. } => Reason::NoTicket.sentence(),
        AccessLevel::Registered => "Create a free account, or sign in, to watch this.",
        AccessLevel::Public => reason.sentence(),
    }
}

/// `1299 eur` as `€12.99`, in English; where the viewer's locale is known, call
/// `crate::money::format` with it instead.
pub(super) fn money(amount: i64, currency: &str) -> String {
    crate::money::format(amount, currency, &crate::money::Locale::default())
}

fn price_text(p: &Price, locale: &crate::money::Locale) -> String {
    super::shop::price(p.amount, &p.currency, locale)
}

/// Staff (a role that reads the catalog) also see titles viewers cannot, to preview them.
fn looker(viewer: Option<&Viewer>) -> browse::Looker {
    match viewer.is_some_and(|v| v.user().role.may(Permission::CatalogRead)) {
        true => browse::Looker::Staff,
        false => browse::Looker::Viewer,
    }
}

fn asker(req: &HttpRequest, viewer: Option<&Viewer>) -> Asker {
    Asker {
        user_id: viewer.map(|v| v.user().id.0),
        // Only a session the extractor accepted names the viewer.
        viewer: viewer
            .and(presented_session(req))
            .map(|s| gate::viewer_of(&s)),
    }
}

/// "This video is part of “Kelp Forest”, which subscribers watch.": whose access a title
/// needs when another paid title plays the same media (`name`: `None` when that title is
/// not out, so its name is not shown).
fn part_of(name: Option<&str>, level: &AccessLevel) -> String {
    let whose = match name {
        Some(name) => format!("\u{201c}{name}\u{201d}"),
        None => "another title".to_owned(),
    };
    let who = match level {
        AccessLevel::Public | AccessLevel::Registered => "which signed-in viewers watch",
        AccessLevel::Subscribers { .. } => "which subscribers watch",
        AccessLevel::Purchase {
            rent: Some(_),
            buy: None,
        } => "which you rent to watch",
        AccessLevel::Purchase {
            rent: None,
            buy: Some(_),
        } => "which you buy to watch",
        AccessLevel::Purchase { .. } => "which you rent or buy to watch",
        AccessLevel::PayPerView { .. } => "an event you need a ticket for",
    };
    format!("This video is part of {whose}, {who}.")
}

async fn paywall(
    state: &AppState,
    refusal: Refusal,
    title_id: &str,
    user: Option<i64>,
    locale: &crate::money::Locale,
) -> Result<PaywallView, ApiError> {
    let Refusal {
        decision,
        title: decided_by,
        other_name,
    } = refusal;
    let Decision::Denied { reason, remedies } = decision else {
        return Ok(PaywallView::default());
    };
    let needed = decided_by.asked_about().to_owned();
    let can_buy = super::shop::can_pay(state);
    let mut view = PaywallView {
        reason: heading(&reason, &decided_by.level).to_owned(),
        part_of: (needed != title_id).then(|| part_of(other_name.as_deref(), &decided_by.level)),
        title: needed,
        can_buy,
        ..PaywallView::default()
    };
    if let AccessLevel::PayPerView { starts_at, .. } = decided_by.level {
        view.event_at = event_time(starts_at);
    }
    for remedy in remedies {
        match remedy {
            Remedy::SignIn => {
                view.sign_in = Some(format!("/login?next=/watch/{title_id}"));
                // "Create account" only while anyone may make one.
                view.sign_up = (state.settings.settings.current().accounts.signup
                    == crate::config::SignupMode::Open)
                    .then(|| format!("/signup?next=/watch/{title_id}"));
            }
            Remedy::Subscribe { plans: only } => {
                let now = crate::clock::now();
                let (on_sale, names) = state
                    .db
                    .read(move |c| {
                        Ok::<_, AccessError>((
                            shop::plans_on_sale(c, user, &only, now)?,
                            shop::plan_names(c)?,
                        ))
                    })
                    .await?;
                view.plans = on_sale
                    .iter()
                    .map(|p| super::shop::plan_card(p, locale))
                    .collect();
                view.needs = Some(super::shop::mark(
                    &decided_by.level,
                    &names,
                    can_buy,
                    locale,
                ));
            }
            Remedy::Rent { price } => view.rent = Some(price_text(&price, locale)),
            Remedy::Buy { price } => view.buy = Some(price_text(&price, locale)),
            Remedy::Ticket { price } => view.ticket = Some(price_text(&price, locale)),
            Remedy::Code => view.code = true,
            Remedy::UpdatePayment => view.update_payment = true,
            Remedy::StopAnotherStream => view.stop_another_stream = true,
        }
    }
    if decided_by.level == AccessLevel::Registered {
        view.needs = Some("Free with an account.".into());
    }
    let for_sale = !view.plans.is_empty()
        || view.rent.is_some()
        || view.buy.is_some()
        || view.ticket.is_some();
    view.not_on_sale = (for_sale && !can_buy).then_some(super::shop::NOT_ON_SALE);
    Ok(view)
}

#[derive(serde::Deserialize)]
pub struct WatchQuery {
    /// Set by a refused code redemption.
    #[serde(default)]
    code: Option<String>,
    /// `pending`: back from Checkout while Stripe could not confirm the payment.
    #[serde(default)]
    checkout: Option<String>,
}

#[get("/watch/{id}")]
pub async fn watch(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Option<Viewer>,
    query: web::Query<WatchQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = crate::clock::now();
    let lookup = id.clone();
    let user = viewer.as_ref().map(|v| v.user().id.0);
    let looker = looker(viewer.as_ref());
    let found = state
        .db
        .read(move |c| {
            let title = browse::visible_title(c, &lookup, now, looker)?.filter(|t| t.kind.plays());
            let Some(title) = title else {
                // An asset's id from before the catalog: its live title, if it has one.
                return Ok::<_, ApiError>(Err(browse::title_playing(c, &lookup, now)?));
            };
            let asset = title
                .asset_id
                .as_deref()
                .map(|a| catalog::get(c, a))
                .transpose()
                .ok()
                .flatten();
            let parent = match &title.parent_id {
                Some(p) => browse::visible_title(c, p, now, looker)?,
                None => None,
            };
            let resume = match user {
                // The title page's rule: its "Resume from" is where this player starts.
                Some(u) => progress::resume_point(c, u, &title.id, now)?
                    .filter(|r| r.title_id == title.id)
                    .map(|r| r.at),
                None => None,
            };
            let mut backdrop = catalog::artwork::of(c, &title.id)?
                .into_iter()
                .find(|a| a.kind == ArtKind::Backdrop);
            if backdrop.is_none()
                && let Some(p) = &parent
            {
                backdrop = catalog::artwork::of(c, &p.id)?
                    .into_iter()
                    .find(|a| a.kind == ArtKind::Backdrop);
            }
            let backdrop = backdrop.map(|a| a.best(1280));
            let afterwards = browse::afterwards(c, &title, user, now)?;
            Ok(Ok((title, asset, parent, resume, backdrop, afterwards)))
        })
        .await?;
    let (title, asset, parent, resume, backdrop, afterwards) = match found {
        Ok(found) => found,
        Err(Some(title_id)) if title_id != id => {
            // The query (`?autoplay=1`) goes along.
            let query = match req.query_string() {
                "" => String::new(),
                q => format!("?{q}"),
            };
            return Ok(HttpResponse::MovedPermanently()
                .insert_header((header::LOCATION, format!("/watch/{title_id}{query}")))
                .finish());
        }
        Err(_) => return missing(&state),
    };
    let Some(asset) = asset.filter(|a| a.status == AssetStatus::Ready) else {
        return missing(&state);
    };
    let Some(m) = asset.manifest.as_ref() else {
        return missing(&state);
    };
    let heading = match (&parent, title.season_number, title.episode_number) {
        (Some(series), Some(s), Some(e)) => Some(format!("{} · S{s} E{e}", series.name)),
        (Some(p), _, _) => Some(p.name.clone()),
        _ => None,
    };
    let paywall_config = state.settings.settings.current().paywall.clone();
    let preview = super::storefront::preview_band(&title, now);
    let answer = match (preview, asker(&req, viewer.as_ref()).viewer) {
        // Staff preview media no live title plays: the engine has no say on a draft.
        (Some(_), Some(session)) => PlayAnswer::Allowed {
            pass: state
                .playback
                .preview(&asset.id, m.clone(), session, &paywall_config, now),
            until: None,
            basis: crate::access::entitlement::Basis::Free,
        },
        (Some(_), None) => return missing(&state),
        (None, _) => {
            state
                .playback
                .authorize(
                    &title.id,
                    &asset.id,
                    asker(&req, viewer.as_ref()),
                    &paywall_config,
                    now,
                )
                .await?
        }
    };
    let (player, paywall, status) = match answer {
        PlayAnswer::Allowed { pass, .. } => (
            Some(PlayerView {
                playback_url: pass.url(&asset.id, &m.master),
                thumbnails: m.thumbnails.as_deref().map(|t| pass.url(&asset.id, t)),
                pass_expires: pass.expires_at(),
            }),
            None,
            StatusCode::OK,
        ),
        PlayAnswer::Denied(refusal) => (
            None,
            Some(
                paywall(
                    &state,
                    refusal,
                    &title.id,
                    user,
                    &super::shop::locale_of(&req),
                )
                .await?,
            ),
            StatusCode::OK,
        ),
    };
    let premium = player.as_ref().is_some_and(|p| p.pass_expires.is_some());
    // A checkout form carries the session's token, or a visitor's form token (whose cookie
    // makes the page theirs alone).
    let sells = paywall.as_ref().is_some_and(|p| {
        p.can_buy
            && (!p.plans.is_empty() || p.rent.is_some() || p.buy.is_some() || p.ticket.is_some())
    });
    let (form_csrf, form_cookie) = match sells {
        true => {
            let (token, cookie) = super::shop::checkout_token(&req, viewer.as_ref());
            (Some(token), cookie)
        }
        false => (None, None),
    };
    // A preview's media is not on the public path: its frame comes from the dashboard.
    let poster = m.poster.as_deref().map(|p| match preview {
        Some(_) => super::dashboard::media::staff_poster_url(&asset.id),
        None => poster_url(&asset.id, p),
    });
    let end = match (&player, afterwards) {
        (Some(_), Some(afterwards)) => Some(end_view(&state, &req, afterwards).await?),
        _ => None,
    };
    let view = WatchView {
        end,
        backdrop: backdrop.or_else(|| poster.clone()),
        poster,
        duration: clock(asset.duration_secs),
        duration_secs: asset.duration_secs,
        id: title.id.clone(),
        title: title.name.clone(),
        description: title.synopsis.clone(),
        heading,
        back: parent.map(|p| format!("/title/{}", p.id)),
        resume,
        resume_from_secs: progress::RESUME_FROM_SECS,
        finished_at: progress::FINISHED_AT,
        player,
        paywall,
        preview,
    };
    let resp = page(
        &state,
        "watch.html",
        status,
        minijinja::context! { asset => minijinja::Value::from(minijinja::value::Serde(&view)),
        csrf => viewer.as_ref().map(|v| v.csrf_token().to_owned()),
        form_csrf => form_csrf.clone(),
        code_error => code_error(query.code.as_deref()),
        checkout_pending => query.checkout.as_deref() == Some("pending") },
    )?;
    // A signed-in page carries the session's CSRF token (and a premium one a token of this
    // viewer's): never kept by a shared cache.
    Ok(super::shop::vary_by_language(match viewer {
        Some(_) => super::account_pages::private(resp, None),
        None if premium || form_csrf.is_some() => super::account_pages::private(resp, form_cookie),
        None => resp,
    }))
}

async fn end_view(
    state: &AppState,
    req: &HttpRequest,
    afterwards: browse::Afterwards,
) -> Result<EndView, ApiError> {
    let (next, more) = match afterwards {
        browse::Afterwards::NextEpisode(card) => (vec![card], Vec::new()),
        browse::Afterwards::MoreLikeThis(cards) => (Vec::new(), cards),
    };
    let next = super::storefront::card_views(state, req, &next).await?;
    Ok(EndView {
        next: next.into_iter().next(),
        more: super::storefront::card_views(state, req, &more).await?,
        countdown: NEXT_EPISODE_COUNTDOWN_SECS,
    })
}

fn code_error(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "used" => Some("You have already redeemed that code."),
        "wait" => Some("Too many wrong codes: wait a minute and try again."),
        _ => Some("That code is not valid."),
    }
}

#[derive(serde::Deserialize)]
struct RedeemForm {
    code: String,
    next: String,
}

/// A viewer redeems an access code, then goes back where they were. A refusal goes back
/// too, with one message for every kind of bad code.
#[post("/redeem")]
pub async fn redeem(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, super::session::PageError> {
    let form: RedeemForm = viewer.form()?;
    let user = viewer.user().id.0;
    let now = crate::clock::now();
    let back = super::account_pages::safe_next(Some(&form.next), viewer.user());
    let sep = if back.contains('?') { '&' } else { '?' };
    if code_wait(&state, user).await?.is_some() {
        return Ok(super::session::see_other(
            &format!("{back}{sep}code=wait"),
            [],
        ));
    }
    let typed = form.code.clone();
    let redeemed = state
        .db
        .write(move |tx| crate::access::grants::redeem(tx, user, &typed, now))
        .await;
    match &redeemed {
        Ok(_) => code_worked(&state, user).await?,
        // "Already redeemed" is a code that exists: not a guess, and no reset either.
        Err(AccessError::Invalid(m)) if !m.contains("already") => code_failed(&state, user).await?,
        Err(_) => {}
    }
    let to = match redeemed {
        Ok(r) => {
            tracing::info!(user, grant = ?r, "access code redeemed");
            // The account page says what the code gave; a watch page shows the player.
            if back == "/account" {
                "/account?code=ok".to_owned()
            } else {
                back
            }
        }
        Err(AccessError::Invalid(m)) => {
            let kind = if m.contains("already") {
                "used"
            } else {
                "invalid"
            };
            format!("{back}{sep}code={kind}")
        }
        Err(e) => return Err(super::session::PageError::internal(e)),
    };
    Ok(super::session::see_other(&to, []))
}

/// Whether the account typed too many wrong codes (access or offer) lately: the seconds
/// until it may try again. Codes are too long to guess, but nobody needs thousands of
/// tries, and offer codes are chosen by people.
pub(super) async fn code_wait(
    state: &AppState,
    user: i64,
) -> Result<Option<i64>, super::session::PageError> {
    let now = crate::clock::now();
    state
        .db
        .read(move |c| throttle::wait_for(c, &[throttle::ThrottleKey::CodeGuess(user)], now))
        .await
        .map_err(super::session::PageError::internal)
}

/// Counts a wrong code against the account.
pub(super) async fn code_failed(
    state: &AppState,
    user: i64,
) -> Result<(), super::session::PageError> {
    let (policy, now) = (state.accounts.throttle, crate::clock::now());
    state
        .db
        .write(move |tx| {
            throttle::record_failure(tx, &[throttle::ThrottleKey::CodeGuess(user)], &policy, now)
        })
        .await
        .map_err(super::session::PageError::internal)
}

/// A code that gave something clears the count.
pub(super) async fn code_worked(
    state: &AppState,
    user: i64,
) -> Result<(), super::session::PageError> {
    state
        .db
        .write(move |tx| throttle::record_success(tx, &throttle::ThrottleKey::CodeGuess(user)))
        .await
        .map_err(super::session::PageError::internal)
}

#[derive(Serialize)]
struct PassAnswer {
    /// The path prefix every playback URL of this title starts with now.
    prefix: String,
    expires_at: Option<i64>,
}

/// The player's renewal of its pass before the token runs out: asks the engine again, so
/// a cancelled plan or a refunded rental stops playback at the next renewal.
#[post("/watch/{id}/pass")]
pub async fn renew_pass(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = crate::clock::now();
    let lookup = id.clone();
    let looker = looker(Some(&viewer));
    let (title, asset) = state
        .db
        .read(move |c| {
            let title = browse::visible_title(c, &lookup, now, looker)?.filter(|t| t.kind.plays());
            let asset = match title.as_ref().and_then(|t| t.asset_id.as_deref()) {
                Some(a) => catalog::get(c, a).ok(),
                None => None,
            };
            Ok::<_, ApiError>(title.zip(asset))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no such title"))?;
    let asset_id = asset.id.clone();
    let paywall_config = state.settings.settings.current().paywall.clone();
    if super::storefront::preview_band(&title, now).is_some() {
        let manifest = asset
            .manifest
            .filter(|_| asset.status == AssetStatus::Ready)
            .ok_or_else(|| ApiError::not_found("no such title"))?;
        let session = asker(&req, Some(&viewer))
            .viewer
            .ok_or_else(|| ApiError::not_found("no such title"))?;
        let pass = state
            .playback
            .preview(&asset_id, manifest, session, &paywall_config, now);
        let resp = HttpResponse::Ok().json(PassAnswer {
            prefix: pass.url(&asset_id, ""),
            expires_at: pass.expires_at(),
        });
        return Ok(super::account_pages::private(resp, None));
    }
    let answer = state
        .playback
        .authorize(
            &id,
            &asset_id,
            asker(&req, Some(&viewer)),
            &paywall_config,
            now,
        )
        .await?;
    match answer {
        PlayAnswer::Allowed { pass, .. } => {
            let resp = HttpResponse::Ok().json(PassAnswer {
                prefix: pass.url(&asset_id, ""),
                expires_at: pass.expires_at(),
            });
            Ok(super::account_pages::private(resp, None))
        }
        PlayAnswer::Denied(Refusal {
            decision: Decision::Denied { reason, .. },
            ..
        }) => Err(ApiError::forbidden(reason.sentence())),
        PlayAnswer::Denied(_) => Err(ApiError::forbidden("not allowed")),
    }
}

/// The player's heartbeat while it plays (every 30 s): counts it against the account's
/// stream limit. 409 when the account's players are all in use elsewhere, 403 when access
/// has ended; the player stops with the reason.
#[post("/watch/{id}/heartbeat")]
pub async fn heartbeat(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let paywall_config = state.settings.settings.current().paywall.clone();
    // A staff preview takes no stream, and the engine would call a draft "not out yet".
    if looker(Some(&viewer)) == browse::Looker::Staff {
        let (lookup, now) = (id.clone(), crate::clock::now());
        let title = state
            .db
            .read(move |c| browse::visible_title(c, &lookup, now, browse::Looker::Staff))
            .await?;
        if title.is_some_and(|t| super::storefront::preview_band(&t, now).is_some()) {
            return Ok(HttpResponse::NoContent().finish());
        }
    }
    let decision = state
        .playback
        .heartbeat(
            &id,
            asker(&req, Some(&viewer)),
            &paywall_config,
            crate::clock::now(),
        )
        .await?;
    match decision {
        Decision::Allowed { .. } => Ok(HttpResponse::NoContent().finish()),
        Decision::Denied { reason, .. } => {
            let code = match reason {
                crate::access::entitlement::Reason::StreamLimitReached { .. } => {
                    super::error::ErrorCode::Conflict
                }
                _ => super::error::ErrorCode::Forbidden,
            };
            Err(ApiError::new(code, reason.sentence()))
        }
    }
}

/// The player was closed: its stream is free at once.
#[post("/watch/{id}/stop")]
pub async fn stop(req: HttpRequest, state: web::Data<AppState>, viewer: Viewer) -> HttpResponse {
    if let Some(session) = asker(&req, Some(&viewer)).viewer {
        state.playback.streams().stop(viewer.user().id.0, session);
    }
    HttpResponse::NoContent().finish()
}

#[derive(serde::Deserialize)]
pub struct ProgressBody {
    position: f64,
    duration: f64,
}

/// The player's report of where a signed-in viewer is (every few seconds and on leaving).
/// Kept only while the viewer may play the title (403 with the reason otherwise).
#[post("/watch/{id}/progress")]
pub async fn save_progress(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    viewer: Viewer,
    body: web::Json<ProgressBody>,
) -> Result<HttpResponse, ApiError> {
    let paywall_config = state.settings.settings.current().paywall.clone();
    state
        .playback
        .save_progress(
            &id,
            asker(&req, Some(&viewer)),
            &paywall_config,
            (body.position, body.duration),
            crate::clock::now(),
        )
        .await
        .map_err(|e| match e {
            e @ ProgressError::NotAllowed(_) => ApiError::forbidden(e.to_string()),
            ProgressError::Catalog(e) => e.into(),
            ProgressError::Access(e) => e.into(),
        })?;
    Ok(HttpResponse::NoContent().finish())
}
