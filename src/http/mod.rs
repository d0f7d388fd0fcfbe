//! The HTTP layer: thin handlers that parse, call one domain function, and render.

pub mod assets;
pub mod auth;
pub mod error;

use actix_web::{HttpResponse, get, web};

use crate::config::DataDir;
use crate::db::Db;

pub struct AppState {
    pub db: Db,
    pub data: DataDir,
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Every route; used by `serve` and by tests alike.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(assets::list)
        .service(assets::get_one);
}

/// JSON errors for malformed query strings and paths instead of actix's plain text.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| error::ApiError::bad_request(err.to_string()).into())
}
