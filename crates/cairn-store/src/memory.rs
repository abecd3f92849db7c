//! An in-memory backend, for unit tests. Writes are atomic; nothing is durable.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::backend::{Backend, Cf, KeyValue, Op, WriteBatch};
use crate::error::{Result, StoreError};

type Tables = BTreeMap<Cf, BTreeMap<Vec<u8>, Vec<u8>>>;

/// A backend that keeps everything in ordered maps.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    tables: Mutex<Tables>,
    fail_writes: Mutex<Option<String>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// Make every later write fail with `reason` (to test poisoning).
    pub fn fail_writes(&self, reason: &str) {
        if let Ok(mut f) = self.fail_writes.lock() {
            *f = Some(reason.to_owned());
        }
    }

    fn tables(&self) -> Result<MutexGuard<'_, Tables>> {
        self.tables.lock().map_err(|_| StoreError::Backend {
            kind: crate::error::EngineErrorKind::Other,
            op: "lock",
            reason: "memory backend lock poisoned".into(),
        })
    }
}

impl Backend for MemoryBackend {
    fn write(&self, batch: WriteBatch) -> Result<()> {
        if let Ok(f) = self.fail_writes.lock() {
            if let Some(reason) = f.as_ref() {
                return Err(StoreError::Backend {
                    kind: crate::error::EngineErrorKind::Other,
                    op: "write",
                    reason: reason.clone(),
                });
            }
        }
        let mut tables = self.tables()?;
        for op in batch.ops {
            match op {
                Op::Put(cf, k, v) => {
                    tables.entry(cf).or_default().insert(k, v);
                }
                Op::Delete(cf, k) => {
                    tables.entry(cf).or_default().remove(&k);
                }
                Op::DeleteRange(cf, from, to) => {
                    tables.entry(cf).or_default().retain(|k, _| {
                        k.as_slice() < from.as_slice() || k.as_slice() >= to.as_slice()
                    });
                }
            }
        }
        Ok(())
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables()?.get(&cf).and_then(|t| t.get(key)).cloned())
    }

    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue>> + 'a> {
        // A snapshot of the range: simple, and fine for tests.
        let rows: Result<Vec<KeyValue>> = self.tables().map(|t| {
            t.get(&cf)
                .map(|t| {
                    t.range(from.to_vec()..to.to_vec())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        });
        match rows {
            Ok(rows) => Box::new(rows.into_iter().map(Ok)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>> {
        Ok(self.tables()?.get(&cf).and_then(|t| {
            t.range(from.to_vec()..to.to_vec())
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone()))
        }))
    }
}
