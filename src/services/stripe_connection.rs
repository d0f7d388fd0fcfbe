//! Settings → Stripe → "Test connection": the saved secret key and webhook signing secret
//! checked against Stripe's API, reported in sentences. The key is proved by reading the
//! account it belongs to; the webhook by finding an enabled endpoint that points at this
//! site's `/stripe/webhook`. Stripe never shows a signing secret again after it is made, so
//! the secret can only be checked for its form here; the report says so.

use serde::Serialize;
use serde_json::Value;

use crate::config::StripeConfig;
use crate::payments::stripe_api::{Probe, StripeApi};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Good,
    Bad,
    /// Not checked, or could not be.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub outcome: Outcome,
    pub text: String,
}

/// What "Test connection" found, line by line.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    /// Every check that could be made passed.
    pub ok: bool,
    pub lines: Vec<CheckLine>,
}

impl ConnectionReport {
    fn from_lines(lines: Vec<CheckLine>) -> ConnectionReport {
        ConnectionReport {
            ok: lines.iter().all(|l| l.outcome != Outcome::Bad),
            lines,
        }
    }
}

fn line(outcome: Outcome, text: impl Into<String>) -> CheckLine {
    CheckLine {
        outcome,
        text: text.into(),
    }
}

/// Tests `config` against Stripe; `webhook_url` is the address Stripe should send events
/// to. Runs the two reads on the blocking pool.
pub async fn test_connection(config: StripeConfig, webhook_url: String) -> ConnectionReport {
    let Some(api) = StripeApi::new(&config) else {
        return ConnectionReport::from_lines(vec![line(
            Outcome::Bad,
            "No secret key is saved, so Stripe is off: save one below, then test again.",
        )]);
    };
    let probes = tokio::task::spawn_blocking(move || {
        let account = api.account();
        // A refused key makes every other call fail the same way: one line says it.
        let endpoints = matches!(account, Probe::Answered(_)).then(|| api.webhook_endpoints());
        (account, endpoints)
    })
    .await;
    let (account, endpoints) = match probes {
        Ok(p) => p,
        Err(e) => (Probe::Unreachable(e.to_string()), None),
    };
    report(&config, &webhook_url, &account, endpoints.as_ref())
}

/// The report from what Stripe answered (pure, for the tests).
fn report(
    config: &StripeConfig,
    webhook_url: &str,
    account: &Probe,
    endpoints: Option<&Probe>,
) -> ConnectionReport {
    let mut lines = vec![key_line(config, account)];
    if let Some(endpoints) = endpoints {
        lines.push(endpoint_line(webhook_url, endpoints));
    }
    lines.push(secret_line(&config.webhook_secret));
    ConnectionReport::from_lines(lines)
}

fn mode(key: &str) -> &'static str {
    if key.contains("_test_") {
        "test mode: no real money moves"
    } else {
        "live mode: real payments"
    }
}

fn key_line(config: &StripeConfig, account: &Probe) -> CheckLine {
    match account {
        Probe::Answered(acct) => {
            let name = account_name(acct);
            let whose = name.map_or("your Stripe account".to_owned(), |n| {
                format!("the account “{n}”")
            });
            line(
                Outcome::Good,
                format!(
                    "Stripe accepted the secret key: it belongs to {whose}, in {}.",
                    mode(&config.secret_key)
                ),
            )
        }
        Probe::Refused {
            status: 401,
            message,
        } => line(
            Outcome::Bad,
            format!(
                "Stripe refused the secret key ({message}). Copy it again from Stripe's dashboard (Developers → API keys) and save it."
            ),
        ),
        Probe::Refused {
            status: 403,
            message,
        } => line(
            Outcome::Bad,
            format!(
                "The key works but may not read the account ({message}): a restricted key needs read access to the account and webhook endpoints to be tested."
            ),
        ),
        Probe::Refused { status, message } => line(
            Outcome::Bad,
            format!("Stripe answered the test with an error ({status}): {message}."),
        ),
        Probe::Unreachable(why) => line(
            Outcome::Bad,
            format!(
                "Stripe could not be reached ({why}). Check that this server can open connections to the internet."
            ),
        ),
    }
}

fn account_name(acct: &Value) -> Option<String> {
    [
        &acct["settings"]["dashboard"]["display_name"],
        &acct["business_profile"]["name"],
        &acct["email"],
    ]
    .into_iter()
    .filter_map(Value::as_str)
    .map(str::trim)
    .find(|s| !s.is_empty())
    .map(str::to_owned)
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

fn endpoint_line(webhook_url: &str, endpoints: &Probe) -> CheckLine {
    let list = match endpoints {
        Probe::Answered(page) => page["data"].as_array().cloned().unwrap_or_default(),
        Probe::Refused { message, .. } => {
            return line(
                Outcome::Unknown,
                format!(
                    "The webhook endpoints could not be listed ({message}), so they were not checked."
                ),
            );
        }
        Probe::Unreachable(why) => {
            return line(
                Outcome::Unknown,
                format!(
                    "The webhook endpoints could not be listed ({why}), so they were not checked."
                ),
            );
        }
    };
    let url_of = |e: &Value| e["url"].as_str().unwrap_or_default().to_owned();
    if let Some(found) = list.iter().find(|e| same_address(&url_of(e), webhook_url)) {
        return if found["status"].as_str() == Some("enabled") {
            line(
                Outcome::Good,
                format!("Stripe sends events to {webhook_url}: the endpoint is there and enabled."),
            )
        } else {
            line(
                Outcome::Bad,
                format!(
                    "Stripe has an endpoint for {webhook_url}, but it is disabled: enable it in Stripe's dashboard (Developers → Webhooks)."
                ),
            )
        };
    }
    let elsewhere: Vec<String> = list
        .iter()
        .map(url_of)
        .filter(|u| u.ends_with("/stripe/webhook"))
        .collect();
    match elsewhere.first() {
        Some(other) => line(
            Outcome::Bad,
            format!(
                "Stripe sends events to {other}, not to {webhook_url}. If {other} is this site, set its public address under Site; otherwise add {webhook_url} in Stripe's dashboard (Developers → Webhooks)."
            ),
        ),
        None => line(
            Outcome::Bad,
            format!(
                "No webhook endpoint in Stripe points at {webhook_url}, so payments would not reach this site: add one in Stripe's dashboard (Developers → Webhooks)."
            ),
        ),
    }
}

fn secret_line(secret: &str) -> CheckLine {
    let well_formed = secret.strip_prefix("whsec_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if secret.is_empty() {
        line(
            Outcome::Bad,
            "No webhook signing secret is saved, so every event from Stripe would be refused: copy it from the endpoint's page in Stripe (Signing secret) and save it.",
        )
    } else if !well_formed {
        line(
            Outcome::Bad,
            "The webhook signing secret does not look like one: it starts with whsec_ and has no spaces. Copy it again from the endpoint's page in Stripe.",
        )
    } else {
        line(
            Outcome::Unknown,
            "The webhook signing secret has the right form. Stripe never shows a secret again, so whether it is this endpoint's was not checked: the first event Stripe sends will tell (a wrong secret is logged as a refused signature).",
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(secret: &str) -> StripeConfig {
        StripeConfig {
            secret_key: "sk_test_abc".into(),
            webhook_secret: secret.into(),
            ..StripeConfig::default()
        }
    }

    const HOOK: &str = "https://tv.example/stripe/webhook";

    #[test]
    fn a_working_key_and_endpoint_pass_and_the_secret_is_only_checked_for_form() {
        let acct = Probe::Answered(json!({"settings": {"dashboard": {"display_name": "Kelp TV"}}}));
        let hooks = Probe::Answered(json!({"data": [{"url": HOOK, "status": "enabled"}]}));
        let r = report(&config("whsec_abc"), HOOK, &acct, Some(&hooks));
        assert!(r.ok, "{r:?}");
        assert!(r.lines[0].text.contains("“Kelp TV”"), "{r:?}");
        assert!(r.lines[0].text.contains("test mode"));
        assert_eq!(r.lines[1].outcome, Outcome::Good);
        assert_eq!(r.lines[2].outcome, Outcome::Unknown);
    }

    #[test]
    fn a_refused_key_a_missing_endpoint_and_a_bad_secret_each_fail() {
        let refused = Probe::Refused {
            status: 401,
            message: "Invalid API Key provided".into(),
        };
        let r = report(&config("whsec_abc"), HOOK, &refused, None);
        assert!(!r.ok);
        assert!(r.lines[0].text.starts_with("Stripe refused the secret key"));
        let acct = Probe::Answered(json!({}));
        let other = Probe::Answered(
            json!({"data": [{"url": "https://old.example/stripe/webhook", "status": "enabled"}]}),
        );
        let r = report(&config("whsec_abc"), HOOK, &acct, Some(&other));
        assert_eq!(r.lines[1].outcome, Outcome::Bad);
        assert!(r.lines[1].text.contains("old.example"));
        let r = report(&config("not a secret"), HOOK, &acct, None);
        assert_eq!(r.lines.last().unwrap().outcome, Outcome::Bad);
        let r = report(&config(""), HOOK, &acct, None);
        assert!(
            r.lines
                .last()
                .unwrap()
                .text
                .starts_with("No webhook signing secret")
        );
    }
}
