//! The business figures, read from the main database: subscribers and MRR on each day
//! (replayed from `subscription_events`), new and churned subscriptions, trial conversion,
//! revenue from subscriptions, rentals, purchases and pay-per-view tickets, ARPU and LTV.
//! Money is in the currency's minor unit, for one currency: the one most plans are sold in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

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

    /// Recurring revenue per paying subscriber per month: the mean MRR over the mean
    /// number paying (cash collected in the range is `subscription_revenue`).
    pub fn arpu(&self) -> Option<f64> {
        let active = self.mean_active();
        if active <= 0.0 {
            return None;
        }
        let mrr = self.days.iter().map(|d| d.mrr as f64).sum::<f64>() / self.days.len() as f64;
        Some(mrr / active)
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
    manual: bool,
    period_end: i64,
    at: i64,
}

/// How a subscription counts at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Paying (a free period given to a paying member still counts).
    Paying,
    /// In a first free trial.
    Trial,
    /// Ended, lapsed, not paying anything (a comp), or not started.
    Neither,
}

/// A subscription as the replay knows it.
#[derive(Debug, Clone)]
struct Sub {
    status: String,
    /// Its monthly amount in the main currency (0 in another).
    monthly: i64,
    main_currency: bool,
    manual: bool,
    period_end: i64,
    /// It has been active (paid) before: a later free period is not a trial.
    paid_before: bool,
    class: Class,
    counted_before: bool,
}

impl Sub {
    fn class_at(&self, t: i64) -> Class {
        // A dashboard-made subscription ends at its period end without any change.
        if self.manual && self.period_end <= t {
            return Class::Neither;
        }
        match self.status.as_str() {
            // Never paid: a trial, even while its first charge fails (past due).
            "trialing" | "past_due" if !self.paid_before => Class::Trial,
            "active" | "past_due" | "trialing" if self.monthly > 0 && self.main_currency => {
                Class::Paying
            }
            "active" | "past_due" | "trialing" => Class::Neither,
            _ => Class::Neither,
        }
    }
}

/// The running totals of the replay.
#[derive(Default)]
struct Totals {
    active: i64,
    trialing: i64,
    mrr: i64,
}

impl Totals {
    fn apply(&mut self, class: Class, monthly: i64, sign: i64) {
        match class {
            Class::Paying => {
                self.active += sign;
                self.mrr += sign * monthly;
            }
            Class::Trial => self.trialing += sign,
            Class::Neither => {}
        }
    }
}

/// Moves `sub` to the class it has at `t`, counting the move when it falls in `range`.
fn reclass(sub: &mut Sub, t: i64, totals: &mut Totals, range: Range, out: &mut Business) {
    let before = sub.class;
    let old_monthly = sub.monthly;
    let now = sub.class_at(t);
    sub.class = now;
    totals.apply(before, old_monthly, -1);
    totals.apply(now, sub.monthly, 1);
    if t < range.from || t >= range.end() || before == now {
        return;
    }
    match (before, now) {
        (_, Class::Paying | Class::Trial) if !sub.counted_before => out.new_subscriptions += 1,
        _ => {}
    }
    match (before, now) {
        (Class::Trial, Class::Paying) => out.trials_converted += 1,
        (Class::Trial, Class::Neither) => out.trials_lapsed += 1,
        (Class::Paying, Class::Neither) => out.churned += 1,
        _ => {}
    }
}

pub fn business(conn: &Connection, range: Range) -> Result<Business, AnalyticsError> {
    let currency = main_currency(conn)?;
    let mut out = Business {
        currency: currency.clone(),
        ..Default::default()
    };
    let mut stmt = conn.prepare(
        "SELECT subscription_id, status, monthly_amount, upper(currency), source = 'manual',
                period_end, at
         FROM subscription_events WHERE at < ?1 ORDER BY at, id",
    )?;
    let changes = stmt.query_map([range.end()], |r| {
        Ok(Change {
            subscription: r.get(0)?,
            status: r.get(1)?,
            monthly: r.get(2)?,
            currency: r.get(3)?,
            manual: r.get(4)?,
            period_end: r.get(5)?,
            at: r.get(6)?,
        })
    })?;
    let mut subs: HashMap<i64, Sub> = HashMap::new();
    // Dashboard-made subscriptions lapse at their period end: (when, which).
    let mut lapses: BinaryHeap<Reverse<(i64, i64)>> = BinaryHeap::new();
    let mut totals = Totals::default();
    let mut days = range.each_day().peekable();
    // Applies the lapses due by `t` and records the days that end by then.
    let mut advance = |t: i64,
                       subs: &mut HashMap<i64, Sub>,
                       lapses: &mut BinaryHeap<Reverse<(i64, i64)>>,
                       totals: &mut Totals,
                       out: &mut Business| {
        loop {
            let next_day_end = days.peek().map(|d| d + DAY);
            let next_lapse = lapses.peek().map(|Reverse((at, _))| *at);
            match (next_lapse, next_day_end) {
                (Some(l), day_end) if l <= t && day_end.is_none_or(|e| l < e) => {
                    let Reverse((at, id)) = lapses.pop().expect("peeked");
                    if let Some(sub) = subs.get_mut(&id)
                        && sub.manual
                        && sub.period_end == at
                    {
                        reclass(sub, at, totals, range, out);
                    }
                }
                (_, Some(end)) if end <= t => {
                    let day = days.next().expect("peeked");
                    out.days.push(SubscriberDay {
                        day,
                        active: totals.active,
                        trialing: totals.trialing,
                        mrr: totals.mrr,
                    });
                }
                _ => return,
            }
        }
    };
    for change in changes {
        let c = change?;
        advance(c.at, &mut subs, &mut lapses, &mut totals, &mut out);
        let main_currency = c.currency == currency;
        let sub = subs.entry(c.subscription).or_insert(Sub {
            status: String::new(),
            monthly: 0,
            main_currency,
            manual: c.manual,
            period_end: c.period_end,
            paid_before: false,
            class: Class::Neither,
            counted_before: false,
        });
        // The totals hold the old amount: take it out before the new one goes in.
        totals.apply(sub.class, sub.monthly, -1);
        totals.apply(sub.class, if main_currency { c.monthly } else { 0 }, 1);
        sub.monthly = if main_currency { c.monthly } else { 0 };
        sub.main_currency = main_currency;
        sub.status = c.status;
        sub.period_end = c.period_end;
        let was_counted = sub.class != Class::Neither;
        reclass(sub, c.at, &mut totals, range, &mut out);
        sub.counted_before |= was_counted || sub.class != Class::Neither;
        if sub.status == "active" {
            sub.paid_before = true;
        }
        if sub.manual && c.period_end > c.at {
            lapses.push(Reverse((c.period_end, c.subscription)));
        }
    }
    advance(i64::MAX, &mut subs, &mut lapses, &mut totals, &mut out);

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
        made(conn, user, status, amount, interval, at, at + 400 * DAY)
    }

    fn made(
        conn: &Connection,
        user: i64,
        status: &str,
        amount: i64,
        interval: &str,
        at: i64,
        period_end: i64,
    ) -> i64 {
        conn.execute(
            "INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                        currency, source, created_at, updated_at)
             VALUES (?1, 'club', ?2, ?6, ?4, ?5, 'eur', 'manual', ?3, ?3)",
            params![user, status, at, interval, amount, period_end],
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
        // Mean MRR 10000/7 over a mean of 10/7 paying: 10 EUR a month each.
        let arpu = b.arpu().unwrap();
        assert!((arpu - 1_000.0).abs() < 1e-6, "{arpu}");
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

    #[test]
    fn lapses_comps_free_periods_and_deletions_count_as_they_are() {
        let (_tmp, conn) = db();
        let d = |n: i64| n * DAY + 3600;
        // A dashboard-made month for user 1 that runs out on day 2 (churn, no change
        // made), a comp for user 2 (nothing paid: not paying), and user 3 paying, then given
        // free days (still paying, not a trial), then deleted.
        made(&conn, 1, "active", 1_000, "month", d(0), d(2));
        made(&conn, 2, "active", 0, "month", d(0), d(30));
        let c = made(&conn, 3, "active", 1_000, "month", d(0), 4_000_000_000);
        set(&conn, c, "trialing", d(1));
        set(&conn, c, "active", d(3));
        let b = business(
            &conn,
            Range {
                from: 0,
                to: 3 * DAY,
            },
        )
        .unwrap();
        let paying: Vec<i64> = b.days.iter().map(|d| d.active).collect();
        assert_eq!(paying, [2, 2, 1, 1], "the lapse on day 2");
        assert_eq!(
            b.days.iter().map(|d| d.trialing).sum::<i64>(),
            0,
            "no trials"
        );
        assert_eq!(
            (b.new_subscriptions, b.churned, b.trials_converted),
            (2, 1, 0)
        );
        // A deletion (at the wall clock's now) ends user 3's subscription.
        conn.execute("DELETE FROM subscriptions WHERE id = ?1", [c])
            .unwrap();
        let today = crate::clock::now() / DAY * DAY;
        let later = business(
            &conn,
            Range {
                from: today,
                to: today,
            },
        )
        .unwrap();
        assert_eq!(later.last().active, 0);
    }
}
