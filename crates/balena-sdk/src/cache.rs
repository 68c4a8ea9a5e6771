//! A small async memoiser: time-limited entries, in-flight deduplication,
//! failures never stored, cleared as a whole when credentials change.
//!
//! Unlike the official SDK's memoizee cache, keys are structured values (a
//! device-type list is a `Vec`, never a comma-joined string, so
//! `["a","b"]` and `"a,b"` cannot collide), a failed call is forgotten at
//! once, and every caller gets its own copy of the value.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// How long a stored value is served (counted from when it was stored).
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);

struct Slot<V> {
    cell: OnceCell<(V, Instant)>,
}

/// A keyed memo of async computations.
pub(crate) struct Memo<K, V> {
    ttl: Duration,
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Memo {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &K) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key) {
            let fresh = slot
                .cell
                .get()
                .is_none_or(|(_, at)| at.elapsed() < self.ttl);
            if fresh {
                return Arc::clone(slot);
            }
        }
        let slot = Arc::new(Slot {
            cell: OnceCell::new(),
        });
        slots.insert(key.clone(), Arc::clone(&slot));
        slot
    }

    /// Returns the stored value for `key`, or runs `make` (once, however many
    /// callers ask at the same time) and stores its success.
    pub(crate) async fn get_or_try_init<E, F, Fut>(&self, key: K, make: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let slot = self.slot(&key);
        let (value, _) = slot
            .cell
            .get_or_try_init(|| async { make().await.map(|v| (v, Instant::now())) })
            .await?;
        Ok(value.clone())
    }

    /// Forgets every entry. Calls in flight finish into slots nobody can
    /// reach any more.
    pub(crate) fn clear(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn dedups_stores_and_forgets_failures() {
        let memo: Memo<String, u32> = Memo::new(CACHE_TTL);
        let calls = AtomicUsize::new(0);
        let make = |ok: bool| {
            let calls = &calls;
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if ok { Ok(7) } else { Err("boom") }
            }
        };
        assert_eq!(
            memo.get_or_try_init("k".into(), make(false)).await,
            Err("boom")
        );
        assert_eq!(memo.get_or_try_init("k".into(), make(true)).await, Ok(7));
        assert_eq!(memo.get_or_try_init("k".into(), make(true)).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let (a, b) = tokio::join!(
            memo.get_or_try_init("j".into(), make(true)),
            memo.get_or_try_init("j".into(), make(true))
        );
        assert_eq!((a, b), (Ok(7), Ok(7)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        memo.clear();
        assert_eq!(memo.get_or_try_init("k".into(), make(true)).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn entries_expire() {
        let memo: Memo<u8, u8> = Memo::new(Duration::from_millis(0));
        let n = AtomicUsize::new(0);
        for _ in 0..2 {
            let _ = memo
                .get_or_try_init(1, || async {
                    n.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(1)
                })
                .await;
        }
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }
}
