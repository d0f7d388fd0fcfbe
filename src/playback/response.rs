//! What the origin answers to one request for `/p/<token>/<asset>/<file>`: status, headers
//! and which bytes of which file, decided once here and written out by either of the two
//! HTTP paths (the sendfile fast path and actix-web), so both answer exactly alike.

use std::fs::File;
use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

use headers::{ETag, HeaderMapExt, IfModifiedSince, IfNoneMatch, IfRange, LastModified, Range};
use http::HeaderMap;

use super::files::{self, Library};
use super::gate::{self, Gate, PUBLIC_TOKEN};
use super::keys;
use super::{PlaybackError, ReadyAssets};
use crate::metrics::OriginClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginMethod {
    Get,
    Head,
    Options,
}

impl OriginMethod {
    pub fn parse(method: &str) -> Option<Self> {
        match method {
            "GET" => Some(OriginMethod::Get),
            "HEAD" => Some(OriginMethod::Head),
            "OPTIONS" => Some(OriginMethod::Options),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum OriginBody {
    Empty,
    /// `len` bytes of `file` from `offset`.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

#[derive(Debug)]
pub struct OriginResponse {
    pub status: u16,
    /// Lower-case names; `content-length` is always here when the status carries a body,
    /// and is the length a GET would send even when answering HEAD.
    pub headers: Vec<(&'static str, String)>,
    pub body: OriginBody,
}

/// The request headers an origin answer depends on; both HTTP paths pass only these. The
/// cookie names the viewer a token must have been minted for.
pub const REQUEST_HEADERS: [&str; 5] = [
    "range",
    "if-none-match",
    "if-modified-since",
    "if-range",
    "cookie",
];

/// On every answer. Any site may embed a player of free media: its path needs nothing else.
/// Premium media needs the viewer's session cookie beside the token, which a browser sends
/// only to the same site (a wildcard origin never lets another site read with
/// credentials), so the wildcard leaks nothing. `nosniff`: a browser takes the content
/// type as given, never guessing HTML or script from the bytes.
const COMMON_HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-origin", "*"),
    (
        "access-control-expose-headers",
        "content-length, content-range, accept-ranges, etag",
    ),
    ("x-content-type-options", "nosniff"),
];

fn preflight() -> OriginResponse {
    let mut headers = common_headers();
    headers.extend([
        ("access-control-allow-methods", "GET, HEAD, OPTIONS".into()),
        (
            "access-control-allow-headers",
            "range, if-none-match, if-modified-since, if-range".into(),
        ),
        ("access-control-max-age", "86400".into()),
    ]);
    OriginResponse {
        status: 204,
        headers,
        body: OriginBody::Empty,
    }
}

fn common_headers() -> Vec<(&'static str, String)> {
    COMMON_HEADERS
        .iter()
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect()
}

/// What the origin serves from: the library folder, which assets are ready, and the gate
/// that mints and checks playback tokens.
pub struct Origin {
    pub library: Library,
    pub ready: ReadyAssets,
    pub gate: Gate,
    /// Players running now; token requests keep their sessions counted.
    pub streams: super::streams::Streams,
    /// Recent passes and token checks, for support's diagnostic.
    pub decisions: super::decisions::DecisionLog,
    /// Staff previews of media no live title plays (token path only).
    pub previews: super::previews::Previews,
    /// Where the CMCD data of served media requests goes (set once the analytics intake
    /// is open).
    pub analytics: std::sync::OnceLock<std::sync::Arc<crate::analytics::intake::Intake>>,
}

impl Origin {
    /// Opens the library folder and loads (or makes) the playback key ring.
    pub fn open(library: &std::path::Path, db: crate::db::Db) -> std::io::Result<Origin> {
        let ring = db
            .write_blocking(|tx| keys::load_or_create(tx, crate::clock::now()))
            .map_err(std::io::Error::other)?;
        Ok(Origin {
            library: Library::open(library)?,
            ready: ReadyAssets::new(db),
            gate: Gate::new(ring),
            streams: Default::default(),
            decisions: Default::default(),
            previews: Default::default(),
            analytics: Default::default(),
        })
    }

    /// `raw_path` is the request path exactly as sent, still percent-encoded (a query
    /// string, if any, is ignored): encoded slashes or dots never become separators.
    pub async fn respond(
        &self,
        method: OriginMethod,
        raw_path: &str,
        request_headers: &HeaderMap,
    ) -> Result<OriginResponse, PlaybackError> {
        self.respond_to(None, method, raw_path, request_headers)
            .await
    }

    /// [`Origin::respond`] for a request from `client`, recording the answer in the
    /// metrics: every origin answer passes here, whichever HTTP path writes it. Refusals
    /// are not recorded here, since the fast path hands them to actix-web, which asks
    /// again: its handler records them once ([`Origin::record_refusal`]).
    pub async fn respond_to(
        &self,
        client: Option<std::net::IpAddr>,
        method: OriginMethod,
        raw_path: &str,
        request_headers: &HeaderMap,
    ) -> Result<OriginResponse, PlaybackError> {
        let (answer, class) = self.answer(method, raw_path, request_headers).await?;
        let body_bytes = match &answer.body {
            OriginBody::File { len, .. } => *len,
            OriginBody::Empty => 0,
        };
        let metrics = crate::metrics::global();
        metrics.origin_answer(class, answer.status, body_bytes);
        if class == OriginClass::Segment
            && let Some(client) = client
        {
            let token = raw_path
                .strip_prefix("/p/")
                .and_then(|rest| rest.split_once('/'))
                .map_or("", |(token, _)| token);
            metrics.viewer_fetched_segment(client, token);
        }
        // CMCD of whole media objects fetched (not ranges or HEADs, which cost the sender
        // nothing), after the answer is decided: it never enters the token check.
        if class == OriginClass::Segment
            && method == OriginMethod::Get
            && answer.status == 200
            && let Some((path, query)) = raw_path.split_once('?')
            && let Some(cmcd) = crate::analytics::cmcd::Cmcd::from_query(query)
            && let Some(intake) = self.analytics.get()
        {
            let asset = path.split('/').nth(3).unwrap_or_default();
            intake.take_cmcd(client, cmcd, asset, crate::clock::now() * 1000);
        }
        Ok(answer)
    }

    /// Counts a refused origin request (see [`Origin::respond_to`]).
    pub fn record_refusal(&self, status: u16) {
        crate::metrics::global().origin_answer(OriginClass::Refused, status, 0);
    }

    async fn answer(
        &self,
        method: OriginMethod,
        raw_path: &str,
        request_headers: &HeaderMap,
    ) -> Result<(OriginResponse, OriginClass), PlaybackError> {
        let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
        let rest = path.strip_prefix("/p/").ok_or(PlaybackError::NotFound)?;
        if method == OriginMethod::Options {
            return Ok((preflight(), OriginClass::Preflight));
        }
        let (token, rest) = rest.split_once('/').ok_or(PlaybackError::NotFound)?;
        let (asset_id, relative) = rest.split_once('/').ok_or(PlaybackError::NotFound)?;
        if !files::is_asset_id(asset_id) {
            return Err(PlaybackError::NotFound);
        }
        // A token is checked before anything else, from memory.
        let public = token == PUBLIC_TOKEN;
        let mut served_to = None;
        if !public {
            let viewer = gate::viewer_from_cookies(request_headers);
            let now = crate::clock::now();
            let claims = match self.gate.verify(token, asset_id, viewer, now) {
                Ok(claims) => claims,
                Err(e) => {
                    if let Some(tag) = viewer {
                        self.decisions
                            .refused(tag, asset_id, relative, &e.to_string(), now);
                    }
                    return Err(PlaybackError::Token(e));
                }
            };
            self.streams.touch(claims.viewer, now);
            served_to = Some((claims.viewer, now));
        }
        // Only files the package writer made: not the source, whatever its name, nor
        // anything put into the folder later.
        let served = match self.ready.served(asset_id).await? {
            Some(served) => Some(served),
            // Media no live title plays: only a staff member's preview, under their token.
            None => served_to.and_then(|(viewer, now)| self.previews.served(viewer, asset_id, now)),
        };
        let Some(served) = served else {
            return Err(PlaybackError::NotFound);
        };
        let package = &served.manifest;
        if !package.serves(relative) {
            return Err(PlaybackError::NotFound);
        }
        // Under the public path, premium media shows only its poster (storefront artwork).
        if public && !served.free && package.poster.as_deref() != Some(relative) {
            if let Some(tag) = gate::viewer_from_cookies(request_headers) {
                self.decisions.refused(
                    tag,
                    asset_id,
                    relative,
                    "no token on premium media (the public path)",
                    crate::clock::now(),
                );
            }
            return Err(PlaybackError::TokenRequired);
        }
        // Everything below describes the open file, even if the path is replaced meanwhile.
        let files::PackageFile { file, meta, kind } =
            files::open(&self.library, asset_id, relative)?;
        if let Some((viewer, now)) = served_to {
            self.decisions.served(viewer, asset_id, now);
        }
        let class = kind.metrics_class();
        let size = meta.len();
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let etag_text = etag_of(size, modified);
        let etag: ETag = etag_text
            .parse()
            .expect("hex digits make a valid entity tag");

        let mut headers = common_headers();
        // A token's answers are this viewer's: a browser may keep them, a shared cache only
        // when told to key on the path after the token (see the README's edge-cache notes).
        let cache_control = if public || kind == files::FileKind::Key {
            kind.cache_control().to_owned()
        } else {
            format!(
                "private, {}",
                kind.cache_control().trim_start_matches("public, ")
            )
        };
        headers.extend([
            ("content-type", kind.content_type(relative).into()),
            ("cache-control", cache_control),
            ("accept-ranges", "bytes".into()),
            ("etag", etag_text),
            ("last-modified", httpdate::fmt_http_date(modified)),
        ]);

        if not_modified(request_headers, &etag, modified) {
            return Ok((
                OriginResponse {
                    status: 304,
                    headers,
                    body: OriginBody::Empty,
                },
                class,
            ));
        }

        let (status, offset, len) = match requested_range(request_headers, &etag, modified, size) {
            RangeAnswer::Whole => (200, 0, size),
            RangeAnswer::Part { start, end } => {
                headers.push(("content-range", format!("bytes {start}-{end}/{size}")));
                (206, start, end - start + 1)
            }
            RangeAnswer::Unsatisfiable => {
                headers.push(("content-range", format!("bytes */{size}")));
                headers.push(("content-length", "0".into()));
                return Ok((
                    OriginResponse {
                        status: 416,
                        headers,
                        body: OriginBody::Empty,
                    },
                    class,
                ));
            }
        };
        headers.push(("content-length", len.to_string()));
        let body = if method == OriginMethod::Head || len == 0 {
            OriginBody::Empty
        } else {
            OriginBody::File { file, offset, len }
        };
        Ok((
            OriginResponse {
                status,
                headers,
                body,
            },
            class,
        ))
    }
}

/// A strong validator from size and modification time: package files are written once.
fn etag_of(size: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{size:x}-{nanos:x}\"")
}

/// RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only counts without it.
fn not_modified(request: &HeaderMap, etag: &ETag, modified: SystemTime) -> bool {
    if request.contains_key(http::header::IF_NONE_MATCH) {
        return request
            .typed_get::<IfNoneMatch>()
            .is_some_and(|inm| !inm.precondition_passes(etag));
    }
    request
        .typed_get::<IfModifiedSince>()
        .is_some_and(|ims| !ims.is_modified(modified))
}

enum RangeAnswer {
    Whole,
    /// Inclusive byte positions.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// One satisfiable range is served as 206; several are answered with the whole file (a
/// server may ignore Range, and players never ask for several); none satisfiable is 416.
fn requested_range(
    request: &HeaderMap,
    etag: &ETag,
    modified: SystemTime,
    size: u64,
) -> RangeAnswer {
    let Some(range) = request.typed_get::<Range>() else {
        return RangeAnswer::Whole;
    };
    if let Some(if_range) = request.typed_get::<IfRange>()
        && if_range.is_modified(Some(etag), Some(&LastModified::from(modified)))
    {
        return RangeAnswer::Whole;
    }
    let ranges: Vec<_> = range
        .satisfiable_ranges(size)
        .filter_map(|(start, end)| {
            let start = match start {
                Bound::Included(s) => s,
                Bound::Excluded(s) => s.checked_add(1)?,
                Bound::Unbounded => 0,
            };
            let end = match end {
                Bound::Included(e) => e.min(size.checked_sub(1)?),
                Bound::Excluded(e) => e.checked_sub(1)?.min(size.checked_sub(1)?),
                Bound::Unbounded => size.checked_sub(1)?,
            };
            (start <= end && start < size).then_some((start, end))
        })
        .collect();
    match ranges.as_slice() {
        [] => RangeAnswer::Unsatisfiable,
        [(start, end)] => RangeAnswer::Part {
            start: *start,
            end: *end,
        },
        _ => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    fn range(value: &str, size: u64) -> Option<(u64, u64)> {
        let etag = etag_of(size, UNIX_EPOCH).parse().unwrap();
        match requested_range(&headers(&[("range", value)]), &etag, UNIX_EPOCH, size) {
            RangeAnswer::Part { start, end } => Some((start, end)),
            RangeAnswer::Whole => Some((0, size - 1)),
            RangeAnswer::Unsatisfiable => None,
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(range("bytes=50-", 100), Some((50, 99)));
        assert_eq!(range("bytes=100-", 100), None);
        assert_eq!(range("bytes=150-160", 100), None);
        assert_eq!(range("bytes=-0", 100), None);
        assert_eq!(range("bytes=5-2", 100), None);
        // Several ranges: the whole file.
        assert_eq!(range("bytes=0-1,5-6", 100), Some((0, 99)));
        // Not a byte range at all: ignored.
        assert_eq!(range("pages=1-2", 100), Some((0, 99)));
    }

    #[test]
    fn conditionals_prefer_the_entity_tag() {
        let modified = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let tag = etag_of(10, modified);
        let etag: ETag = tag.parse().unwrap();
        let date = httpdate::fmt_http_date(modified);
        assert!(not_modified(
            &headers(&[("if-none-match", &tag)]),
            &etag,
            modified
        ));
        assert!(not_modified(
            &headers(&[("if-none-match", "*")]),
            &etag,
            modified
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"x\"")]),
            &etag,
            modified
        ));
        assert!(not_modified(
            &headers(&[("if-modified-since", &date)]),
            &etag,
            modified
        ));
        // A stale tag beats a matching date.
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"x\""), ("if-modified-since", &date)]),
            &etag,
            modified
        ));
        // If-Range with another tag: the whole file, not the range.
        let req = headers(&[("range", "bytes=0-1"), ("if-range", "\"other\"")]);
        assert!(matches!(
            requested_range(&req, &etag, modified, 10),
            RangeAnswer::Whole
        ));
        let req = headers(&[("range", "bytes=0-1"), ("if-range", &tag)]);
        assert!(matches!(
            requested_range(&req, &etag, modified, 10),
            RangeAnswer::Part { start: 0, end: 1 }
        ));
    }
}
