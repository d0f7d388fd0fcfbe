//! Signing in with email and password: throttle first, then one argon2 check (against a
//! dummy hash when there is no such account), then record the outcome.

use std::net::IpAddr;

use super::email::Email;
use super::throttle::{self, ThrottleKey, ThrottlePolicy};
use super::users::{self, User};
use super::{AccountsError, passwords};
use crate::db::Db;

#[derive(Debug)]
pub enum SignIn {
    SignedIn(User),
    /// Wrong email, wrong password or a disabled account: the caller says the same for all.
    Refused,
    /// Too many failures: try again in this many seconds.
    Throttled {
        retry_after_secs: i64,
    },
}

pub async fn sign_in(
    db: &Db,
    email: &str,
    password: String,
    ip: IpAddr,
    policy: &ThrottlePolicy,
    now: i64,
) -> Result<SignIn, AccountsError> {
    let turn = passwords::turn().await?;
    let account = ThrottleKey::Account(Email::key_of(email));
    let keys = vec![account.clone(), ThrottleKey::Ip(ip)];
    let checked = keys.clone();
    if let Some(wait) = db
        .read(move |c| throttle::wait_for(c, &checked, now))
        .await?
    {
        return Ok(SignIn::Throttled {
            retry_after_secs: wait.max(1),
        });
    }
    // A password past the limit is never hashed (a cost to the server), but it is
    // refused like any wrong one.
    let usable = password.chars().count() <= passwords::MAX_CHARS;
    let key = Email::key_of(email);
    let user = db.read(move |c| users::find_by_email(c, &key)).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = usable && passwords::verify(&turn, password.clone(), stored.clone()).await?;
    let policy = *policy;
    match user.filter(|u| matches && !u.disabled) {
        Some(user) => {
            let rehashed = match stored.filter(|s| passwords::needs_rehash(s)) {
                Some(_) => Some(passwords::hash_in_turn(&turn, password).await?),
                None => None,
            };
            let id = user.id;
            db.write(move |tx| {
                if let Some(hash) = &rehashed {
                    users::set_password_hash(tx, id, hash)?;
                }
                throttle::record_success(tx, &account)
            })
            .await?;
            Ok(SignIn::SignedIn(user))
        }
        None => {
            db.write(move |tx| throttle::record_failure(tx, &keys, &policy, now))
                .await?;
            Ok(SignIn::Refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::roles::Role;
    use crate::accounts::users::NewUser;

    /// A database with one account, Ann (password "correct horse battery").
    pub(super) async fn db_with_ann() -> (tempfile::TempDir, Db) {
        let (dir, db) = crate::accounts::test_db();
        let hash = passwords::hash("correct horse battery".into())
            .await
            .unwrap();
        let email = Email::parse("ann@example.com").unwrap();
        db.write(move |tx| {
            users::create(
                tx,
                &NewUser {
                    email: &email,
                    display_name: "Ann",
                    role: Role::Owner,
                    password_hash: Some(&hash),
                },
                0,
            )
        })
        .await
        .unwrap();
        (dir, db)
    }

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        account_free_failures: 2,
        ip_free_failures: 100,
        base_lockout_secs: 10,
        max_lockout_secs: 10,
        forget_after_secs: 1000,
    };

    #[tokio::test]
    async fn right_wrong_unknown_and_throttled() {
        let (_dir, db) = db_with_ann().await;
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let try_at = |pw: &str, now| {
            let db = db.clone();
            let pw = pw.to_string();
            async move {
                sign_in(&db, " ANN@example.com", pw, ip, &POLICY, now)
                    .await
                    .unwrap()
            }
        };
        assert!(
            matches!(try_at("correct horse battery", 0).await, SignIn::SignedIn(u) if u.display_name == "Ann")
        );
        assert!(matches!(
            try_at("wrong password!!", 0).await,
            SignIn::Refused
        ));
        assert!(matches!(
            try_at("wrong password!!", 0).await,
            SignIn::Refused
        ));
        assert!(matches!(
            try_at("wrong password!!", 0).await,
            SignIn::Refused
        ));
        // Locked now: even the right password waits.
        assert!(matches!(
            try_at("correct horse battery", 5).await,
            SignIn::Throttled {
                retry_after_secs: 5
            }
        ));
        assert!(matches!(
            try_at("correct horse battery", 10).await,
            SignIn::SignedIn(_)
        ));
        let unknown = sign_in(
            &db,
            "bob@example.com",
            "correct horse battery".into(),
            ip,
            &POLICY,
            20,
        )
        .await
        .unwrap();
        assert!(matches!(unknown, SignIn::Refused));
        let huge = try_at(&"x".repeat(2000), 20).await;
        assert!(matches!(huge, SignIn::Refused));
    }
}

#[cfg(test)]
mod rehash {
    use super::tests::db_with_ann;
    use super::*;

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_replaced_at_sign_in() {
        let (_dir, db) = db_with_ann().await;
        // The same password under weaker, older parameters.
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let old = argon2::PasswordHasher::hash_password_with_salt(
            &weak,
            b"correct horse battery",
            &[9; 16],
        )
        .unwrap()
        .to_string();
        let stored = old.clone();
        db.write(move |tx| {
            tx.execute("UPDATE users SET password_hash = ?1", [&stored])
                .map_err(AccountsError::from)
        })
        .await
        .unwrap();
        let ip = IpAddr::from([192, 0, 2, 1]);
        let policy = ThrottlePolicy::default();
        let outcome = sign_in(
            &db,
            "ann@example.com",
            "correct horse battery".into(),
            ip,
            &policy,
            0,
        )
        .await
        .unwrap();
        assert!(matches!(outcome, SignIn::SignedIn(_)));
        let now_stored = db
            .read(|c| users::find_by_email(c, "ann@example.com"))
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap();
        assert_ne!(now_stored, old);
        assert!(!passwords::needs_rehash(&now_stored));
        // And it still signs in.
        let again = sign_in(
            &db,
            "ann@example.com",
            "correct horse battery".into(),
            ip,
            &policy,
            1,
        )
        .await
        .unwrap();
        assert!(matches!(again, SignIn::SignedIn(_)));
    }
}

#[cfg(test)]
mod burst {
    use super::tests::db_with_ann;
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_parallel_guesses_is_throttled_too() {
        let (_dir, db) = db_with_ann().await;
        let policy = ThrottlePolicy {
            account_free_failures: 2,
            ip_free_failures: 1000,
            base_lockout_secs: 100,
            max_lockout_secs: 100,
            forget_after_secs: 1000,
        };
        let guesses: Vec<_> = (0..20)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    let ip = IpAddr::from([192, 0, 2, i]);
                    sign_in(
                        &db,
                        "ann@example.com",
                        format!("guess {i} is wrong"),
                        ip,
                        &policy,
                        0,
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut checked = 0;
        for guess in guesses {
            checked += usize::from(matches!(guess.await.unwrap(), SignIn::Refused));
        }
        // The free failures, plus those already in their hashing turn when the lock began.
        assert!(
            checked <= 2 + passwords::CONCURRENT_HASHES,
            "{checked} of 20 parallel guesses had their password checked"
        );
    }
}
