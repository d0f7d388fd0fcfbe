//! Settings an operator changes from the dashboard, kept in the database and applied
//! without a restart. `marquee.toml` (or `--config`) and `MARQUEE_*` variables still work:
//! a setting given there is **pinned** — that value runs, and the dashboard shows it
//! read-only with the reason. Every other editable setting runs from the `settings` table,
//! seeded with the running value on first start.
//!
//! The registry (`SPECS`) names each editable setting, its type and its place on the page;
//! values are checked by applying them to a copy of the `Config` and running the same
//! `Config::validate` the file goes through.

mod registry;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Value, json};

pub use registry::{Kind, SPECS, Spec, spec};

use crate::accounts::roles::Permission;
use crate::audit::{self, Actor};
use crate::config::Config;

/// The settings that decide where email goes: changing one of them clears the stored
/// SMTP password, so it is never sent to a server the owner did not type it for.
pub const MAIL_DESTINATION: &[&str] = &["smtp.host", "smtp.port", "smtp.security"];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("no setting named {0:?}")]
    Unknown(String),
    #[error("{key} is pinned: {reason}; change it there")]
    Pinned { key: String, reason: String },
    #[error("{}", not_allowed(key, *needs))]
    NotAllowed { key: String, needs: Permission },
    #[error(
        "changing the SMTP server, port or security clears the stored SMTP password, so it \
         never goes to a server it was not typed for: enter the password again (or clear the \
         user name)"
    )]
    PasswordNeeded,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

fn not_allowed(key: &str, needs: Permission) -> String {
    if needs == Permission::SettingsOwner {
        format!(
            "only an owner, signed in, may change {key}: it decides where account recovery \
             email goes (admins and API keys may not)"
        )
    } else {
        format!("changing {key} needs the permission {}", needs.scope())
    }
}

impl From<rusqlite::Error> for SettingsError {
    fn from(e: rusqlite::Error) -> Self {
        SettingsError::Db(crate::db::DbError::Sqlite(e))
    }
}

/// Which settings the file or the environment fix, and why (shown in the dashboard).
#[derive(Debug, Clone, Default)]
pub struct Pins(BTreeMap<&'static str, String>);

impl Pins {
    /// Settings given in `settings_file` (TOML) or by a `MARQUEE_<TABLE>__<KEY>` variable.
    pub fn detect(settings_file: &Path, env: impl IntoIterator<Item = (String, String)>) -> Pins {
        let mut pins = BTreeMap::new();
        let file: Option<toml::Table> = std::fs::read_to_string(settings_file)
            .ok()
            .and_then(|text| text.parse().ok());
        let env: BTreeMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect();
        for spec in SPECS {
            let var = format!(
                "MARQUEE_{}",
                spec.key.replace('.', "__").to_ascii_uppercase()
            );
            if env.contains_key(&var) {
                pins.insert(spec.key, format!("set by the environment variable {var}"));
                continue;
            }
            let (table, key) = spec.key.split_once('.').unwrap_or(("", spec.key));
            let in_file = file
                .as_ref()
                .and_then(|f| f.get(table))
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(key));
            if in_file {
                pins.insert(spec.key, format!("set in {}", settings_file.display()));
            }
        }
        Pins(pins)
    }

    pub fn reason(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// One setting as the dashboard and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingView {
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `text`, `secret`, `integer`, `bytes` (a number of bytes) or `choice`.
    pub kind: &'static str,
    /// For `choice`: the values allowed.
    pub choices: Vec<&'static str>,
    /// The running value; never given for a secret.
    #[schema(value_type = Object)]
    pub value: Option<Value>,
    /// For a secret: whether one is set.
    pub is_set: bool,
    /// Why the dashboard cannot change it (`null` when it can).
    pub pinned: Option<String>,
    /// The permission changing it takes besides `settings:write`: `settings:owner` (an
    /// owner, signed in), `billing:write`, or `settings:write` itself.
    pub needs: &'static str,
}

/// A change about to be stored: the key, and the value before and after.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: &'static str,
    pub from: Value,
    pub to: Value,
}

/// The running settings: the whole `Config` as it is now, swapped on every change.
pub struct Settings {
    pins: Pins,
    current: ArcSwap<Config>,
}

impl Settings {
    /// Settings that are only the given config (tests, and tools without a database).
    pub fn fixed(config: Config) -> Settings {
        Settings {
            pins: Pins::default(),
            current: ArcSwap::from_pointee(config),
        }
    }

    /// The running settings at start: `base` (defaults < file < environment) with the
    /// stored values of the settings not pinned laid over it. A stored value that no
    /// longer passes the checks is skipped with a warning. Settings not yet stored are
    /// stored now, so the first start seeds the table.
    pub fn load(
        conn: &Connection,
        base: Config,
        pins: Pins,
        now: i64,
    ) -> Result<Settings, SettingsError> {
        let stored = stored_values(conn)?;
        let mut config = base;
        for spec in SPECS.iter().filter(|s| pins.reason(s.key).is_none()) {
            let Some(value) = stored.get(spec.key) else {
                conn.execute(
                    "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, 'first start')",
                    params![spec.key, registry::get(&config, spec.key).to_string(), now],
                )?;
                continue;
            };
            let mut candidate = config.clone();
            let applied = registry::set(&mut candidate, spec, value).and_then(|()| {
                candidate
                    .validate()
                    .map_err(|e| SettingsError::Invalid(e.to_string()))
            });
            match applied {
                Ok(()) => config = candidate,
                Err(e) => tracing::warn!(setting = spec.key, error = %e, "stored setting skipped"),
            }
        }
        Ok(Settings {
            pins,
            current: ArcSwap::from_pointee(config),
        })
    }

    pub fn current(&self) -> Arc<Config> {
        self.current.load_full()
    }

    pub fn view(&self) -> Vec<SettingView> {
        let config = self.current();
        SPECS
            .iter()
            .map(|spec| {
                let value = registry::get(&config, spec.key);
                let secret = matches!(spec.kind, Kind::Secret);
                SettingView {
                    key: spec.key,
                    group: spec.group,
                    label: spec.label,
                    help: spec.help,
                    kind: spec.kind.name(),
                    choices: match spec.kind {
                        Kind::Choice(c) => c.to_vec(),
                        _ => Vec::new(),
                    },
                    is_set: value.as_str().is_some_and(|s| !s.is_empty()),
                    value: (!secret).then_some(value),
                    pinned: self.pins.reason(spec.key).map(str::to_owned),
                    needs: spec.needs.scope(),
                }
            })
            .collect()
    }

    /// Checks `changes` all together: unknown or pinned keys, values `granted` does not
    /// cover (`Spec::needs`) and invalid values are refused, and nothing is applied.
    /// Returns the config they make and what changed (a value equal to the running one is
    /// no change). A change of where email goes clears the stored SMTP password unless
    /// the same changes give one.
    pub fn prepare(
        &self,
        changes: &BTreeMap<String, Value>,
        granted: &[Permission],
    ) -> Result<(Config, Vec<Change>), SettingsError> {
        let current = self.current();
        let mut next = (*current).clone();
        let mut changed = Vec::new();
        for (key, value) in changes {
            let spec = spec(key).ok_or_else(|| SettingsError::Unknown(key.clone()))?;
            if let Some(reason) = self.pins.reason(spec.key) {
                return Err(SettingsError::Pinned {
                    key: key.clone(),
                    reason: reason.to_owned(),
                });
            }
            registry::set(&mut next, spec, value)?;
        }
        let gives_password = changes
            .get("smtp.password")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.trim().is_empty());
        let moves_mail = MAIL_DESTINATION
            .iter()
            .any(|key| registry::get(&current, key) != registry::get(&next, key));
        let mut cleared_password = false;
        if moves_mail && !gives_password && self.pins.reason("smtp.password").is_none() {
            cleared_password = !next.smtp.password.is_empty();
            next.smtp.password.clear();
        }
        for spec in SPECS {
            let (from, to) = (
                registry::get(&current, spec.key),
                registry::get(&next, spec.key),
            );
            if from == to {
                continue;
            }
            // What it takes is checked on what changes: a form that sends a value back
            // unchanged is no change.
            if !granted.contains(&spec.needs) {
                return Err(SettingsError::NotAllowed {
                    key: spec.key.to_owned(),
                    needs: spec.needs,
                });
            }
            changed.push(Change {
                key: spec.key,
                from,
                to,
            });
        }
        if cleared_password && !next.smtp.username.is_empty() {
            return Err(SettingsError::PasswordNeeded);
        }
        next.validate()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        Ok((next, changed))
    }

    /// Makes `config` the running settings (after `store` committed).
    pub fn install(&self, config: Config) {
        self.current.store(Arc::new(config));
    }
}

fn stored_values(conn: &Connection) -> Result<BTreeMap<String, Value>, SettingsError> {
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (key, text) = row?;
        if let Ok(value) = serde_json::from_str(&text) {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// Stores the changes and records each in the audit log (a secret as "(changed)").
pub fn store(
    conn: &Connection,
    actor: &Actor,
    changes: &[Change],
    now: i64,
) -> Result<(), SettingsError> {
    let label = match actor {
        Actor::User { label, .. } | Actor::ApiKey { label, .. } => label.as_str(),
        Actor::Shell => "shell",
    };
    for change in changes {
        conn.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by",
            params![change.key, change.to.to_string(), now, label],
        )?;
        let secret = spec(change.key).is_some_and(|s| matches!(s.kind, Kind::Secret));
        let detail = if secret {
            json!({"key": change.key, "from": "(hidden)", "to": "(changed)"})
        } else {
            json!({"key": change.key, "from": change.from, "to": change.to})
        };
        audit::record(
            conn,
            actor,
            "settings.update",
            &format!("setting:{}", change.key),
            detail,
            now,
        )?;
    }
    Ok(())
}
