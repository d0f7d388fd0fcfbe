//! Changing settings while the server runs: check every change, store it with its audit
//! entry in one transaction, then hand the new values to what uses them — the mailer
//! (SMTP, the public address links start from), upload limits, and the transcoding
//! defaults the next job reads, and whether new media's titles start published. Pages read the site name from `Settings::current`.
//!
//! A change of where email goes or of the address its links name (the owner-only
//! settings) is told to every owner by email through the settings as they were, before
//! the new ones run: someone who got hold of an owner's session cannot move mail quietly.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::accounts::roles::{Permission, Role};
use crate::accounts::users::{self, MemberQuery};
use crate::audit::Actor;
use crate::catalog::title_sidecar::NewTitlePolicy;
use crate::config::{Config, NewTitles, TranscodeConfig};
use crate::db::Db;
use crate::jobs::runner::now;
use crate::mail::{Letter, Mailer};
use crate::settings::{self, Change, SettingView, Settings, SettingsError};
use crate::uploads::{UploadLimits, Uploads};

pub struct SettingsService {
    pub settings: Settings,
    db: Db,
    mail: Arc<Mailer>,
    uploads: Arc<Uploads>,
    transcode: Arc<ArcSwap<TranscodeConfig>>,
    new_titles: NewTitlePolicy,
    /// One change at a time: each is checked against the settings the one before left.
    updating: tokio::sync::Mutex<()>,
}

impl SettingsService {
    pub fn new(
        settings: Settings,
        db: Db,
        mail: Arc<Mailer>,
        uploads: Arc<Uploads>,
        transcode: Arc<ArcSwap<TranscodeConfig>>,
        new_titles: NewTitlePolicy,
    ) -> SettingsService {
        SettingsService {
            settings,
            db,
            mail,
            uploads,
            transcode,
            new_titles,
            updating: tokio::sync::Mutex::new(()),
        }
    }

    /// Hands the running settings to everything that uses them (at start and after each
    /// change).
    pub fn apply(&self) -> Result<(), SettingsError> {
        let config = self.settings.current();
        apply_to(&config, &self.mail, &self.uploads, &self.transcode)?;
        self.new_titles
            .set(config.catalog.new_titles == NewTitles::Published);
        Ok(())
    }

    pub fn view(&self) -> Vec<SettingView> {
        self.settings.view()
    }

    /// Checks, stores and applies `changes` (all or none) for `actor`, who holds
    /// `granted`; returns what changed.
    pub async fn update(
        &self,
        actor: &Actor,
        granted: &[Permission],
        changes: BTreeMap<String, Value>,
    ) -> Result<Vec<Change>, SettingsError> {
        let _one_at_a_time = self.updating.lock().await;
        let (next, changed) = self.settings.prepare(&changes, granted)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        // The mailer is built before anything is stored: a setting it cannot use is
        // refused, not saved.
        Mailer::from_config(&next.smtp)
            .map_err(|e| SettingsError::Invalid(format!("email: {e}")))?;
        let (who, stored) = (actor.clone(), changed.clone());
        self.db
            .write(move |tx| settings::store(tx, &who, &stored, now()))
            .await?;
        if changed.iter().any(|c| owner_only(c.key)) {
            // Still the old settings: the notice goes where mail went until now.
            self.tell_owners(actor, &changed).await;
        }
        self.settings.install(next);
        self.apply()?;
        for change in &changed {
            tracing::info!(setting = change.key, "setting changed");
        }
        Ok(changed)
    }
}

impl SettingsService {
    async fn tell_owners(&self, actor: &Actor, changed: &[Change]) {
        if !self.mail.is_on() {
            tracing::warn!("email settings changed; owners not told: email was off");
            return;
        }
        let query = MemberQuery {
            role: Some(Role::Owner),
            limit: 100,
            ..MemberQuery::default()
        };
        let owners = match self.db.read(move |c| users::list(c, &query)).await {
            Ok((owners, _)) => owners,
            Err(e) => {
                tracing::warn!(error = %e, "owners not told of the email settings change");
                return;
            }
        };
        let config = self.settings.current();
        let letter = |to: String| Letter {
            to,
            subject: format!("{}: where email goes was changed", config.site.name),
            body: owner_notice(&config.site.name, actor, changed),
        };
        for owner in owners.into_iter().filter(|o| !o.disabled) {
            if let Err(e) = self.mail.send(&letter(owner.email)).await {
                tracing::warn!(error = %e, "an owner was not told of the email settings change");
            }
        }
    }
}

/// Whether changing `key` takes an owner (`Permission::SettingsOwner`).
fn owner_only(key: &str) -> bool {
    settings::spec(key).is_some_and(|s| s.needs == Permission::SettingsOwner)
}

/// The email owners get when mail settings or the public address change.
fn owner_notice(site: &str, actor: &Actor, changed: &[Change]) -> String {
    let who = match actor {
        Actor::User { label, .. } | Actor::ApiKey { label, .. } => label.as_str(),
        Actor::Shell => "the shell",
    };
    let mut body =
        format!("{who} changed where {site}'s email goes, or the address its links name:\n\n");
    for c in changed.iter().filter(|c| owner_only(c.key)) {
        let line = match c.key {
            "smtp.password" if c.to.as_str().is_some_and(str::is_empty) => {
                "smtp.password: cleared".to_owned()
            }
            "smtp.password" => "smtp.password: changed".to_owned(),
            _ => format!("{}: {} → {}", c.key, c.from, c.to),
        };
        body.push_str(&format!("  {line}\n"));
    }
    body.push_str(
        "\nThis is the last email sent with the settings as they were. If you did not make \
         this change, sign in at once, check Settings and the audit log, and change your \
         password.\n",
    );
    body
}

fn apply_to(
    config: &Config,
    mail: &Mailer,
    uploads: &Uploads,
    transcode: &ArcSwap<TranscodeConfig>,
) -> Result<(), SettingsError> {
    mail.reconfigure(&config.smtp)
        .map_err(|e| SettingsError::Invalid(format!("email: {e}")))?;
    let base = &config.site.base_url;
    mail.set_public_base((!base.is_empty()).then(|| base.clone()));
    uploads.set_limits(UploadLimits::new(&config.uploads, &config.ingest));
    transcode.store(Arc::new(config.transcode.clone()));
    Ok(())
}
