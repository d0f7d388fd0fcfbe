//! Access codes as people type them: 12 characters from an alphabet without look-alikes
//! (no 0/O, 1/I), shown in groups of four (`7KQM-3XHD-P9TW`, 60 random bits). Whatever a
//! viewer types (lower case, spaces, missing or extra dashes) is read back to that form, or
//! refused before any look-up.

/// 32 characters: a code's characters carry 5 bits each.
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 12;
const GROUP: usize = 4;

/// `count` new codes, all different. `count` is at most what a batch allows (the caller
/// checks), so the retry on a repeat ends at once in practice.
pub fn generate(count: usize) -> Vec<String> {
    let mut codes = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let raw: String = (0..LEN)
            .map(|_| ALPHABET[(rand::random::<u8>() & 31) as usize] as char)
            .collect();
        let code = grouped(&raw);
        if codes.insert(code.clone()) {
            out.push(code);
        }
    }
    out
}

fn grouped(raw: &str) -> String {
    raw.as_bytes()
        .chunks(GROUP)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The code someone typed, in its canonical form, or None when it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let raw: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = raw.len() == LEN && raw.bytes().all(|b| ALPHABET.contains(&b));
    valid.then(|| grouped(&raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_readable_and_read_back_however_they_are_typed() {
        let codes = generate(2000);
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        assert_eq!(distinct.len(), 2000);
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
            assert_eq!(normalize(code).as_deref(), Some(code.as_str()));
            let sloppy = format!(" {} ", code.replace('-', "").to_lowercase());
            assert_eq!(normalize(&sloppy).as_deref(), Some(code.as_str()));
        }
        // Every character of the alphabet turns up: the 5 bits are all used.
        let seen: std::collections::BTreeSet<u8> = codes
            .iter()
            .flat_map(|c| c.bytes())
            .filter(|b| *b != b'-')
            .collect();
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn what_cannot_be_a_code_is_refused_before_any_look_up() {
        for typed in [
            "",
            "7KQM-3XHD-P9T",
            "7KQM-3XHD-P9TWX",
            "7KQM-3XHD-P9T0",
            "' OR 1=1 --",
            "7KQM3XHDP9TÜ",
        ] {
            assert_eq!(normalize(typed), None, "{typed}");
        }
        assert_eq!(
            normalize("7kqm 3xhd p9tw").as_deref(),
            Some("7KQM-3XHD-P9TW")
        );
    }
}
