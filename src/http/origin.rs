//! The HLS origin through actix-web: `/p/<token>/<asset>/<file>`. What to answer comes from
//! `playback::response`; plain-HTTP connections that only fetch from the origin are served
//! by `fast_origin` with sendfile instead, and this handler takes every other connection
//! (TLS, or one that also asked for a page or the API). Nothing here is ever compressed.

use std::fs::File;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::playback::PlaybackError;
use crate::playback::response::{self, OriginBody, OriginMethod, OriginResponse};

impl From<PlaybackError> for ApiError {
    fn from(e: PlaybackError) -> Self {
        match e {
            PlaybackError::NotFound => ApiError::not_found("no such file"),
            PlaybackError::Token(e) => ApiError::forbidden(format!("playback token {e}")),
            PlaybackError::TokenRequired => {
                ApiError::forbidden("this media needs a playback token from its watch page")
            }
            PlaybackError::Catalog(c) => c.into(),
            PlaybackError::Access(e) => ApiError::internal(e),
        }
    }
}

pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let answer = answer(&req, &state).await;
    if let Err(e) = &answer {
        // Refusals reach the metrics only here: the fast path hands them to this handler.
        state.origin.record_refusal(e.code.status().as_u16());
    }
    let answer = answer?;
    // An HTTP/2 connection carries many answers at once, each holding a chunk here and up
    // to 400 KiB in the h2 crate's send buffer while it waits for the client: at most
    // `FileAnswers` of them send at once per connection (the others wait their turn, holding
    // no file data), in smaller chunks. HTTP/1.1 has one answer per connection and gains
    // from larger reads.
    let (chunk, turn) = match req.conn_data::<FileAnswers>() {
        Some(answers) if matches!(answer.body, OriginBody::File { .. }) => {
            (H2_CHUNK, answers.0.clone().acquire_owned().await.ok())
        }
        _ => (CHUNK, None),
    };
    render(answer, chunk, turn).await
}

/// Put in an HTTP/2 connection's data: how many file answers may send at once on it.
pub struct FileAnswers(std::sync::Arc<tokio::sync::Semaphore>);

impl FileAnswers {
    /// hls.js fetches one segment per track at a time; a page loads its files alongside.
    pub const PER_CONNECTION: usize = 16;

    pub fn new() -> Self {
        FileAnswers(std::sync::Arc::new(tokio::sync::Semaphore::new(
            Self::PER_CONNECTION,
        )))
    }
}

impl Default for FileAnswers {
    fn default() -> Self {
        Self::new()
    }
}

async fn answer(req: &HttpRequest, state: &AppState) -> Result<OriginResponse, ApiError> {
    let method = OriginMethod::parse(req.method().as_str())
        .ok_or_else(|| ApiError::new(ErrorCode::MethodNotAllowed, "GET, HEAD or OPTIONS only"))?;
    let headers = origin_headers(req);
    let client = state.client_of(req);
    Ok(state
        .origin
        // The path and query as sent: the query (CMCD) is read after the answer is decided.
        .respond_to(
            client,
            method,
            req.uri().path_and_query().map_or("/", |p| p.as_str()),
            &headers,
        )
        .await?)
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

async fn render(
    answer: OriginResponse,
    chunk: u64,
    turn: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<HttpResponse, ApiError> {
    let status = StatusCode::from_u16(answer.status).map_err(ApiError::internal)?;
    let mut builder = HttpResponse::build(status);
    // Debug builds say which path answered, so tests can tell.
    #[cfg(debug_assertions)]
    builder.insert_header(("x-marquee-path", "actix"));
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
        OriginBody::File { file, offset, len } => Ok(builder.body(FileChunks {
            file,
            offset,
            len,
            sent: 0,
            chunk,
            _turn: turn,
        })),
    }
}

/// How much of a file is read at a time. actix-web asks for the next chunk only once its
/// write buffer (32 KiB) has gone out, so a connection that stops reading holds about one
/// chunk, whatever it asked for.
const CHUNK: u64 = 256 * 1024;
/// The same for a stream of an HTTP/2 connection (actix-web sends 16 KiB frames).
const H2_CHUNK: u64 = 64 * 1024;

/// `len` bytes of `file` from `offset`, read with `pread` one chunk at a time as actix-web
/// asks for them. Not a memory mapping: a file truncated under a mapping kills the process
/// with SIGBUS; here a short read ends this response and its connection.
struct FileChunks {
    file: File,
    offset: u64,
    len: u64,
    sent: u64,
    chunk: u64,
    /// Held until the body is dropped (sent, or the stream ended).
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl FileChunks {
    fn read_chunk(&mut self) -> std::io::Result<web::Bytes> {
        let want = (self.len - self.sent).min(self.chunk) as usize;
        let mut buf = Vec::with_capacity(want);
        let read = loop {
            match rustix::io::pread(
                &self.file,
                rustix::buffer::spare_capacity(&mut buf),
                self.offset + self.sent,
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other?,
            }
        };
        // The capacity may exceed what was asked for; never send past the range.
        buf.truncate(want);
        let read = read.min(want);
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            ));
        }
        self.sent += read as u64;
        Ok(web::Bytes::from(buf))
    }
}

impl MessageBody for FileChunks {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.sent >= this.len {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(this.read_chunk()))
    }
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
