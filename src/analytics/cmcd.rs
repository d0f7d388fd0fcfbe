//! Common Media Client Data (CTA-5004) as players send it with each media request, in the
//! `CMCD` query parameter (hls.js's `cmcd` option): a comma-separated list of `key=value`
//! pairs, strings quoted, `true` booleans as the bare key. The origin reads it after it has
//! answered, so quality figures exist when beacons are blocked. It never enters the token
//! check or a cache key: only the answer's path is looked at for those.

/// The keys Marquee keeps; everything else in the data is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmcd {
    /// `sid`: the playback session (our player sends its beacon session).
    pub session: String,
    /// `cid`: the content (our player sends the title's id); not trusted, so not recorded.
    pub content: Option<String>,
    /// `br`: the encoded bitrate of the object, kbit/s.
    pub bitrate_kbps: u32,
    /// `bs`: the buffer ran dry since the last request.
    pub stalled: bool,
    /// `su`: the player is starting up or seeking.
    pub starting: bool,
    /// `ot`: the object type.
    pub object: String,
}

/// The longest CMCD data read; a player's is about 150 bytes.
const MAX_LEN: usize = 1024;
const OBJECT_TYPES: [&str; 9] = ["m", "a", "v", "av", "i", "c", "tt", "k", "o"];

fn is_id(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Cmcd {
    /// Reads the CMCD data of a request's query string (`a=b&CMCD=...`); `None` when there
    /// is none, or it is not usable (no session, a value out of bounds).
    pub fn from_query(query: &str) -> Option<Cmcd> {
        if query.len() > 4 * MAX_LEN {
            return None;
        }
        let (_, value) =
            url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "CMCD")?;
        Cmcd::parse(&value)
    }

    pub fn parse(data: &str) -> Option<Cmcd> {
        if data.len() > MAX_LEN {
            return None;
        }
        let mut cmcd = Cmcd::default();
        let mut session = None;
        for pair in data.split(',') {
            let (key, value) = match pair.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (pair.trim(), None),
            };
            let text = || {
                value
                    .and_then(|v| v.strip_prefix('"'))
                    .and_then(|v| v.strip_suffix('"'))
            };
            match key {
                "sid" => session = Some(text().filter(|s| is_id(s, 64))?.to_string()),
                "cid" => cmcd.content = text().filter(|s| is_id(s, 40)).map(str::to_string),
                "br" => {
                    cmcd.bitrate_kbps = value?.parse().ok().filter(|b| *b <= 200_000)?;
                }
                "bs" => cmcd.stalled = value.is_none_or(|v| v == "true"),
                "su" => cmcd.starting = value.is_none_or(|v| v == "true"),
                "ot" => {
                    let ot = value?;
                    cmcd.object = OBJECT_TYPES.iter().find(|t| **t == ot)?.to_string();
                }
                _ => {}
            }
        }
        cmcd.session = session?;
        Some(cmcd)
    }
}

/// CMCD events taken per client address: a burst, then a few a second (a player fetches
/// a segment every few seconds per rendition it plays). Bounded: when full it starts
/// afresh.
#[derive(Debug, Default)]
pub struct CmcdLimit {
    clients: std::collections::HashMap<std::net::IpAddr, (f64, i64)>,
}

const CMCD_BURST: f64 = 30.0;
const CMCD_PER_MS: f64 = 2.0 / 1000.0;
const CMCD_CLIENTS: usize = 100_000;

impl CmcdLimit {
    pub fn allow(&mut self, client: Option<std::net::IpAddr>, now_ms: i64) -> bool {
        let Some(client) = client else {
            return true;
        };
        if self.clients.len() >= CMCD_CLIENTS && !self.clients.contains_key(&client) {
            self.clients.clear();
        }
        let (tokens, last) = self.clients.entry(client).or_insert((CMCD_BURST, now_ms));
        *tokens = (*tokens + (now_ms - *last).max(0) as f64 * CMCD_PER_MS).min(CMCD_BURST);
        *last = now_ms;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_players_data_is_read_and_nonsense_is_not() {
        let query = "CMCD=bl%3D21300%2Cbr%3D1200%2Cbs%2Ccid%3D%22t42%22%2Cd%3D4000%2Cot%3Dv%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22%2Csu%2Ctb%3D3000";
        assert_eq!(
            Cmcd::from_query(query),
            Some(Cmcd {
                session: "6e2fb550-c457-11e9-bb97-0800200c9a66".into(),
                content: Some("t42".into()),
                bitrate_kbps: 1200,
                stalled: true,
                starting: true,
                object: "v".into(),
            })
        );
        assert_eq!(Cmcd::from_query("token=abc"), None, "no CMCD");
        for bad in [
            "br=1200,ot=v",                  // no session
            r#"sid="a b c",br=1"#,           // not an id
            r#"sid="abcdefgh",br=99999999"#, // bitrate out of bounds
            r#"sid="abcdefgh",br=fast"#,     // not a number
            r#"sid="abcdefgh",ot=video"#,    // not an object type
        ] {
            assert_eq!(Cmcd::parse(bad), None, "{bad}");
        }
        let long = format!(r#"sid="abcdefgh",x="{}""#, "a".repeat(MAX_LEN));
        assert_eq!(Cmcd::parse(&long), None);
        // A made-up content id is dropped, the rest kept.
        let odd = Cmcd::parse(r#"sid="abcdefgh",cid="../x",br=800"#).unwrap();
        assert_eq!((odd.content, odd.bitrate_kbps), (None, 800));
    }

    #[test]
    fn one_address_is_limited_to_a_players_pace() {
        let mut limit = CmcdLimit::default();
        let ip = Some("192.0.2.1".parse().unwrap());
        let taken = (0..100).filter(|_| limit.allow(ip, 0)).count();
        assert_eq!(taken, CMCD_BURST as usize);
        assert!(limit.allow(ip, 1_000), "two a second come back");
        assert!(
            limit.allow(Some("192.0.2.2".parse().unwrap()), 0),
            "another address"
        );
    }
}
