//! The editable settings: each one's key (as in `marquee.toml`), type and place on the
//! settings page, and how it is read from and written into a `Config`.

use serde_json::{Value, json};

use super::SettingsError;
use crate::accounts::roles::Permission;
use crate::config::{Config, NewTitles, SignupMode, SmtpSecurity};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    /// Never shown back; an empty value in a form leaves it as it is.
    Secret,
    Integer {
        min: u64,
        max: u64,
    },
    Choice(&'static [&'static str]),
    /// A number of bytes: stored and given by the API as a number; a form shows it as
    /// `crate::size::format` does and takes it as `20 GB`, `500 MB` or plain bytes.
    Bytes {
        min: u64,
        max: u64,
    },
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Secret => "secret",
            Kind::Integer { .. } => "integer",
            Kind::Choice(_) => "choice",
            Kind::Bytes { .. } => "bytes",
        }
    }
}

pub struct Spec {
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// What changing it takes, beyond `SettingsWrite` (which the route checks): where
    /// email goes and the address its links name decide who receives an owner's reset
    /// link, so they are `SettingsOwner`; the paywall's terms are `BillingWrite`.
    pub needs: Permission,
}

const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
];

pub const SPECS: &[Spec] = &[
    Spec {
        key: "site.name",
        group: "Site",
        label: "Site name",
        help: "Shown in every page's header and title.",
        kind: Kind::Text,
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "site.base_url",
        group: "Site",
        label: "Public address",
        help: "Where links in emails point, like https://tv.example.com. Empty: the address the server listens on.",
        kind: Kind::Text,
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.host",
        group: "Email",
        label: "SMTP server",
        help: "Empty turns email off; invitation and sign-in links are then shown to the admin.",
        kind: Kind::Text,
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.port",
        group: "Email",
        label: "SMTP port",
        help: "0: the usual port for the security mode (587, 465 or 25).",
        kind: Kind::Integer { min: 0, max: 65535 },
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.security",
        group: "Email",
        label: "Security",
        help: "starttls (587), tls (465), or none (a relay on this machine only).",
        kind: Kind::Choice(&["starttls", "tls", "none"]),
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.username",
        group: "Email",
        label: "SMTP user name",
        help: "Empty: no sign-in.",
        kind: Kind::Text,
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.password",
        group: "Email",
        label: "SMTP password",
        help: "Never shown; leave empty to keep the one set.",
        kind: Kind::Secret,
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "smtp.from",
        group: "Email",
        label: "Sender",
        help: "Name <address> or an address.",
        kind: Kind::Text,
        needs: Permission::SettingsOwner,
    },
    Spec {
        key: "accounts.signup",
        group: "Accounts",
        label: "Sign-up",
        help: "open: anyone may make an account on the sign-up page (with email set up, through an emailed link). invite: accounts come from invitations only. closed: the sign-up page says sign-up is closed.",
        kind: Kind::Choice(&["open", "invite", "closed"]),
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "catalog.new_titles",
        group: "Catalog",
        label: "New media becomes",
        help: "draft: a title is made for each new video and waits for an editor to publish it. published: viewers see it as soon as its video is ready.",
        kind: Kind::Choice(&["draft", "published"]),
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "analytics.raw_retention_days",
        group: "Analytics",
        label: "Keep raw playback events (days)",
        help: "Events as players sent them are deleted after this; the hourly and daily figures the dashboards show are kept.",
        kind: Kind::Integer { min: 1, max: 3650 },
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "paywall.rental_hours",
        group: "Paywall",
        label: "Rental window (hours)",
        help: "How long a rental plays from its first play. Applies to rentals bought from now on.",
        kind: Kind::Integer { min: 1, max: 8760 },
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "paywall.past_due_grace_days",
        group: "Paywall",
        label: "Grace period after a failed payment (days)",
        help: "A subscription whose renewal payment failed keeps playing this long while Stripe retries.",
        kind: Kind::Integer { min: 0, max: 60 },
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "paywall.token_ttl_secs",
        group: "Paywall",
        label: "Playback link lifetime, members (seconds)",
        help: "For titles open to signed-in viewers and subscribers. The player renews its link before it runs out; a shared link stops working after this.",
        kind: Kind::Integer {
            min: 60,
            max: 86_400,
        },
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "paywall.purchase_token_ttl_secs",
        group: "Paywall",
        label: "Playback link lifetime, purchases and events (seconds)",
        help: "For rentals, purchases and pay-per-view events.",
        kind: Kind::Integer {
            min: 60,
            max: 86_400,
        },
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "stripe.secret_key",
        group: "Stripe",
        label: "Secret key",
        help: "sk_live_… or sk_test_… from Stripe's dashboard (Developers → API keys). Empty: Stripe is off; access codes and comps still work.",
        kind: Kind::Secret,
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "stripe.webhook_secret",
        group: "Stripe",
        label: "Webhook signing secret",
        help: "whsec_… of the endpoint https://<your address>/stripe/webhook in Stripe's dashboard (Developers → Webhooks).",
        kind: Kind::Secret,
        needs: Permission::BillingWrite,
    },
    Spec {
        key: "transcode.preset",
        group: "Transcoding",
        label: "x264 preset",
        help: "Slower presets make smaller files for the same quality and take longer. Applies to videos queued from now on.",
        kind: Kind::Choice(PRESETS),
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "transcode.segment_secs",
        group: "Transcoding",
        label: "Segment length (seconds)",
        help: "2 to 6. Applies to videos queued from now on.",
        kind: Kind::Integer { min: 2, max: 6 },
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "transcode.audio_kbps",
        group: "Transcoding",
        label: "Audio bitrate (kbit/s)",
        help: "AAC stereo.",
        kind: Kind::Integer { min: 32, max: 512 },
        needs: Permission::SettingsWrite,
    },
    Spec {
        key: "uploads.max_bytes",
        group: "Uploads",
        label: "Largest upload",
        help: "Like 20 GB or 500 MB. Uploads from the browser or the API above this are refused before anything is stored.",
        kind: Kind::Bytes {
            min: 1024 * 1024,
            max: 1 << 44,
        },
        needs: Permission::SettingsWrite,
    },
];

pub fn spec(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

fn security_name(s: SmtpSecurity) -> &'static str {
    match s {
        SmtpSecurity::Starttls => "starttls",
        SmtpSecurity::Tls => "tls",
        SmtpSecurity::None => "none",
    }
}

/// The value of `key` in `config` (a secret in clear: callers hide it).
pub fn get(config: &Config, key: &str) -> Value {
    match key {
        "site.name" => json!(config.site.name),
        "site.base_url" => json!(config.site.base_url),
        "smtp.host" => json!(config.smtp.host),
        "smtp.port" => json!(config.smtp.port.unwrap_or(0)),
        "smtp.security" => json!(security_name(config.smtp.security)),
        "smtp.username" => json!(config.smtp.username),
        "smtp.password" => json!(config.smtp.password),
        "smtp.from" => json!(config.smtp.from),
        "transcode.preset" => json!(config.transcode.preset),
        "accounts.signup" => json!(config.accounts.signup.as_str()),
        "catalog.new_titles" => json!(match config.catalog.new_titles {
            NewTitles::Draft => "draft",
            NewTitles::Published => "published",
        }),
        "transcode.segment_secs" => json!(config.transcode.segment_secs),
        "transcode.audio_kbps" => json!(config.transcode.audio_kbps),
        "uploads.max_bytes" => json!(config.uploads.max_bytes),
        "stripe.secret_key" => json!(config.stripe.secret_key),
        "stripe.webhook_secret" => json!(config.stripe.webhook_secret),
        "paywall.rental_hours" => json!(config.paywall.rental_hours),
        "analytics.raw_retention_days" => json!(config.analytics.raw_retention_days),
        "paywall.past_due_grace_days" => json!(config.paywall.past_due_grace_days),
        "paywall.token_ttl_secs" => json!(config.paywall.token_ttl_secs),
        "paywall.purchase_token_ttl_secs" => json!(config.paywall.purchase_token_ttl_secs),
        _ => Value::Null,
    }
}

fn text(spec: &Spec, value: &Value) -> Result<String, SettingsError> {
    value
        .as_str()
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| SettingsError::Invalid(format!("{} must be text", spec.key)))
}

fn integer(spec: &Spec, value: &Value, min: u64, max: u64) -> Result<u64, SettingsError> {
    // Forms send numbers as text.
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        SettingsError::Invalid(format!(
            "{} must be a whole number from {min} to {max}",
            spec.key
        ))
    })
}

fn bytes(spec: &Spec, value: &Value, min: u64, max: u64) -> Result<u64, SettingsError> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => crate::size::parse(s),
        _ => None,
    };
    n.filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        SettingsError::Invalid(format!(
            "{} must be a size from {} to {}, like 20 GB or 500 MB",
            spec.key,
            crate::size::format(min),
            crate::size::format(max)
        ))
    })
}

/// Writes `value` into `config` as `spec` says, after checking its type and range (the
/// rest is `Config::validate`'s).
pub fn set(config: &mut Config, spec: &Spec, value: &Value) -> Result<(), SettingsError> {
    match spec.kind {
        Kind::Integer { min, max } => {
            let n = integer(spec, value, min, max)?;
            match spec.key {
                "smtp.port" => config.smtp.port = (n != 0).then_some(n as u16),
                "transcode.segment_secs" => config.transcode.segment_secs = n as u32,
                "transcode.audio_kbps" => config.transcode.audio_kbps = n as u32,
                "paywall.rental_hours" => config.paywall.rental_hours = n as u32,
                "analytics.raw_retention_days" => config.analytics.raw_retention_days = n as u32,
                "paywall.past_due_grace_days" => config.paywall.past_due_grace_days = n as u32,
                "paywall.token_ttl_secs" => config.paywall.token_ttl_secs = n as u32,
                "paywall.purchase_token_ttl_secs" => {
                    config.paywall.purchase_token_ttl_secs = n as u32
                }
                _ => return Err(SettingsError::Unknown(spec.key.into())),
            }
        }
        Kind::Bytes { min, max } => {
            let n = bytes(spec, value, min, max)?;
            match spec.key {
                "uploads.max_bytes" => config.uploads.max_bytes = n,
                _ => return Err(SettingsError::Unknown(spec.key.into())),
            }
        }
        Kind::Choice(allowed) => {
            let v = text(spec, value)?;
            if !allowed.contains(&v.as_str()) {
                return Err(SettingsError::Invalid(format!(
                    "{} must be one of {}",
                    spec.key,
                    allowed.join(", ")
                )));
            }
            match spec.key {
                "smtp.security" => {
                    config.smtp.security = match v.as_str() {
                        "tls" => SmtpSecurity::Tls,
                        "none" => SmtpSecurity::None,
                        _ => SmtpSecurity::Starttls,
                    }
                }
                "transcode.preset" => config.transcode.preset = v,
                "accounts.signup" => {
                    config.accounts.signup = SignupMode::parse(&v).unwrap_or_default()
                }
                "catalog.new_titles" => {
                    config.catalog.new_titles = if v == "published" {
                        NewTitles::Published
                    } else {
                        NewTitles::Draft
                    }
                }
                _ => return Err(SettingsError::Unknown(spec.key.into())),
            }
        }
        Kind::Text | Kind::Secret => {
            let v = text(spec, value)?;
            if v.len() > 1000 || v.chars().any(char::is_control) {
                return Err(SettingsError::Invalid(format!(
                    "{} must be at most 1000 characters without control characters",
                    spec.key
                )));
            }
            match spec.key {
                "site.name" => config.site.name = v,
                "site.base_url" => config.site.base_url = v,
                "smtp.host" => config.smtp.host = v,
                "smtp.username" => config.smtp.username = v,
                "smtp.password" => config.smtp.password = v,
                "smtp.from" => config.smtp.from = v,
                "stripe.secret_key" => config.stripe.secret_key = v,
                "stripe.webhook_secret" => config.stripe.webhook_secret = v,
                _ => return Err(SettingsError::Unknown(spec.key.into())),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_reads_back_what_was_written() {
        let mut config = Config::default();
        for spec in SPECS {
            let value = match spec.kind {
                Kind::Integer { min, .. } | Kind::Bytes { min, .. } => json!(min + 1),
                Kind::Choice(c) => json!(c[c.len() - 1]),
                Kind::Text | Kind::Secret => json!(format!("v-{}", spec.key)),
            };
            set(&mut config, spec, &value).unwrap_or_else(|e| panic!("{}: {e}", spec.key));
            assert_eq!(get(&config, spec.key), value, "{}", spec.key);
        }
        let port = spec("smtp.port").unwrap();
        assert!(set(&mut config, port, &json!(70000)).is_err());
        assert!(set(&mut config, port, &json!("25")).is_ok());
        assert!(set(&mut config, spec("site.name").unwrap(), &json!("a\u{7}b")).is_err());
        // A size as a form sends it, or as the API does.
        let upload = spec("uploads.max_bytes").unwrap();
        set(&mut config, upload, &json!("1.5 GB")).unwrap();
        assert_eq!(config.uploads.max_bytes, 1_500_000_000);
        set(&mut config, upload, &json!(2_000_000)).unwrap();
        assert_eq!(config.uploads.max_bytes, 2_000_000);
        for bad in [json!("12"), json!("lots"), json!("20 GiB")] {
            assert!(set(&mut config, upload, &bad).is_err(), "{bad}");
        }
        assert_eq!(config.uploads.max_bytes, 2_000_000);
    }
}
