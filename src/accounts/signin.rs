//! Signing in with email and password: throttle first (`throttle::sign_in_gate`: a browser
//! with a device cookie of the account by its own failures, anyone else by the email's and
//! the address's), then one argon2 check (against a dummy hash when there is no such
//! account, within a budget), then record the outcome. A locked attempt costs no argon2.

use std::net::IpAddr;

use super::email::Email;
use super::secret::Secret;
use super::throttle::{self, Client, Gate, ThrottlePolicy};
use super::users::{self, User};
use super::{AccountsError, devices, passwords};
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

/// Where a sign-in attempt comes from: the client's address and the device tokens its
/// browser presented (`devices::parse_cookie`; empty when it has none).
#[derive(Debug, Clone)]
pub struct AttemptFrom {
    pub ip: IpAddr,
    pub devices: Vec<Secret>,
}

impl AttemptFrom {
    /// A client with no device cookie.
    pub fn address(ip: IpAddr) -> AttemptFrom {
        AttemptFrom {
            ip,
            devices: Vec::new(),
        }
    }
}

pub async fn sign_in(
    db: &Db,
    email: &str,
    password: String,
    from: AttemptFrom,
    policy: &ThrottlePolicy,
    now: i64,
) -> Result<SignIn, AccountsError> {
    let mut turn = passwords::turn().await?;
    let key = Email::key_of(email);
    let policy = *policy;
    let checked = key.clone();
    let (gate, client) = db
        .read(move |c| {
            let client = match devices::trusted_for(c, &checked, &from.devices, now)? {
                Some(hash) => Client::KnownDevice(hash),
                None => Client::Address(from.ip),
            };
            let gate = throttle::sign_in_gate(c, &checked, &client, &policy, now)?;
            Ok::<_, AccountsError>((gate, client))
        })
        .await?;
    let address_locked = match gate {
        Gate::Locked { wait } => {
            return Ok(SignIn::Throttled {
                retry_after_secs: wait.max(1),
            });
        }
        Gate::AddressLocked { wait } => Some(wait.max(1)),
        Gate::Open => None,
    };
    // A password past the limit is never hashed (a cost to the server), but it is
    // refused like any wrong one.
    let usable = password.chars().count() <= passwords::MAX_CHARS;
    let found = key.clone();
    let user = db.read(move |c| users::find_by_email(c, &found)).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // Which check runs: the account's hash; the dummy hash for an email with no account
    // (or no password), within the server's budget of those; or none — a locked address
    // spends no argon2 on emails that cannot sign in, and neither does an unknown email
    // past the budget. Those wait as long as a check would take instead, so the time an
    // answer takes does not tell whether the email has an account.
    let checks = match (&stored, address_locked) {
        (Some(_), _) => usable,
        (None, None) => usable && passwords::take_dummy_check(),
        (None, Some(_)) => false,
    };
    let matches = if checks {
        passwords::verify(&mut turn, password.clone(), stored.clone()).await?
    } else {
        false
    };
    match user.filter(|u| matches && !u.disabled) {
        Some(user) => {
            let rehashed = match stored.filter(|s| passwords::needs_rehash(s)) {
                Some(_) => Some(passwords::hash_in_turn(&mut turn, password).await?),
                None => None,
            };
            let id = user.id;
            db.write(move |tx| {
                if let Some(hash) = &rehashed {
                    users::set_password_hash(tx, id, hash)?;
                }
                throttle::record_sign_in(tx, &key, &client)
            })
            .await?;
            Ok(SignIn::SignedIn(user))
        }
        None => {
            let keys = throttle::failure_keys(&key, &client);
            db.write(move |tx| throttle::record_failure(tx, &keys, &policy, now))
                .await?;
            drop(turn);
            if !checks {
                passwords::wait_like_a_check().await;
            }
            Ok(match address_locked {
                Some(retry_after_secs) => SignIn::Throttled { retry_after_secs },
                None => SignIn::Refused,
            })
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
                sign_in(
                    &db,
                    " ANN@example.com",
                    pw,
                    AttemptFrom::address(ip),
                    &POLICY,
                    now,
                )
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
            AttemptFrom::address(ip),
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
            AttemptFrom::address(ip),
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
            AttemptFrom::address(ip),
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
    async fn a_burst_of_parallel_guesses_from_one_address_is_throttled_too() {
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
                    let ip = IpAddr::from([192, 0, 2, 1]);
                    sign_in(
                        &db,
                        "ann@example.com",
                        format!("guess {i} is wrong"),
                        AttemptFrom::address(ip),
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

#[cfg(test)]
mod other_peoples_failures {
    use super::tests::db_with_ann;
    use super::*;

    const POLICY: ThrottlePolicy = ThrottlePolicy {
        account_free_failures: 2,
        ip_free_failures: 3,
        base_lockout_secs: 100,
        max_lockout_secs: 100,
        forget_after_secs: 1000,
    };

    async fn attempt(db: &Db, email: &str, password: &str, ip: [u8; 4]) -> SignIn {
        sign_in(
            db,
            email,
            password.into(),
            AttemptFrom::address(IpAddr::from(ip)),
            &POLICY,
            0,
        )
        .await
        .unwrap()
    }

    /// Ann, with her password, from `ip`.
    async fn ann_signs_in(db: &Db, ip: [u8; 4]) -> SignIn {
        attempt(db, "ann@example.com", "correct horse battery", ip).await
    }

    /// One address (a proxy nobody trusted, an office) fails on made-up emails until it is
    /// locked: more made-up emails are refused without a check, but the owner of an account
    /// nobody guessed at still gets in from it; guessing at that account then counts.
    #[tokio::test]
    async fn a_locked_address_still_lets_a_correct_password_in() {
        let (_dir, db) = db_with_ann().await;
        let shared = [203, 0, 113, 1];
        for i in 0..4 {
            let r = attempt(
                &db,
                &format!("made-up-{i}@example.com"),
                "wrong wrong wrong",
                shared,
            )
            .await;
            assert!(matches!(r, SignIn::Refused), "{r:?}");
        }
        let r = attempt(&db, "made-up-9@example.com", "wrong wrong wrong", shared).await;
        assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
        let r = ann_signs_in(&db, shared).await;
        assert!(matches!(r, SignIn::SignedIn(_)), "{r:?}");
        // A wrong password for Ann from the locked address gets the lock's answer and counts:
        // from now on Ann's email has failures, and the address's lock holds for it.
        let r = attempt(&db, "ann@example.com", "a wrong guess!!", shared).await;
        assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
        let r = ann_signs_in(&db, shared).await;
        assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
        // From her own address she is not kept out.
        let r = ann_signs_in(&db, [198, 51, 100, 2]).await;
        assert!(matches!(r, SignIn::SignedIn(_)), "{r:?}");
    }

    /// Guessers from many addresses lock the email for every client without a device
    /// cookie: past the email's free failures no further guess is checked, and a correct
    /// password from a new address waits too. The owner's browser, with its device cookie,
    /// gets in — even after mistyping there itself.
    #[tokio::test]
    async fn guessing_at_an_account_locks_strangers_but_not_the_owners_device() {
        let (_dir, db) = db_with_ann().await;
        let device = db
            .write(|tx| {
                let ann = users::find_by_email(tx, "ann@example.com")?.unwrap();
                devices::remember(tx, ann.id, &[], 0)
            })
            .await
            .unwrap();
        let mut checked = 0;
        for i in 1..=3 {
            for _ in 0..3 {
                let r = attempt(&db, "ann@example.com", "a wrong guess!!", [192, 0, 2, i]).await;
                checked += usize::from(matches!(r, SignIn::Refused));
            }
        }
        assert_eq!(checked, 3, "the email's free failures, then no more checks");
        let r = ann_signs_in(&db, [198, 51, 100, 7]).await;
        assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
        let from_device = |password: &str| {
            let (db, device, password) = (db.clone(), device.clone(), password.to_owned());
            async move {
                let from = AttemptFrom {
                    ip: IpAddr::from([198, 51, 100, 7]),
                    devices: device,
                };
                sign_in(&db, "ann@example.com", password, from, &POLICY, 0)
                    .await
                    .unwrap()
            }
        };
        let r = from_device("a typo!!").await;
        assert!(matches!(r, SignIn::Refused), "{r:?}");
        let r = from_device("correct horse battery").await;
        assert!(matches!(r, SignIn::SignedIn(_)), "{r:?}");
        // Her success on her device lifts nothing for the strangers.
        let r = ann_signs_in(&db, [192, 0, 2, 1]).await;
        assert!(matches!(r, SignIn::Throttled { .. }), "{r:?}");
    }
}
