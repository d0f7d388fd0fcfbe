//! `/api/v1/uploads`: resumable uploads with the tus 1.0.0 protocol (core, creation,
//! creation-with-upload, termination, expiration). Parses the protocol's headers, calls
//! `uploads::Uploads`, and answers with the protocol's headers; every answer, errors
//! included, carries `Tus-Resumable`.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder, delete, get, head, options, patch, post, web,
};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::accounts::roles::perm;
use crate::uploads::{
    Appender, CHECKPOINT_EVERY, TUS_EXTENSIONS, TUS_VERSION, Upload, UploadError,
};

const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Which asset a finished upload became (on the final `PATCH` and on `HEAD`).
pub const ASSET_HEADER: &str = "Marquee-Asset-Id";

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let code = match &e {
            UploadError::Invalid(_) => ErrorCode::BadRequest,
            UploadError::NotFound(_) => ErrorCode::NotFound,
            UploadError::TooLarge { .. } | UploadError::BodyTooLong { .. } => {
                ErrorCode::PayloadTooLarge
            }
            UploadError::NoSpace(_) => ErrorCode::InsufficientStorage,
            UploadError::OffsetMismatch { .. }
            | UploadError::Busy
            | UploadError::Finished(_)
            | UploadError::TooManyInProgress { .. } => ErrorCode::Conflict,
            UploadError::Io { .. } | UploadError::Db(_) | UploadError::Ingest(_) => {
                return ApiError::internal(e);
            }
        };
        ApiError::new(code, e.to_string())
    }
}

/// An upload as `GET /api/v1/uploads/{id}` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub id: String,
    /// `Upload-Length`.
    pub length: u64,
    /// Bytes received and safely on disk: where the client resumes (`Upload-Offset`).
    pub offset: u64,
    pub filename: Option<String>,
    pub filetype: Option<String>,
    pub created_at: i64,
    /// When the upload's record (and, if unfinished, its bytes) is removed, unless more
    /// bytes arrive first.
    pub expires_at: i64,
    pub finished: bool,
    /// Once finished, the asset it became (`GET /api/v1/assets/{asset_id}`).
    pub asset_id: Option<String>,
    /// The file had the same content as `asset_id`, which already existed; it was set aside.
    pub duplicate: bool,
}

impl From<Upload> for UploadView {
    fn from(u: Upload) -> Self {
        UploadView {
            finished: u.is_complete(),
            id: u.id,
            length: u.size,
            offset: u.received,
            filename: u.filename,
            filetype: u.filetype,
            created_at: u.created_at,
            expires_at: u.expires_at,
            asset_id: u.asset_id,
            duplicate: u.duplicate,
        }
    }
}

/// Adds `Tus-Resumable` to every answer, errors included, and keeps it out of caches.
fn tus(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    let mut response = result.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    let refused_version = response.status() == actix_web::http::StatusCode::PRECONDITION_FAILED;
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("tus-resumable"),
        HeaderValue::from_static(TUS_VERSION),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if refused_version {
        headers.insert(
            header::HeaderName::from_static("tus-version"),
            HeaderValue::from_static(TUS_VERSION),
        );
    }
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request(format!("{name} is not ASCII text")))
        })
        .transpose()
}

/// A header holding a non-negative integer, digits only.
fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(text) = header_str(headers, name)? else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be a whole number of bytes, not {text:?}"
        )));
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("{name} is too large: {text}")))
}

fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
    match header_str(req.headers(), "tus-resumable")? {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!("tus version {other:?} is not supported; this server speaks {TUS_VERSION}"),
        )),
        None => Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!("the tus protocol needs Tus-Resumable: {TUS_VERSION}"),
        )),
    }
}

/// Whether the request carries a body to write, which must be `offset+octet-stream`.
fn has_upload_body(req: &HttpRequest, required: bool) -> Result<bool, ApiError> {
    let content_type = header_str(req.headers(), "content-type")?;
    match content_type.map(|t| t.split(';').next().unwrap_or_default().trim()) {
        Some(t) if t.eq_ignore_ascii_case(OFFSET_OCTET_STREAM) => Ok(true),
        _ if required => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("the body must be sent as Content-Type: {OFFSET_OCTET_STREAM}"),
        )),
        _ => Ok(false),
    }
}

fn http_date(unix_secs: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_secs.max(0) as u64))
}

/// `Upload-Offset`, `Upload-Expires` while unfinished, and the asset once finished.
fn progress_headers(builder: &mut HttpResponseBuilder, upload: &Upload) {
    builder.insert_header(("Upload-Offset", upload.received.to_string()));
    if upload.is_complete() {
        if let Some(asset) = &upload.asset_id {
            builder.insert_header((ASSET_HEADER, asset.as_str()));
        }
    } else {
        builder.insert_header(("Upload-Expires", http_date(upload.expires_at)));
    }
}

/// Reads the body into the upload until it ends, stalls, breaks or is refused, then keeps
/// what was written. An interruption is answered as an error after the bytes are kept.
/// A pause syncs what arrived, so a client that vanishes without closing loses nothing
/// it sent.
async fn write_body(
    mut appender: Appender,
    payload: &mut web::Payload,
    stall: Duration,
) -> Result<Upload, ApiError> {
    let tick = CHECKPOINT_EVERY.min(stall);
    let mut idle = Duration::ZERO;
    let stopped: Option<ApiError> = loop {
        match tokio::time::timeout(tick, payload.next()).await {
            Err(_) => {
                idle += tick;
                if let Err(e) = appender.sync().await {
                    break Some(e.into());
                }
                if idle >= stall {
                    break Some(ApiError::bad_request(format!(
                        "the request body stalled for {} s; resume from Upload-Offset",
                        stall.as_secs()
                    )));
                }
            }
            Ok(None) => break None,
            Ok(Some(Err(e))) => {
                break Some(ApiError::bad_request(format!(
                    "the request body broke off ({e}); resume from Upload-Offset"
                )));
            }
            Ok(Some(Ok(chunk))) => {
                idle = Duration::ZERO;
                if let Err(e) = appender.push(&chunk).await {
                    break Some(e.into());
                }
            }
        }
    };
    let upload = appender.finish().await?;
    match stopped {
        Some(error) => Err(error),
        None => Ok(upload),
    }
}

/// Refuses, before anything is written, a body whose announced length runs past the end.
fn check_content_length(req: &HttpRequest, offset: u64, size: u64) -> Result<(), ApiError> {
    if let Some(length) = header_u64(req.headers(), "content-length")?
        && offset.saturating_add(length) > size
    {
        return Err(UploadError::BodyTooLong { size }.into());
    }
    Ok(())
}

/// What this server supports: `Tus-Version`, `Tus-Extension`, `Tus-Max-Size`. Open, as
/// a browser's CORS preflight carries no key.
#[utoipa::path(responses((status = 204, description = "tus capabilities in the headers")))]
#[options("/api/v1/uploads")]
pub async fn capabilities(state: web::Data<AppState>) -> HttpResponse {
    capabilities_answer(&state)
}

fn capabilities_answer(state: &AppState) -> HttpResponse {
    tus(Ok(HttpResponse::NoContent()
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", TUS_EXTENSIONS))
        .insert_header(("Tus-Max-Size", state.uploads.limits().max_bytes.to_string()))
        .finish()))
}

/// Create an upload (tus creation): `Upload-Length` (bytes), optional `Upload-Metadata`
/// (`filename` and `filetype`, base64). Answers 201 with `Location`. With
/// `Content-Type: application/offset+octet-stream`, the body is its first bytes.
#[utoipa::path(responses(
    (status = 201, description = "Created; `Location` names the upload, `Upload-Offset` the bytes kept"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 412, body = ErrorBody),
    (status = 413, body = ErrorBody, description = "Larger than uploads.max_bytes; nothing stored"),
    (status = 507, body = ErrorBody, description = "Not enough disk space above ingest.min_free_mb")),
    security(("api_key" = ["assets:write"])))]
#[post("/api/v1/uploads")]
pub async fn create(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    tus(async {
        check_version(&req)?;
        let headers = req.headers();
        if headers.contains_key("upload-defer-length") {
            return Err(ApiError::bad_request(
                "Upload-Defer-Length is not supported: give Upload-Length",
            ));
        }
        let size = header_u64(headers, "upload-length")?
            .ok_or_else(|| ApiError::bad_request("Upload-Length is required"))?;
        let with_body = has_upload_body(&req, false)?;
        if with_body {
            check_content_length(&req, 0, size)?;
        }
        let metadata = header_str(headers, "upload-metadata")?.unwrap_or_default();
        let owner = caller.upload_owner();
        let upload = state.uploads.create(&owner, size, metadata).await?;
        let upload = if with_body {
            let appender = state.uploads.begin_append(&owner, &upload.id, 0).await?;
            match write_body(appender, &mut payload, state.upload_stall).await {
                Ok(upload) => upload,
                // The upload exists either way: the client learns where, and resumes.
                Err(e) => {
                    tracing::info!(upload = %upload.id, error = %e, "the creation request's body ended early");
                    state.uploads.get(&owner, &upload.id).await?
                }
            }
        } else {
            upload
        };
        let mut builder = HttpResponse::Created();
        builder.insert_header((header::LOCATION, format!("/api/v1/uploads/{}", upload.id)));
        progress_headers(&mut builder, &upload);
        Ok(builder.finish())
    }
    .await)
}

/// Where an upload stands: `Upload-Offset` (resume from there), `Upload-Length`,
/// `Upload-Metadata`, and once finished the asset in `Marquee-Asset-Id`.
#[utoipa::path(params(("id" = String, Path, description = "Upload id")), responses(
    (status = 200, description = "`Upload-Offset` and `Upload-Length` in the headers"),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)),
    security(("api_key" = ["assets:write"])))]
#[head("/api/v1/uploads/{id}")]
pub async fn status(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    tus(async {
        check_version(&req)?;
        let upload = state.uploads.get(&caller.upload_owner(), &id).await?;
        let mut builder = HttpResponse::Ok();
        builder.insert_header(("Upload-Length", upload.size.to_string()));
        if !upload.metadata.is_empty() {
            builder.insert_header(("Upload-Metadata", upload.metadata.as_str()));
        }
        progress_headers(&mut builder, &upload);
        Ok(builder.finish())
    }
    .await)
}

/// Append bytes at `Upload-Offset`, which must be where the upload stands (409
/// otherwise, with nothing written). 204 with the new `Upload-Offset` once the bytes are
/// on disk; the last byte hands the file to ingest, and the answer names the asset.
#[utoipa::path(params(("id" = String, Path, description = "Upload id")), responses(
    (status = 204, description = "Bytes kept; the new `Upload-Offset` in the headers"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Wrong Upload-Offset, or another request is writing"),
    (status = 412, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 507, body = ErrorBody, description = "The disk fell below ingest.min_free_mb; the bytes before are kept")),
    security(("api_key" = ["assets:write"])))]
#[patch("/api/v1/uploads/{id}")]
pub async fn append(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    mut payload: web::Payload,
) -> HttpResponse {
    tus(async {
        check_version(&req)?;
        has_upload_body(&req, true)?;
        let offset = header_u64(req.headers(), "upload-offset")?
            .ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
        let appender = state
            .uploads
            .begin_append(&caller.upload_owner(), &id, offset)
            .await?;
        check_content_length(&req, offset, appender.upload().size)?;
        let upload = write_body(appender, &mut payload, state.upload_stall).await?;
        let mut builder = HttpResponse::NoContent();
        progress_headers(&mut builder, &upload);
        Ok(builder.finish())
    }
    .await)
}

/// Terminate an unfinished upload: its bytes are removed (tus termination).
#[utoipa::path(params(("id" = String, Path, description = "Upload id")), responses(
    (status = 204, description = "Terminated"), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Finished, or being written"),
    (status = 412, body = ErrorBody)),
    security(("api_key" = ["assets:write"])))]
#[delete("/api/v1/uploads/{id}")]
pub async fn terminate(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    tus(async {
        check_version(&req)?;
        state.uploads.terminate(&caller.upload_owner(), &id).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await)
}

/// An upload as JSON, with the asset it became once finished.
#[utoipa::path(params(("id" = String, Path, description = "Upload id")), responses(
    (status = 200, body = UploadView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = ["assets:write"])))]
#[get("/api/v1/uploads/{id}")]
pub async fn get_one(
    caller: Caller<perm::MediaWrite>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    tus(async {
        let upload = state.uploads.get(&caller.upload_owner(), &id).await?;
        Ok(HttpResponse::Ok().json(UploadView::from(upload)))
    }
    .await)
}

/// `OPTIONS` on one upload answers as on the collection.
#[options("/api/v1/uploads/{id}")]
pub async fn capabilities_of_one(state: web::Data<AppState>) -> HttpResponse {
    capabilities_answer(&state)
}
