//! When to order a certificate, and how long to wait after a failed attempt. Pure: the
//! time comes in as an argument (the service reads it from a [`Clock`]).

use std::time::{Duration, SystemTime};

use super::store::StoredCert;

/// Where the service reads the time; tests move it forward by months.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// No certificate yet (or the stored one is unreadable).
    Missing,
    /// The certificate does not cover every configured domain.
    DomainsChanged { missing: Vec<String> },
    /// Fewer than `renew_before` days are left (or it has expired).
    Expiring { not_after: SystemTime },
    /// Nothing to do until `renew_at`.
    NotDue { renew_at: SystemTime },
}

impl std::fmt::Display for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let date = |at: &SystemTime| httpdate::fmt_http_date(*at);
        match self {
            Renewal::Missing => f.write_str("no certificate yet"),
            Renewal::DomainsChanged { missing } => {
                write!(f, "the certificate does not cover {}", missing.join(", "))
            }
            Renewal::Expiring { not_after } => {
                write!(f, "the certificate expires {}", date(not_after))
            }
            Renewal::NotDue { renew_at } => write!(f, "renewal is due {}", date(renew_at)),
        }
    }
}

impl Renewal {
    pub fn is_due(&self) -> bool {
        !matches!(self, Renewal::NotDue { .. })
    }
}

pub fn decide(
    current: Option<&StoredCert>,
    domains: &[String],
    renew_before_days: u32,
    now: SystemTime,
) -> Renewal {
    let Some(cert) = current else {
        return Renewal::Missing;
    };
    let missing: Vec<String> = domains
        .iter()
        .filter(|d| !cert.domains.contains(d))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Renewal::DomainsChanged { missing };
    }
    let renew_at = renew_at(cert.not_after, renew_before_days);
    if now >= renew_at {
        Renewal::Expiring {
            not_after: cert.not_after,
        }
    } else {
        Renewal::NotDue { renew_at }
    }
}

pub fn renew_at(not_after: SystemTime, renew_before_days: u32) -> SystemTime {
    not_after
        .checked_sub(DAY * renew_before_days)
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Wait after the `failures`-th failed attempt in a row: 5 min, doubling, at most 6 h.
/// Let's Encrypt allows 5 failed validations per domain per hour; this stays well inside.
pub fn retry_delay(failures: u32) -> Duration {
    const FIRST: Duration = Duration::from_secs(5 * 60);
    const MOST: Duration = Duration::from_secs(6 * 3600);
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST * 2u32.pow(doublings)).min(MOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(domains: &[&str], not_after: SystemTime) -> StoredCert {
        StoredCert {
            chain_pem: String::new(),
            key_pem: String::new(),
            not_before: not_after - DAY * 90,
            not_after,
            domains: domains.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn renews_only_inside_the_last_thirty_days() {
        let issued = SystemTime::UNIX_EPOCH + DAY * 20_000;
        let not_after = issued + DAY * 90;
        let current = cert(&["tv.example.com"], not_after);
        let domains = vec!["tv.example.com".to_string()];
        let at = |days: u32| decide(Some(&current), &domains, 30, issued + DAY * days);

        assert_eq!(
            at(0),
            Renewal::NotDue {
                renew_at: issued + DAY * 60
            }
        );
        assert!(!at(59).is_due());
        assert_eq!(at(60), Renewal::Expiring { not_after });
        assert!(at(61).is_due());
        assert!(at(200).is_due(), "an expired certificate is renewed");
    }

    #[test]
    fn a_missing_certificate_or_a_new_domain_is_due_at_once() {
        let now = SystemTime::UNIX_EPOCH + DAY * 20_000;
        let domains = vec!["tv.example.com".to_string(), "www.example.com".to_string()];
        assert_eq!(decide(None, &domains, 30, now), Renewal::Missing);
        let current = cert(&["tv.example.com"], now + DAY * 80);
        assert_eq!(
            decide(Some(&current), &domains, 30, now),
            Renewal::DomainsChanged {
                missing: vec!["www.example.com".into()]
            }
        );
        assert_eq!(
            decide(Some(&current), &domains, 30, now).to_string(),
            "the certificate does not cover www.example.com"
        );
        // Dropping a domain is no reason to order: the certificate still covers the rest.
        assert!(!decide(Some(&current), &domains[..1], 30, now).is_due());
    }

    #[test]
    fn failed_attempts_back_off_to_a_ceiling() {
        let minutes = |n| retry_delay(n).as_secs() / 60;
        assert_eq!(
            [1, 2, 3, 4].map(minutes),
            [5, 10, 20, 40],
            "doubling from five minutes"
        );
        assert_eq!(minutes(8), 360);
        assert_eq!(minutes(u32::MAX), 360);
    }
}
