//! The keys written into config.json: provisioning keys for a fleet (a
//! device registers with one), or, for balenaOS before 2.7.8, a user API
//! key of the caller. Only their SHA-256 is stored.
//!
//! `/download-config` makes a new random key on every call, as balena does.
//! A configured `/download` instead derives its key from the request (an
//! HMAC of the caller, the fleet and every parameter under the server's
//! secret), so that the same request always yields the same bytes: that is
//! what lets a client resume an interrupted download with `Range` and
//! `If-Range`. Asking again simply finds the key already stored.

use sea_query::{Expr, ExprTrait, Query};
use sha2::{Digest, Sha256};

use crate::auth::{KEY_LENGTH, generate_key, hash_key};
use crate::catalog::insert_row;
use crate::db::{CellType, Db, DbError, WriteKind};
use crate::time::now_millis;

/// Makes deterministic keys from a secret.
#[derive(Clone)]
pub struct KeyMaker {
    secret: [u8; 32],
}

impl std::fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaker(<secret>)")
    }
}

fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, b) in key.iter().enumerate() {
        ipad[i] ^= b;
        opad[i] ^= b;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

impl KeyMaker {
    /// A key maker with a secret derived from `secret` (any length).
    pub fn new(secret: &[u8]) -> Self {
        KeyMaker {
            secret: Sha256::digest(secret).into(),
        }
    }

    /// A key maker with a fresh random secret (keys then change when the
    /// process restarts).
    pub fn random() -> Self {
        Self::new(generate_key().as_bytes())
    }

    /// A 32-character `[A-Za-z0-9]` key determined by `parts` (each part is
    /// length-prefixed, so no two lists collide).
    ///
    /// ```
    /// use balena_os_server::images::keys::KeyMaker;
    /// let m = KeyMaker::new(b"secret");
    /// let a = m.derive(&["user 1", "app 2"]);
    /// assert_eq!(a, m.derive(&["user 1", "app 2"]));
    /// assert_ne!(a, m.derive(&["user 1", "app 3"]));
    /// assert_ne!(a, KeyMaker::new(b"other").derive(&["user 1", "app 2"]));
    /// assert!(a.len() == 32 && a.bytes().all(|b| b.is_ascii_alphanumeric()));
    /// ```
    pub fn derive(&self, parts: &[&str]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut message = Vec::new();
        for p in parts {
            message.extend_from_slice(&(p.len() as u64).to_le_bytes());
            message.extend_from_slice(p.as_bytes());
        }
        let mut key = String::with_capacity(KEY_LENGTH);
        let mut counter = 0u64;
        while key.len() < KEY_LENGTH {
            let mut m = message.clone();
            m.extend_from_slice(&counter.to_le_bytes());
            for b in hmac_sha256(&self.secret, &m) {
                // 248 = 4 * 62: reject the rest to stay uniform.
                if b < 248 && key.len() < KEY_LENGTH {
                    key.push(char::from(ALPHABET[usize::from(b % 62)]));
                }
            }
            counter += 1;
        }
        key
    }
}

/// What a new key is called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Expiry (ms since the epoch).
    pub expiry: Option<i64>,
}

async fn exists(db: &Db, table: &'static str, hash: &str) -> Result<bool, DbError> {
    let q = Query::select()
        .column("id")
        .from(table)
        .and_where(Expr::col("key_hash").eq(hash))
        .to_owned();
    Ok(!db.fetch(&q, &[CellType::Int]).await?.is_empty())
}

async fn store(
    db: &Db,
    table: &'static str,
    key: &str,
    owner: Vec<(&'static str, sea_query::Value)>,
    info: &KeyInfo,
) -> Result<(), DbError> {
    let hash = hash_key(key);
    if exists(db, table, &hash).await? {
        return Ok(());
    }
    let mut values = vec![
        ("created_at", now_millis().into()),
        ("key_hash", hash.clone().into()),
    ];
    values.extend(owner);
    values.push(("name", info.name.clone().into()));
    values.push(("description", info.description.clone().into()));
    values.push(("expiry_date", info.expiry.into()));
    let attempt = async {
        // New keys are not catalog data: cached answers stay valid.
        let mut tx = db.begin_for(WriteKind::NewKeys).await?;
        insert_row(&mut tx, table, values).await?;
        tx.commit().await
    };
    match attempt.await {
        Ok(()) => Ok(()),
        // Two identical requests at once: the other one stored it.
        Err(e) if exists(db, table, &hash).await.unwrap_or(false) => {
            tracing::debug!(error = %crate::ErrorChain(&e), "key stored concurrently");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Stores a provisioning key of fleet `app` (no-op if it exists).
pub async fn store_provisioning_key(
    db: &Db,
    app: i64,
    user: Option<i64>,
    key: &str,
    info: &KeyInfo,
) -> Result<(), DbError> {
    store(
        db,
        "provisioning_key",
        key,
        vec![
            ("is_for__application", app.into()),
            ("is_created_by__user", user.into()),
        ],
        info,
    )
    .await
}

/// Stores a user API key (the legacy config.json key of balenaOS < 2.7.8);
/// no-op if it exists.
pub async fn store_user_key(db: &Db, user: i64, key: &str, info: &KeyInfo) -> Result<(), DbError> {
    store(db, "api_key", key, vec![("is_of__user", user.into())], info).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4868() {
        // RFC 4868 §2.7.2.1, test case 1 (32-byte key of 0x0b).
        let key = [0x0bu8; 32];
        let mac = hmac_sha256(&key, b"Hi There");
        assert_eq!(
            crate::catalog::hex(&mac),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }
}
