//! Changing settings while the server runs: check every change, store it with its audit
//! entry in one transaction, then hand the new values to what uses them — the mailer
//! (SMTP, the public address links start from), upload limits, and the transcoding
//! defaults the next job reads, and whether new media's titles start published. Pages read the site name from `Settings::current`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::audit::Actor;
use crate::catalog::title_sidecar::NewTitlePolicy;
use crate::config::{Config, NewTitles, TranscodeConfig};
use crate::db::Db;
use crate::jobs::runner::now;
use crate::mail::Mailer;
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

    /// Checks, stores and applies `changes` (all or none); returns what changed.
    pub async fn update(
        &self,
        actor: &Actor,
        changes: BTreeMap<String, Value>,
    ) -> Result<Vec<Change>, SettingsError> {
        let _one_at_a_time = self.updating.lock().await;
        let (next, changed) = self.settings.prepare(&changes)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        // The mailer is built before anything is stored: a setting it cannot use is
        // refused, not saved.
        Mailer::from_config(&next.smtp)
            .map_err(|e| SettingsError::Invalid(format!("email: {e}")))?;
        let (actor, stored) = (actor.clone(), changed.clone());
        self.db
            .write(move |tx| settings::store(tx, &actor, &stored, now()))
            .await?;
        self.settings.install(next);
        self.apply()?;
        for change in &changed {
            tracing::info!(setting = change.key, "setting changed");
        }
        Ok(changed)
    }
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
