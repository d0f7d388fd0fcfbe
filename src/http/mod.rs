//! The HTTP layer: thin handlers that parse, call one domain function, and render.

pub mod assets;
pub mod auth;
pub mod error;
pub mod origin;

use actix_web::{HttpResponse, get, web};

use crate::config::DataDir;
use crate::db::Db;
use crate::playback::ReadyAssets;

pub struct AppState {
    pub db: Db,
    pub data: DataDir,
    pub ready: ReadyAssets,
}

impl AppState {
    pub fn new(db: Db, data: DataDir) -> Self {
        AppState {
            ready: ReadyAssets::new(db.clone()),
            db,
            data,
        }
    }
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Every route; used by `serve` and by tests alike.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(assets::list)
        .service(assets::get_one)
        .service(
            web::scope("/p")
                .wrap(origin::cors())
                .route("/{tail:.*}", web::get().to(origin::serve))
                .route("/{tail:.*}", web::head().to(origin::serve)),
        );
}

/// JSON errors for malformed query strings and paths instead of actix's plain text.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| error::ApiError::bad_request(err.to_string()).into())
}
