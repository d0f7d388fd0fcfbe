//! A campaign's effect: how many were chosen, emailed, opened and redeemed, and the
//! renewal rate of the targets against the holdout's. A member counts for renewal once the
//! end of the period they were in when chosen has passed: renewed if they hold a current
//! subscription beyond it. The difference comes with a 95 % confidence interval (normal
//! approximation for two proportions).

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
        let se = (pt * (1.0 - pt) / t.due as f64 + ph * (1.0 - ph) / h.due as f64).sqrt();
        let diff = pt - ph;
        Some((diff, diff - 1.96 * se, diff + 1.96 * se))
    }
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
                                     WHERE s.user_id = m.user_id AND s.status != 'ended'
                                       AND s.period_end > m.period_end)), 0)
         FROM campaign_members m
         WHERE m.campaign_id = ?1 AND m.grp = ?2 AND m.period_end IS NOT NULL
           AND m.period_end <= ?3",
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
        // se = sqrt(.8*.2/900 + .6*.4/100) = 0.05077...
        assert!(
            (high - low - 2.0 * 1.96 * 0.050_77).abs() < 1e-3,
            "{low} {high}"
        );
        assert!(Report::default().lift().is_none(), "too early to say");
    }
}
