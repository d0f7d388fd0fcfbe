//! The renewal loop: check the stored certificate against the clock, order a new one when
//! it is missing, lacks a domain or has fewer than `renew_before_days` left, store it, hand
//! it to the callback, and back off after a failure while the current certificate stays.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::Account;
use tokio::sync::watch;

use super::challenges::Challenges;
use super::renewal::{self, Clock, Renewal};
use super::store::{CertStore, StoredCert};
use super::{AcmeError, ChallengeKind, issuer};
use crate::config::AcmeConfig;

/// Called with (chain PEM, key PEM) for every certificate to serve.
pub type OnNewCertificate = Box<dyn FnMut(&str, &str) + Send>;

/// Look again at least this often, so a clock jump or a suspended machine is noticed.
const LONGEST_SLEEP: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A new certificate was stored and handed to the callback.
    Issued {
        not_after: SystemTime,
        renew_at: SystemTime,
    },
    /// The stored certificate is good until `renew_at`; nothing was sent to the CA.
    NotDue { renew_at: SystemTime },
    /// The last attempt failed; nothing is sent to the CA before `until`.
    BackingOff { until: SystemTime },
}

pub struct AcmeService {
    config: AcmeConfig,
    kind: ChallengeKind,
    store: CertStore,
    challenges: Challenges,
    clock: Arc<dyn Clock>,
    on_new_certificate: OnNewCertificate,
    account: Option<Account>,
    failures: u32,
    retry_at: Option<SystemTime>,
}

impl AcmeService {
    /// `config.domains` must not be empty (see `AcmeConfig::enabled`).
    pub fn new(
        config: AcmeConfig,
        kind: ChallengeKind,
        data_dir: &Path,
        challenges: Challenges,
        clock: Arc<dyn Clock>,
        on_new_certificate: OnNewCertificate,
    ) -> AcmeService {
        AcmeService {
            config,
            kind,
            store: CertStore::new(data_dir),
            challenges,
            clock,
            on_new_certificate,
            account: None,
            failures: 0,
            retry_at: None,
        }
    }

    pub fn store(&self) -> &CertStore {
        &self.store
    }

    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// One step of the loop: order a certificate if one is due (and no back-off is running).
    /// On failure the stored certificate is left as it was and the back-off starts.
    pub async fn check(&mut self) -> Result<CheckOutcome, AcmeError> {
        let now = self.clock.now();
        if let Some(until) = self.retry_at.filter(|until| now < *until) {
            return Ok(CheckOutcome::BackingOff { until });
        }
        let current = self.store.load_certificate().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the stored certificate is unusable: ordering a new one");
            None
        });
        let reason = renewal::decide(
            current.as_ref(),
            &self.config.domains,
            self.config.renew_before_days,
            now,
        );
        if let Renewal::NotDue { renew_at } = reason {
            return Ok(CheckOutcome::NotDue { renew_at });
        }
        tracing::info!(
            domains = %self.config.domains.join(","),
            challenge = self.kind.name(),
            reason = %reason,
            "ordering a certificate"
        );
        match self.order().await {
            Ok(cert) => {
                self.failures = 0;
                self.retry_at = None;
                (self.on_new_certificate)(&cert.chain_pem, &cert.key_pem);
                let renew_at = renewal::renew_at(cert.not_after, self.config.renew_before_days);
                tracing::info!(
                    domains = %cert.domains.join(","),
                    not_after = %httpdate::fmt_http_date(cert.not_after),
                    renew_at = %httpdate::fmt_http_date(renew_at),
                    "new certificate in use"
                );
                Ok(CheckOutcome::Issued {
                    not_after: cert.not_after,
                    renew_at,
                })
            }
            Err(e) => {
                self.failures += 1;
                self.retry_at = Some(now + renewal::retry_delay(self.failures));
                Err(e)
            }
        }
    }

    async fn order(&mut self) -> Result<StoredCert, AcmeError> {
        let account = match &self.account {
            Some(account) => account.clone(),
            None => {
                let account = issuer::open_account(&self.config, &self.store).await?;
                self.account = Some(account.clone());
                account
            }
        };
        let cert =
            issuer::order_certificate(&account, &self.config.domains, self.kind, &self.challenges)
                .await?;
        self.store.save_certificate(&cert)?;
        Ok(cert)
    }

    /// Runs until `shutdown` turns true: first hands the stored certificate (if any) to the
    /// callback, then checks, sleeps until the next renewal or retry is due, and checks again.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        match self.store.load_certificate() {
            Ok(Some(cert)) => (self.on_new_certificate)(&cert.chain_pem, &cert.key_pem),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "the stored certificate is unusable"),
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            let checked = tokio::select! {
                checked = self.check() => checked,
                _ = shutdown.changed() => return,
            };
            let next = match checked {
                Ok(
                    CheckOutcome::Issued { renew_at, .. }
                    | CheckOutcome::NotDue { renew_at }
                    | CheckOutcome::BackingOff { until: renew_at },
                ) => renew_at,
                Err(e) => {
                    let retry_at = self.retry_at.unwrap_or_else(|| self.clock.now());
                    tracing::warn!(
                        error = %e,
                        failures = self.failures,
                        retry_at = %httpdate::fmt_http_date(retry_at),
                        "could not get a certificate; the current one stays in use"
                    );
                    retry_at
                }
            };
            let wait = next
                .duration_since(self.clock.now())
                .unwrap_or_default()
                .clamp(Duration::from_secs(1), LONGEST_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
