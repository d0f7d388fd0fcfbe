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

/// The HTML alternative: the text as paragraphs, the links as links, and the open pixel.
fn html_of(text: &str, link: &str, pixel: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let body: String = escape(text)
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", p.replace('\n', "<br>")))
        .collect();
    let linked = body.replace(
        &escape(link),
        &format!("<a href=\"{0}\">{0}</a>", escape(link)),
    );
    format!(
        "<!doctype html><html><body>{linked}<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\"></body></html>",
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
        }
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
        for campaign in due {
            if self.send(&campaign).await? {
                finished += 1;
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
                    .send_with_html(&letter, &html_of(&body, &link, &pixel))
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
                        tracing::warn!(
                            campaign = id,
                            "campaign email not sent: SMTP is not configured; the banner still shows"
                        );
                        break;
                    }
                    Err(MailError::BadAddress(_)) => {
                        tracing::warn!(
                            campaign = id,
                            user = r.user_id,
                            "a member's address is not deliverable; skipped"
                        );
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
