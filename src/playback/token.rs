//! Playback tokens: what the origin checks on every playlist, segment, subtitle and key
//! request of premium media, with no database query. A token names the viewer (a tag
//! derived from their session, which the origin derives again from the request's cookie),
//! when it expires and the key it was made with; an HMAC-SHA256 over those and the asset id
//! binds it to one asset. Keys carry ids, so a new key can take over minting while tokens
//! made with the old one keep playing until they expire.
//!
//! The token travels as the first path segment (`/p/<token>/<asset>/<file>`), so it is
//! URL-safe base64 without padding: key id (1 byte), expiry (8, big-endian Unix seconds),
//! viewer tag (16) and the MAC (32).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// What the MAC covers besides the token's own fields, so a token of this scheme cannot be
/// mistaken for any other HMAC Marquee makes with the same key.
const CONTEXT: &[u8] = b"marquee playback v1";
const TAG_LEN: usize = 16;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + 8 + TAG_LEN + MAC_LEN;
/// Its length in unpadded base64.
const ENCODED_LEN: usize = (TOKEN_LEN * 4).div_ceil(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a playback token")]
    Malformed,
    #[error("made with a key this server no longer has")]
    UnknownKey,
    #[error("expired")]
    Expired,
    #[error("made for another viewer")]
    OtherViewer,
    #[error("not valid for this media")]
    BadSignature,
}

/// Who a token is for: derived from the viewer's session secret, so the origin can tell
/// from the request's own cookie, and so the token reveals nothing of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewerTag([u8; TAG_LEN]);

impl ViewerTag {
    pub fn of_session(session_secret: &str) -> ViewerTag {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[
                b"marquee viewer tag\0".as_slice(),
                session_secret.as_bytes(),
            ]
            .concat(),
        );
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&digest.as_ref()[..TAG_LEN]);
        ViewerTag(tag)
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub key_id: u8,
    pub expires_at: i64,
    pub viewer: ViewerTag,
}

/// The signing keys: the first mints, every one verifies.
pub struct KeyRing {
    keys: Vec<(u8, hmac::Key)>,
}

impl KeyRing {
    /// `keys`: (id, 32 secret bytes), the one to mint with first. Ids must differ.
    pub fn new(keys: &[(u8, [u8; 32])]) -> Option<KeyRing> {
        let mut ids: Vec<u8> = keys.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        if keys.is_empty() || ids.len() != keys.len() {
            return None;
        }
        Some(KeyRing {
            keys: keys
                .iter()
                .map(|(id, secret)| (*id, hmac::Key::new(hmac::HMAC_SHA256, secret)))
                .collect(),
        })
    }

    fn signed_bytes(asset_id: &str, head: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(CONTEXT.len() + head.len() + asset_id.len());
        bytes.extend_from_slice(CONTEXT);
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(asset_id.as_bytes());
        bytes
    }

    /// A token for `viewer` to play `asset_id` until `expires_at`.
    pub fn mint(&self, asset_id: &str, viewer: ViewerTag, expires_at: i64) -> String {
        let (key_id, key) = &self.keys[0];
        let mut token = Vec::with_capacity(TOKEN_LEN);
        token.push(*key_id);
        token.extend_from_slice(&expires_at.to_be_bytes());
        token.extend_from_slice(&viewer.0);
        let mac = hmac::sign(key, &Self::signed_bytes(asset_id, &token));
        token.extend_from_slice(mac.as_ref());
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Checks a token from a request for `asset_id` by `viewer` (None: the request carries
    /// no session) at `now`.
    pub fn verify(
        &self,
        token: &str,
        asset_id: &str,
        viewer: Option<ViewerTag>,
        now: i64,
    ) -> Result<Claims, TokenError> {
        // The encoded length is fixed: anything else is refused before decoding.
        if token.len() != ENCODED_LEN {
            return Err(TokenError::Malformed);
        }
        let mut raw = [0u8; TOKEN_LEN];
        let n = URL_SAFE_NO_PAD
            .decode_slice(token, &mut raw)
            .map_err(|_| TokenError::Malformed)?;
        if n != TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (head, mac) = raw.split_at(TOKEN_LEN - MAC_LEN);
        let key_id = head[0];
        let key = self
            .keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, k)| k)
            .ok_or(TokenError::UnknownKey)?;
        hmac::verify(key, &Self::signed_bytes(asset_id, head), mac)
            .map_err(|_| TokenError::BadSignature)?;
        let expires_at =
            i64::from_be_bytes(head[1..9].try_into().map_err(|_| TokenError::Malformed)?);
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&head[9..9 + TAG_LEN]);
        let claims = Claims {
            key_id,
            expires_at,
            viewer: ViewerTag(tag),
        };
        if viewer != Some(claims.viewer) {
            return Err(TokenError::OtherViewer);
        }
        if now >= expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn ring(keys: &[(u8, u8)]) -> KeyRing {
        let keys: Vec<(u8, [u8; 32])> = keys.iter().map(|(id, fill)| (*id, [*fill; 32])).collect();
        KeyRing::new(&keys).unwrap()
    }

    #[test]
    fn a_token_plays_its_asset_for_its_viewer_until_it_expires() {
        let keys = ring(&[(1, 7)]);
        let ann = ViewerTag::of_session("ann's session");
        let bob = ViewerTag::of_session("bob's session");
        let token = keys.mint("asset1", ann, NOW + 60);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let claims = keys.verify(&token, "asset1", Some(ann), NOW).unwrap();
        assert_eq!((claims.key_id, claims.expires_at), (1, NOW + 60));
        assert_eq!(
            keys.verify(&token, "asset1", Some(ann), NOW + 60),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&token, "asset2", Some(ann), NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            keys.verify(&token, "asset1", Some(bob), NOW),
            Err(TokenError::OtherViewer)
        );
        assert_eq!(
            keys.verify(&token, "asset1", None, NOW),
            Err(TokenError::OtherViewer)
        );
        assert_eq!(
            keys.verify("public", "asset1", Some(ann), NOW),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            keys.verify("", "asset1", Some(ann), NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn any_changed_character_is_refused() {
        let keys = ring(&[(1, 7)]);
        let ann = ViewerTag::of_session("s");
        let token = keys.mint("asset1", ann, NOW + 60);
        for at in 0..token.len() {
            let mut changed = token.clone().into_bytes();
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            assert!(
                keys.verify(&changed, "asset1", Some(ann), NOW).is_err(),
                "accepted with character {at} changed"
            );
        }
    }

    #[test]
    fn keys_rotate_without_cutting_playback() {
        let ann = ViewerTag::of_session("s");
        let old = ring(&[(1, 7)]);
        let token = old.mint("asset1", ann, NOW + 60);
        // A new key mints; the old one still verifies what it made.
        let both = ring(&[(2, 9), (1, 7)]);
        assert!(both.verify(&token, "asset1", Some(ann), NOW).is_ok());
        let fresh = both.mint("asset1", ann, NOW + 60);
        assert_eq!(
            both.verify(&fresh, "asset1", Some(ann), NOW)
                .unwrap()
                .key_id,
            2
        );
        // Once the old key is retired, its tokens stop.
        let new_only = ring(&[(2, 9)]);
        assert_eq!(
            new_only.verify(&token, "asset1", Some(ann), NOW),
            Err(TokenError::UnknownKey)
        );
        // The same id with another secret is not the same key.
        let impostor = ring(&[(1, 8)]);
        assert_eq!(
            impostor.verify(&token, "asset1", Some(ann), NOW),
            Err(TokenError::BadSignature)
        );
        assert!(KeyRing::new(&[(1, [0; 32]), (1, [1; 32])]).is_none());
        assert!(KeyRing::new(&[]).is_none());
    }
}
