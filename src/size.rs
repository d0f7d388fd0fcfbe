//! Byte counts as people read them (`20 GB`, `1.4 MB`) and as they type them back: the one
//! rule the dashboard's pages and settings use. Decimal units (1 GB = 1,000,000,000 bytes),
//! as disks and file managers show them; `admin-media.js` mirrors `format` for an upload's
//! progress.

const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];

/// `bytes` in the largest unit it reaches, to a tenth, rounded to nearest; a whole number
/// shows without its `.0`: `20 GB`, `1.4 MB`, `512 B`.
pub fn format(bytes: u64) -> String {
    let mut unit = 0;
    while unit + 1 < UNITS.len() && bytes >= 1000u64.pow(unit as u32 + 1) {
        unit += 1;
    }
    let scale = |unit: usize| u128::from(1000u64.pow(unit as u32));
    let mut tenths = (u128::from(bytes) * 10 + scale(unit) / 2) / scale(unit);
    // 999,960 bytes rounds to 1000.0 KB: say 1 MB.
    if tenths >= 10_000 && unit + 1 < UNITS.len() {
        unit += 1;
        tenths = (u128::from(bytes) * 10 + scale(unit) / 2) / scale(unit);
    }
    if tenths % 10 == 0 {
        format!("{} {}", tenths / 10, UNITS[unit])
    } else {
        format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
    }
}

/// A size typed by a person: a number with an optional unit, `20 GB`, `1.5gb`, `500 MB`,
/// `2000000` (bytes). None for anything else, a fraction of a byte, or past `u64`.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let power = if unit.is_empty() {
        0
    } else {
        UNITS.iter().position(|u| *u == unit)?
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.len() > 12 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let scale = 10u128.pow(fraction.len() as u32);
    let bytes = digits.checked_mul(u128::from(1000u64.pow(power as u32)))?;
    if bytes % scale != 0 {
        return None;
    }
    u64::try_from(bytes / scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_the_largest_unit_to_a_tenth() {
        assert_eq!(format(0), "0 B");
        assert_eq!(format(999), "999 B");
        assert_eq!(format(1_000), "1 KB");
        assert_eq!(format(1_450_000), "1.5 MB");
        assert_eq!(format(20_000_000_000), "20 GB");
        assert_eq!(format(21_474_836_480), "21.5 GB");
        assert_eq!(format(999_960), "1 MB");
        assert_eq!(format(u64::MAX), "18446744.1 TB");
    }

    #[test]
    fn typed_sizes_read_back_exactly() {
        assert_eq!(parse("20 GB"), Some(20_000_000_000));
        assert_eq!(parse(" 1.5gb "), Some(1_500_000_000));
        assert_eq!(parse("500 MB"), Some(500_000_000));
        assert_eq!(parse("2000000"), Some(2_000_000));
        assert_eq!(parse("12 b"), Some(12));
        for n in [0, 1_000, 1_500_000, 20_000_000_000, 21_500_000_000] {
            assert_eq!(parse(&format(n)), Some(n), "{n}");
        }
        for bad in [
            "", "GB", "1.5 B", "20 GiB", "-1 GB", "1e9", "20 GB x", "1..2 MB",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("99999999 TB"), None);
    }
}
