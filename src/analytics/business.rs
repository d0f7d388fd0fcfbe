//! The business figures, read from the main database: subscribers and MRR on each day
//! (replayed from `subscription_events`), new and churned subscriptions, trial conversion,
//! revenue from subscriptions, rentals, purchases and pay-per-view tickets, ARPU and LTV.
//! Money is in the currency's minor unit, for one currency: the one most plans are sold in.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::AnalyticsError;
use super::report::{DAY, Range};

/// Average days in a month, for monthly rates.
const MONTH_DAYS: f64 = 30.44;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubscriberDay {
    pub day: i64,
    /// Paying (active or past due) at the end of the day.
    pub active: i64,
    pub trialing: i64,
    /// Monthly recurring revenue of the paying ones.
    pub mrr: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Business {
    pub currency: String,
    pub days: Vec<SubscriberDay>,
    pub new_subscriptions: i64,
    pub churned: i64,
    pub trials_converted: i64,
    pub trials_lapsed: i64,
    pub subscription_revenue: i64,
    pub rental_revenue: i64,
    pub rentals: i64,
    pub purchase_revenue: i64,
    pub purchases: i64,
    pub ticket_revenue: i64,
    pub tickets: i64,
}

impl Business {
    pub fn last(&self) -> SubscriberDay {
        self.days.last().cloned().unwrap_or_default()
    }

    /// Trials that became paying, of those that ended in the range.
    pub fn trial_conversion(&self) -> Option<f64> {
        let ended = self.trials_converted + self.trials_lapsed;
        (ended > 0).then(|| self.trials_converted as f64 / ended as f64)
    }

    fn mean_active(&self) -> f64 {
        if self.days.is_empty() {
            return 0.0;
        }
        self.days.iter().map(|d| d.active as f64).sum::<f64>() / self.days.len() as f64
    }

    fn months(&self) -> f64 {
        self.days.len().max(1) as f64 / MONTH_DAYS
    }

    /// Subscription revenue per paying subscriber per month.
    pub fn arpu(&self) -> Option<f64> {
        let active = self.mean_active();
        (active > 0.0).then(|| self.subscription_revenue as f64 / active / self.months())
    }

    /// Paying subscriptions ended per paying subscriber per month.
    pub fn monthly_churn(&self) -> Option<f64> {
        let active = self.mean_active();
        (active > 0.0).then(|| self.churned as f64 / active / self.months())
    }

    /// What a subscriber is worth over their life: ARPU / monthly churn.
    pub fn ltv(&self) -> Option<f64> {
        match (self.arpu(), self.monthly_churn()) {
            (Some(arpu), Some(churn)) if churn > 0.0 => Some(arpu / churn),
            _ => None,
        }
    }
}

/// The currency the figures are in: most plans', else most purchases', else EUR.
pub fn main_currency(conn: &Connection) -> Result<String, AnalyticsError> {
    let plans: Option<String> = conn
        .query_row(
            "SELECT upper(currency) FROM plans GROUP BY upper(currency)
             ORDER BY count(*) DESC, 1 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(c) = plans {
        return Ok(c);
    }
    let bought: Option<String> = conn
        .query_row(
            "SELECT upper(currency) FROM purchases GROUP BY upper(currency)
             ORDER BY count(*) DESC, 1 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(bought.unwrap_or_else(|| "EUR".into()))
}

struct Change {
    subscription: i64,
    status: String,
    monthly: i64,
    currency: String,
    at: i64,
}

pub fn business(conn: &Connection, range: Range) -> Result<Business, AnalyticsError> {
    let currency = main_currency(conn)?;
    let mut out = Business {
        currency: currency.clone(),
        ..Default::default()
    };
    let mut stmt = conn.prepare(
        "SELECT subscription_id, status, monthly_amount, upper(currency), at
         FROM subscription_events WHERE at < ?1 ORDER BY at, id",
    )?;
    let changes = stmt.query_map([range.end()], |r| {
        Ok(Change {
            subscription: r.get(0)?,
            status: r.get(1)?,
            monthly: r.get(2)?,
            currency: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    // Each subscription's latest (status, monthly amount in the main currency or 0).
    let mut state: HashMap<i64, (String, i64)> = HashMap::new();
    let (mut active, mut trialing, mut mrr) = (0i64, 0i64, 0i64);
    let paying = |s: &str| s == "active" || s == "past_due";
    let mut days = range.each_day().peekable();
    let mut snapshot = |until: i64, active: i64, trialing: i64, mrr: i64, out: &mut Business| {
        while let Some(day) = days.next_if(|d| d + DAY <= until) {
            out.days.push(SubscriberDay {
                day,
                active,
                trialing,
                mrr,
            });
        }
    };
    for change in changes {
        let c = change?;
        snapshot(c.at, active, trialing, mrr, &mut out);
        let monthly = if c.currency == currency { c.monthly } else { 0 };
        let before = state.insert(c.subscription, (c.status.clone(), monthly));
        if let Some((old, old_monthly)) = &before {
            if paying(old) {
                active -= 1;
                mrr -= old_monthly;
            } else if old == "trialing" {
                trialing -= 1;
            }
        }
        if paying(&c.status) {
            active += 1;
            mrr += monthly;
        } else if c.status == "trialing" {
            trialing += 1;
        }
        if c.at >= range.from {
            let old = before.as_ref().map(|(s, _)| s.as_str());
            match (old, c.status.as_str()) {
                (None, _) => out.new_subscriptions += 1,
                (Some(o), "ended") if paying(o) => out.churned += 1,
                (Some("trialing"), "ended") => out.trials_lapsed += 1,
                (Some("trialing"), s) if paying(s) => out.trials_converted += 1,
                _ => {}
            }
        }
    }
    snapshot(i64::MAX, active, trialing, mrr, &mut out);

    out.subscription_revenue = conn.query_row(
        "SELECT coalesce(sum(amount), 0) FROM invoices
         WHERE status = 'paid' AND upper(currency) = ?1 AND created >= ?2 AND created < ?3",
        params![currency, range.from, range.end()],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT kind, count(*), coalesce(sum(amount), 0) FROM purchases
         WHERE refunded_at IS NULL AND upper(currency) = ?1 AND created_at >= ?2
           AND created_at < ?3
         GROUP BY kind",
    )?;
    let rows = stmt.query_map(params![currency, range.from, range.end()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (kind, count, revenue) = row?;
        match kind.as_str() {
            "rent" => (out.rentals, out.rental_revenue) = (count, revenue),
            "buy" => (out.purchases, out.purchase_revenue) = (count, revenue),
            "ticket" => (out.tickets, out.ticket_revenue) = (count, revenue),
            _ => {}
        }
    }
    Ok(out)
}

/// Viewer accounts made in the range.
pub fn sign_ups(conn: &Connection, range: Range) -> Result<Vec<i64>, AnalyticsError> {
    let mut stmt = conn.prepare(
        "SELECT id FROM users WHERE role = 'viewer' AND created_at >= ?1 AND created_at < ?2",
    )?;
    let ids = stmt
        .query_map(params![range.from, range.end()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("marquee.db");
        drop(crate::db::Db::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, email, email_key, role, created_at) VALUES
                 (1, 'a@x', 'a@x', 'viewer', 0), (2, 'b@x', 'b@x', 'viewer', 0),
                 (3, 'c@x', 'c@x', 'viewer', 0);
             INSERT INTO plans (id, name, currency, monthly_amount, yearly_amount, created_at,
                                updated_at)
             VALUES ('club', 'Club', 'eur', 1000, 12000, 0, 0);",
        )
        .unwrap();
        (tmp, conn)
    }

    fn subscribe(conn: &Connection, user: i64, status: &str, interval: &str, at: i64) -> i64 {
        let amount = if interval == "year" { 12_000 } else { 1_000 };
        conn.execute(
            "INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                        currency, source, created_at, updated_at)
             VALUES (?1, 'club', ?2, ?3, ?4, ?5, 'eur', 'manual', ?3, ?3)",
            params![user, status, at, interval, amount],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn set(conn: &Connection, id: i64, status: &str, at: i64) {
        conn.execute(
            "UPDATE subscriptions SET status = ?2, updated_at = ?3,
                 past_due_since = CASE ?2 WHEN 'past_due' THEN ?3 END WHERE id = ?1",
            params![id, status, at],
        )
        .unwrap();
    }

    #[test]
    fn subscribers_mrr_churn_and_conversion_follow_the_history() {
        let (_tmp, conn) = db();
        let d = |n: i64| n * DAY + 3600;
        let a = subscribe(&conn, 1, "active", "month", d(0));
        let b = subscribe(&conn, 2, "trialing", "year", d(1));
        let c = subscribe(&conn, 3, "trialing", "month", d(1));
        set(&conn, b, "active", d(3)); // converted, 12000 a year = 1000 a month
        set(&conn, c, "ended", d(4)); // a trial that lapsed
        set(&conn, a, "past_due", d(5));
        set(&conn, a, "ended", d(6)); // churned
        conn.execute_batch(&format!(
            "INSERT INTO invoices (id, user_id, amount, currency, status, created) VALUES
                 ('in1', 1, 1000, 'eur', 'paid', {}), ('in2', 2, 12000, 'eur', 'paid', {}),
                 ('in3', 1, 1000, 'eur', 'payment_failed', {});
             INSERT INTO purchases (user_id, kind, target_id, amount, currency, window_secs,
                                    created_at) VALUES
                 (3, 'rent', 't1', 250, 'eur', 3600, {}), (3, 'rent', 't2', 250, 'eur', 3600, {});
             INSERT INTO purchases (user_id, kind, target_id, amount, currency, created_at,
                                    refunded_at) VALUES
                 (3, 'ticket', 'e1', 500, 'eur', {}, NULL), (2, 'ticket', 'e1', 500, 'eur', {}, {});",
            d(0),
            d(3),
            d(5),
            d(2),
            d(9),
            d(2),
            d(2),
            d(3)
        ))
        .unwrap();

        let week = Range {
            from: 0,
            to: 6 * DAY,
        };
        let b = business(&conn, week).unwrap();
        assert_eq!(b.currency, "EUR");
        let days: Vec<(i64, i64, i64)> = b
            .days
            .iter()
            .map(|d| (d.active, d.trialing, d.mrr))
            .collect();
        assert_eq!(
            days,
            [
                (1, 0, 1000),
                (1, 2, 1000),
                (1, 2, 1000),
                (2, 1, 2000),
                (2, 0, 2000),
                (2, 0, 2000),
                (1, 0, 1000)
            ]
        );
        assert_eq!(
            (b.new_subscriptions, b.churned),
            (3, 1),
            "a lapsed trial is not churn"
        );
        assert_eq!((b.trials_converted, b.trials_lapsed), (1, 1));
        assert_eq!(b.trial_conversion(), Some(0.5));
        assert_eq!(b.subscription_revenue, 13_000);
        assert_eq!(
            (b.rentals, b.rental_revenue),
            (1, 250),
            "one rental is later"
        );
        assert_eq!(
            (b.tickets, b.ticket_revenue),
            (1, 500),
            "the refunded one is not counted"
        );
        // 13000 over a mean of 10/7 paying subscribers in 7 days.
        let arpu = b.arpu().unwrap();
        assert!((arpu - 13_000.0 / (10.0 / 7.0) / (7.0 / MONTH_DAYS)).abs() < 1e-6);
        assert!(b.ltv().unwrap() > 0.0);

        // A later range starts from the state the history leaves.
        let later = business(
            &conn,
            Range {
                from: 7 * DAY,
                to: 8 * DAY,
            },
        )
        .unwrap();
        assert_eq!(later.new_subscriptions, 0);
        assert_eq!(
            later.days.iter().map(|d| d.active).collect::<Vec<_>>(),
            [1, 1]
        );
    }
}
