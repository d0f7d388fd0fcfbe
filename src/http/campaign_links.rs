//! What a campaign's member meets: the personal link (`/c/{token}`: sign in as the member
//! it was made for, then take the offer), the open pixel of its email, the unsubscribe
//! link, and the in-app banner (`/c/banner`, fetched by `banner.js` on storefront pages).
//! Only targets have links: the holdout never gets the offer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::account_pages::private;
use super::session::{
    PageError, Viewer, check_form_token, form_token, presented_session, see_other,
};
use super::ui::page;
use crate::campaigns::store;

/// A link's token as `Secret::encode` writes it; anything else is not looked up.
fn plausible(token: &str) -> bool {
    (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The link's campaign and member, when `user` is that member.
async fn mine(state: &AppState, token: &str, user: i64) -> Result<store::Chosen, PageError> {
    let chosen = chosen(state, token).await?;
    if chosen.user_id != user {
        return Err(PageError::Forbidden(
            "this link was made for another account: sign in as the member it was sent to".into(),
        ));
    }
    Ok(chosen)
}

async fn chosen(state: &AppState, token: &str) -> Result<store::Chosen, PageError> {
    let missing = || PageError::NotFound("this link is not (or no longer) valid".into());
    if !plausible(token) {
        return Err(missing());
    }
    let token = token.to_string();
    state
        .db
        .read(move |c| store::by_token(c, &token).map_err(PageError::internal))
        .await?
        .ok_or_else(missing)
}

#[derive(Serialize)]
struct OfferView {
    /// What the member is told: the banner's words, never the campaign's internal name.
    heading: String,
    gives: String,
    redeemed: bool,
    ended: bool,
}

#[get("/c/{token}")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let chosen = mine(&state, &token, viewer.user().id.0).await?;
    let now = crate::clock::now();
    let locale = super::account_pages::viewer_locale(&req);
    let (open_token, offer_id) = (token.clone(), chosen.campaign.fields.offer_id);
    let gives = state
        .db
        .write(move |tx| -> Result<String, PageError> {
            store::mark_opened(tx, &open_token, now).map_err(PageError::internal)?;
            let offer = crate::access::offers::get(tx, offer_id).map_err(PageError::internal)?;
            Ok(offer.fields.describe_in(&locale))
        })
        .await?;
    let view = OfferView {
        heading: match chosen.campaign.fields.banner_text.trim() {
            "" => "An offer for you".to_string(),
            text => text.to_string(),
        },
        gives,
        redeemed: chosen.redeemed_at.is_some(),
        ended: chosen.campaign.fields.ends_at <= now,
    };
    let resp = page(
        &state,
        "campaign_offer.html",
        StatusCode::OK,
        minijinja::context! {
            offer => minijinja::Value::from(minijinja::value::Serde(&view)),
            token, csrf => viewer.csrf_token(),
        },
    )?;
    Ok(private(resp, None))
}

#[post("/c/{token}")]
pub async fn redeem(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let user = viewer.user().id.0;
    let chosen = mine(&state, &token, user).await?;
    let now = crate::clock::now();
    if chosen.campaign.fields.ends_at <= now {
        return Err(PageError::BadRequest("this offer has ended".into()));
    }
    if chosen.redeemed_at.is_some() {
        return Ok(see_other(&format!("/c/{token}"), []));
    }
    let stripe = state.settings.settings.current().stripe.clone();
    match state
        .paywall
        .apply_offer(
            &stripe,
            &viewer.actor(),
            user,
            chosen.campaign.fields.offer_id,
        )
        .await
    {
        Ok(_) => {}
        Err(crate::services::PaywallServiceError::Access(crate::access::AccessError::Invalid(
            why,
        ))) => return Err(PageError::BadRequest(why)),
        Err(e) => {
            tracing::warn!(error = %e, "a campaign offer could not be applied");
            return Err(PageError::BadRequest(
                "the offer could not be applied just now; try again in a minute".into(),
            ));
        }
    }
    let marked = token.clone();
    state
        .db
        .write(move |tx| store::mark_redeemed(tx, &marked, now).map_err(PageError::internal))
        .await?;
    Ok(see_other(&format!("/c/{token}"), []))
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

#[get("/c/{token}/open.gif")]
pub async fn opened(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    if plausible(&token) {
        let now = crate::clock::now();
        let _ = state
            .db
            .write(move |tx| store::mark_opened(tx, &token, now).map_err(PageError::internal))
            .await;
    }
    HttpResponse::Ok()
        .content_type("image/gif")
        .insert_header(("cache-control", "no-store"))
        .body(PIXEL)
}

#[get("/c/{token}/unsubscribe")]
pub async fn unsubscribe_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    chosen(&state, &token).await?;
    let (csrf, cookie) = form_token(&req);
    let resp = page(
        &state,
        "campaign_unsubscribe.html",
        StatusCode::OK,
        minijinja::context! { token, csrf, done => false },
    )?;
    Ok(private(resp, cookie))
}

#[derive(Deserialize)]
pub struct UnsubscribeForm {
    csrf: String,
}

#[post("/c/{token}/unsubscribe")]
pub async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<UnsubscribeForm>,
) -> Result<HttpResponse, PageError> {
    check_form_token(&req, &form.csrf)?;
    let token = path.into_inner();
    let chosen = chosen(&state, &token).await?;
    let now = crate::clock::now();
    let user = chosen.user_id;
    state
        .db
        .write(move |tx| store::opt_out(tx, user, now).map_err(PageError::internal))
        .await?;
    let resp = page(
        &state,
        "campaign_unsubscribe.html",
        StatusCode::OK,
        minijinja::context! { token, done => true },
    )?;
    Ok(private(resp, None))
}

#[derive(Serialize)]
struct Banner {
    text: String,
    href: String,
}

/// The banner for the signed-in member, if a campaign has one for them; 204 otherwise.
#[get("/c/banner")]
pub async fn banner(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(secret) = presented_session(&req) else {
        return HttpResponse::NoContent().finish();
    };
    let (policy, now) = (state.accounts.sessions, crate::clock::now());
    let found = state
        .db
        .read(move |c| -> Result<_, PageError> {
            let Some(session) = crate::accounts::sessions::find(c, &secret, &policy, now)
                .map_err(PageError::internal)?
            else {
                return Ok(None);
            };
            store::banner_for(c, session.user.id.0, now).map_err(PageError::internal)
        })
        .await;
    match found {
        Ok(Some((text, token))) => HttpResponse::Ok()
            .insert_header(("cache-control", "private, no-store"))
            .json(Banner {
                text,
                href: format!("/c/{token}"),
            }),
        _ => HttpResponse::NoContent()
            .insert_header(("cache-control", "private, no-store"))
            .finish(),
    }
}
