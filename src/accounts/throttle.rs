//! Sign-in throttling, per account, per client address and per device. A few failures are
//! free; each one after that locks the key for twice as long as the one before (up to a
//! ceiling). While locked, attempts are refused without checking the password and without
//! counting. Stored in SQLite so a restart does not reset a lockout. Keys are made whether
//! or not the account exists, so a lockout says nothing about who has an account.
//!
//! Who is judged by what (`sign_in_gate`), after OWASP's device cookies:
//! - a browser carrying a device cookie of the account (`devices`) is judged by that
//!   device's own failures only, so the owner on their usual browser is never kept out by
//!   what others do to the email, whatever they typed wrong themselves;
//! - every other client is judged by the email's failures from all such clients together
//!   (an overall cap on guesses at one email), by its own failures on that email, and by
//!   its address's failures on any emails (which refuse only emails that have recent
//!   failures, so a crowd behind one address cannot lock each other out of accounts nobody
//!   is guessing at).

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, params};

use super::AccountsError;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures per account before the first lockout.
    pub account_free_failures: i64,
    /// Failures per address before the first lockout: higher, as many people may share
    /// one address (an office, a carrier's NAT).
    pub ip_free_failures: i64,
    /// The first lockout; each later one doubles it.
    pub base_lockout_secs: i64,
    /// The longest lockout.
    pub max_lockout_secs: i64,
    /// A key with no failure for this long starts again from zero.
    pub forget_after_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            account_free_failures: 5,
            ip_free_failures: 20,
            base_lockout_secs: 1,
            max_lockout_secs: 15 * 60,
            forget_after_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// The comparison key of the email typed (`Email::key_of`).
    Account(String),
    Ip(IpAddr),
    /// Failures for one email (its comparison key) from one address: the address that
    /// failed is locked out of that account, nobody else.
    AccountFrom(String, IpAddr),
    /// Requests for emailed sign-in links, counted apart from password guesses (every
    /// request counts) so asking for links cannot lock anyone out of their password.
    LinkRequest(Box<ThrottleKey>),
    /// Wrong access or offer codes typed by one account (by its id).
    CodeGuess(i64),
    /// Wrong offer codes typed at checkout by visitors with no account, per address (a
    /// /64 for IPv6).
    CodeGuessFrom(IpAddr),
    /// Failures from one device of an account (its token's stored hash, `devices`).
    Device(String),
    /// Sign-ups asked for from one client address (`ThrottleKey::Ip`, an IPv6 /64 as one),
    /// every request counting (`signup`).
    SignUp(Box<ThrottleKey>),
    /// Checkouts started with no account from one client address (an IPv6 /64 as one),
    /// every one counting: each asks Stripe for a session, and Stripe limits the rate.
    GuestCheckout(IpAddr),
}

impl ThrottleKey {
    fn stored(&self) -> String {
        match self {
            ThrottleKey::Account(key) => format!("account:{key}"),
            // One IPv6 client usually holds a whole /64: count it as one address.
            ThrottleKey::Ip(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            ThrottleKey::Ip(ip) => format!("ip:{}", ip.to_canonical()),
            ThrottleKey::AccountFrom(key, ip) => {
                format!("account:{key}@{}", ThrottleKey::Ip(*ip).stored())
            }
            ThrottleKey::LinkRequest(key) => format!("link:{}", key.stored()),
            ThrottleKey::CodeGuess(user) => format!("code:{user}"),
            ThrottleKey::CodeGuessFrom(ip) => format!("code:{}", ThrottleKey::Ip(*ip).stored()),
            ThrottleKey::Device(hash) => format!("device:{hash}"),
            ThrottleKey::SignUp(key) => format!("signup:{}", key.stored()),
            ThrottleKey::GuestCheckout(ip) => {
                format!("checkout:{}", ThrottleKey::Ip(*ip).stored())
            }
        }
    }

    /// The first lockout: a minute for code guesses (nobody types six wrong codes by
    /// accident twice in a minute), the policy's base for sign-in.
    fn base_lockout(&self, policy: &ThrottlePolicy) -> i64 {
        match self {
            ThrottleKey::CodeGuess(_) | ThrottleKey::CodeGuessFrom(_) => {
                policy.base_lockout_secs.max(60)
            }
            // Nobody makes eleven accounts, or starts eleven checkouts, in a minute from
            // one place by accident.
            ThrottleKey::SignUp(_) | ThrottleKey::GuestCheckout(_) => {
                policy.base_lockout_secs.max(60)
            }
            _ => policy.base_lockout_secs,
        }
    }

    fn free_failures(&self, policy: &ThrottlePolicy) -> i64 {
        match self {
            ThrottleKey::Account(_) | ThrottleKey::AccountFrom(..) | ThrottleKey::Device(_) => {
                policy.account_free_failures
            }
            ThrottleKey::Ip(_) => policy.ip_free_failures,
            ThrottleKey::LinkRequest(key) => key.free_failures(policy),
            // The fifth wrong code locks: codes are not passwords people mistype.
            ThrottleKey::CodeGuess(_) | ThrottleKey::CodeGuessFrom(_) => {
                policy.account_free_failures.min(4)
            }
            // Every request is counted after the lock is looked at, so the one that
            // reaches the limit still goes through: lock at one less.
            ThrottleKey::SignUp(_) => super::signup::FREE_PER_ADDRESS - 1,
            ThrottleKey::GuestCheckout(_) => GUEST_CHECKOUTS_PER_ADDRESS - 1,
        }
    }
}

/// Checkouts without an account per client address before the first lockout.
pub const GUEST_CHECKOUTS_PER_ADDRESS: i64 = 10;

/// Seconds until any of `keys` may try again; `None` when none is locked.
pub fn wait_for(
    conn: &Connection,
    keys: &[ThrottleKey],
    now: i64,
) -> Result<Option<i64>, AccountsError> {
    let mut wait = None;
    for key in keys {
        let locked_until: Option<i64> = conn
            .query_row(
                "SELECT locked_until FROM sign_in_throttle WHERE key = ?1",
                [key.stored()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(until) = locked_until.filter(|u| *u > now) {
            wait = Some(wait.unwrap_or(0).max(until - now));
        }
    }
    Ok(wait)
}

/// The keys a failed password sign-in counts against.
pub fn sign_in_keys(email_key: &str, ip: IpAddr) -> Vec<ThrottleKey> {
    vec![
        ThrottleKey::Account(email_key.to_owned()),
        ThrottleKey::AccountFrom(email_key.to_owned(), ip),
        ThrottleKey::Ip(ip),
    ]
}

/// What the throttle says before a password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refused for this many seconds, without checking the password.
    Locked {
        wait: i64,
    },
    /// The address is locked but this email has no recent failures: only a correct
    /// password for an existing account gets in (and a wrong one counts); every other
    /// answer is the lock's.
    AddressLocked {
        wait: i64,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    failures: i64,
    last_failure_at: i64,
    locked_until: i64,
}

fn row(conn: &Connection, key: &ThrottleKey) -> Result<Row, AccountsError> {
    Ok(conn
        .query_row(
            "SELECT failures, last_failure_at, locked_until FROM sign_in_throttle WHERE key = ?1",
            [key.stored()],
            |r| {
                Ok(Row {
                    failures: r.get(0)?,
                    last_failure_at: r.get(1)?,
                    locked_until: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Who is signing in, as far as the throttle cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// A browser with a device cookie of this account: the token's stored hash.
    KnownDevice(String),
    /// Anyone else, by address.
    Address(IpAddr),
}

/// The sign-in rules:
/// - a known device of the account is locked by its own failures only;
/// - any other client is locked by the email's failures from all other clients (so the
///   number of guesses at one email is capped however many addresses guess), by its own
///   failures on this email, and by its address's failures on any emails — those refuse
///   only emails that have recent failures; for an email with none, the address's lock
///   still answers unless the password is right (`Gate::AddressLocked`), so a crowd behind
///   one address (an office, a proxy nobody trusted) cannot lock each other out of
///   accounts nobody is guessing at.
pub fn sign_in_gate(
    conn: &Connection,
    email_key: &str,
    client: &Client,
    policy: &ThrottlePolicy,
    now: i64,
) -> Result<Gate, AccountsError> {
    let recent = |r: &Row| r.failures > 0 && now - r.last_failure_at <= policy.forget_after_secs;
    let locked = |r: &Row| (r.locked_until > now).then_some(r.locked_until - now);
    let ip = match client {
        Client::KnownDevice(hash) => {
            let device = row(conn, &ThrottleKey::Device(hash.clone()))?;
            return Ok(match locked(&device) {
                Some(wait) => Gate::Locked { wait },
                None => Gate::Open,
            });
        }
        Client::Address(ip) => *ip,
    };
    let account = row(conn, &ThrottleKey::Account(email_key.to_owned()))?;
    let pair = row(conn, &ThrottleKey::AccountFrom(email_key.to_owned(), ip))?;
    let address = row(conn, &ThrottleKey::Ip(ip))?;
    if let Some(wait) = locked(&pair).max(locked(&account)) {
        return Ok(Gate::Locked { wait });
    }
    Ok(match locked(&address) {
        Some(wait) if recent(&account) => Gate::Locked { wait },
        Some(wait) => Gate::AddressLocked { wait },
        None => Gate::Open,
    })
}

/// The keys a failed password sign-in counts against: a known device's own, or the
/// email's, the email-from-this-address pair's and the address's.
pub fn failure_keys(email_key: &str, client: &Client) -> Vec<ThrottleKey> {
    match client {
        Client::KnownDevice(hash) => vec![ThrottleKey::Device(hash.clone())],
        Client::Address(ip) => sign_in_keys(email_key, *ip),
    }
}

/// The right password. From a known device: that device's count starts again, and
/// nothing else does — the email's count stays with the strangers who made it. From any
/// other client: the email's count and this address's count on it start again. Either
/// way the email's count of sign-in link requests does too. Other addresses that failed
/// on the account stay locked, and the address keeps its own count, so signing in to
/// one's own account does not reset a guesser's budget.
pub fn record_sign_in(
    conn: &Connection,
    email_key: &str,
    client: &Client,
) -> Result<(), AccountsError> {
    let link = ThrottleKey::LinkRequest(Box::new(ThrottleKey::Account(email_key.to_owned())));
    let keys = match client {
        Client::KnownDevice(hash) => vec![ThrottleKey::Device(hash.clone()), link],
        Client::Address(ip) => vec![
            ThrottleKey::Account(email_key.to_owned()),
            ThrottleKey::AccountFrom(email_key.to_owned(), *ip),
            link,
        ],
    };
    for key in keys {
        record_success(conn, &key)?;
    }
    Ok(())
}

/// Emails of links (sign-in, reset, verification) one email address is sent per window:
/// past it, the requester gets the same answer and no email goes out. Counted apart from
/// everything that locks sign-in, and never a lock: nobody is refused anything.
pub const MAIL_BUDGET: i64 = 5;
pub const MAIL_WINDOW_SECS: i64 = 3600;

/// Whose mail budget a link email is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailBudget {
    /// The email's shared budget (its comparison key): everyone without a device cookie.
    Email(String),
    /// A known device of the account (its token's stored hash): its own budget, so
    /// strangers spending the shared one cannot keep the owner's links from being sent.
    Device(String),
}

impl MailBudget {
    fn stored(&self) -> String {
        match self {
            MailBudget::Email(key) => key.clone(),
            MailBudget::Device(hash) => format!("device:{hash}"),
        }
    }
}

/// Takes one email from `budget`; false when the window's budget is spent.
pub fn take_mail_budget(
    conn: &Connection,
    budget: &MailBudget,
    now: i64,
) -> Result<bool, AccountsError> {
    let email_key = budget.stored();
    let email_key = email_key.as_str();
    let current: Option<(i64, i64)> = conn
        .query_row(
            "SELECT window_start, sent FROM mail_budget WHERE email_key = ?1",
            [email_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (start, sent) = match current {
        Some((start, sent)) if now - start < MAIL_WINDOW_SECS => (start, sent),
        _ => (now, 0),
    };
    if sent >= MAIL_BUDGET {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO mail_budget (email_key, window_start, sent) VALUES (?1, ?2, ?3)
         ON CONFLICT (email_key) DO UPDATE SET window_start = ?2, sent = ?3",
        params![email_key, start, sent + 1],
    )?;
    Ok(true)
}

/// Drops what no longer counts: mail budgets of past windows and throttle rows forgotten
/// anyway (the periodic upkeep).
pub fn purge(conn: &Connection, policy: &ThrottlePolicy, now: i64) -> Result<usize, AccountsError> {
    let budgets = conn.execute(
        "DELETE FROM mail_budget WHERE window_start <= ?1",
        [now - MAIL_WINDOW_SECS],
    )?;
    let rows = conn.execute(
        "DELETE FROM sign_in_throttle WHERE last_failure_at < ?1 AND locked_until <= ?2",
        params![now - policy.forget_after_secs, now],
    )?;
    Ok(budgets + rows)
}

/// For throttles where every request counts (sign-ups, checkouts without an account): the
/// seconds to wait while `keys` are locked, else `None` with this request counted.
pub fn count_request(
    conn: &Connection,
    keys: &[ThrottleKey],
    policy: &ThrottlePolicy,
    now: i64,
) -> Result<Option<i64>, AccountsError> {
    if let Some(wait) = wait_for(conn, keys, now)? {
        return Ok(Some(wait.max(1)));
    }
    record_failure(conn, keys, policy, now)?;
    Ok(None)
}

pub fn record_failure(
    conn: &Connection,
    keys: &[ThrottleKey],
    policy: &ThrottlePolicy,
    now: i64,
) -> Result<(), AccountsError> {
    // Guesses at made-up emails must not grow the table for good: rows that are forgotten
    // anyway (no failure for `forget_after_secs`, not locked) go.
    conn.execute(
        "DELETE FROM sign_in_throttle WHERE last_failure_at < ?1 AND locked_until <= ?2",
        params![now - policy.forget_after_secs, now],
    )?;
    for key in keys {
        let stored = key.stored();
        let previous: Option<(i64, i64)> = conn
            .query_row(
                "SELECT failures, last_failure_at FROM sign_in_throttle WHERE key = ?1",
                [&stored],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let failures = match previous {
            Some((n, last)) if now - last <= policy.forget_after_secs => n + 1,
            _ => 1,
        };
        let over = failures - key.free_failures(policy);
        let locked_until = if over > 0 {
            // 2^(over-1) times the base, capped; the shift is bounded so it cannot overflow.
            let factor = 1i64 << (over - 1).min(40);
            now + key
                .base_lockout(policy)
                .saturating_mul(factor)
                .min(policy.max_lockout_secs)
        } else {
            0
        };
        conn.execute(
            "INSERT INTO sign_in_throttle (key, failures, last_failure_at, locked_until)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET failures = ?2, last_failure_at = ?3, locked_until = ?4",
            params![stored, failures, now, locked_until],
        )?;
    }
    Ok(())
}

/// The right password: the account's count starts again. The address keeps its count, so
/// signing in to one's own account does not reset a guesser's budget for others.
pub fn record_success(conn: &Connection, account: &ThrottleKey) -> Result<(), AccountsError> {
    conn.execute(
        "DELETE FROM sign_in_throttle WHERE key = ?1",
        [account.stored()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    use crate::accounts::test_db as db;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        account_free_failures: 3,
        ip_free_failures: 10,
        base_lockout_secs: 2,
        max_lockout_secs: 60,
        forget_after_secs: 1000,
    };

    fn account() -> ThrottleKey {
        ThrottleKey::Account("ann@example.com".into())
    }

    fn fail(db: &Db, key: &ThrottleKey, now: i64) {
        db.write_blocking(|tx| record_failure(tx, std::slice::from_ref(key), &POLICY, now))
            .unwrap();
    }

    fn wait(db: &Db, key: &ThrottleKey, now: i64) -> Option<i64> {
        db.read_blocking(|c| wait_for(c, std::slice::from_ref(key), now))
            .unwrap()
    }

    #[test]
    fn free_failures_then_doubling_lockouts_up_to_the_ceiling() {
        let (_d, db) = db();
        let a = account();
        let mut now = 0;
        for _ in 0..3 {
            fail(&db, &a, now);
            assert_eq!(wait(&db, &a, now), None);
        }
        let mut expected = 2;
        for _ in 0..8 {
            fail(&db, &a, now);
            assert_eq!(wait(&db, &a, now), Some(expected.min(60)));
            // The window passes: the next attempt is allowed again.
            now += expected.min(60);
            assert_eq!(wait(&db, &a, now), None);
            expected *= 2;
        }
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let (_d, db) = db();
        let a = account();
        let ip = ThrottleKey::Ip("192.0.2.7".parse().unwrap());
        for _ in 0..11 {
            db.write_blocking(|tx| record_failure(tx, &[a.clone(), ip.clone()], &POLICY, 0))
                .unwrap();
        }
        assert!(wait(&db, &ip, 0).is_some());
        let after = wait(&db, &a, 0).unwrap();
        db.write_blocking(|tx| record_success(tx, &a)).unwrap();
        assert_eq!(wait(&db, &a, 0), None);
        assert!(wait(&db, &ip, 0).is_some());
        // The whole set is checked: the address alone keeps it locked.
        let both = db
            .read_blocking(|c| wait_for(c, &[a.clone(), ip.clone()], 0))
            .unwrap();
        assert!(both.is_some() && after > 0);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let (_d, db) = db();
        let a = account();
        for _ in 0..3 {
            fail(&db, &a, 0);
        }
        fail(&db, &a, 2000);
        assert_eq!(wait(&db, &a, 2000), None, "counting started again");
    }

    #[test]
    fn forgotten_rows_are_removed() {
        let (_d, db) = db();
        for i in 0..10 {
            fail(
                &db,
                &ThrottleKey::Account(format!("made-up-{i}@example.com")),
                0,
            );
        }
        fail(&db, &account(), 1001);
        let rows: i64 = db
            .read_blocking(|c| {
                c.query_row("SELECT count(*) FROM sign_in_throttle", [], |r| r.get(0))
                    .map_err(AccountsError::from)
            })
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let one = ThrottleKey::Ip("2001:db8:1:2::1".parse().unwrap());
        let two = ThrottleKey::Ip("2001:db8:1:2:ffff::9".parse().unwrap());
        let other = ThrottleKey::Ip("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(one.stored(), two.stored());
        assert_ne!(one.stored(), other.stored());
        let mapped = ThrottleKey::Ip("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped.stored(), "ip:192.0.2.7");
    }
}
