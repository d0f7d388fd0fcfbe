//! Checks the quality alerts every minute against the last full hour, and delivers each
//! that crosses its threshold (once for that hour) by email or webhook (a JSON POST). A
//! delivery that fails is tried again on the next round.

use std::sync::Arc;
use std::time::Duration;

use crate::analytics::alerts::{self, Firing};
use crate::analytics::intake::Intake;
use crate::analytics::report::EventsReader;
use crate::clock;
use crate::db::Db;
use crate::mail::{Letter, Mailer};
use crate::webhooks::target::TargetPolicy;

pub struct AlertChecker {
    db: Db,
    events: Arc<EventsReader>,
    intake: Arc<Intake>,
    mail: Arc<Mailer>,
    site: Arc<crate::services::SettingsService>,
    wake: Arc<tokio::sync::Notify>,
}

impl AlertChecker {
    /// `wake`: "Check now" on the dashboard.
    pub fn new(
        db: Db,
        events: Arc<EventsReader>,
        intake: Arc<Intake>,
        mail: Arc<Mailer>,
        site: Arc<crate::services::SettingsService>,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        AlertChecker {
            db,
            events,
            intake,
            mail,
            site,
            wake,
        }
    }

    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.check().await {
                tracing::warn!(error = %e, "quality alerts could not be checked");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Checks every alert against the last full hour; returns how many were delivered.
    pub async fn check(&self) -> Result<usize, crate::analytics::AnalyticsError> {
        let now = clock::now();
        let hour = (now / 3600 - 1) * 3600;
        let all = self.db.read(alerts::list).await?;
        if all.iter().all(|a| a.fired_hour.is_some_and(|h| h >= hour)) {
            return Ok(0);
        }
        let intake = self.intake.clone();
        let _ = tokio::task::spawn_blocking(move || intake.sync(Duration::from_secs(5))).await;
        let quality = self
            .events
            .read(move |c| alerts::hour_quality(c, hour))
            .await?;
        let mut delivered = 0;
        for firing in alerts::crossing(&all, hour, &quality) {
            let Some(alert) = all.iter().find(|a| a.id == firing.alert_id) else {
                continue;
            };
            let sent = match alert.channel.as_str() {
                "email" => self.email(&alert.target, &firing).await,
                _ => {
                    let allowed = &self.site.settings.current().webhooks.allow_private;
                    webhook(&alert.target, &firing, TargetPolicy::new(allowed)).await
                }
            };
            match sent {
                Ok(()) => {
                    let id = alert.id;
                    self.db.write(move |tx| alerts::claim(tx, id, hour)).await?;
                    delivered += 1;
                }
                Err(e) => {
                    tracing::warn!(alert = alert.id, error = %e, "a quality alert could not be delivered; trying again in a minute")
                }
            }
        }
        Ok(delivered)
    }

    async fn email(&self, to: &str, f: &Firing) -> Result<(), String> {
        let site = self.site.settings.current().site.name.clone();
        let when = time::OffsetDateTime::from_unix_timestamp(f.hour)
            .map(|t| format!("{} {:02}:00 UTC", t.date(), t.hour()))
            .unwrap_or_default();
        let letter = Letter {
            to: to.to_string(),
            subject: format!(
                "{site}: {} is {:.1} (over {:.1})",
                f.label, f.value, f.threshold
            ),
            body: format!(
                "{} was {:.1} in the hour from {when} ({} plays); your alert is set at {:.1}.\n\nAnalytics: {}\n",
                f.label,
                f.value,
                f.plays,
                f.threshold,
                self.mail.link("/admin/analytics?tab=quality")
            ),
        };
        self.mail.send(&letter).await.map_err(|e| e.to_string())
    }
}

/// POSTs the alert; the connection goes only to an address `policy` allows.
async fn webhook(url: &str, f: &Firing, policy: TargetPolicy) -> Result<(), String> {
    let (url, body) = (
        url.to_string(),
        serde_json::json!({ "type": "quality.alert", "data": f }).to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let agent = policy.agent(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(10)))
                .user_agent("Marquee-Alerts/1"),
        );
        let response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", response.status()))
        }
    })
    .await
    .map_err(|e| e.to_string())?
}
