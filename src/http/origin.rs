//! The HLS origin: `/p/<token>/<asset>/<file>`. Playlists, segments, subtitles and images
//! with their own types and cache rules; ranges, HEAD, ETag and Last-Modified come from
//! actix-files. Nothing here is ever compressed.

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use crate::playback::{self, PlaybackError};

/// Files below this size are read inline on the I/O thread in one go instead of through
/// the blocking pool in 64 KiB chunks; segments are far smaller.
const READ_INLINE_BELOW: u64 = 32 * 1024 * 1024;

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file")
}

impl From<PlaybackError> for ApiError {
    fn from(e: PlaybackError) -> Self {
        match e {
            PlaybackError::NotFound => not_found(),
            PlaybackError::Catalog(c) => c.into(),
        }
    }
}

pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // The raw path, still percent-encoded: encoded slashes or dots never become separators.
    let rest = req.uri().path().strip_prefix("/p/").ok_or_else(not_found)?;
    let (token, rest) = rest.split_once('/').ok_or_else(not_found)?;
    let (asset_id, relative) = rest.split_once('/').ok_or_else(not_found)?;
    if !playback::token_allows(token, asset_id) || !playback::files::is_asset_id(asset_id) {
        return Err(not_found());
    }
    if !state.ready.is_ready(asset_id).await? {
        return Err(not_found());
    }
    let file = playback::resolve(&state.data.library(), asset_id, relative)?;
    let content_type = file
        .kind
        .content_type(&file.path)
        .parse()
        .map_err(ApiError::internal)?;
    let named = NamedFile::open(&file.path).map_err(|_| not_found())?;
    let mut response = named
        .set_content_type(content_type)
        .use_etag(true)
        .use_last_modified(true)
        .disable_content_disposition()
        .read_mode_threshold(READ_INLINE_BELOW)
        .into_response(&req);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(file.kind.cache_control()),
    );
    Ok(response)
}

/// CORS for the origin: any site may embed a player that fetches from here.
pub fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .allowed_methods([Method::GET, Method::HEAD])
        .allowed_headers([
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
        ])
        .expose_headers([
            header::CONTENT_LENGTH,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::ETAG,
        ])
        .max_age(86_400)
}
