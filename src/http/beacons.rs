//! `POST /beacon`: the player's batches of playback events (`navigator.sendBeacon`). The
//! body is read up to its limit, checked, and handed to `analytics::intake`, whose ledger
//! limits what one sender can add; the answer is 204 or a short 4xx, and a refused beacon
//! is logged at debug level only, so garbage cannot flood the log. Only the site's own
//! pages may send (a browser says where a request comes from), and only for titles the
//! catalog has.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};

use super::AppState;
use super::session::presented_session;
use super::small_body::{BodyError, read_small_body};
use crate::analytics::beacon::{Beacon, MAX_BODY, SITE};
use crate::analytics::intake::Sender;
use crate::analytics::ledger::Refused;
use crate::analytics::recorder::Client;

/// A request another site's page made (a browser says so: `Sec-Fetch-Site`, else an
/// `Origin` that is not this host); a beacon from a tool that says nothing is taken, as
/// the rest of its checks still apply.
fn cross_site(req: &HttpRequest) -> bool {
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "cross-site";
    }
    match text("origin") {
        None | Some("null") => false,
        Some(origin) => {
            // The host the request was made to: `Host`, or HTTP/2's `:authority`.
            let info = req.connection_info();
            origin.split("://").nth(1).unwrap_or(origin) != info.host()
        }
    }
}

/// The key of a sender's address for the per-address budget: an IPv6 /64 is one
/// address (a household gets a /64), loopback none.
fn address_key(ip: std::net::IpAddr) -> Option<u64> {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(v6),
        },
        v4 => v4,
    };
    if ip.is_loopback() {
        return None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match ip {
        std::net::IpAddr::V4(v4) => v4.octets().hash(&mut hasher),
        std::net::IpAddr::V6(v6) => v6.octets()[..8].hash(&mut hasher),
    }
    Some(hasher.finish())
}

fn refused(why: &str) -> HttpResponse {
    tracing::debug!(why, "a beacon was refused");
    HttpResponse::BadRequest().body(format!("{why}\n"))
}

#[post("/beacon")]
pub async fn beacon(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> HttpResponse {
    if cross_site(&req) {
        return HttpResponse::Forbidden().body("beacons come from this site's pages\n");
    }
    // A beacon is one small packet: one trickled in (over HTTP/2 too) is not waited for.
    let body = match read_small_body(body, MAX_BODY).await {
        Err(BodyError::TooSlow) => return HttpResponse::RequestTimeout().finish(),
        Err(BodyError::TooLarge) => return HttpResponse::PayloadTooLarge().finish(),
        Err(e @ BodyError::CutOff) => return refused(e.words()),
        Ok(body) => body,
    };
    let beacon = match Beacon::parse(&body) {
        Ok(b) => b,
        Err(e) => return refused(&e.to_string()),
    };
    if beacon.title != SITE {
        // Only a title viewers can watch now: a draft or a scheduled one answers as missing.
        let (title, now) = (beacon.title.clone(), crate::clock::now());
        let live = state
            .db
            .read(move |c| {
                c.query_row(
                    &format!(
                        "SELECT count(*) FROM titles t WHERE t.id = ?1 AND {}",
                        crate::catalog::visibility::live_sql(2)
                    ),
                    rusqlite::params![title, now],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(crate::db::DbError::from)
            })
            .await;
        if !matches!(live, Ok(1)) {
            return refused("no such title");
        }
    }
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A signed-in viewer's sessions are their account's (so a session that rotates while
    // playing stays theirs); an anonymous one's are bound to the address and browser that
    // started them. (sendBeacon sends no CSRF header: the session is looked up here, and a
    // beacon changes nothing of the account.)
    let user_id = match presented_session(&req) {
        Some(secret) => {
            let (policy, now) = (state.accounts.sessions, crate::clock::now());
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
    let client = state.client_of(&req);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match user_id {
        Some(id) => ("account", id).hash(&mut hasher),
        None => {
            client.hash(&mut hasher);
            ua.hash(&mut hasher);
        }
    }
    let sender = Sender {
        owner: hasher.finish(),
        address: client.and_then(address_key),
        user_id,
        client: Client::from_user_agent(ua),
    };
    let now_ms = crate::clock::now() * 1000;
    match state.beacons.take(sender, beacon, now_ms) {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(Refused::TooMany | Refused::TooManySessions) => HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, "10"))
            .finish(),
    }
}
