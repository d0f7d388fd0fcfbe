//! The webhook delivery loop: takes due deliveries from the outbox, signs and POSTs each
//! (Standard Webhooks headers, no redirects followed, a time limit), and records the
//! outcome: delivered on a 2xx, else a retry after the next wait of `webhooks.retry_secs`,
//! or given up after the last. An endpoint that fails `webhooks.disable_after` attempts in a
//! row is disabled and the owners are emailed. Everything is in the database, so a restart
//! carries on where the loop stopped (a delivery cut off mid-request is sent again with the
//! same `webhook-id`, which receivers use to drop repeats). Connections go only to the
//! addresses `webhooks::target` allows, checked after each name is resolved; the delivery
//! log keeps the status a receiver answered, never its body (an internal service's error
//! page is not shown to whoever added the endpoint).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::accounts::roles::Role;
use crate::accounts::users::{self, MemberQuery};
use crate::clock;
use crate::config::WebhooksConfig;
use crate::db::Db;
use crate::mail::{Letter, Mailer};
use crate::webhooks::outbox::{self, Delivery};
use crate::webhooks::target::TargetPolicy;
use crate::webhooks::{WebhookError, endpoints, signing};

const BATCH: u32 = 20;

pub struct WebhookSender {
    db: Db,
    mail: Arc<Mailer>,
    config: WebhooksConfig,
    /// Told when an event is queued, so it goes out at once.
    pub wake: Arc<Notify>,
    /// Endpoints with deliveries under way: each endpoint gets its events one at a time
    /// (in order on their first attempt; a retried one may come after later ones), and one
    /// that hangs until the timeout holds up no other.
    busy: std::sync::Mutex<std::collections::HashSet<i64>>,
}

enum Outcome {
    Delivered(u16),
    Failed(Option<u16>, String),
}

impl WebhookSender {
    pub fn new(db: Db, mail: Arc<Mailer>, config: WebhooksConfig, wake: Arc<Notify>) -> Self {
        WebhookSender {
            db,
            mail,
            config,
            wake,
            busy: Default::default(),
        }
    }

    fn busy_endpoints(&self) -> Vec<i64> {
        self.busy
            .lock()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Delivers until `shutdown` turns true, then lets the deliveries under way finish
    /// (within the time limit), so their outcome is recorded and none is sent again.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut under_way = tokio::task::JoinSet::new();
        loop {
            while under_way.try_join_next().is_some() {}
            let sleep = match this.round(&mut under_way).await {
                Ok(Some(secs)) => secs,
                Ok(None) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "webhook deliveries: cannot read the outbox");
                    30
                }
            };
            tokio::select! {
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(sleep)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                let limit = Duration::from_secs(this.config.timeout_secs + 5);
                let _ = tokio::time::timeout(limit, async {
                    while under_way.join_next().await.is_some() {}
                })
                .await;
                return;
            }
        }
    }

    /// Starts sending what is due, per endpoint, to endpoints with nothing under way;
    /// returns how long to wait for the next (`None`: go again at once).
    async fn round(
        self: &Arc<Self>,
        under_way: &mut tokio::task::JoinSet<()>,
    ) -> Result<Option<u64>, WebhookError> {
        let now = clock::now();
        let skip = self.busy_endpoints();
        let due = self
            .db
            .read(move |c| outbox::due(c, now, BATCH, &skip))
            .await?;
        let full = due.len() as u32 == BATCH;
        let mut by_endpoint: Vec<Vec<Delivery>> = Vec::new();
        for delivery in due {
            match by_endpoint
                .iter_mut()
                .find(|group| group[0].endpoint_id == delivery.endpoint_id)
            {
                Some(group) => group.push(delivery),
                None => by_endpoint.push(vec![delivery]),
            }
        }
        for group in by_endpoint {
            let endpoint = group[0].endpoint_id;
            if let Ok(mut busy) = self.busy.lock() {
                busy.insert(endpoint);
            }
            let this = self.clone();
            under_way.spawn(async move {
                for delivery in group {
                    if let Err(e) = this.deliver(delivery).await {
                        tracing::error!(endpoint, error = %e, "webhook delivery not recorded; tried again in 30 s");
                        // The endpoint stays busy meanwhile, so the loop does not spin on it.
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        break;
                    }
                }
                if let Ok(mut busy) = this.busy.lock() {
                    busy.remove(&endpoint);
                }
                // Its next deliveries may be due already.
                this.wake.notify_one();
            });
        }
        if full {
            return Ok(None);
        }
        let skip = self.busy_endpoints();
        let next = self.db.read(move |c| outbox::next_due(c, &skip)).await?;
        let now = clock::now();
        // Events written by other processes (`marquee ingest`) or without a wake-up are
        // found within a second: the outbox query is one index look-up.
        Ok(Some(next.map_or(1, |t| (t - now).clamp(0, 1) as u64)))
    }

    async fn deliver(&self, d: Delivery) -> Result<(), WebhookError> {
        // Still waiting to go? (Its endpoint may have been deleted, and its id reused by a
        // new one, while earlier deliveries of the group were under way.)
        let id = d.id;
        if !self.db.read(move |c| outbox::is_pending(c, id)).await? {
            return Ok(());
        }
        let endpoint_id = d.endpoint_id;
        let endpoint = match self.db.read(move |c| endpoints::get(c, endpoint_id)).await {
            Ok(e) => e,
            Err(WebhookError::NotFound(_)) => return Ok(()), // deleted: its rows went with it
            Err(e) => return Err(e),
        };
        let now = clock::now();
        if !endpoint.enabled && d.event_type != "webhook.test" {
            let id = d.id;
            return self
                .db
                .write(move |tx| outbox::give_up(tx, id, None, "the endpoint is disabled", now))
                .await;
        }
        self.db
            .write(move |tx| outbox::start_attempt(tx, id))
            .await?;
        let outcome = self.post(&endpoint.url, &endpoint.secret, &d, now).await;
        let attempt = d.attempts as usize;
        let retry_after = self.config.retry_secs.get(attempt).copied();
        let disable_after = i64::from(self.config.disable_after);
        let id = d.id;
        let disabled = self
            .db
            .write(move |tx| {
                let now = clock::now();
                match &outcome {
                    Outcome::Delivered(status) => {
                        outbox::delivered(tx, id, *status, now)?;
                        endpoints::record_attempt(tx, endpoint_id, true, disable_after, "", now)
                    }
                    Outcome::Failed(status, error) => {
                        match retry_after {
                            Some(wait) => outbox::retry(tx, id, *status, error, now + wait as i64)?,
                            None => outbox::give_up(tx, id, *status, error, now)?,
                        }
                        endpoints::record_attempt(tx, endpoint_id, false, disable_after, error, now)
                    }
                }
            })
            .await?;
        if disabled {
            self.tell_owners(&endpoint.url).await;
        }
        Ok(())
    }

    async fn post(&self, url: &str, secret: &str, d: &Delivery, now: i64) -> Outcome {
        let Some(signature) = signing::sign(secret, &d.message_id, now, d.payload.as_bytes())
        else {
            return Outcome::Failed(None, "the endpoint's secret is not a whsec_ secret".into());
        };
        let (url, body, message_id) = (url.to_owned(), d.payload.clone(), d.message_id.clone());
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let policy = TargetPolicy::new(&self.config.allow_private);
        let sent = tokio::task::spawn_blocking(move || {
            let agent = policy.agent(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .timeout_global(Some(timeout))
                    .user_agent("Marquee-Webhooks/1"),
            );
            let response = agent
                .post(&url)
                .header("content-type", "application/json")
                .header("webhook-id", &message_id)
                .header("webhook-timestamp", &now.to_string())
                .header("webhook-signature", &signature)
                .send(body.as_bytes())?;
            // The body is never read: dropping it closes the connection.
            Ok::<_, ureq::Error>(response.status().as_u16())
        })
        .await;
        match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => Outcome::Delivered(status),
            Ok(Ok(status)) => Outcome::Failed(Some(status), format!("answered {status}")),
            Ok(Err(e)) => Outcome::Failed(None, e.to_string()),
            Err(e) => Outcome::Failed(None, format!("delivery task failed: {e}")),
        }
    }

    async fn tell_owners(&self, url: &str) {
        tracing::warn!(url, "webhook endpoint disabled after repeated failures");
        let owners = self
            .db
            .read(|c| {
                let query = MemberQuery {
                    role: Some(Role::Owner),
                    limit: 20,
                    ..MemberQuery::default()
                };
                users::list(c, &query).map(|(list, _)| list)
            })
            .await
            .unwrap_or_default();
        for owner in owners.into_iter().filter(|o| !o.disabled) {
            self.mail.send_later(
                Letter {
                    to: owner.email,
                    subject: "A webhook endpoint was disabled".into(),
                    body: format!(
                        "Deliveries to {url} kept failing, so Marquee stopped sending to it.\n\n\
                         The dashboard's Webhooks page shows what it answered. Turn it back on \
                         there once it works; events from now on will be sent again.\n"
                    ),
                },
                "webhook endpoint disabled",
            );
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookServiceError {
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// What an operator does to endpoints, each with its audit entry (secrets never in it).
pub struct WebhookAdmin<'a> {
    pub db: &'a Db,
    pub wake: &'a Notify,
    /// Which URLs may be saved (`[webhooks] allow_private`).
    pub policy: TargetPolicy,
}

impl WebhookAdmin<'_> {
    pub async fn create(
        &self,
        actor: &crate::audit::Actor,
        fields: endpoints::EndpointFields,
    ) -> Result<endpoints::Endpoint, WebhookServiceError> {
        let (actor, policy) = (actor.clone(), self.policy.clone());
        self.db
            .write(move |tx| {
                let now = clock::now();
                let endpoint = endpoints::create(tx, &fields, &policy, now)?;
                crate::audit::record(
                    tx,
                    &actor,
                    "webhook.create",
                    &endpoint.id.to_string(),
                    serde_json::json!({"url": endpoint.url, "events": endpoint.events}),
                    now,
                )?;
                Ok(endpoint)
            })
            .await
    }

    pub async fn update(
        &self,
        actor: &crate::audit::Actor,
        id: i64,
        fields: endpoints::EndpointFields,
    ) -> Result<endpoints::Endpoint, WebhookServiceError> {
        let (actor, policy) = (actor.clone(), self.policy.clone());
        self.db
            .write(move |tx| {
                let now = clock::now();
                let endpoint = endpoints::update(tx, id, &fields, &policy, now)?;
                crate::audit::record(
                    tx,
                    &actor,
                    "webhook.update",
                    &id.to_string(),
                    serde_json::json!({"url": fields.url, "events": fields.events,
                                       "enabled": fields.enabled}),
                    now,
                )?;
                Ok(endpoint)
            })
            .await
    }

    pub async fn delete(
        &self,
        actor: &crate::audit::Actor,
        id: i64,
    ) -> Result<(), WebhookServiceError> {
        let actor = actor.clone();
        self.db
            .write(move |tx| {
                let now = clock::now();
                let endpoint = endpoints::delete(tx, id)?;
                crate::audit::record(
                    tx,
                    &actor,
                    "webhook.delete",
                    &id.to_string(),
                    serde_json::json!({"url": endpoint.url}),
                    now,
                )?;
                Ok(())
            })
            .await
    }

    /// Queues a `webhook.test` event to one endpoint (enabled or not) and wakes the loop.
    pub async fn send_test(&self, id: i64) -> Result<(), WebhookServiceError> {
        self.db
            .write(move |tx| {
                endpoints::get(tx, id)?;
                outbox::emit_to(
                    tx,
                    "webhook.test",
                    serde_json::json!({"message": "a test event from Marquee"}),
                    clock::now(),
                    Some(id),
                )?;
                Ok::<_, WebhookServiceError>(())
            })
            .await?;
        self.wake.notify_one();
        Ok(())
    }
}
