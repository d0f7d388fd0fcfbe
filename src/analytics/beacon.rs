//! A player's beacon: one batch of events from one playback session, as
//! `navigator.sendBeacon` posts it. Everything in it is hostile until checked: the batch
//! and every field are bounded, unknown fields are refused, and each event carries a
//! sequence number so a replayed batch adds nothing (`SessionLedger`).

use serde::Deserialize;

use super::AnalyticsError;

/// The largest body read.
pub const MAX_BODY: usize = 32 * 1024;
/// Events in one batch.
pub const MAX_EVENTS: usize = 100;
/// Events one playback session may send in all.
pub const MAX_SESSION_EVENTS: u32 = 5_000;

/// What the player measured, one event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// The page was ready after `ms`.
    PageLoad { n: u32, ms: u32 },
    /// The viewer asked to play.
    PlayIntent { n: u32 },
    /// The first frame showed `ms` after the play intent, on a rendition `height` high.
    FirstFrame {
        n: u32,
        ms: u32,
        #[serde(default)]
        height: u32,
    },
    /// Playback stalled for `ms`.
    Rebuffer {
        n: u32,
        ms: u32,
        #[serde(default)]
        height: u32,
    },
    /// The player switched to this rendition.
    Switch { n: u32, height: u32, bitrate: u32 },
    /// hls.js reported an error.
    Error {
        n: u32,
        fatal: bool,
        #[serde(rename = "type")]
        kind: String,
        details: String,
        #[serde(default)]
        height: u32,
    },
    /// The viewer left `ms` after asking to play, before the first frame.
    ExitBeforeStart { n: u32, ms: u32 },
    /// Every 10 s while playing: where (of `duration` seconds), on which rendition.
    Heartbeat {
        n: u32,
        position: f64,
        height: u32,
        bitrate: u32,
        #[serde(default)]
        duration: f64,
    },
    /// 90 % or more watched.
    Complete { n: u32 },
    /// The first storefront page of a browser session (title `site`).
    Visit { n: u32 },
    /// The viewer started a checkout (title: the plan or title bought; made by the server,
    /// never in a beacon).
    #[serde(skip_deserializing)]
    Checkout { n: u32 },
    /// One media request as the origin saw it, from the player's CMCD data (never in a
    /// beacon: the origin makes these).
    #[serde(skip_deserializing)]
    Cmcd {
        n: u32,
        /// The encoded bitrate of the object, bits/s.
        bitrate: u32,
        /// The player's buffer ran dry before this request (`bs`).
        stalled: bool,
        /// The object type (`ot`): `v`, `a`, `av`, `m`, `i`, …
        object: String,
    },
}

impl EventKind {
    pub fn seq(&self) -> u32 {
        match self {
            EventKind::PageLoad { n, .. }
            | EventKind::PlayIntent { n }
            | EventKind::FirstFrame { n, .. }
            | EventKind::Rebuffer { n, .. }
            | EventKind::Switch { n, .. }
            | EventKind::Error { n, .. }
            | EventKind::ExitBeforeStart { n, .. }
            | EventKind::Heartbeat { n, .. }
            | EventKind::Cmcd { n, .. }
            | EventKind::Visit { n }
            | EventKind::Checkout { n }
            | EventKind::Complete { n } => *n,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PageLoad { .. } => "page_load",
            EventKind::PlayIntent { .. } => "play_intent",
            EventKind::FirstFrame { .. } => "first_frame",
            EventKind::Rebuffer { .. } => "rebuffer",
            EventKind::Switch { .. } => "switch",
            EventKind::Error { .. } => "error",
            EventKind::ExitBeforeStart { .. } => "exit_before_start",
            EventKind::Heartbeat { .. } => "heartbeat",
            EventKind::Complete { .. } => "complete",
            EventKind::Cmcd { .. } => "cmcd",
            EventKind::Visit { .. } => "visit",
            EventKind::Checkout { .. } => "checkout",
        }
    }

    fn check(&self) -> Result<(), String> {
        const TEN_MINUTES_MS: u32 = 600_000;
        let bounded = |what: &str, v: u32, max: u32| {
            if v <= max {
                Ok(())
            } else {
                Err(format!("{what} {v} is over {max}"))
            }
        };
        match self {
            EventKind::PageLoad { ms, .. } | EventKind::ExitBeforeStart { ms, .. } => {
                bounded("ms", *ms, TEN_MINUTES_MS)
            }
            EventKind::FirstFrame { ms, height, .. } | EventKind::Rebuffer { ms, height, .. } => {
                bounded("ms", *ms, TEN_MINUTES_MS).and_then(|_| bounded("height", *height, 4320))
            }
            EventKind::Switch {
                height, bitrate, ..
            } => bounded("height", *height, 4320)
                .and_then(|_| bounded("bitrate", *bitrate, 200_000_000)),
            EventKind::Heartbeat {
                position,
                height,
                bitrate,
                duration,
                ..
            } => {
                let within_a_day = |t: &f64| t.is_finite() && (0.0..=86_400.0).contains(t);
                if !within_a_day(position) || !within_a_day(duration) {
                    return Err("position and duration are times within a day".into());
                }
                bounded("height", *height, 4320)
                    .and_then(|_| bounded("bitrate", *bitrate, 200_000_000))
            }
            EventKind::Error {
                kind,
                details,
                height,
                ..
            } => {
                bounded("height", *height, 4320)?;
                if kind.len() > 64 || details.len() > 128 {
                    return Err("error names are at most 64 and 128 bytes".into());
                }
                if kind.chars().chain(details.chars()).any(char::is_control) {
                    return Err("error names hold no control characters".into());
                }
                Ok(())
            }
            EventKind::PlayIntent { .. } | EventKind::Complete { .. } => Ok(()),
            EventKind::Visit { .. } => Ok(()),
            EventKind::Cmcd { .. } | EventKind::Checkout { .. } => {
                Err("the server makes these events, never a beacon".into())
            }
        }
    }
}

/// The title of visit beacons: the storefront, not a title.
pub const SITE: &str = "site";

/// Rendition heights as recorded: a reported height is rounded down to one of these, so
/// made-up heights cannot multiply the rollups' rows.
const HEIGHTS: [u32; 14] = [
    0, 144, 180, 240, 360, 432, 480, 540, 576, 720, 1080, 1440, 2160, 4320,
];

fn rounded(height: u32) -> u32 {
    HEIGHTS
        .iter()
        .rev()
        .copied()
        .find(|h| *h <= height)
        .unwrap_or(0)
}

impl EventKind {
    fn round_height(&mut self) {
        match self {
            EventKind::FirstFrame { height, .. }
            | EventKind::Rebuffer { height, .. }
            | EventKind::Switch { height, .. }
            | EventKind::Heartbeat { height, .. }
            | EventKind::Error { height, .. } => *height = rounded(*height),
            _ => {}
        }
    }

    /// Kinds a playback session reports once (a second is a replay or a forgery).
    pub fn once(&self) -> Option<u8> {
        Some(match self {
            EventKind::PageLoad { .. } => 0,
            EventKind::PlayIntent { .. } => 1,
            EventKind::FirstFrame { .. } => 2,
            EventKind::ExitBeforeStart { .. } => 3,
            EventKind::Complete { .. } => 4,
            EventKind::Visit { .. } => 5,
            EventKind::Error { fatal: true, .. } => 6,
            _ => return None,
        })
    }
}

/// A batch as posted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Beacon {
    /// The playback session: random, made by the player for one page view.
    pub session: String,
    /// The title played.
    pub title: String,
    pub events: Vec<EventKind>,
}

fn is_token(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Beacon {
    /// Reads and checks a posted body.
    pub fn parse(body: &[u8]) -> Result<Beacon, AnalyticsError> {
        if body.len() > MAX_BODY {
            return Err(AnalyticsError::Invalid("the batch is too large".into()));
        }
        let mut beacon: Beacon = serde_json::from_slice(body)
            .map_err(|e| AnalyticsError::Invalid(format!("not a beacon: {e}")))?;
        if !is_token(&beacon.session, 16, 64) {
            return Err(AnalyticsError::Invalid("not a playback session id".into()));
        }
        if !is_token(&beacon.title, 1, 40) {
            return Err(AnalyticsError::Invalid("not a title id".into()));
        }
        if beacon.events.is_empty() || beacon.events.len() > MAX_EVENTS {
            return Err(AnalyticsError::Invalid(format!(
                "a batch holds 1 to {MAX_EVENTS} events"
            )));
        }
        let site = beacon.title == SITE;
        for e in &mut beacon.events {
            e.check().map_err(AnalyticsError::Invalid)?;
            if site != matches!(e, EventKind::Visit { .. }) {
                return Err(AnalyticsError::Invalid(
                    "visits are of the site, and only visits".into(),
                ));
            }
            e.round_height();
        }
        Ok(beacon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(events: &str) -> Vec<u8> {
        format!(r#"{{"session": "abcdefghijklmnop", "title": "t1", "events": [{events}]}}"#)
            .into_bytes()
    }

    #[test]
    fn good_batches_read_and_bad_ones_are_refused_with_a_reason() {
        let ok = Beacon::parse(&body(
            r#"{"kind": "play_intent", "n": 1}, {"kind": "first_frame", "n": 2, "ms": 812},
               {"kind": "heartbeat", "n": 3, "position": 10.5, "height": 360, "bitrate": 800000},
               {"kind": "error", "n": 4, "fatal": false, "type": "networkError", "details": "fragLoadError"}"#,
        ))
        .unwrap();
        assert_eq!(ok.events.len(), 4);
        assert_eq!(
            ok.events[1],
            EventKind::FirstFrame {
                n: 2,
                ms: 812,
                height: 0
            }
        );
        for (bad, why) in [
            (body(r#"{"kind": "first_frame", "n": 1, "ms": "fast"}"#), "not a beacon"),
            (body(r#"{"kind": "first_frame", "n": 1, "ms": 5, "x": 1}"#), "not a beacon"),
            (body(r#"{"kind": "teleport", "n": 1}"#), "not a beacon"),
            (body(r#"{"kind": "first_frame", "n": 1, "ms": 4000000000}"#), "over"),
            (body(r#"{"kind": "heartbeat", "n": 1, "position": -1, "height": 1, "bitrate": 1}"#), "position"),
            (body(r#"{"kind": "cmcd", "n": 1, "bitrate": 1, "stalled": false, "object": "v"}"#), "not a beacon"),
            (body(""), "1 to 100"),
            (br#"{"session": "short", "title": "t1", "events": [{"kind": "play_intent", "n": 1}]}"#.to_vec(), "session"),
            (br#"{"session": "abcdefghijklmnop", "title": "../etc", "events": [{"kind": "play_intent", "n": 1}]}"#.to_vec(), "title"),
            (vec![b' '; MAX_BODY + 1], "too large"),
        ] {
            match Beacon::parse(&bad) {
                Err(AnalyticsError::Invalid(m)) => assert!(m.contains(why), "{m} for {why}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        let many: Vec<String> = (0..=MAX_EVENTS)
            .map(|n| format!(r#"{{"kind": "play_intent", "n": {n}}}"#))
            .collect();
        assert!(Beacon::parse(&body(&many.join(","))).is_err());
    }
}
