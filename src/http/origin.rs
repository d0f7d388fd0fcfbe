//! The HLS origin through actix-web: `/p/<token>/<asset>/<file>`. What to answer comes from
//! `playback::response`; plain-HTTP connections that only fetch from the origin are served
//! by `fast_origin` with sendfile instead, and this handler takes every other connection
//! (TLS, or one that also asked for a page or the API). Nothing here is ever compressed.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use crate::playback::PlaybackError;
use crate::playback::response::{self, OriginBody, OriginMethod, OriginResponse};

impl From<PlaybackError> for ApiError {
    fn from(e: PlaybackError) -> Self {
        match e {
            PlaybackError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file")
            }
            PlaybackError::Catalog(c) => c.into(),
        }
    }
}

pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let method = OriginMethod::parse(req.method().as_str()).ok_or_else(|| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "GET, HEAD or OPTIONS only",
        )
    })?;
    let headers = origin_headers(&req);
    let answer = state
        .origin
        .respond(method, req.uri().path(), &headers)
        .await?;
    render(answer).await
}

/// The request headers the origin looks at, in the `http` crate's types.
fn origin_headers(req: &HttpRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in req.headers() {
        if !response::REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

async fn render(answer: OriginResponse) -> Result<HttpResponse, ApiError> {
    let status = StatusCode::from_u16(answer.status).map_err(ApiError::internal)?;
    let mut builder = HttpResponse::build(status);
    let mut length = None;
    for (name, value) in &answer.headers {
        // actix writes Content-Length from the body's size and drops any set by hand.
        if *name == "content-length" {
            length = value.parse::<u64>().ok();
        } else {
            builder.insert_header((*name, value.as_str()));
        }
    }
    match answer.body {
        OriginBody::Empty => Ok(match length {
            Some(len) => builder.body(LengthOnly(len)),
            None => builder.body(actix_web::body::None::new()),
        }),
        OriginBody::File { file, offset, len } => {
            let bytes = map_range(&file, offset, len).map_err(ApiError::internal)?;
            Ok(builder.body(bytes))
        }
    }
}

/// The range as bytes backed by a read-only mapping of the file: no copy and no blocking
/// pool round trip here (actix-web copies it once into its write buffer).
fn map_range(file: &std::fs::File, offset: u64, len: u64) -> std::io::Result<web::Bytes> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    // SAFETY: package files are written once, before the asset is ready, and are never
    // modified in place afterwards (a new package is a new asset; deletion unlinks, which
    // leaves a mapping intact), so the mapped bytes cannot change under the response.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)?
    };
    Ok(web::Bytes::from_owner(map))
}

/// A body that announces a length and sends nothing: answers to HEAD, and a 416.
struct LengthOnly(u64);

impl MessageBody for LengthOnly {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.0)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        Poll::Ready(None)
    }
}
