//! The `[stripe]` table: the account's secret key, the webhook endpoint's signing secret,
//! and the API's address (Stripe's own unless a test points it at a local stand-in). With
//! no secret key, Stripe is off: free, registered, access codes and comps still work.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    /// `sk_live_…` or `sk_test_…` (a restricted `rk_…` key works too). Empty: off.
    pub secret_key: String,
    /// The webhook endpoint's `whsec_…` signing secret.
    pub webhook_secret: String,
    /// Only in the settings file, never from the dashboard or the API: whoever can change
    /// it receives the secret key with every call.
    pub api_base: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: String::new(),
            webhook_secret: String::new(),
            api_base: "https://api.stripe.com".into(),
        }
    }
}

impl StripeConfig {
    pub fn enabled(&self) -> bool {
        !self.secret_key.is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.api_base).map_err(|_| {
            ConfigError::Invalid(format!(
                "stripe.api_base must be an http or https address, not {:?}",
                self.api_base
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::Invalid(
                "stripe.api_base must be an http or https address".into(),
            ));
        }
        if !self.secret_key.is_empty()
            && !["sk_", "rk_"]
                .iter()
                .any(|p| self.secret_key.starts_with(p))
        {
            return Err(ConfigError::Invalid(
                "stripe.secret_key starts with sk_ (or rk_ for a restricted key)".into(),
            ));
        }
        if !self.webhook_secret.is_empty() && !self.webhook_secret.starts_with("whsec_") {
            return Err(ConfigError::Invalid(
                "stripe.webhook_secret starts with whsec_".into(),
            ));
        }
        Ok(())
    }
}
