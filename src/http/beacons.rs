//! `POST /beacon`: the player's batches of playback events (`navigator.sendBeacon`). The
//! body is read up to its limit, checked, and handed to `analytics::intake`; the answer is
//! 204 or a short 4xx, and a refused beacon is logged at debug level only, so garbage
//! cannot flood the log.

use std::hash::{Hash, Hasher};

use actix_web::{HttpRequest, HttpResponse, post, web};

use super::AppState;
use super::session::presented_session;
use crate::analytics::beacon::{Beacon, MAX_BODY};
use crate::analytics::intake::Sender;
use crate::analytics::recorder::Client;

#[post("/beacon")]
pub async fn beacon(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    let Ok(Ok(body)) = body.to_bytes_limited(MAX_BODY).await else {
        return HttpResponse::PayloadTooLarge().finish();
    };
    let beacon = match Beacon::parse(&body) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "a beacon was refused");
            return HttpResponse::BadRequest().body(format!("{e}\n"));
        }
    };
    let ua = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A signed-in viewer's sessions are theirs; an anonymous one's are bound to the
    // address and browser that started them. (sendBeacon sends no CSRF header: the
    // session is looked up here, and a beacon changes nothing of the account.)
    let secret = presented_session(&req);
    let user_id = match &secret {
        Some(secret) => {
            let (secret, policy, now) =
                (secret.clone(), state.accounts.sessions, crate::clock::now());
            state
                .db
                .read(move |c| crate::accounts::sessions::find(c, &secret, &policy, now))
                .await
                .ok()
                .flatten()
                .map(|s| s.user.id.0)
        }
        None => None,
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match (&secret, user_id) {
        (Some(secret), Some(_)) => secret.encode().hash(&mut hasher),
        _ => {
            req.peer_addr().map(|a| a.ip()).hash(&mut hasher);
            ua.hash(&mut hasher);
        }
    }
    let sender = Sender {
        owner: hasher.finish(),
        user_id,
        client: Client::from_user_agent(ua),
    };
    let now_ms = crate::clock::now() * 1000;
    state.beacons.take(sender, beacon, now_ms);
    HttpResponse::NoContent().finish()
}
