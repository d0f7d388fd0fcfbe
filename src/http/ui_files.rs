//! The web UI's files: compiled into the binary, or read from a folder on disk
//! (`--ui-dir web-ui`) so template and CSS edits show without a rebuild.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use minijinja::Environment;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web-ui/"]
struct Embedded;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("template error: {0}")]
    Template(#[from] minijinja::Error),
}

pub struct UiFiles {
    dir: Option<PathBuf>,
    versions: Mutex<HashMap<String, String>>,
    embedded_env: Environment<'static>,
}

impl UiFiles {
    pub fn new(dir: Option<PathBuf>) -> Self {
        UiFiles {
            embedded_env: environment(None),
            dir,
            versions: Mutex::new(HashMap::new()),
        }
    }

    pub fn file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        match &self.dir {
            Some(dir) => std::fs::read(dir.join(path)).ok().map(Cow::Owned),
            None => Embedded::get(path).map(|f| f.data),
        }
    }

    /// `/static/<name>?v=<content hash>`: the URL changes when the file does, so it can be
    /// cached for good.
    pub fn static_url(&self, name: &str) -> String {
        let key = format!("static/{name}");
        if self.dir.is_none()
            && let Some(v) = self
                .versions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
        {
            return format!("/static/{name}?v={v}");
        }
        let version = self
            .file(&key)
            .map(|bytes| blake3::hash(&bytes).to_hex()[..10].to_string())
            .unwrap_or_default();
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, version.clone());
        format!("/static/{name}?v={version}")
    }

    pub fn render(&self, template: &str, ctx: minijinja::Value) -> Result<String, UiError> {
        if let Some(dir) = &self.dir {
            // Development: a fresh environment per page, so edits show at once.
            let env = environment(Some(dir.clone()));
            return Ok(env.get_template(template)?.render(ctx)?);
        }
        Ok(self.embedded_env.get_template(template)?.render(ctx)?)
    }
}

fn environment(dir: Option<PathBuf>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(move |name| {
        let path = format!("templates/{name}");
        let bytes = match &dir {
            Some(d) => std::fs::read(d.join(&path)).ok().map(Cow::Owned),
            None => Embedded::get(&path).map(|f| f.data),
        };
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    });
    env.add_filter("truncate", truncate);
    env.add_filter("role", role_name);
    env.add_filter("size", crate::size::format);
    env
}

/// `{{ role | role }}`: a role as people call it ("Viewer"), from its stored name.
fn role_name(role: String) -> String {
    role.parse::<crate::accounts::roles::Role>()
        .map_or(role, |r| super::words::role_name(r).to_owned())
}

/// `{{ text | truncate(200) }}`: at most that many characters, cut at a word with "…".
fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(at) if at > max / 2 => &cut[..at],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
