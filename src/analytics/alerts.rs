//! Quality alerts: an operator's threshold on a quality figure over the last full hour
//! (time to first frame p50 or p95, rebuffering, exits before start, failed plays). An
//! alert fires once per hour that crosses it, when the hour had enough plays to mean
//! something; the service (`services::alerts`) delivers it by email or webhook.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::AnalyticsError;
use super::report::Quality;
use crate::webhooks::target::TargetPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    TtffP95,
    TtffP50,
    Rebuffering,
    ExitsBeforeStart,
    Failures,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::TtffP95,
        Metric::TtffP50,
        Metric::Rebuffering,
        Metric::ExitsBeforeStart,
        Metric::Failures,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TtffP95 => "ttff_p95",
            Metric::TtffP50 => "ttff_p50",
            Metric::Rebuffering => "rebuffering",
            Metric::ExitsBeforeStart => "exits_before_start",
            Metric::Failures => "failures",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::TtffP95 => "Time to first frame, p95 (ms)",
            Metric::TtffP50 => "Time to first frame, p50 (ms)",
            Metric::Rebuffering => "Rebuffering (%)",
            Metric::ExitsBeforeStart => "Exits before start (%)",
            Metric::Failures => "Failed plays (%)",
        }
    }

    /// The figure of an hour, in the unit the threshold is written in (ms or %).
    pub fn of(self, q: &Quality) -> Option<f64> {
        let pct = |v: Option<f64>| v.map(|v| v * 100.0);
        match self {
            Metric::TtffP95 => q.ttff_p95(),
            Metric::TtffP50 => q.ttff_p50(),
            Metric::Rebuffering => pct(q.rebuffer_ratio()),
            Metric::ExitsBeforeStart => pct(q.exit_before_start_rate()),
            Metric::Failures => pct(q.failure_rate()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub metric: Metric,
    pub threshold: f64,
    pub min_plays: i64,
    pub channel: String,
    pub target: String,
    pub fired_hour: Option<i64>,
}

/// An alert as an operator asks for it.
#[derive(Debug, Clone, Copy)]
pub struct NewAlert<'a> {
    pub metric: Metric,
    pub threshold: f64,
    pub min_plays: i64,
    /// `email` or `webhook`.
    pub channel: &'a str,
    /// The address or the URL.
    pub target: &'a str,
}

/// Checks and adds an alert (a webhook only to an address `policy` allows); returns its id.
pub fn add(
    tx: &Connection,
    new: &NewAlert<'_>,
    policy: &TargetPolicy,
    now: i64,
) -> Result<i64, AnalyticsError> {
    let NewAlert {
        metric,
        threshold,
        min_plays,
        channel,
        target,
    } = *new;
    let bad = |m: &str| Err(AnalyticsError::Invalid(m.into()));
    if !threshold.is_finite() || threshold < 0.0 {
        return bad("a threshold is a number from 0");
    }
    if !(1..=1_000_000).contains(&min_plays) {
        return bad("the fewest plays is 1 to 1,000,000");
    }
    let target = target.trim();
    match channel {
        "email" if target.contains('@') && target.len() <= 254 => {}
        "webhook" => {
            let url = url::Url::parse(target)
                .map_err(|_| AnalyticsError::Invalid("a webhook is an http(s) URL".into()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return bad("a webhook is an http(s) URL");
            }
            policy
                .check_url(target)
                .map_err(|e| AnalyticsError::Invalid(e.to_string()))?;
        }
        "email" => return bad("an email alert needs an address"),
        _ => return bad("alerts go by email or webhook"),
    }
    tx.execute(
        "INSERT INTO alerts (metric, threshold, min_plays, channel, target, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![metric.name(), threshold, min_plays, channel, target, now],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn remove(tx: &Connection, id: i64) -> Result<bool, AnalyticsError> {
    Ok(tx.execute("DELETE FROM alerts WHERE id = ?1", [id])? > 0)
}

pub fn list(conn: &Connection) -> Result<Vec<Alert>, AnalyticsError> {
    let mut stmt = conn.prepare(
        "SELECT id, metric, threshold, min_plays, channel, target, fired_hour FROM alerts
         ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, metric, threshold, min_plays, channel, target, fired_hour) = row?;
        if let Some(metric) = Metric::parse(&metric) {
            out.push(Alert {
                id,
                metric,
                threshold,
                min_plays,
                channel,
                target,
                fired_hour,
            });
        }
    }
    Ok(out)
}

/// Claims the firing of `alert` for `hour`; false when it fired for that hour already.
pub fn claim(tx: &Connection, id: i64, hour: i64) -> Result<bool, AnalyticsError> {
    Ok(tx.execute(
        "UPDATE alerts SET fired_hour = ?2 WHERE id = ?1 AND (fired_hour IS NULL OR fired_hour < ?2)",
        params![id, hour],
    )? == 1)
}

/// What an alert says when it fires.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    pub alert_id: i64,
    pub metric: &'static str,
    pub label: &'static str,
    pub value: f64,
    pub threshold: f64,
    /// The hour it is about (Unix seconds of its start, UTC).
    pub hour: i64,
    pub plays: i64,
}

/// The alerts `hour`'s quality crosses (not yet claimed).
pub fn crossing(alerts: &[Alert], hour: i64, q: &Quality) -> Vec<Firing> {
    alerts
        .iter()
        .filter(|a| a.fired_hour.is_none_or(|h| h < hour))
        .filter(|a| q.plays.max(q.first_frames) >= a.min_plays)
        .filter_map(|a| {
            let value = a.metric.of(q)?;
            (value > a.threshold).then(|| Firing {
                alert_id: a.id,
                metric: a.metric.name(),
                label: a.metric.label(),
                value,
                threshold: a.threshold,
                hour,
                plays: q.plays,
            })
        })
        .collect()
}

/// The quality of the hour starting at `hour` (zeros when nothing played).
pub fn hour_quality(events: &Connection, hour: i64) -> Result<Quality, AnalyticsError> {
    Ok(super::report::hourly_quality(events, hour)?
        .into_iter()
        .find(|(h, _)| *h == hour)
        .map(|(_, q)| q)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::rollup::TTFF_BUCKETS;

    #[test]
    fn an_hour_over_the_threshold_fires_once_with_enough_plays() {
        let alert = |metric, threshold, min_plays, fired_hour| Alert {
            id: 1,
            metric,
            threshold,
            min_plays,
            channel: "email".into(),
            target: "ops@example.com".into(),
            fired_hour,
        };
        let mut slow = Quality {
            plays: 20,
            first_frames: 20,
            ..Default::default()
        };
        // Half the starts take 3 to 5 s.
        let mut ttff = [0i64; TTFF_BUCKETS];
        ttff[3] = 10;
        ttff[7] = 10;
        slow.ttff = ttff;
        let fired = crossing(&[alert(Metric::TtffP95, 2000.0, 10, None)], 3600, &slow);
        assert_eq!(fired.len(), 1);
        assert!(fired[0].value > 4000.0, "{}", fired[0].value);
        assert!(crossing(&[alert(Metric::TtffP95, 6000.0, 10, None)], 3600, &slow).is_empty());
        assert!(
            crossing(&[alert(Metric::TtffP95, 2000.0, 50, None)], 3600, &slow).is_empty(),
            "too few plays"
        );
        assert!(
            crossing(
                &[alert(Metric::TtffP95, 2000.0, 10, Some(3600))],
                3600,
                &slow
            )
            .is_empty(),
            "fired for that hour"
        );
    }
}
