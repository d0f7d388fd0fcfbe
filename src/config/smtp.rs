//! The `[smtp]` table: where outgoing email (sign-in links) goes. Off while `host` is
//! empty; then links are not sent and the server log says so.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain TCP upgraded with STARTTLS, which must succeed (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption (port 25 by default): only for a relay on the same machine.
    None,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub host: String,
    /// Unset: the usual port for `security`.
    pub port: Option<u16>,
    pub username: String,
    pub password: String,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    pub security: SmtpSecurity,
}

// By hand, so no debug print shows the password.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "[redacted]"
                },
            )
            .field("from", &self.from)
            .field("security", &self.security)
            .finish()
    }
}

impl SmtpConfig {
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("smtp.{m}")));
        if self
            .host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid("host must be a host name or address, without spaces");
        }
        if self.port == Some(0) {
            return invalid("port must be between 1 and 65535");
        }
        if self.security == SmtpSecurity::None && !is_loopback_host(&self.host) {
            return invalid(
                "security = \"none\" sends mail and the SMTP password in clear: it is only \
                 for a relay on this machine (localhost, 127.0.0.0/8 or ::1); use starttls or tls \
                 for any other host",
            );
        }
        if self.username.is_empty() != self.password.is_empty() {
            return invalid("username and smtp.password go together: give both or neither");
        }
        // lettre's parser refuses CR/LF and anything else that is not one mailbox, so
        // the sender can never smuggle in a header.
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid(
                "from must be one email address, optionally with a name: \"Name <a@b.example>\"",
            );
        }
        Ok(())
    }
}

/// `localhost`, an address in 127.0.0.0/8, or `::1` (bracketed or not, IPv4-mapped too).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> SmtpConfig {
        SmtpConfig {
            host: "mail.example.com".into(),
            from: "Marquee <tv@example.com>".into(),
            ..SmtpConfig::default()
        }
    }

    #[test]
    fn off_while_the_host_is_empty_and_checked_when_on() {
        assert!(SmtpConfig::default().validate().is_ok());
        assert!(on().validate().is_ok());
        assert_eq!(on().port(), 587);
        for bad in [
            SmtpConfig {
                from: "".into(),
                ..on()
            },
            SmtpConfig {
                from: "Evil\r\nBcc: x@example.com <tv@example.com>".into(),
                ..on()
            },
            SmtpConfig {
                from: "tv@example.com\r\nBcc: x@example.com".into(),
                ..on()
            },
            SmtpConfig {
                host: "mail example".into(),
                ..on()
            },
            SmtpConfig {
                port: Some(0),
                ..on()
            },
            SmtpConfig {
                username: "u".into(),
                ..on()
            },
            SmtpConfig {
                security: SmtpSecurity::None,
                ..on()
            },
            SmtpConfig {
                host: "10.0.0.1".into(),
                security: SmtpSecurity::None,
                ..on()
            },
            SmtpConfig {
                host: "localhost.example.com".into(),
                security: SmtpSecurity::None,
                ..on()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?} passed");
        }
        let secret = SmtpConfig {
            username: "u".into(),
            password: "hunter2-secret".into(),
            ..on()
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
        for relay in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            let plain = SmtpConfig {
                host: relay.into(),
                security: SmtpSecurity::None,
                ..on()
            };
            assert!(plain.validate().is_ok(), "{relay} refused");
        }
    }
}
