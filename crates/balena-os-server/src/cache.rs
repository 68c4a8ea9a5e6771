//! A cache of rendered answers.
//!
//! The catalog changes rarely (an import, an admin command) and is read
//! constantly with the same few queries (every SDK asks the same host-app
//! question), so answers are kept, rendered, keyed by the exact request path
//! and query and by what the caller may see (anonymous, a set of
//! organisations, or everything) — never by who the caller is.
//!
//! An entry is dropped as soon as the catalog may have changed:
//! immediately for catalog writes made through this process's [`Db`]
//! ([`WriteKind::Catalog`](crate::db::WriteKind::Catalog); new keys, users
//! and memberships are not catalog data, see
//! [`WriteKind`](crate::db::WriteKind)), and within
//! [`POLL_INTERVAL`] for writes from elsewhere (another server, `balena-os
//! admin` in another process), which the database's change counter
//! (`catalog_generation`, maintained by triggers) reveals. Answers that
//! depend on the clock (`now()` in a filter) are never cached. The cache is
//! bounded in bytes; when full it starts over.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::auth::Actor;
use crate::db::Db;

/// How often the database's change counter is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default bound on the bytes cached (JSON plus its gzip form).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Answers larger than this are not cached.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

/// What a caller may see: the part of the caller that answers depend on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// No credentials.
    Anonymous,
    /// A user of these organisations (sorted).
    Organizations(Vec<i64>),
    /// Everything.
    Everything,
}

impl From<&Actor> for Visibility {
    fn from(actor: &Actor) -> Self {
        match actor {
            Actor::Anonymous => Visibility::Anonymous,
            Actor::User { organizations, .. } => {
                let mut orgs = organizations.clone();
                orgs.sort_unstable();
                orgs.dedup();
                Visibility::Organizations(orgs)
            }
            Actor::Admin { .. } => Visibility::Everything,
        }
    }
}

/// A rendered answer.
#[derive(Debug)]
pub struct Rendered {
    /// The JSON body.
    pub json: Bytes,
    /// A weak entity tag for the body.
    pub etag: String,
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    /// Wraps a JSON body.
    pub fn new(json: Vec<u8>) -> Self {
        use std::hash::{DefaultHasher, Hasher};
        let mut h = DefaultHasher::new();
        h.write(&json);
        Rendered {
            etag: format!("W/\"{:016x}-{:x}\"", h.finish(), json.len()),
            json: Bytes::from(json),
            gzip: OnceLock::new(),
        }
    }

    /// The body gzip-compressed (computed once).
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.json.len() / 8),
                    flate2::Compression::default(),
                );
                // Writing to a Vec cannot fail.
                let _ = enc.write_all(&self.json);
                Bytes::from(enc.finish().unwrap_or_default())
            })
            .clone()
    }
}

/// The cache.
#[derive(Debug)]
pub struct ResponseCache {
    entries: RwLock<HashMap<(String, Visibility), Arc<Rendered>>>,
    bytes: AtomicUsize,
    max_bytes: usize,
    /// Local commits seen when the entries were valid.
    local: AtomicU64,
    /// Database generation seen when the entries were valid.
    remote: AtomicI64,
    db: Db,
    enabled: bool,
}

/// A snapshot of the cache's validity, taken before computing an answer:
/// the answer is only stored if nothing changed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    local: u64,
    remote: i64,
}

impl ResponseCache {
    /// A cache over `db` holding at most `max_bytes`; a disabled cache
    /// stores nothing.
    pub fn new(db: Db, max_bytes: usize, enabled: bool) -> Self {
        ResponseCache {
            entries: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            max_bytes,
            local: AtomicU64::new(db.local_commits()),
            remote: AtomicI64::new(i64::MIN),
            db,
            enabled,
        }
    }

    fn clear(&self) {
        if let Ok(mut e) = self.entries.write() {
            e.clear();
            self.bytes.store(0, Ordering::Release);
        }
    }

    /// Drops everything if this process committed a write since.
    fn check_local(&self) -> Stamp {
        let now = self.db.local_commits();
        if self.local.swap(now, Ordering::AcqRel) != now {
            self.clear();
        }
        Stamp {
            local: now,
            remote: self.remote.load(Ordering::Acquire),
        }
    }

    /// The validity stamp to pass to [`ResponseCache::insert`].
    pub fn stamp(&self) -> Stamp {
        self.check_local()
    }

    /// The cached answer for a request, if any.
    pub fn get(&self, path_and_query: &str, visibility: &Visibility) -> Option<Arc<Rendered>> {
        if !self.enabled {
            return None;
        }
        self.check_local();
        let entries = self.entries.read().ok()?;
        entries
            .get(&(path_and_query.to_owned(), visibility.clone()))
            .cloned()
    }

    /// Stores an answer computed under `stamp`, unless the catalog changed
    /// since.
    pub fn insert(
        &self,
        stamp: Stamp,
        path_and_query: &str,
        visibility: Visibility,
        rendered: Arc<Rendered>,
    ) {
        if !self.enabled || rendered.json.len() > MAX_ENTRY_BYTES {
            return;
        }
        if self.check_local() != stamp {
            return;
        }
        // The gzip form is counted up front: it is at most the JSON's size.
        let size = 2 * rendered.json.len() + path_and_query.len();
        if let Ok(mut e) = self.entries.write() {
            if self.bytes.load(Ordering::Acquire) + size > self.max_bytes {
                e.clear();
                self.bytes.store(0, Ordering::Release);
            }
            if e.insert((path_and_query.to_owned(), visibility), rendered)
                .is_none()
            {
                self.bytes.fetch_add(size, Ordering::AcqRel);
            }
        }
    }

    /// Reads the database's change counter and drops everything if it moved.
    pub async fn poll(&self) {
        match self.db.catalog_generation().await {
            Ok(g) => {
                if self.remote.swap(g, Ordering::AcqRel) != g {
                    self.clear();
                }
            }
            Err(e) => {
                // Cannot tell whether the catalog changed: assume it did.
                tracing::warn!(error = %crate::ErrorChain(&e), "reading the catalog generation failed");
                self.clear();
            }
        }
    }

    /// Polls the change counter every [`POLL_INTERVAL`] until dropped.
    pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match cache.upgrade() {
                    Some(c) if c.enabled => c.poll().await,
                    Some(_) => {}
                    None => break,
                }
            }
        })
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(cache: &ResponseCache, stamp: Stamp, path: &str) {
        let answer = Arc::new(Rendered::new(b"{}".to_vec()));
        cache.insert(stamp, path, Visibility::Anonymous, answer);
    }

    #[tokio::test]
    async fn entries_are_dropped_when_the_catalog_changes() {
        let db = Db::open_sqlite_memory().await.expect("db");
        let cache = ResponseCache::new(db.clone(), 1 << 20, true);
        cache.poll().await;
        put(&cache, cache.stamp(), "/v7/x");
        assert!(cache.get("/v7/x", &Visibility::Anonymous).is_some());
        assert!(cache.get("/v7/x", &Visibility::Everything).is_none());
        // A write through this process: dropped at once.
        let catalog = crate::catalog::Catalog::new(db.clone());
        catalog
            .create_organization("acme", None)
            .await
            .expect("org");
        assert!(cache.get("/v7/x", &Visibility::Anonymous).is_none());
        // An answer computed before a change is not stored.
        let old = cache.stamp();
        catalog
            .create_organization("other", None)
            .await
            .expect("org");
        put(&cache, old, "/v7/y");
        assert!(cache.get("/v7/y", &Visibility::Anonymous).is_none());
        // The database counter moved: a poll drops everything.
        put(&cache, cache.stamp(), "/v7/z");
        assert_eq!(cache.len(), 1);
        cache.poll().await;
        assert_eq!(cache.len(), 0, "the triggers moved the generation");
        put(&cache, cache.stamp(), "/v7/z");
        cache.poll().await;
        assert_eq!(cache.len(), 1, "no change, no drop");
    }

    #[tokio::test]
    async fn keys_and_users_keep_entries() {
        let db = Db::open_sqlite_memory().await.expect("db");
        let catalog = crate::catalog::Catalog::new(db.clone());
        catalog
            .create_organization("acme", None)
            .await
            .expect("org");
        catalog
            .create_organization("beta", None)
            .await
            .expect("org");
        let cache = ResponseCache::new(db.clone(), 1 << 20, true);
        cache.poll().await;
        put(&cache, cache.stamp(), "/v7/x");
        catalog
            .create_user("ops", None, &["acme"], false)
            .await
            .expect("user");
        let key = catalog
            .create_api_key("ops", None, None)
            .await
            .expect("key");
        catalog.add_member("ops", "beta").await.expect("member");
        catalog.revoke_api_key(key.id).await.expect("revoke");
        assert!(cache.get("/v7/x", &Visibility::Anonymous).is_some());
        cache.poll().await;
        assert!(
            cache.get("/v7/x", &Visibility::Anonymous).is_some(),
            "users, memberships and keys do not move the catalog generation"
        );
        assert!(db.access_generation().await.expect("access") > 0);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let r = Rendered::new(br#"{"d":[{"slug":"raspberrypi4-64"}]}"#.repeat(100));
        let gz = r.gzip();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        assert_eq!(out, r.json);
        assert!(r.etag.starts_with("W/\""));
    }
}
