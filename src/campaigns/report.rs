//! A campaign's effect: how many were chosen, emailed, opened and redeemed, and the
//! renewal rate of the targets against the holdout's. A member counts for renewal three
//! days after the end of the period they were in when chosen (pushed back by the free days
//! of the offer, for one who took it, so the offer itself is not counted as a renewal):
//! renewed if they hold a current subscription beyond it. The difference comes with a 95 %
//! confidence interval (Newcombe's, from Wilson intervals, sound for small groups and
//! rates near 0 or 1).

use rusqlite::{Connection, params};
use serde::Serialize;

use super::CampaignError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Renewal {
    /// Members whose period ended by now.
    pub due: i64,
    pub renewed: i64,
}

impl Renewal {
    pub fn rate(&self) -> Option<f64> {
        (self.due > 0).then(|| self.renewed as f64 / self.due as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub targets: i64,
    pub holdout: i64,
    pub capped: i64,
    pub emailed: i64,
    pub opened: i64,
    pub redeemed: i64,
    pub target_renewal: Renewal,
    pub holdout_renewal: Renewal,
}

impl Report {
    /// Targets' renewal rate minus the holdout's, with its 95 % interval.
    pub fn lift(&self) -> Option<(f64, f64, f64)> {
        let (t, h) = (self.target_renewal, self.holdout_renewal);
        let (pt, ph) = (t.rate()?, h.rate()?);
        let (lt, ut) = wilson(t.renewed, t.due);
        let (lh, uh) = wilson(h.renewed, h.due);
        let diff = pt - ph;
        let low = diff - ((pt - lt).powi(2) + (uh - ph).powi(2)).sqrt();
        let high = diff + ((ut - pt).powi(2) + (ph - lh).powi(2)).sqrt();
        Some((diff, low, high))
    }
}

/// The 95 % Wilson score interval of `x` out of `n`.
fn wilson(x: i64, n: i64) -> (f64, f64) {
    const Z: f64 = 1.96;
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let denominator = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / denominator;
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn renewal(
    conn: &Connection,
    campaign_id: i64,
    group: &str,
    now: i64,
) -> Result<Renewal, CampaignError> {
    Ok(conn.query_row(
        "SELECT count(*),
                coalesce(sum(EXISTS (SELECT 1 FROM subscriptions s
                                     WHERE s.user_id = d.user_id AND s.status != 'ended'
                                       AND s.period_end > d.due_at)), 0)
         FROM (SELECT m.user_id,
                      m.period_end + CASE WHEN m.redeemed_at IS NOT NULL
                                               AND o.kind = 'free_period'
                                          THEN o.value * 86400 ELSE 0 END AS due_at
               FROM campaign_members m
               JOIN campaigns c ON c.id = m.campaign_id
               JOIN offers o ON o.id = c.offer_id
               WHERE m.campaign_id = ?1 AND m.grp = ?2 AND m.period_end IS NOT NULL) d
         WHERE d.due_at + 3 * 86400 <= ?3",
        params![campaign_id, group, now],
        |r| {
            Ok(Renewal {
                due: r.get(0)?,
                renewed: r.get(1)?,
            })
        },
    )?)
}

pub fn report(conn: &Connection, campaign_id: i64, now: i64) -> Result<Report, CampaignError> {
    let (targets, holdout, capped, emailed, opened, redeemed) = conn.query_row(
        "SELECT coalesce(sum(grp = 'target'), 0), coalesce(sum(grp = 'holdout'), 0),
                coalesce(sum(grp = 'capped'), 0), count(emailed_at), count(opened_at),
                count(redeemed_at)
         FROM campaign_members WHERE campaign_id = ?1",
        [campaign_id],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    Ok(Report {
        targets,
        holdout,
        capped,
        emailed,
        opened,
        redeemed,
        target_renewal: renewal(conn, campaign_id, "target", now)?,
        holdout_renewal: renewal(conn, campaign_id, "holdout", now)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lift_has_an_interval() {
        let r = Report {
            target_renewal: Renewal {
                due: 900,
                renewed: 720,
            },
            holdout_renewal: Renewal {
                due: 100,
                renewed: 60,
            },
            ..Default::default()
        };
        let (diff, low, high) = r.lift().unwrap();
        assert!((diff - 0.2).abs() < 1e-9);
        // Close to the normal approximation's ±0.0995 for groups this size.
        assert!(
            (low - 0.104).abs() < 0.01 && (high - 0.30).abs() < 0.01,
            "{low} {high}"
        );
        // 3 of 3 against 0 of 3: a wide interval, never past ±1.
        let small = Report {
            target_renewal: Renewal { due: 3, renewed: 3 },
            holdout_renewal: Renewal { due: 3, renewed: 0 },
            ..Default::default()
        };
        let (d, low, high) = small.lift().unwrap();
        assert_eq!(d, 1.0);
        assert!(low > 0.2 && low < 0.6 && high == 1.0, "{low} {high}");
        assert!(Report::default().lift().is_none(), "too early to say");
    }
}
