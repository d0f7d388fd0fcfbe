//! Sends campaigns when they are due: every 30 s the due ones (or one a crash left halfway)
//! have their audience fixed from their segment, then each target not emailed yet gets the
//! email (personal link, unsubscribe link, an open pixel), then the campaign is marked
//! sent. Each step is recorded as it happens, so a crash resends at most one email.

use std::sync::Arc;

use crate::analytics::intake::Intake;
use crate::analytics::report::EventsReader;
use crate::analytics::segments;
use crate::audit::{self, Actor};
use crate::campaigns::{self, Campaign, CampaignError, store};
use crate::clock;
use crate::db::Db;
use crate::mail::{Letter, MailError, Mailer};

pub struct CampaignSender {
    db: Db,
    events: Arc<EventsReader>,
    intake: Arc<Intake>,
    mail: Arc<Mailer>,
    wake: Arc<tokio::sync::Notify>,
    /// Campaigns whose email waits for SMTP, said once each.
    warned: std::sync::Mutex<std::collections::HashSet<i64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    #[error(transparent)]
    Analytics(#[from] crate::analytics::AnalyticsError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

impl From<rusqlite::Error> for SendError {
    fn from(e: rusqlite::Error) -> Self {
        SendError::Campaign(e.into())
    }
}

fn token() -> String {
    crate::accounts::secret::Secret::generate().encode()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML alternative of a campaign's text: the template escaped, then the name as text
/// and the two links as links put in their places, and the open pixel.
fn html_of(template: &str, name: &str, link: &str, unsubscribe: &str, pixel: &str) -> String {
    let anchor = |url: &str| format!("<a href=\"{0}\">{0}</a>", escape(url));
    let filled = escape(template)
        .replace("{{name}}", &escape(name))
        .replace("{{link}}", &anchor(link))
        .replace("{{unsubscribe}}", &anchor(unsubscribe));
    let body: String = filled
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.replace('\n', "<br>")))
        .collect();
    format!(
        "<!doctype html><html><body>{body}<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\"></body></html>",
        escape(pixel)
    )
}

impl CampaignSender {
    /// `wake`: notified when a campaign is saved, so one due now goes at once.
    pub fn new(
        db: Db,
        events: Arc<EventsReader>,
        intake: Arc<Intake>,
        mail: Arc<Mailer>,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        CampaignSender {
            db,
            events,
            intake,
            mail,
            wake,
            warned: Default::default(),
        }
    }

    /// A member's address refused for good: recorded, not tried again.
    async fn email_failed(&self, campaign: i64, user: i64, why: String) -> Result<(), SendError> {
        tracing::warn!(campaign, user, error = %why, "a member's address was refused; not tried again");
        let at = clock::now();
        self.db
            .write(move |tx| {
                store::mark_email_failed(tx, campaign, user, at).map_err(SendError::from)
            })
            .await
    }

    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "campaigns could not be sent; trying again in 30 s");
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Sends every campaign that is due; returns how many were finished.
    pub async fn send_due(&self) -> Result<usize, SendError> {
        let now = clock::now();
        let due = self
            .db
            .read(move |c| store::due(c, now).map_err(SendError::from))
            .await?;
        let mut finished = 0;
        // One campaign that cannot go out holds up none of the others.
        for campaign in due {
            match self.send(&campaign).await {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(campaign = campaign.id, error = %e, "a campaign could not be sent; trying again in 30 s")
                }
            }
        }
        Ok(finished)
    }

    /// Chooses the audience (once) and emails the targets; true when the campaign is sent.
    async fn send(&self, campaign: &Campaign) -> Result<bool, SendError> {
        let now = clock::now();
        if campaign.status == "scheduled" {
            let segment_id = campaign.fields.segment_id;
            let segment = self
                .db
                .read(move |c| segments::get(c, segment_id).map_err(SendError::from))
                .await?
                .ok_or_else(|| CampaignError::Invalid("its segment was deleted".into()))?;
            if segment.broken || segment.filter.conditions.is_empty() {
                return Err(CampaignError::Invalid(
                    "its segment's filter cannot be read or selects every member".into(),
                )
                .into());
            }
            let intake = self.intake.clone();
            let _ =
                tokio::task::spawn_blocking(move || intake.sync(std::time::Duration::from_secs(5)))
                    .await;
            let main = self.db.clone();
            let filter = segment.filter.clone();
            let members = self
                .events
                .read(move |events| {
                    main.read_blocking(|c| segments::evaluate(c, Some(events), &filter, now))
                })
                .await?;
            let chosen = campaign.clone();
            let count = members.len();
            self.db
                .write(move |tx| -> Result<(), SendError> {
                    store::choose(tx, &chosen, &members, now, token)?;
                    audit::record(
                        tx,
                        &Actor::Shell,
                        "campaign.send",
                        &format!("campaign:{}", chosen.id),
                        serde_json::json!({ "segment_members": count }),
                        now,
                    )?;
                    Ok(())
                })
                .await?;
        }
        if campaign.fields.email {
            let id = campaign.id;
            let recipients = self
                .db
                .read(move |c| store::unsent(c, id).map_err(SendError::from))
                .await?;
            for r in recipients {
                let link = self.mail.link(&format!("/c/{}", r.token));
                let unsubscribe = self.mail.link(&format!("/c/{}/unsubscribe", r.token));
                let pixel = self.mail.link(&format!("/c/{}/open.gif", r.token));
                let name = if r.name.is_empty() {
                    "there"
                } else {
                    r.name.as_str()
                };
                let body = campaigns::fill(&campaign.fields.body, name, &link, &unsubscribe);
                let letter = Letter {
                    to: r.email.clone(),
                    subject: campaigns::fill(&campaign.fields.subject, name, &link, &unsubscribe),
                    body: body.clone(),
                };
                match self
                    .mail
                    .send_with_html(
                        &letter,
                        &html_of(&campaign.fields.body, name, &link, &unsubscribe, &pixel),
                    )
                    .await
                {
                    Ok(()) => {
                        let (user, at) = (r.user_id, clock::now());
                        self.db
                            .write(move |tx| {
                                store::mark_emailed(tx, id, user, at).map_err(SendError::from)
                            })
                            .await?;
                    }
                    Err(MailError::NotConfigured) => {
                        // Sent once SMTP is set up; the banner shows meanwhile.
                        if self
                            .warned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(id)
                        {
                            tracing::warn!(
                                campaign = id,
                                "campaign email waits: SMTP is not configured ([smtp] host); the banner shows meanwhile"
                            );
                        }
                        return Ok(false);
                    }
                    Err(e @ MailError::BadAddress(_)) => {
                        self.email_failed(id, r.user_id, e.to_string()).await?;
                    }
                    Err(MailError::Smtp(e)) if e.is_permanent() => {
                        self.email_failed(id, r.user_id, e.to_string()).await?;
                    }
                    Err(e) => {
                        // The SMTP server is away: the rest are sent on the next round.
                        tracing::warn!(campaign = id, error = %e, "campaign email failed; trying again in 30 s");
                        return Ok(false);
                    }
                }
            }
        }
        let id = campaign.id;
        self.db
            .write(move |tx| store::mark_sent(tx, id, clock::now()).map_err(SendError::from))
            .await?;
        tracing::info!(campaign = id, "campaign sent");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_link_in_the_html_goes_where_its_placeholder_says() {
        let html = super::html_of(
            "Hi {{name}}: {{link}}\n\nStop: {{unsubscribe}}",
            "<b>Ann</b>",
            "https://tv/c/TOKEN",
            "https://tv/c/TOKEN/unsubscribe",
            "https://tv/c/TOKEN/open.gif",
        );
        assert!(html.contains("Hi &lt;b&gt;Ann&lt;/b&gt;"), "{html}");
        assert!(html.contains(r#"<a href="https://tv/c/TOKEN">https://tv/c/TOKEN</a></p>"#));
        assert!(html.contains(
            r#"<a href="https://tv/c/TOKEN/unsubscribe">https://tv/c/TOKEN/unsubscribe</a>"#
        ));
    }
}
