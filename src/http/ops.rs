//! Operations endpoints: `GET /readyz`, `GET /metrics` (Prometheus text) and
//! `GET /api/v1/status` (ingest paused, disk space, alerts for the dashboard).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, get, web};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use crate::accounts::roles::perm;
use crate::ops::health::{self, OperatorStatus};

#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = health::readiness(&state.db, &state.data, state.ingest.min_free_mb).await;
    if readiness.ready {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "not_ready",
            "reasons": readiness.reasons,
        }))
    }
}

/// Leave to read the metrics: anyone when `metrics.token` is unset (they hold counts only),
/// else `Authorization: Bearer <metrics.token>`.
pub struct MetricsReader;

impl FromRequest for MetricsReader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| s.metrics_token.clone());
        let Some(expected) = expected else {
            return ready(Ok(MetricsReader));
        };
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or_default();
        // Comparing digests keeps the comparison's time independent of the token.
        if Sha256::digest(presented) == Sha256::digest(&expected) {
            ready(Ok(MetricsReader))
        } else {
            ready(Err(ApiError::unauthorized(
                "the metrics need Authorization: Bearer <metrics.token>",
            )))
        }
    }
}

#[get("/metrics")]
async fn metrics(_reader: MetricsReader, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(health::metrics_text(&state.db).await)
}

#[utoipa::path(responses(
    (status = 200, body = OperatorStatus), (status = 401, body = ErrorBody)),
    security(("api_key" = ["status:read"])))]
#[get("/api/v1/status")]
pub async fn status(
    _caller: Caller<perm::DashboardView>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let status = health::status(&state.db, &state.data, state.ingest.min_free_mb).await?;
    Ok(HttpResponse::Ok().json(status))
}

/// The `route` label of `marquee_http_requests_total`; `None` for the origin, which
/// `playback::Origin` counts itself on both paths.
pub fn route_class(path: &str) -> Option<&'static str> {
    Some(match path {
        p if p.starts_with("/p/") => return None,
        p if p.starts_with("/api/") => "api",
        "/healthz" | "/readyz" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/static/") => "static",
        "/" => "ui",
        p if p.starts_with("/watch/") => "ui",
        _ => "other",
    })
}
