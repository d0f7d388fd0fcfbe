//! Self sign-up (`accounts.signup = "open"`). With email set up, asking makes no account:
//! it emails a link to the address, and the account is made when the link is opened, which
//! proves the address (nobody can hold someone else's). Without email, an email and a
//! password make the account at once, its address marked unconfirmed.
//!
//! The answer is the same whether or not the address already has an account: that person
//! gets a "you already have an account" email with a sign-in link instead. Every request
//! counts against its client address (an IPv6 /64 as one, `ThrottleKey::SignUp`), must
//! carry a solved proof-of-work challenge (`challenge`), spent once, and emails to one
//! address come out of its mail budget. Hashing a sign-up's password takes a sign-up turn
//! (`passwords::sign_up_turn`), which never keeps sign-ins waiting.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::challenge::{self, Refusal, Solution, SpendError};
use super::email::Email;
use super::secret::Secret;
use super::throttle::{self, MailBudget, ThrottleKey, ThrottlePolicy};
use super::tokens::{self, TokenFor, TokenKind};
use super::users::{self, NewUser, User};
use super::{AccountsError, passwords, roles::Role};
use crate::audit::{self, Actor};
use crate::db::Db;

/// A sign-up link works this long (once).
pub const LINK_TTL_SECS: i64 = 24 * 3600;

/// What the form gave.
#[derive(Debug, Clone, Default)]
pub struct SignupForm {
    pub email: String,
    pub display_name: String,
    /// Empty: none (with email set up, emailed sign-in links sign the account in).
    pub password: String,
    /// Where to go once the account exists (checked by the page before it is used).
    pub next: Option<String>,
    pub solution: Solution,
    /// The form's hidden honeypot field: people leave it empty, form-filling bots do not.
    /// A filled one gets the answer of a sign-up that went well, and nothing is made.
    pub honeypot: String,
}

/// How the server can reach the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Email is set up: the account waits for its emailed link.
    Email {
        /// How long the "you already have an account" sign-in link works.
        sign_in_link_secs: i64,
    },
    /// No email: the account is made at once, unconfirmed.
    NoEmail,
}

#[derive(Debug)]
pub enum Outcome {
    /// Email `secret` (a sign-up link) to `to`; the page says a link is on its way.
    LinkIssued { to: String, secret: Secret },
    /// The address has an account: email `to` that it has (with `sign_in`, a sign-in
    /// link); the page says exactly what it says for `LinkIssued`.
    AlreadyHasAccount { to: String, sign_in: Secret },
    /// Nothing made and nothing to send (the address's mail budget is spent, or the
    /// honeypot was filled): the page answers as if it had gone well.
    Quiet,
    /// Made at once (no email). The page asks the person to sign in, as it does for
    /// `Taken`, so the answer never tells whether the address had an account.
    Created(User),
    /// No email, and the address has an account: nothing is made, and the page answers
    /// exactly as for `Created`.
    Taken,
    /// The proof of work is missing, wrong, expired or used: nothing happened.
    Unproven(Refusal),
    /// Too many sign-ups from this address: try again in this many seconds.
    Throttled { retry_after_secs: i64 },
}

/// Sign-ups per client address (an IPv6 /64 as one) before the first lockout; every
/// request counts, made account or not.
pub const FREE_PER_ADDRESS: i64 = 10;

/// Asks for an account. Bad input (`AccountsError::Invalid`) changes nothing but the
/// address's count.
pub async fn request(
    db: &Db,
    form: SignupForm,
    ip: IpAddr,
    delivery: Delivery,
    throttle_policy: &ThrottlePolicy,
    now: i64,
) -> Result<Outcome, AccountsError> {
    let keys = vec![ThrottleKey::SignUp(Box::new(ThrottleKey::Ip(ip)))];
    let policy = *throttle_policy;
    // The form is checked before anything else, so what it says about bad input is the
    // same whether or not the address has an account.
    let email = Email::parse(&form.email)?;
    check_form(&form, delivery)?;
    let solution = form.solution.clone();
    let honeypot = !form.honeypot.is_empty();
    // Then, in one transaction: the address's count, the proof of work (spent once) and
    // whether the address is taken. Nothing slow happens before the count is kept.
    let checked_email = email.clone();
    let first = db
        .write(move |tx| {
            if let Some(wait) = throttle::count_request(tx, &keys, &policy, now)? {
                return Ok(First::Throttled(wait));
            }
            match challenge::spend(tx, &solution, now) {
                Ok(()) => {}
                Err(SpendError::Refused(why)) => return Ok(First::Unproven(why)),
                Err(SpendError::Db(e)) => return Err(e),
            }
            if honeypot {
                return Ok(First::Trapped);
            }
            match users::find_by_email(tx, &checked_email.key)? {
                Some(user) => Ok(First::Taken(user)),
                None => Ok(First::Free),
            }
        })
        .await?;
    let taken = match first {
        First::Throttled(retry_after_secs) => return Ok(Outcome::Throttled { retry_after_secs }),
        First::Unproven(why) => return Ok(Outcome::Unproven(why)),
        First::Trapped => return Ok(Outcome::Quiet),
        First::Taken(user) => Some(user),
        First::Free => None,
    };
    // The password's hash, in a sign-up turn, before anything is stored. A taken address
    // hashes it too, and throws it away: the answer takes as long.
    // With email set up, no password is taken before the link is opened: whoever asked
    // may not be the address's owner, and must not choose the password the owner would
    // then sign up with (`confirm` takes it from the link's page).
    let hash = if form.password.is_empty() || matches!(delivery, Delivery::Email { .. }) {
        None
    } else {
        let mut turn = passwords::sign_up_turn().await?;
        Some(passwords::hash_in_turn(&mut turn, form.password.clone()).await?)
    };
    if let Some(user) = taken {
        return already_has_account(db, user, delivery, now).await;
    }
    let name = form.display_name.trim().to_owned();
    match delivery {
        Delivery::Email { .. } => {
            let next = form.next.clone();
            db.write(move |tx| {
                if !throttle::take_mail_budget(tx, &MailBudget::Email(email.key.clone()), now)? {
                    return Ok(Outcome::Quiet);
                }
                let secret = Secret::generate();
                tx.execute(
                    "INSERT INTO signup_links
                         (token_hash, email, display_name, password_hash, next, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        secret.stored_hash(),
                        email.address,
                        name,
                        hash,
                        next,
                        now,
                        now + LINK_TTL_SECS
                    ],
                )?;
                Ok(Outcome::LinkIssued {
                    to: email.address,
                    secret,
                })
            })
            .await
        }
        Delivery::NoEmail => {
            let made = db
                .write(move |tx| create(tx, &email, &name, hash.as_deref(), false, now))
                .await;
            match made {
                Ok(user) => Ok(Outcome::Created(user)),
                // Made by someone else since the first look.
                Err(AccountsError::EmailTaken(_)) => Ok(Outcome::Taken),
                Err(e) => Err(e),
            }
        }
    }
}

enum First {
    Throttled(i64),
    Unproven(Refusal),
    Trapped,
    Taken(User),
    Free,
}

fn check_form(form: &SignupForm, delivery: Delivery) -> Result<(), AccountsError> {
    let name = form.display_name.trim();
    if !users::display_name_ok(name) {
        return Err(AccountsError::Invalid(format!(
            "a name is at most {} characters, without control or invisible characters",
            users::MAX_DISPLAY_NAME
        )));
    }
    match (delivery, form.password.is_empty()) {
        (Delivery::NoEmail, true) => Err(AccountsError::Invalid(
            "choose a password: this server cannot send email".into(),
        )),
        (Delivery::NoEmail, false) => passwords::check_new(&form.password),
        // Not taken here (see `request`).
        (Delivery::Email { .. }, _) => Ok(()),
    }
}

/// The address has an account: with email, that person is told (a sign-in link, within
/// the address's mail budget) and the page answers as for a new address.
async fn already_has_account(
    db: &Db,
    user: User,
    delivery: Delivery,
    now: i64,
) -> Result<Outcome, AccountsError> {
    let Delivery::Email { sign_in_link_secs } = delivery else {
        return Ok(Outcome::Taken);
    };
    if user.disabled {
        return Ok(Outcome::Quiet);
    }
    db.write(move |tx| {
        let budget = MailBudget::Email(Email::key_of(&user.email));
        if !throttle::take_mail_budget(tx, &budget, now)? {
            return Ok(Outcome::Quiet);
        }
        let secret = Secret::generate();
        let subject = TokenFor {
            user: Some(user.id),
            email: Some(user.email.clone()),
            role: None,
        };
        tokens::issue(
            tx,
            TokenKind::MagicLink,
            &secret,
            &subject,
            sign_in_link_secs,
            now,
        )?;
        Ok(Outcome::AlreadyHasAccount {
            to: user.email,
            sign_in: secret,
        })
    })
    .await
}

/// A viewer account made by its owner, with its audit entry (and, through `users::create`,
/// its `member.created` webhook), in the caller's transaction.
fn create(
    tx: &Connection,
    email: &Email,
    name: &str,
    hash: Option<&str>,
    confirmed: bool,
    now: i64,
) -> Result<User, AccountsError> {
    let id = users::create(
        tx,
        &NewUser {
            email,
            display_name: name,
            role: Role::Viewer,
            password_hash: hash,
        },
        now,
    )?;
    if confirmed {
        tx.execute(
            "UPDATE users SET email_verified_at = ?2 WHERE id = ?1",
            params![id.0, now],
        )?;
    } else {
        users::mark_self_made(tx, id)?;
    }
    let actor = Actor::User {
        id: id.0,
        label: email.address.clone(),
    };
    audit::record(
        tx,
        &actor,
        "member.signup",
        &format!("member:{}", id.0),
        json!({"email": email.address, "confirmed": confirmed}),
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))?;
    users::get(tx, id)?.ok_or(AccountsError::NoSuchMember(id.0))
}

/// The address a live sign-up link is for, without using the link (mail scanners fetch
/// links); `None` when it is unknown, expired or used.
pub async fn pending_email(
    db: &Db,
    secret: Secret,
    now: i64,
) -> Result<Option<String>, AccountsError> {
    db.read(move |c| {
        Ok(c.query_row(
            "SELECT email FROM signup_links
             WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![secret.stored_hash(), now],
            |r| r.get(0),
        )
        .optional()?)
    })
    .await
}

/// A sign-up link's row: id, email, name, password hash, next.
type PendingRow = (i64, String, String, Option<String>, Option<String>);

/// Uses a sign-up link: the account is made (its address confirmed) and returned with where
/// the form said to go next. `LinkNotValid` when the link is unknown, expired or used, or
/// the address got an account meanwhile (that person signs in instead).
pub async fn confirm(
    db: &Db,
    secret: Secret,
    password_hash: Option<String>,
    now: i64,
) -> Result<(User, Option<String>), AccountsError> {
    db.write(move |tx| {
        let row: Option<PendingRow> = tx
            .query_row(
                "SELECT id, email, display_name, password_hash, next FROM signup_links
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![secret.stored_hash(), now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        // A hash kept with the link (from before passwords were asked on the link's page)
        // is not used: whoever asked chose it.
        let (id, address, name, _kept_hash, next) = row.ok_or(AccountsError::LinkNotValid)?;
        // A used link is deleted, not marked: its row holds the address, the name and a
        // password hash, which the account now holds (and a deletion must find nothing
        // else). Other sign-up links for the same address go too: one account per address.
        tx.execute("DELETE FROM signup_links WHERE id = ?1", [id])?;
        let email = Email::parse(&address)?;
        tx.execute(
            "DELETE FROM signup_links WHERE lower(email) = ?1",
            [&email.key],
        )?;
        match create(tx, &email, &name, password_hash.as_deref(), true, now) {
            Ok(user) => Ok((user, next)),
            Err(AccountsError::EmailTaken(_)) => Err(AccountsError::LinkNotValid),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Removes sign-up links that can no longer be used (the periodic upkeep).
pub fn purge_spent(conn: &Connection, now: i64) -> Result<usize, AccountsError> {
    Ok(conn.execute(
        "DELETE FROM signup_links WHERE used_at IS NOT NULL OR expires_at <= ?1",
        [now],
    )? + conn.execute(
        "DELETE FROM signup_challenges_spent WHERE expires_at <= ?1",
        [now],
    )?)
}
