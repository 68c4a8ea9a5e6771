//! API keys and the callers they stand for.
//!
//! A key is 32 random characters from `[A-Za-z0-9]` (about 190 bits). Only
//! its SHA-256 is stored; a request's key is hashed and looked up. Keys
//! belong to users; a user reads the public catalog plus the fleets of the
//! organisations it is a member of, and a superuser reads everything.
//!
//! Credentials come as `Authorization: Bearer <key>` or `?apikey=<key>`. A
//! key that is unknown or expired is refused (401) rather than silently
//! treated as anonymous, which is what open-balena-api does.
//!
//! Resolved keys are cached to keep the database out of the hot path. The
//! cache is emptied as soon as a user, a membership or a key changes: at
//! once for changes committed through this process's [`Db`] (a revoked key
//! is refused from the next request on), and within
//! [`crate::cache::POLL_INTERVAL`] for changes made by another process,
//! which the database's access counter (`access_generation`, maintained by
//! triggers) reveals when [`Authenticator::poll`] runs. Entries also expire
//! after [`CACHE_TTL`] whatever happens. Expiry of a key is checked on
//! every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sea_query::{Expr, ExprTrait, Query};
use sha2::{Digest, Sha256};

use crate::catalog::{hex, insert_row};
use crate::db::{CellType, Db, DbError, Tx};
use crate::time::now_millis;

/// How long a resolved key is trusted at most without asking the database
/// again (changes seen through the access counter drop it sooner).
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// At most this many resolved keys are cached (the cache is emptied when
/// full; only valid keys are ever cached).
pub const CACHE_CAPACITY: usize = 10_000;
/// Length of generated keys.
pub const KEY_LENGTH: usize = 32;
/// Longest credential accepted from a request.
pub const MAX_KEY_LENGTH: usize = 512;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credentials.
    Anonymous,
    /// A user (through one of its API keys).
    User {
        /// The user's id.
        user: i64,
        /// The organisations the user is a member of.
        organizations: Vec<i64>,
    },
    /// A superuser: reads everything.
    Admin {
        /// The user's id.
        user: i64,
    },
}

/// Why credentials were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The key is not known.
    #[error("Unauthorized: the API key is not valid")]
    InvalidKey,
    /// The key has expired.
    #[error("Unauthorized: the API key has expired")]
    Expired,
    /// The storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A freshly created API key. `key` is shown once; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewApiKey {
    /// The row id.
    pub id: i64,
    /// The secret key.
    pub key: String,
}

/// Generates a new random key.
///
/// ```
/// let key = balena_os_server::auth::generate_key();
/// assert_eq!(key.len(), 32);
/// assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
/// ```
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut key = String::with_capacity(KEY_LENGTH);
    let mut buf = [0u8; 64];
    while key.len() < KEY_LENGTH {
        if getrandom::fill(&mut buf).is_err() {
            // Without a system random source no key can be made safely;
            // mix the clock into a hash chain instead of panicking.
            let seed = Sha256::digest(format!("{}{key}", now_millis()).as_bytes());
            buf[..32].copy_from_slice(&seed);
            buf[32..].copy_from_slice(&Sha256::digest(seed));
        }
        for b in buf {
            // 62 * 4 = 248: reject 248..=255 to keep the choice uniform.
            if b < 248 && key.len() < KEY_LENGTH {
                key.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    key
}

/// The stored form of a key: SHA-256, lowercase hex.
///
/// ```
/// assert_eq!(
///     balena_os_server::auth::hash_key("abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

pub(crate) async fn insert_api_key(
    tx: &mut Tx,
    user: i64,
    name: Option<&str>,
    expires_at: Option<i64>,
) -> Result<NewApiKey, DbError> {
    let key = generate_key();
    let id = insert_row(
        tx,
        "api_key",
        vec![
            ("created_at", now_millis().into()),
            ("key_hash", hash_key(&key).into()),
            ("is_of__user", user.into()),
            ("name", name.map(str::to_owned).into()),
            ("expiry_date", expires_at.into()),
        ],
    )
    .await?;
    Ok(NewApiKey { id, key })
}

#[derive(Debug, Clone)]
struct Cached {
    actor: Actor,
    expires_at: Option<i64>,
    fetched: Instant,
}

/// Resolves credentials to actors, with a short-lived cache.
#[derive(Debug, Clone)]
pub struct Authenticator {
    db: Db,
    cache: Arc<RwLock<HashMap<String, Cached>>>,
    /// The pool's access commits when the entries were valid.
    local: Arc<AtomicU64>,
    /// The database's access generation when the entries were valid.
    remote: Arc<AtomicI64>,
}

impl Authenticator {
    /// An authenticator reading keys from `db`.
    pub fn new(db: Db) -> Self {
        Authenticator {
            local: Arc::new(AtomicU64::new(db.local_access_commits())),
            remote: Arc::new(AtomicI64::new(i64::MIN)),
            db,
            cache: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// Empties the cache if this process committed an access change since
    /// the last look; returns the commit count the entries are valid for.
    fn check_local(&self) -> u64 {
        let now = self.db.local_access_commits();
        if self.local.swap(now, Ordering::AcqRel) != now {
            self.clear_cache();
        }
        now
    }

    /// Reads the database's access counter and empties the cache if it
    /// moved (a key revoked or a membership changed by another process).
    pub async fn poll(&self) {
        match self.db.access_generation().await {
            Ok(g) => {
                if self.remote.swap(g, Ordering::AcqRel) != g {
                    self.clear_cache();
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::ErrorChain(&e), "reading the access generation failed");
                self.clear_cache();
            }
        }
    }

    /// The caller for `key`, or why it is refused.
    pub async fn resolve(&self, key: &str) -> Result<Actor, AuthError> {
        if key.is_empty() || key.len() > MAX_KEY_LENGTH {
            return Err(AuthError::InvalidKey);
        }
        let hash = hash_key(key);
        let stamp = (self.check_local(), self.remote.load(Ordering::Acquire));
        let cached = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.get(&hash).cloned())
            .filter(|c| c.fetched.elapsed() < CACHE_TTL);
        let entry = match cached {
            Some(c) => c,
            None => {
                let entry = self.lookup(&hash).await?;
                // Only keep what was read if nothing changed meanwhile (a
                // revocation committed during the lookup must win). Checked
                // under the lock, which clearing also takes.
                let local_now = self.db.local_access_commits();
                if let Ok(mut cache) = self.cache.write()
                    && (local_now, self.remote.load(Ordering::Acquire)) == stamp
                {
                    if cache.len() >= CACHE_CAPACITY {
                        cache.clear();
                    }
                    cache.insert(hash, entry.clone());
                }
                entry
            }
        };
        if entry.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(AuthError::Expired);
        }
        Ok(entry.actor)
    }

    /// Forgets every cached key (after keys or memberships changed in this
    /// process).
    pub fn clear_cache(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }

    async fn lookup(&self, hash: &str) -> Result<Cached, AuthError> {
        let q = Query::select()
            .column(("k", "is_of__user"))
            .column(("k", "expiry_date"))
            .column(("u", "is_superuser"))
            .from_as("api_key", "k")
            .join_as(
                sea_query::JoinType::InnerJoin,
                "user",
                "u",
                Expr::col(("u", "id")).equals(("k", "is_of__user")),
            )
            .and_where(Expr::col(("k", "key_hash")).eq(hash))
            .to_owned();
        let rows = self
            .db
            .fetch(&q, &[CellType::Int, CellType::Int, CellType::Bool])
            .await?;
        let row = rows.first().ok_or(AuthError::InvalidKey)?;
        let user = row[0].as_int().ok_or(AuthError::InvalidKey)?;
        let expires_at = row[1].as_int();
        let actor = if row[2] == crate::db::Cell::Bool(true) {
            Actor::Admin { user }
        } else {
            let q = Query::select()
                .column("is_member_of__organization")
                .from("organization_membership")
                .and_where(Expr::col("user").eq(user))
                .order_by("is_member_of__organization", sea_query::Order::Asc)
                .to_owned();
            let organizations = self
                .db
                .fetch(&q, &[CellType::Int])
                .await?
                .iter()
                .filter_map(|r| r[0].as_int())
                .collect();
            Actor::User {
                user,
                organizations,
            }
        };
        Ok(Cached {
            actor,
            expires_at,
            fetched: Instant::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_alphanumeric() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_LENGTH);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(hash_key(&a).len(), 64);
        assert_ne!(hash_key(&a), hash_key(&b));
    }
}
