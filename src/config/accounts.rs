//! The `[accounts]` table: how long sessions last and how long a brute-forced sign-in stays
//! locked.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountsConfig {
    /// A session not used for this long ends.
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in, used or not.
    pub session_max_secs: i64,
    /// Failed sign-ins lock the account (and the address) for doubling periods up to this.
    pub lockout_max_secs: i64,
    /// An emailed sign-in link works this long (once).
    pub magic_link_secs: i64,
    /// Who may make an account on `/signup`: anyone, nobody (invitations only), or nobody
    /// at all (the page says it is closed).
    pub signup: SignupMode,
}

/// `accounts.signup`: whether strangers may make their own accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    /// Anyone may sign up on `/signup`.
    #[default]
    Open,
    /// Accounts come from invitations only; `/signup` says so.
    Invite,
    /// `/signup` says sign-up is closed.
    Closed,
}

impl SignupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Open => "open",
            SignupMode::Invite => "invite",
            SignupMode::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<SignupMode> {
        match s {
            "open" => Some(SignupMode::Open),
            "invite" => Some(SignupMode::Invite),
            "closed" => Some(SignupMode::Closed),
            _ => None,
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            session_idle_secs: 14 * 24 * 3600,
            session_max_secs: 90 * 24 * 3600,
            lockout_max_secs: 15 * 60,
            magic_link_secs: 15 * 60,
            signup: SignupMode::Open,
        }
    }
}

impl AccountsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.session_idle_secs < 60 || self.session_max_secs < self.session_idle_secs {
            return Err(ConfigError::Invalid(
                "accounts.session_idle_secs must be at least 60 and at most accounts.session_max_secs".into(),
            ));
        }
        if !(1..=24 * 3600).contains(&self.lockout_max_secs) {
            return Err(ConfigError::Invalid(
                "accounts.lockout_max_secs must be between 1 and 86400".into(),
            ));
        }
        if !(1..=24 * 3600).contains(&self.magic_link_secs) {
            return Err(ConfigError::Invalid(
                "accounts.magic_link_secs must be between 1 and 86400".into(),
            ));
        }
        Ok(())
    }
}
