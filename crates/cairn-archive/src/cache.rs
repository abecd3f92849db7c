//! A bounded cache of objects fetched from the archive: least recently used
//! out first, bounded by the bytes of the values it holds (an object larger
//! than the whole bound is not kept at all).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a cache holds and has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes of values held.
    pub bytes: u64,
    /// Values held.
    pub objects: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
    /// Values pushed out to make room.
    pub evictions: u64,
}

struct Inner<K> {
    values: HashMap<K, (Arc<Vec<u8>>, u64)>,
    /// Keys by the tick of their last use: the first is the least recent.
    by_use: BTreeMap<u64, K>,
    tick: u64,
    stats: CacheStats,
}

/// A least-recently-used cache bounded by bytes.
pub struct ObjectCache<K> {
    bytes_max: u64,
    inner: Mutex<Inner<K>>,
}

impl<K: Hash + Eq + Clone> ObjectCache<K> {
    /// An empty cache holding at most `bytes_max` bytes of values.
    pub fn new(bytes_max: u64) -> ObjectCache<K> {
        ObjectCache {
            bytes_max,
            inner: Mutex::new(Inner {
                values: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
                stats: CacheStats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // Every update leaves the maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bound, in bytes.
    pub fn bytes_max(&self) -> u64 {
        self.bytes_max
    }

    /// The value of `key`, marked as just used.
    pub fn get(&self, key: &K) -> Option<Arc<Vec<u8>>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Some((value, used)) = inner.values.get_mut(key) else {
            inner.stats.misses += 1;
            return None;
        };
        let (value, old) = (Arc::clone(value), std::mem::replace(used, tick));
        inner.by_use.remove(&old);
        inner.by_use.insert(tick, key.clone());
        inner.stats.hits += 1;
        Some(value)
    }

    /// Keep `value` under `key`, pushing out the least recently used values
    /// until it fits.
    pub fn insert(&self, key: K, value: Arc<Vec<u8>>) {
        let len = value.len() as u64;
        let mut inner = self.lock();
        Self::remove_locked(&mut inner, &key);
        if len > self.bytes_max {
            return;
        }
        while inner.stats.bytes + len > self.bytes_max {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some((v, _)) = inner.values.remove(&oldest) {
                inner.stats.bytes -= v.len() as u64;
                inner.stats.objects -= 1;
                inner.stats.evictions += 1;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.by_use.insert(tick, key.clone());
        inner.values.insert(key, (value, tick));
        inner.stats.bytes += len;
        inner.stats.objects += 1;
    }

    /// Forget `key` (its object changed).
    pub fn remove(&self, key: &K) {
        Self::remove_locked(&mut self.lock(), key);
    }

    fn remove_locked(inner: &mut Inner<K>, key: &K) {
        if let Some((v, used)) = inner.values.remove(key) {
            inner.by_use.remove(&used);
            inner.stats.bytes -= v.len() as u64;
            inner.stats.objects -= 1;
        }
    }

    /// What the cache holds and has done.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn value(len: usize) -> Arc<Vec<u8>> {
        Arc::new(vec![7; len])
    }

    #[test]
    fn never_holds_more_than_its_bound_and_evicts_the_least_recently_used() {
        let cache = ObjectCache::new(1000);
        for k in 0..10u64 {
            cache.insert(k, value(300));
            assert!(cache.stats().bytes <= 1000, "{:?}", cache.stats());
        }
        // Three of 300 bytes fit: the three most recent.
        assert_eq!(cache.stats().objects, 3);
        assert!(cache.get(&6).is_none());
        assert!(cache.get(&7).is_some());
        // 7 was just used, so 8 is now the least recent and goes first.
        cache.insert(10, value(300));
        assert!(cache.get(&8).is_none());
        assert!(cache.get(&7).is_some() && cache.get(&9).is_some() && cache.get(&10).is_some());
        let s = cache.stats();
        assert_eq!((s.bytes, s.objects, s.evictions), (900, 3, 8));
    }

    #[test]
    fn an_object_larger_than_the_bound_is_not_kept_and_a_replaced_one_is_counted_once() {
        let cache = ObjectCache::new(1000);
        cache.insert(1u64, value(400));
        cache.insert(2, value(1001));
        assert!(cache.get(&2).is_none());
        assert_eq!(cache.stats().bytes, 400);
        cache.insert(1, value(500));
        assert_eq!((cache.stats().bytes, cache.stats().objects), (500, 1));
        cache.remove(&1);
        assert_eq!((cache.stats().bytes, cache.stats().objects), (0, 0));
        assert!(cache.get(&1).is_none());
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let cache = ObjectCache::new(0);
        cache.insert(1u64, value(1));
        assert!(cache.get(&1).is_none());
        assert_eq!(cache.stats().objects, 0);
    }
}
