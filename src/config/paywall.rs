//! The `[paywall]` table: the operator's rules for paid playback that are not part of any
//! one title or plan.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaywallConfig {
    /// How long a rental plays once started.
    pub rental_hours: u32,
    /// How long a subscription whose renewal payment failed keeps playing.
    pub past_due_grace_days: u32,
    /// Playback token lifetime for titles open to signed-in viewers and subscribers; the
    /// player asks for a fresh token before it runs out.
    pub token_ttl_secs: u32,
    /// The same for purchases and pay-per-view events, whose links are worth more to share.
    pub purchase_token_ttl_secs: u32,
}

impl Default for PaywallConfig {
    fn default() -> Self {
        PaywallConfig {
            rental_hours: 48,
            past_due_grace_days: 3,
            token_ttl_secs: 600,
            purchase_token_ttl_secs: 300,
        }
    }
}

/// The longest playback token lifetime a setting allows.
pub const MAX_TOKEN_TTL_SECS: u32 = 86_400;
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u32> = 60..=MAX_TOKEN_TTL_SECS;

impl PaywallConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=8760).contains(&self.rental_hours) {
            return Err(ConfigError::Invalid(
                "paywall.rental_hours must be 1 to 8760".into(),
            ));
        }
        if self.past_due_grace_days > 60 {
            return Err(ConfigError::Invalid(
                "paywall.past_due_grace_days must be 0 to 60".into(),
            ));
        }
        for (key, v) in [
            ("token_ttl_secs", self.token_ttl_secs),
            ("purchase_token_ttl_secs", self.purchase_token_ttl_secs),
        ] {
            if !TOKEN_TTL_RANGE.contains(&v) {
                return Err(ConfigError::Invalid(format!(
                    "paywall.{key} must be 60 to 86400 seconds"
                )));
            }
        }
        Ok(())
    }
}
