//! Email addresses as accounts know them. The domain is case-insensitive (RFC 5321) and is
//! lowercased; the local part is kept as typed (it is what mail goes to) but compared
//! case-insensitively, because people do not expect `Ann@x` and `ann@x` to be two accounts.

use super::AccountsError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// As stored and shown: trimmed, domain lowercased.
    pub address: String,
    /// The whole address lowercased: what uniqueness and sign-in compare.
    pub key: String,
}

const MAX_LEN: usize = 254;

impl Email {
    pub fn parse(input: &str) -> Result<Email, AccountsError> {
        let invalid =
            |why: &str| AccountsError::Invalid(format!("not a usable email address: {why}"));
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if trimmed.len() > MAX_LEN {
            return Err(invalid("it is longer than 254 characters"));
        }
        if trimmed.chars().any(|c| {
            c.is_whitespace()
                || super::users::is_hidden_char(c)
                || matches!(c, '<' | '>' | '"' | ',')
        }) {
            return Err(invalid(
                "it contains spaces, invisible characters, quotes, angle brackets or commas",
            ));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("it has no @"));
        };
        if local.is_empty() || domain.is_empty() || local.contains('@') {
            return Err(invalid(
                "it needs one @ with a name before it and a domain after it",
            ));
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(invalid("the domain is malformed"));
        }
        let address = format!("{local}@{}", domain.to_lowercase());
        let key = address.to_lowercase();
        Ok(Email { address, key })
    }

    /// The comparison key for any input, valid or not: sign-in throttles by it whether or
    /// not the address belongs to an account.
    pub fn key_of(input: &str) -> String {
        input.trim().to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_domain_and_keeps_local_case() {
        let e = Email::parse("  Ann.Lee@Example.COM \n").unwrap();
        assert_eq!(e.address, "Ann.Lee@example.com");
        assert_eq!(e.key, "ann.lee@example.com");
        assert_eq!(Email::key_of(" Ann.Lee@Example.COM"), e.key);
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "   ",
            "ann",
            "@example.com",
            "ann@",
            "a b@example.com",
            "ann@exa mple.com",
            "<ann@example.com>",
            "ann@@example.com",
            "ann@.example.com",
            "ann@example..com",
            "ann@example.com\0",
            // Lookalikes of ann@example.com: a zero-width space, a direction override.
            "ann\u{200B}@example.com",
            "\u{202E}ann@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
