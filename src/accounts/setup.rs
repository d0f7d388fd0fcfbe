//! The first owner and accounts made from the shell. Until an owner exists, each `serve`
//! start issues a setup link (the last one printed is the one valid); opening it creates
//! the owner. `marquee admin create` makes accounts directly, the owner first.

use std::io::Read;

use super::email::Email;
use super::roles::Role;
use super::secret::Secret;
use super::tokens::{self, TokenKind};
use super::users::{self, NewUser, User};
use super::{AccountsError, passwords};
use crate::db::Db;

/// Issues a fresh setup link when no owner exists (replacing any earlier one); `None` once
/// there is an owner.
pub async fn setup_link_if_needed(
    db: &Db,
    secret: Secret,
    now: i64,
) -> Result<Option<Secret>, AccountsError> {
    db.write(move |tx| {
        if users::owner_exists(tx)? {
            return Ok(None);
        }
        tokens::issue_setup(tx, &secret, now)?;
        Ok(Some(secret))
    })
    .await
}

/// Whether the setup link behind `secret` can still create the owner.
pub async fn setup_link_is_live(db: &Db, secret: Secret, now: i64) -> Result<bool, AccountsError> {
    db.read(move |c| {
        Ok(!users::owner_exists(c)? && tokens::peek(c, TokenKind::Setup, &secret, now)?.is_some())
    })
    .await
}

pub struct NewAccount {
    pub email: String,
    pub display_name: String,
    pub password: String,
}

fn checked(new: &NewAccount) -> Result<Email, AccountsError> {
    let email = Email::parse(&new.email)?;
    passwords::check_new(&new.password)?;
    Ok(email)
}

/// Creates the owner with the setup link: the link is used and the owner created in one
/// transaction, so two tabs submitting at once make one owner.
pub async fn create_owner_with_link(
    db: &Db,
    secret: Secret,
    new: NewAccount,
    now: i64,
) -> Result<User, AccountsError> {
    let email = checked(&new)?;
    // Hashing is slow: not for a dead link.
    if !setup_link_is_live(db, secret.clone(), now).await? {
        return Err(AccountsError::LinkNotValid);
    }
    let hash = passwords::hash(new.password).await?;
    db.write(move |tx| {
        if users::owner_exists(tx)?
            || tokens::consume(tx, TokenKind::Setup, &secret, now)?.is_none()
        {
            return Err(AccountsError::LinkNotValid);
        }
        let id = users::create(
            tx,
            &NewUser {
                email: &email,
                display_name: &new.display_name,
                role: Role::Owner,
                password_hash: Some(&hash),
            },
            now,
        )?;
        users::get(tx, id)?.ok_or(AccountsError::LinkNotValid)
    })
    .await
}

/// `marquee admin create`: the owner when there is none (and the setup link stops
/// working), else `role` (admin when not given).
pub async fn create_from_shell(
    db: &Db,
    new: NewAccount,
    role: Option<Role>,
    now: i64,
) -> Result<User, AccountsError> {
    let email = checked(&new)?;
    let hash = passwords::hash(new.password).await?;
    db.write(move |tx| {
        let role = match (users::owner_exists(tx)?, role) {
            (false, _) => Role::Owner,
            (true, Some(role)) => role,
            (true, None) => Role::Admin,
        };
        let id = users::create(
            tx,
            &NewUser {
                email: &email,
                display_name: &new.display_name,
                role,
                password_hash: Some(&hash),
            },
            now,
        )?;
        if role == Role::Owner {
            tx.execute(
                "DELETE FROM one_time_tokens WHERE kind = 'setup' AND used_at IS NULL",
                [],
            )?;
        }
        users::get(tx, id)?.ok_or_else(|| AccountsError::Invalid("the account vanished".into()))
    })
    .await
}

/// The password given on standard input: one line (its line ending dropped). Reads at most
/// a few KiB, so a stray pipe cannot fill memory.
pub fn password_from(input: impl Read) -> Result<String, AccountsError> {
    let limit = (passwords::MAX_CHARS * 4 + 2) as u64;
    let mut bytes = Vec::new();
    input.take(limit + 1).read_to_end(&mut bytes).map_err(|e| {
        AccountsError::Invalid(format!("cannot read the password from standard input: {e}"))
    })?;
    if bytes.len() as u64 > limit {
        return Err(AccountsError::Invalid(format!(
            "the password is too long: at most {} characters",
            passwords::MAX_CHARS
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        AccountsError::Invalid("the password on standard input is not UTF-8 text".into())
    })?;
    let line = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if line.contains(['\n', '\r']) {
        return Err(AccountsError::Invalid(
            "give the password as one line on standard input".into(),
        ));
    }
    if line.is_empty() {
        return Err(AccountsError::Invalid(
            "no password on standard input: pipe it in, e.g. `printf %s \"$PW\" | marquee admin create ...`".into(),
        ));
    }
    passwords::check_new(line)?;
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(email: &str) -> NewAccount {
        NewAccount {
            email: email.into(),
            display_name: String::new(),
            password: "correct horse battery".into(),
        }
    }

    #[test]
    fn password_from_standard_input() {
        let read = |s: &str| password_from(s.as_bytes());
        assert_eq!(
            read("correct horse battery\n").unwrap(),
            "correct horse battery"
        );
        assert_eq!(
            read("correct horse battery\r\n").unwrap(),
            "correct horse battery"
        );
        assert_eq!(
            read("correct horse battery").unwrap(),
            "correct horse battery"
        );
        assert!(read("").is_err());
        assert!(read("short\n").is_err());
        assert!(read("correct horse battery\nsecond line\n").is_err());
        assert!(read(&"x".repeat(1025)).is_err());
        assert!(read(&"x".repeat(100_000)).is_err());
        assert!(password_from(&[0xff_u8; 20][..]).is_err());
    }

    #[tokio::test]
    async fn setup_link_makes_one_owner_once() {
        let (_dir, db) = crate::accounts::test_db();
        let first = Secret::from_bytes([1; 32]);
        let second = Secret::from_bytes([2; 32]);
        setup_link_if_needed(&db, first.clone(), 0)
            .await
            .unwrap()
            .unwrap();
        setup_link_if_needed(&db, second.clone(), 1)
            .await
            .unwrap()
            .unwrap();
        // The first link was replaced by the second.
        let err = create_owner_with_link(&db, first, account("a@example.com"), 2).await;
        assert!(matches!(err, Err(AccountsError::LinkNotValid)));
        // Bad input changes nothing and leaves the link usable.
        let short = NewAccount {
            password: "short".into(),
            ..account("a@example.com")
        };
        assert!(matches!(
            create_owner_with_link(&db, second.clone(), short, 2).await,
            Err(AccountsError::Invalid(_))
        ));
        let owner = create_owner_with_link(&db, second.clone(), account("a@example.com"), 2)
            .await
            .unwrap();
        assert_eq!(owner.role, Role::Owner);
        assert!(matches!(
            create_owner_with_link(&db, second, account("b@example.com"), 3).await,
            Err(AccountsError::LinkNotValid)
        ));
        assert!(
            setup_link_if_needed(&db, Secret::from_bytes([3; 32]), 4)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn shell_makes_the_owner_first_and_ends_the_setup_link() {
        let (_dir, db) = crate::accounts::test_db();
        let link = Secret::from_bytes([1; 32]);
        setup_link_if_needed(&db, link.clone(), 0).await.unwrap();
        let first = create_from_shell(&db, account("a@example.com"), Some(Role::Editor), 1)
            .await
            .unwrap();
        assert_eq!(first.role, Role::Owner);
        assert!(!setup_link_is_live(&db, link, 1).await.unwrap());
        let second = create_from_shell(&db, account("b@example.com"), None, 1)
            .await
            .unwrap();
        assert_eq!(second.role, Role::Admin);
        let third = create_from_shell(&db, account("c@example.com"), Some(Role::Support), 1)
            .await
            .unwrap();
        assert_eq!(third.role, Role::Support);
        assert!(matches!(
            create_from_shell(&db, account("A@example.com"), None, 1).await,
            Err(AccountsError::EmailTaken(_))
        ));
    }
}
