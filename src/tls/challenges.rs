//! What ACME validations ask of the server, filled in by the ACME client while an order is
//! pending: HTTP-01 tokens answered on the plain-HTTP listener, and TLS-ALPN-01 challenge
//! certificates presented to a handshake that offers `acme-tls/1` for that name.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

/// HTTP-01: `GET /.well-known/acme-challenge/{token}` answers the key authorization.
#[derive(Clone, Default)]
pub struct Http01Tokens(Arc<RwLock<HashMap<String, String>>>);

impl Http01Tokens {
    pub fn insert(&self, token: &str, key_authorization: &str) {
        write(&self.0).insert(token.to_owned(), key_authorization.to_owned());
    }
    pub fn remove(&self, token: &str) {
        write(&self.0).remove(token);
    }
    pub fn key_authorization(&self, token: &str) -> Option<String> {
        read(&self.0).get(token).cloned()
    }
}

/// TLS-ALPN-01: the challenge certificate for each server name being validated.
#[derive(Default)]
pub struct AlpnChallenges(RwLock<HashMap<String, Arc<CertifiedKey>>>);

impl AlpnChallenges {
    pub fn insert(&self, server_name: &str, key: CertifiedKey) {
        write(&self.0).insert(server_name.to_ascii_lowercase(), Arc::new(key));
    }
    pub fn remove(&self, server_name: &str) {
        write(&self.0).remove(&server_name.to_ascii_lowercase());
    }
    pub fn get(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        read(&self.0)
            .get(&server_name.to_ascii_lowercase())
            .cloned()
    }
}

// The maps hold plain data, so a panic elsewhere while one was held cannot leave it
// half-written: a poisoned lock is used as is.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
