//! Signing in with a link sent by email (for viewers, as Ghost members do). Asking for a
//! link answers the same whether or not the account exists; only an existing, enabled
//! account gets one. Requests are throttled per address, every request counting; per
//! email, only the mail is limited (`throttle::take_mail_budget`: past a small budget the
//! answer is the same and no email goes out), so nobody can lock another person out of
//! their links by asking for them. A request from a browser with a device cookie of the
//! account (`devices`) draws on that device's own budget instead of the email's shared
//! one, so strangers spending the shared budget cannot stop the owner's links either.
//! The link works once, for `MagicLinkPolicy::ttl_secs`.

use super::AccountsError;
use super::devices;
use super::email::Email;
use super::secret::Secret;
use super::signin::AttemptFrom;
use super::throttle::{self, MailBudget, ThrottleKey, ThrottlePolicy};
use super::tokens::{self, TokenFor, TokenKind};
use super::users::{self, User};
use crate::db::Db;

#[derive(Debug, Clone, Copy)]
pub struct MagicLinkPolicy {
    pub ttl_secs: i64,
}

impl Default for MagicLinkPolicy {
    fn default() -> Self {
        MagicLinkPolicy { ttl_secs: 15 * 60 }
    }
}

#[derive(Debug)]
pub enum LinkRequest {
    /// A link for this account: email `secret` to `to`. The caller answers as for
    /// `NoAccount`.
    Issued { to: String, secret: Secret },
    /// No such account, or a disabled one: nothing to send.
    NoAccount,
    /// The email's mail budget is spent: nothing to send, and the caller answers as for
    /// `NoAccount` (the requester may not be the address's owner).
    OverMailBudget,
    /// Too many requests: try again in this many seconds.
    Throttled { retry_after_secs: i64 },
}

pub async fn request(
    db: &Db,
    email: &str,
    from: AttemptFrom,
    throttle_policy: &ThrottlePolicy,
    policy: &MagicLinkPolicy,
    now: i64,
) -> Result<LinkRequest, AccountsError> {
    let link = LinkKind {
        kind: TokenKind::MagicLink,
        ttl_secs: policy.ttl_secs,
    };
    request_link(db, link, email, from, throttle_policy, now).await
}

/// Which emailed link to issue and for how long.
#[derive(Debug, Clone, Copy)]
pub struct LinkKind {
    pub kind: TokenKind,
    pub ttl_secs: i64,
}

/// A link of `link.kind` for the enabled account with this email (sign-in or password
/// reset): the same per-address throttle for both, every request counting, and the same
/// per-email mail budget.
pub async fn request_link(
    db: &Db,
    link: LinkKind,
    email: &str,
    from: AttemptFrom,
    throttle_policy: &ThrottlePolicy,
    now: i64,
) -> Result<LinkRequest, AccountsError> {
    let key = Email::key_of(email);
    let keys = vec![ThrottleKey::LinkRequest(Box::new(ThrottleKey::Ip(from.ip)))];
    let (throttle_policy, ttl) = (*throttle_policy, link.ttl_secs);
    db.write(move |tx| {
        if let Some(wait) = throttle::wait_for(tx, &keys, now)? {
            return Ok(LinkRequest::Throttled {
                retry_after_secs: wait.max(1),
            });
        }
        throttle::record_failure(tx, &keys, &throttle_policy, now)?;
        let Some(user) = users::find_by_email(tx, &key)?.filter(|u| !u.disabled) else {
            return Ok(LinkRequest::NoAccount);
        };
        let budget = match devices::trusted_for(tx, &key, &from.devices, now)? {
            Some(device) => MailBudget::Device(device),
            None => MailBudget::Email(key.clone()),
        };
        if !throttle::take_mail_budget(tx, &budget, now)? {
            return Ok(LinkRequest::OverMailBudget);
        }
        let secret = Secret::generate();
        let subject = TokenFor {
            user: Some(user.id),
            email: Some(user.email.clone()),
            role: None,
        };
        tokens::issue(tx, link.kind, &secret, &subject, ttl, now)?;
        Ok(LinkRequest::Issued {
            to: user.email,
            secret,
        })
    })
    .await
}

/// Whether the link is live, without using it (the confirm page's GET: mail scanners
/// that fetch links must not use them up).
pub async fn is_live(db: &Db, secret: Secret, now: i64) -> Result<bool, AccountsError> {
    db.read(move |c| tokens::peek(c, TokenKind::MagicLink, &secret, now))
        .await
        .map(|t| t.is_some())
}

/// Uses the link: the account it signs in, or `LinkNotValid` when the link is unknown,
/// expired or used, or the account is gone or disabled.
pub async fn redeem(db: &Db, secret: Secret, now: i64) -> Result<User, AccountsError> {
    db.write(move |tx| {
        let token = tokens::consume(tx, TokenKind::MagicLink, &secret, now)?
            .ok_or(AccountsError::LinkNotValid)?;
        let id = token.subject.user.ok_or(AccountsError::LinkNotValid)?;
        users::get(tx, id)?
            .filter(|u| !u.disabled)
            .ok_or(AccountsError::LinkNotValid)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::roles::Role;
    use crate::accounts::users::NewUser;
    use std::net::IpAddr;

    async fn db_with(email: &str) -> (tempfile::TempDir, Db) {
        let (dir, db) = crate::accounts::test_db();
        let email = Email::parse(email).unwrap();
        db.write(move |tx| {
            users::create(
                tx,
                &NewUser {
                    email: &email,
                    display_name: "Vi",
                    role: Role::Viewer,
                    password_hash: None,
                },
                0,
            )
        })
        .await
        .unwrap();
        (dir, db)
    }

    /// A link request for `email` from `ip` at `now`, under the tests' throttle.
    async fn link_request(
        db: &Db,
        email: &str,
        ip: IpAddr,
        policy: &MagicLinkPolicy,
        now: i64,
    ) -> LinkRequest {
        request(db, email, AttemptFrom::address(ip), &THROTTLE, policy, now)
            .await
            .unwrap()
    }

    const THROTTLE: ThrottlePolicy = ThrottlePolicy {
        account_free_failures: 3,
        ip_free_failures: 100,
        base_lockout_secs: 60,
        max_lockout_secs: 60,
        forget_after_secs: 1000,
    };

    #[tokio::test]
    async fn a_link_signs_in_once_before_it_expires() {
        let (_d, db) = db_with("vi@example.com").await;
        let ip = IpAddr::from([192, 0, 2, 1]);
        let policy = MagicLinkPolicy { ttl_secs: 900 };
        let ask = |now| {
            let db = db.clone();
            async move { link_request(&db, " VI@example.com", ip, &policy, now).await }
        };
        let LinkRequest::Issued { to, secret } = ask(0).await else {
            panic!("no link issued")
        };
        assert_eq!(to, "vi@example.com");
        assert!(is_live(&db, secret.clone(), 1).await.unwrap());
        assert!(is_live(&db, secret.clone(), 1).await.unwrap());
        assert_eq!(
            redeem(&db, secret.clone(), 2).await.unwrap().email,
            "vi@example.com"
        );
        assert!(matches!(
            redeem(&db, secret, 3).await,
            Err(AccountsError::LinkNotValid)
        ));
        let LinkRequest::Issued { secret: late, .. } = ask(10).await else {
            panic!("no second link")
        };
        assert!(matches!(
            redeem(&db, late, 910).await,
            Err(AccountsError::LinkNotValid)
        ));
        let unknown = link_request(&db, "nobody@example.com", ip, &policy, 20).await;
        assert!(matches!(unknown, LinkRequest::NoAccount));
    }

    #[tokio::test]
    async fn past_the_mail_budget_no_link_is_made_and_nothing_locks() {
        let (_d, db) = db_with("vi@example.com").await;
        let policy = MagicLinkPolicy::default();
        // From many addresses, as anyone who knows the email could.
        for i in 0..throttle::MAIL_BUDGET {
            let ip = IpAddr::from([192, 0, 2, i as u8]);
            let r = link_request(&db, "vi@example.com", ip, &policy, i).await;
            assert!(matches!(r, LinkRequest::Issued { .. }));
        }
        let ip = IpAddr::from([198, 51, 100, 1]);
        let r = link_request(&db, "vi@example.com", ip, &policy, 10).await;
        assert!(matches!(r, LinkRequest::OverMailBudget), "{r:?}");
        // A new window, a new budget.
        let later = 10 + throttle::MAIL_WINDOW_SECS;
        let r = link_request(&db, "vi@example.com", ip, &policy, later).await;
        assert!(matches!(r, LinkRequest::Issued { .. }));
        // Password sign-in keeps its own count: nothing locks it.
        let gate = db
            .read(move |c| {
                throttle::sign_in_gate(
                    c,
                    "vi@example.com",
                    &throttle::Client::Address(ip),
                    &THROTTLE,
                    later,
                )
            })
            .await
            .unwrap();
        assert_eq!(gate, throttle::Gate::Open);
    }

    #[tokio::test]
    async fn one_address_asking_too_often_is_throttled() {
        let (_d, db) = db_with("vi@example.com").await;
        let ip = IpAddr::from([192, 0, 2, 1]);
        let policy = MagicLinkPolicy::default();
        let mut outcomes = Vec::new();
        for now in 0..110 {
            let email = format!("someone{now}@example.com");
            outcomes.push(
                request(
                    &db,
                    &email,
                    AttemptFrom::address(ip),
                    &THROTTLE,
                    &policy,
                    now,
                )
                .await
                .unwrap(),
            );
        }
        assert!(matches!(outcomes[99], LinkRequest::NoAccount));
        assert!(
            matches!(outcomes[101], LinkRequest::Throttled { .. }),
            "{:?}",
            outcomes[101]
        );
    }

    #[tokio::test]
    async fn a_disabled_account_gets_no_link_and_its_links_stop_working() {
        let (_d, db) = db_with("vi@example.com").await;
        let ip = IpAddr::from([192, 0, 2, 1]);
        let policy = MagicLinkPolicy::default();
        let LinkRequest::Issued { secret, .. } =
            link_request(&db, "vi@example.com", ip, &policy, 0).await
        else {
            panic!("no link issued")
        };
        db.write(|tx| {
            tx.execute("UPDATE users SET disabled_at = 1", [])
                .map_err(AccountsError::from)
        })
        .await
        .unwrap();
        let asked = link_request(&db, "vi@example.com", ip, &policy, 2).await;
        assert!(matches!(asked, LinkRequest::NoAccount));
        assert!(matches!(
            redeem(&db, secret, 3).await,
            Err(AccountsError::LinkNotValid)
        ));
    }
}
