//! One conversation with the CA: open (or register) the account, order a certificate for
//! the domains, publish the challenge answers, wait for validation, finalize with our own
//! CSR and download the chain.

use std::time::Duration;

use instant_acme::{
    Account, AccountBuilder, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use serde::{Deserialize, Serialize};

use super::challenges::Challenges;
use super::store::{CertStore, StoredCert};
use super::{AcmeError, ChallengeKind};
use crate::config::AcmeConfig;

/// How long to wait for the CA to validate, and then to sign. Let's Encrypt takes seconds;
/// a CA that takes longer is tried again after the back-off.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// `account.json`: the credentials and the directory they belong to, so that pointing the
/// config at another CA (staging → production) registers a new account there.
#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

fn acme_step(step: &'static str) -> impl FnOnce(instant_acme::Error) -> AcmeError {
    move |source| AcmeError::Acme { step, source }
}

fn account_builder(config: &AcmeConfig) -> Result<AccountBuilder, AcmeError> {
    if config.directory_ca_file.is_empty() {
        Account::builder()
    } else {
        Account::builder_with_root(&config.directory_ca_file)
    }
    .map_err(acme_step("set up the HTTPS client for the ACME directory"))
}

pub(crate) async fn open_account(
    config: &AcmeConfig,
    store: &CertStore,
) -> Result<Account, AcmeError> {
    if let Some(bytes) = store.load_account()? {
        match serde_json::from_slice::<SavedAccount>(&bytes) {
            Ok(saved) if saved.directory == config.directory => {
                return account_builder(config)?
                    .from_credentials(saved.credentials)
                    .await
                    .map_err(acme_step("open the ACME account"));
            }
            Ok(saved) => tracing::info!(
                old = %saved.directory,
                new = %config.directory,
                "the ACME directory changed: registering a new account"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "acme/account.json is unreadable: registering a new account"
            ),
        }
    }
    let contact = (!config.email.is_empty()).then(|| format!("mailto:{}", config.email));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = account_builder(config)?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            config.directory.clone(),
            None,
        )
        .await
        .map_err(acme_step("register an ACME account"))?;
    let saved = SavedAccount {
        directory: config.directory.clone(),
        credentials,
    };
    let json = serde_json::to_vec_pretty(&saved)
        .map_err(|e| AcmeError::Certificate(format!("cannot encode the account: {e}")))?;
    store.save_account(&json)?;
    tracing::info!(directory = %config.directory, "registered an ACME account");
    Ok(account)
}

/// The answers published for one order; withdrawn when dropped, so an order that fails,
/// or a task aborted halfway, leaves nothing behind for the listeners to serve.
struct Published<'a> {
    challenges: &'a Challenges,
    tokens: Vec<String>,
    domains: Vec<String>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        for token in &self.tokens {
            self.challenges.withdraw_http(token);
        }
        for domain in &self.domains {
            self.challenges.withdraw_tls_alpn(domain);
        }
    }
}

pub(crate) async fn order_certificate(
    account: &Account,
    domains: &[String],
    kind: ChallengeKind,
    challenges: &Challenges,
) -> Result<StoredCert, AcmeError> {
    let identifiers: Vec<Identifier> = domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(acme_step("create the order"))?;
    let mut published = Published {
        challenges,
        tokens: Vec::new(),
        domains: Vec::new(),
    };
    let challenge_type = match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };

    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(acme_step("fetch an authorization"))?;
        let domain = authz.identifier().to_string();
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Validation {
                    domain,
                    challenge: kind.name(),
                    detail: format!("the CA reports the authorization as {other:?}"),
                });
            }
        }
        let mut challenge =
            authz
                .challenge(challenge_type.clone())
                .ok_or_else(|| AcmeError::NoChallenge {
                    domain: domain.clone(),
                    challenge: kind.name(),
                })?;
        let key_authorization = challenge.key_authorization();
        match kind {
            ChallengeKind::Http01 => {
                challenges.publish_http(&challenge.token, key_authorization.as_str());
                published.tokens.push(challenge.token.clone());
            }
            ChallengeKind::TlsAlpn01 => {
                challenges.publish_tls_alpn(&domain, key_authorization.as_str())?;
                published.domains.push(domain.clone());
            }
        }
        challenge
            .set_ready()
            .await
            .map_err(acme_step("tell the CA the challenge is ready"))?;
    }

    let polled = order
        .poll_ready(&RetryPolicy::new().timeout(POLL_TIMEOUT))
        .await;
    match polled {
        Ok(OrderStatus::Ready) => {}
        Ok(_) | Err(instant_acme::Error::Api(_)) => {
            return Err(why_validation_failed(&mut order, kind).await);
        }
        Err(e) => return Err(acme_step("wait for the CA to validate")(e)),
    }
    drop(published);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(domains.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    order
        .finalize_csr(csr.der())
        .await
        .map_err(acme_step("finalize the order"))?;
    let chain = order
        .poll_certificate(&RetryPolicy::new().timeout(POLL_TIMEOUT))
        .await
        .map_err(acme_step("download the certificate"))?;
    let cert = StoredCert::parse(&chain, &key.serialize_pem())?;
    if let Some(missing) = domains.iter().find(|d| !cert.domains.contains(d)) {
        return Err(AcmeError::Certificate(format!(
            "the CA issued a certificate without {missing}"
        )));
    }
    Ok(cert)
}

/// The CA's own words for the first failed challenge, which say what to fix ("Connection
/// refused", "DNS problem: NXDOMAIN", "404").
async fn why_validation_failed(order: &mut instant_acme::Order, kind: ChallengeKind) -> AcmeError {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if authz.refresh().await.is_err() {
            continue;
        }
        let domain = authz.identifier().to_string();
        let failed = authz
            .challenges
            .iter()
            .find_map(|c| c.error.as_ref())
            .map(|problem| {
                problem
                    .detail
                    .clone()
                    .unwrap_or_else(|| problem.to_string())
            });
        if let Some(detail) = failed {
            return AcmeError::Validation {
                domain,
                challenge: kind.name(),
                detail,
            };
        }
    }
    AcmeError::OrderRefused(match &order.state().error {
        Some(problem) => problem.to_string(),
        None => format!("the order is {:?}", order.state().status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The production client (system roots) builds without a process-wide rustls crypto
    /// provider installed: this fails if a second provider (aws-lc-rs) enters the build.
    #[test]
    fn the_https_client_for_the_system_roots_builds() {
        assert!(account_builder(&AcmeConfig::default()).is_ok());
        let missing = AcmeConfig {
            directory_ca_file: "/nonexistent/ca.pem".into(),
            ..AcmeConfig::default()
        };
        let err = account_builder(&missing)
            .err()
            .expect("a missing CA file is refused");
        assert!(
            err.to_string()
                .contains("could not set up the HTTPS client"),
            "{err}"
        );
    }
}
