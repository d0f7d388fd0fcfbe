//! The `[site]` table: what viewers see the service called, and the public address links
//! in emails start from.

use serde::{Deserialize, Serialize};

use super::ConfigError;

pub const MAX_SITE_NAME: usize = 80;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteConfig {
    /// Shown in every page's header and title.
    pub name: String,
    /// `https://tv.example.com`: where links in emails and the setup link point. Empty:
    /// the address the server listens on.
    pub base_url: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            name: "Marquee".into(),
            base_url: String::new(),
        }
    }
}

impl SiteConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_SITE_NAME
            || name.chars().any(char::is_control)
        {
            return Err(ConfigError::Invalid(format!(
                "site.name must be 1 to {MAX_SITE_NAME} characters without control characters"
            )));
        }
        if !self.base_url.is_empty() {
            let bad = || {
                ConfigError::Invalid(format!(
                    "site.base_url must be an http or https address without a path, like https://tv.example.com, not {:?}",
                    self.base_url
                ))
            };
            let url = url::Url::parse(&self.base_url).map_err(|_| bad())?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || url.path() != "/"
                || url.query().is_some()
                || url.fragment().is_some()
                || !url.username().is_empty()
                || self.base_url.ends_with('/')
            {
                return Err(bad());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked() {
        let ok = |name: &str, base_url: &str| {
            SiteConfig {
                name: name.into(),
                base_url: base_url.into(),
            }
            .validate()
            .is_ok()
        };
        assert!(ok("Marquee", ""));
        assert!(ok("Ciné Club", "https://tv.example.com"));
        assert!(ok("x", "http://10.0.0.2:8080"));
        assert!(!ok("", ""));
        assert!(!ok("a\nb", ""));
        assert!(!ok(&"x".repeat(81), ""));
        for bad in [
            "tv.example.com",
            "ftp://x",
            "https://x/path",
            "https://x/",
            "https://u@x",
            "https://x?q",
        ] {
            assert!(!ok("M", bad), "{bad}");
        }
    }
}
