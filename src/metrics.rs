//! The process's Prometheus metrics: what the origin answered (on both HTTP paths, recorded
//! by `playback::Origin`), other HTTP requests, active viewers, transcode speed, database
//! latency and build information. One registry per process (`global()`), so the origin,
//! the job runner and the database record into it without a handle threaded through every
//! constructor. Counts only: no titles, no asset ids, no viewer addresses.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What kind of file (or answer) an origin request was, the `class` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginClass {
    Playlist,
    Init,
    Segment,
    Subtitles,
    Image,
    /// CORS preflight.
    Preflight,
    /// Refused: unknown asset, file or token.
    Refused,
}

impl OriginClass {
    const ALL: [OriginClass; 7] = [
        OriginClass::Playlist,
        OriginClass::Init,
        OriginClass::Segment,
        OriginClass::Subtitles,
        OriginClass::Image,
        OriginClass::Preflight,
        OriginClass::Refused,
    ];
    fn name(self) -> &'static str {
        match self {
            OriginClass::Playlist => "playlist",
            OriginClass::Init => "init",
            OriginClass::Segment => "segment",
            OriginClass::Subtitles => "subtitles",
            OriginClass::Image => "image",
            OriginClass::Preflight => "preflight",
            OriginClass::Refused => "refused",
        }
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    class: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    schema: String,
}

/// A viewer is a distinct (client address, playback token) pair that fetched a media
/// segment within the last `VIEWER_WINDOW`.
pub const VIEWER_WINDOW: Duration = Duration::from_secs(60);
/// At most this many viewers are tracked (8 bytes of hash and an instant each); beyond it
/// the gauge saturates rather than memory growing.
const MAX_VIEWERS: usize = 100_000;

/// Shards of the viewer table, so origin workers recording segment fetches at once rarely
/// wait on the same lock.
const VIEWER_SHARDS: usize = 16;

/// Recently seen viewers, kept as keyed hashes only, so the addresses cannot be read back.
#[derive(Default)]
struct Viewers {
    shards: [Mutex<HashMap<u64, Instant>>; VIEWER_SHARDS],
    hasher: std::collections::hash_map::RandomState,
}

impl Viewers {
    fn saw(&self, client: IpAddr, token: &str, at: Instant) {
        let key = self.hasher.hash_one((client, token));
        let shard = &self.shards[(key % VIEWER_SHARDS as u64) as usize];
        let mut seen = shard.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_VIEWERS / VIEWER_SHARDS && !seen.contains_key(&key) {
            seen.retain(|_, last| at.saturating_duration_since(*last) < VIEWER_WINDOW);
            if seen.len() >= MAX_VIEWERS / VIEWER_SHARDS {
                return;
            }
        }
        seen.insert(key, at);
    }

    fn count(&self, at: Instant) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let mut seen = shard.lock().unwrap_or_else(|p| p.into_inner());
                seen.retain(|_, last| at.saturating_duration_since(*last) < VIEWER_WINDOW);
                seen.len()
            })
            .sum()
    }
}

pub struct Metrics {
    registry: Registry,
    /// Indexed by `OriginClass::ALL` position and status class: no lock on the hot path.
    origin_requests: Vec<[Counter; 5]>,
    origin_bytes: Vec<Counter>,
    http_requests: Family<RouteLabels, Counter>,
    viewers: Viewers,
    active_viewers: Gauge,
    jobs: Family<StateLabel, Gauge>,
    transcode_speed: Histogram,
    db_read: Histogram,
    db_write: Histogram,
    analytics_dropped: Family<ReasonLabel, Counter>,
    hashing_turns: Family<PurposeLabel, Counter>,
    sign_up_turns_ahead_of_sign_in: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PurposeLabel {
    purpose: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("marquee");
        let origin_family = Family::<OriginLabels, Counter>::default();
        let bytes_family = Family::<ClassLabel, Counter>::default();
        let origin_requests = OriginClass::ALL
            .iter()
            .map(|class| {
                STATUS_CLASSES.map(|status| {
                    origin_family
                        .get_or_create(&OriginLabels {
                            class: class.name(),
                            status,
                        })
                        .clone()
                })
            })
            .collect();
        let origin_bytes = OriginClass::ALL
            .iter()
            .map(|class| {
                bytes_family
                    .get_or_create(&ClassLabel {
                        class: class.name(),
                    })
                    .clone()
            })
            .collect();
        registry.register(
            "origin_requests",
            "Origin answers (both HTTP paths) by file class and status class",
            origin_family,
        );
        registry.register(
            "origin_bytes",
            "Body bytes of origin answers by file class, as answered (a client that leaves early still counts the whole answer)",
            bytes_family,
        );
        let http_requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests other than the origin's, by route class and status class",
            http_requests.clone(),
        );
        let active_viewers = Gauge::default();
        registry.register(
            "active_viewers",
            "Distinct client address and token pairs that fetched a media segment in the last 60 s",
            active_viewers.clone(),
        );
        let jobs = Family::<StateLabel, Gauge>::default();
        registry.register(
            "jobs",
            "Transcode jobs by state (queued includes those waiting out a retry)",
            jobs.clone(),
        );
        let transcode_speed = Histogram::new([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        registry.register(
            "transcode_speed_ratio",
            "Media seconds transcoded per wall-clock second, per finished job (x realtime)",
            transcode_speed.clone(),
        );
        let db = Family::<OpLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 4.0, 9,
            ))
        });
        let db_read = db.get_or_create(&OpLabel { op: "read" }).clone();
        let db_write = db.get_or_create(&OpLabel { op: "write" }).clone();
        registry.register(
            "db_seconds",
            "Database calls, from asking for a connection to the end (writes include the commit)",
            db,
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                schema: crate::db::schema_version().to_string(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels say which Marquee and database schema version run",
            build,
        );
        let analytics_dropped = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "analytics_events_dropped",
            "Playback events accepted from players but not stored, by reason (disk_low: the data dir is below ingest.min_free_mb; over_budget: past analytics.events_per_second across all senders)",
            analytics_dropped.clone(),
        );
        let hashing_turns = Family::<PurposeLabel, Counter>::default();
        registry.register(
            "password_hashing_turns",
            "Argon2 hashing turns granted, by purpose (sign_in: sign-ins and account changes; sign_up: self sign-ups, which may hold only some of the turns)",
            hashing_turns.clone(),
        );
        let sign_up_turns_ahead_of_sign_in = Gauge::default();
        registry.register(
            "sign_in_most_sign_up_turns_ahead",
            "The most sign-up hashing turns granted while one sign-in waited for its turn, since start (sign-ups hold at most one turn, so at most 1 under any flood)",
            sign_up_turns_ahead_of_sign_in.clone(),
        );
        Metrics {
            registry,
            analytics_dropped,
            hashing_turns,
            sign_up_turns_ahead_of_sign_in,
            origin_requests,
            origin_bytes,
            http_requests,
            viewers: Viewers::default(),
            active_viewers,
            jobs,
            transcode_speed,
            db_read,
            db_write,
        }
    }

    pub fn origin_answer(&self, class: OriginClass, status: u16, body_bytes: u64) {
        let i = OriginClass::ALL
            .iter()
            .position(|c| *c == class)
            .unwrap_or(0);
        self.origin_requests[i][status_index(status)].inc();
        if body_bytes > 0 {
            self.origin_bytes[i].inc_by(body_bytes);
        }
    }

    /// A media segment went to `client` with `token`: one viewer, for the next minute.
    pub fn viewer_fetched_segment(&self, client: IpAddr, token: &str) {
        self.viewers.saw(client, token, Instant::now());
    }

    /// A hashing turn was granted, for a sign-up or for anything else.
    pub fn hashing_turn(&self, sign_up: bool) {
        let purpose = if sign_up { "sign_up" } else { "sign_in" };
        self.hashing_turns
            .get_or_create(&PurposeLabel { purpose })
            .inc();
    }

    /// The most sign-up turns granted while one sign-in waited (`passwords::turn`).
    pub fn sign_up_turns_ahead_of_sign_in(&self, most: u64) {
        self.sign_up_turns_ahead_of_sign_in
            .set(i64::try_from(most).unwrap_or(i64::MAX));
    }

    pub fn http_request(&self, route: &'static str, status: u16) {
        self.http_requests
            .get_or_create(&RouteLabels {
                route,
                status: STATUS_CLASSES[status_index(status)],
            })
            .inc();
    }

    pub fn transcode_finished(&self, media_secs: f64, wall: Duration) {
        if media_secs > 0.0 && wall > Duration::ZERO {
            self.transcode_speed
                .observe(media_secs / wall.as_secs_f64());
        }
    }

    /// `n` playback events were answered as taken but not stored, for `reason`.
    pub fn analytics_events_dropped(&self, reason: &'static str, n: u64) {
        self.analytics_dropped
            .get_or_create(&ReasonLabel { reason })
            .inc_by(n);
    }

    pub fn db_read(&self, took: Duration) {
        self.db_read.observe(took.as_secs_f64());
    }

    pub fn db_write(&self, took: Duration) {
        self.db_write.observe(took.as_secs_f64());
    }

    /// The text exposition, with the gauges that are read at scrape time set first.
    pub fn render(&self, jobs_by_state: &[(&'static str, i64)]) -> String {
        self.active_viewers
            .set(self.viewers.count(Instant::now()) as i64);
        for (state, n) in jobs_by_state {
            self.jobs.get_or_create(&StateLabel { state }).set(*n);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_expire_after_the_window_and_are_counted_once() {
        let viewers = Viewers::default();
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        viewers.saw(a, "public", t0);
        viewers.saw(a, "public", t0 + Duration::from_secs(5));
        viewers.saw(b, "public", t0 + Duration::from_secs(10));
        assert_eq!(viewers.count(t0 + Duration::from_secs(30)), 2);
        // a was last seen at 5 s, b at 10 s.
        assert_eq!(viewers.count(t0 + Duration::from_secs(66)), 1);
        assert_eq!(viewers.count(t0 + Duration::from_secs(71)), 0);
    }

    #[test]
    fn the_viewer_table_is_bounded_and_makes_room_as_viewers_leave() {
        let viewers = Viewers::default();
        let t0 = Instant::now();
        for i in 0..(MAX_VIEWERS as u32 + 5000) {
            viewers.saw(IpAddr::from(i.to_be_bytes()), "public", t0);
        }
        let counted = viewers.count(t0);
        assert!(
            counted <= MAX_VIEWERS && counted > MAX_VIEWERS * 9 / 10,
            "{counted}"
        );
        // Once the first ones are past the window, new viewers are counted again.
        let later = t0 + VIEWER_WINDOW + Duration::from_secs(1);
        viewers.saw("192.0.2.1".parse().unwrap(), "public", later);
        assert_eq!(viewers.count(later), 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(STATUS_CLASSES[status_index(206)], "2xx");
        assert_eq!(STATUS_CLASSES[status_index(416)], "4xx");
        assert_eq!(STATUS_CLASSES[status_index(0)], "1xx");
        assert_eq!(STATUS_CLASSES[status_index(999)], "5xx");
    }
}
