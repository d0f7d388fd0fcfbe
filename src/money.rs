//! Money as people read it. Amounts are kept as Stripe counts them, in the currency's minor
//! unit; ISO 4217 says how many digits that unit has (`iso_currency`: JPY none, EUR two,
//! BHD three), and CLDR says how the viewer's locale writes it — symbol, its side, the
//! separators, the digits (ICU4X's currency formatter, data compiled in). Nothing here
//! renders "299 eur".

use fixed_decimal::Decimal;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use writeable::Writeable;

/// The locale prices are written in. Unknown or absent: English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(icu_locale_core::Locale);

impl Default for Locale {
    fn default() -> Self {
        Locale(icu_locale_core::locale!("en"))
    }
}

impl Locale {
    /// A BCP 47 tag (`de-DE`, `fr`); None when it does not parse.
    pub fn parse(tag: &str) -> Option<Locale> {
        tag.parse::<icu_locale_core::Locale>().ok().map(Locale)
    }

    /// The browser's first language that parses, from an `Accept-Language` header value,
    /// by its quality weights. A header that names none gives English.
    pub fn from_accept_language(header: Option<&str>) -> Locale {
        header
            .map(accept_language::parse)
            .unwrap_or_default()
            .iter()
            .find_map(|tag| Locale::parse(tag))
            .unwrap_or_default()
    }

    /// The tag as written back (`de-DE`), e.g. for a page's `lang` or a cache key.
    pub fn tag(&self) -> String {
        self.0.to_string()
    }
}

/// How many digits the currency's minor unit has (ISO 4217). Stripe's lower-case codes are
/// accepted; a code ISO does not know is taken to have two, as nearly every currency does.
pub fn minor_digits(currency: &str) -> u32 {
    iso_currency::Currency::from_code(&currency.to_ascii_uppercase())
        .and_then(|c| c.exponent())
        .map_or(2, u32::from)
}

/// `amount` minor units of `currency` written for `locale`: 299 eur is "€2.99" in English
/// and "2,99 €" in German; 500 jpy is "¥500"; 1250 bhd is "BHD 1.250".
pub fn format(amount: i64, currency: &str, locale: &Locale) -> String {
    let digits = minor_digits(currency);
    let mut value = Decimal::from(amount);
    value.multiply_pow10(-(digits as i16));
    // Keep the minor unit's digits even when they are zeros: "€5.00", not "€5".
    value.pad_end(-(digits as i16));
    let code = currency.to_ascii_lowercase();
    let formatted = CurrencyType::try_from_str(&code).ok().and_then(|currency| {
        CurrencyFormatter::try_new_symbol_narrow((&locale.0).into(), currency, Default::default())
            .ok()
            .map(|f| {
                f.format_fixed_decimal(&value)
                    .write_to_string()
                    .into_owned()
            })
    });
    // A code CLDR cannot format (not three letters): the number and the code, still readable.
    formatted.unwrap_or_else(|| format!("{value} {}", currency.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(tag: &str) -> Locale {
        Locale::parse(tag).unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_digits("eur"), 2);
        assert_eq!(minor_digits("JPY"), 0);
        assert_eq!(minor_digits("bhd"), 3);
        assert_eq!(minor_digits("usd"), 2);
        assert_eq!(minor_digits("zzz"), 2);
    }

    #[test]
    fn each_currency_in_two_locales() {
        let cases = [
            (299, "eur", "en", "€2.99"),
            (299, "eur", "de-DE", "2,99\u{a0}€"),
            (500, "jpy", "en", "¥500"),
            (500, "jpy", "de-DE", "500\u{a0}¥"),
            (1250, "bhd", "en", "BHD\u{a0}1.250"),
            (1250, "bhd", "de-DE", "1,250\u{a0}BHD"),
            (123456, "usd", "en-US", "$1,234.56"),
            (123456, "usd", "de-DE", "1.234,56\u{a0}$"),
            (500, "eur", "en", "€5.00"),
        ];
        for (amount, currency, locale, want) in cases {
            assert_eq!(
                format(amount, currency, &loc(locale)),
                want,
                "{amount} {currency} in {locale}"
            );
        }
    }

    #[test]
    fn the_browsers_first_language_that_parses_wins() {
        let l = Locale::from_accept_language(Some("de-DE;q=0.9, fr;q=1.0, en;q=0.1"));
        assert_eq!(l.tag(), "fr");
        assert_eq!(Locale::from_accept_language(Some("")).tag(), "en");
        assert_eq!(Locale::from_accept_language(None).tag(), "en");
        assert_eq!(Locale::from_accept_language(Some("*")).tag(), "en");
    }

    #[test]
    fn an_unknown_code_is_still_readable() {
        assert_eq!(format(299, "x1", &Locale::default()), "2.99 X1");
    }
}
