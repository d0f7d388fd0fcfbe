//! Email out over SMTP (`[smtp]`), with lettre. Sending never holds up a request:
//! `Mailer::send_later` hands the letter to a task and logs what came of it. With SMTP
//! off, sending answers `NotConfigured`, so a caller can show the link to an admin
//! instead, and the log says nothing was sent.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email is not configured (set [smtp] host and from)")]
    NotConfigured,
    #[error("not an email address: {0}")]
    BadAddress(String),
    #[error("cannot build the message: {0}")]
    Message(#[from] lettre::error::Error),
    #[error("cannot start the SMTP client: {0}")]
    Io(String),
    #[error("the SMTP server did not answer a NOOP")]
    NoAnswer,
    #[error("the SMTP server refused or failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// One plain-text email.
#[derive(Debug, Clone)]
pub struct Letter {
    pub to: String,
    pub subject: String,
    pub body: String,
}

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

pub struct Mailer {
    /// Swapped when the SMTP settings change in the dashboard (`reconfigure`).
    smtp: ArcSwapOption<Smtp>,
    /// `site.base_url` when set: links point there rather than at `link_base`.
    public_base: ArcSwapOption<String>,
    /// Where links in emails point (`scheme://host:port`), set once the server knows
    /// its address. Never taken from a request's Host header, which the client writes:
    /// a forged one would send the victim's link to the forger's site.
    link_base: OnceLock<String>,
}

impl Mailer {
    /// SMTP off: every send answers `NotConfigured`.
    pub fn off() -> Mailer {
        Mailer {
            smtp: ArcSwapOption::empty(),
            public_base: ArcSwapOption::empty(),
            link_base: OnceLock::new(),
        }
    }

    /// From validated settings (`SmtpConfig::validate`); off while the host is empty.
    pub fn from_config(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let mailer = Mailer::off();
        mailer.reconfigure(config)?;
        Ok(mailer)
    }

    /// Sends through the server `config` names from now on (off while its host is empty).
    pub fn reconfigure(&self, config: &SmtpConfig) -> Result<(), MailError> {
        self.smtp.store(Self::smtp_of(config)?.map(Arc::new));
        Ok(())
    }

    /// Links point at `base` (`https://tv.example.com`) from now on; `None`: at the
    /// address the server announced.
    pub fn set_public_base(&self, base: Option<String>) {
        self.public_base.store(base.map(Arc::new));
    }

    fn smtp_of(config: &SmtpConfig) -> Result<Option<Smtp>, MailError> {
        if !config.enabled() {
            return Ok(None);
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::BadAddress(config.from.clone()))?;
        let host = config.host.as_str();
        let builder = match config.security {
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder.port(config.port()).timeout(Some(SMTP_TIMEOUT));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(Some(Smtp {
            transport: builder.build(),
            from,
        }))
    }

    pub fn is_on(&self) -> bool {
        self.smtp.load().is_some()
    }

    /// Sets where links point; the first call wins.
    pub fn set_link_base(&self, base: String) {
        let _ = self.link_base.set(base);
    }

    /// The absolute link to `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        if let Some(base) = self.public_base.load_full() {
            return format!("{base}{path}");
        }
        let base = self.link_base.get().map_or("", String::as_str);
        format!("{base}{path}")
    }

    /// Connects, says hello, upgrades to TLS and signs in as configured, then quits: what
    /// `marquee doctor` reports.
    pub async fn check_connection(&self) -> Result<(), MailError> {
        let smtp = self.smtp.load_full().ok_or(MailError::NotConfigured)?;
        if smtp.transport.test_connection().await? {
            Ok(())
        } else {
            Err(MailError::NoAnswer)
        }
    }

    pub async fn send(&self, letter: &Letter) -> Result<(), MailError> {
        let smtp = self.smtp.load_full().ok_or(MailError::NotConfigured)?;
        let message = message(&smtp.from, letter)?;
        smtp.transport.send(message).await?;
        Ok(())
    }

    /// Sends `letter` with an HTML alternative (`html`) beside its plain text.
    pub async fn send_with_html(&self, letter: &Letter, html: &str) -> Result<(), MailError> {
        let smtp = self.smtp.load_full().ok_or(MailError::NotConfigured)?;
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|_| MailError::BadAddress(letter.to.clone()))?;
        let message = Message::builder()
            .from(smtp.from.clone())
            .to(to)
            .subject(letter.subject.as_str())
            .multipart(lettre::message::MultiPart::alternative_plain_html(
                letter.body.clone(),
                html.to_string(),
            ))?;
        smtp.transport.send(message).await?;
        Ok(())
    }

    /// Sends in a task of its own and logs the outcome (`what` names the email, never
    /// the link in it).
    pub fn send_later(self: &Arc<Self>, letter: Letter, what: &'static str) {
        if !self.is_on() {
            tracing::warn!(what, "email not sent: SMTP is not configured ([smtp] host)");
            return;
        }
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.send(&letter).await {
                Ok(()) => tracing::info!(what, "email sent"),
                Err(e) => tracing::warn!(what, error = %e, "email not sent"),
            }
        });
    }
}

/// The message as it goes out. Addresses go through lettre's parser, which refuses
/// CR/LF, and header values through its encoder, so no input can add a header.
fn message(from: &Mailbox, letter: &Letter) -> Result<Message, MailError> {
    let to: Mailbox = letter
        .to
        .parse()
        .map_err(|_| MailError::BadAddress(letter.to.clone()))?;
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(letter.subject.as_str())
        .header(ContentType::TEXT_PLAIN)
        .body(letter.body.clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(to: &str, subject: &str) -> Letter {
        Letter {
            to: to.into(),
            subject: subject.into(),
            body: "Open http://127.0.0.1/login/link/x\n".into(),
        }
    }

    #[test]
    fn no_input_can_add_a_header() {
        let from: Mailbox = "Marquee <tv@example.com>".parse().unwrap();
        for to in [
            "vi@example.com\r\nBcc: evil@example.com",
            "Vi\r\nBcc: evil@example.com <vi@example.com>",
            "vi@example.com\nBcc: evil@example.com",
        ] {
            assert!(
                matches!(
                    message(&from, &letter(to, "Hi")),
                    Err(MailError::BadAddress(_))
                ),
                "{to:?} was accepted"
            );
        }
        let sent = message(
            &from,
            &letter("vi@example.com", "Hi\r\nBcc: evil@example.com"),
        )
        .unwrap()
        .formatted();
        let text = String::from_utf8_lossy(&sent);
        assert!(
            !text.lines().any(|l| l.starts_with("Bcc:")),
            "a header was injected: {text}"
        );
        assert!(text.contains("To: vi@example.com"), "{text}");
    }

    #[tokio::test]
    async fn off_says_not_configured() {
        let mailer = Mailer::off();
        assert!(matches!(
            mailer.send(&letter("vi@example.com", "Hi")).await,
            Err(MailError::NotConfigured)
        ));
    }
}
