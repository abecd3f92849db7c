//! A bucket (or a local directory) behind a blocking interface.
//!
//! `object_store` is async. The archive is used from plain threads (the CLI,
//! the daemon's archiver thread, rayon workers of `verify`), so a [`Bucket`]
//! owns a small private tokio runtime and blocks on it: the rest of the store
//! layer stays synchronous and no caller needs to know tokio. Called from a
//! thread of another tokio runtime, it waits on a thread of its own (tokio
//! refuses to block a runtime's thread on another runtime); dropped there, it
//! stops its runtime without waiting.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, PutPayload, RetryConfig};

use crate::error::{ArchiveError, Result};

/// Requests in flight at once for [`Bucket::put_all`].
pub const PUTS_IN_FLIGHT: usize = 8;

/// An object store and the prefix of one archive in it.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    /// The directory of a `file://` archive, whose writes `put_all` fsyncs
    /// (the object store only renames a written file into place).
    local: Option<std::path::PathBuf>,
    /// Taken only when the bucket is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Without waiting: a bucket may be dropped on a thread of another
        // runtime (the daemon's ledger, at its end), where tokio refuses to
        // wait for the threads of this one.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url).finish()
    }
}

/// Retries of a failed request: exponential backoff from 100 ms to 15 s, for
/// at most three minutes per request (object_store's own retry loop, which
/// honours the throttling answers of S3).
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(180),
    }
}

impl Bucket {
    /// Open the archive at `url`: `s3://BUCKET[/PREFIX]` (credentials and
    /// region from the standard `AWS_*` environment variables; an S3-compatible
    /// store is named by `AWS_ENDPOINT_URL`, and an `http://` endpoint is
    /// allowed) or `file:///DIR` (created if need be).
    pub fn open(url: &str) -> Result<Bucket> {
        Bucket::open_with(url, retry(), true)
    }

    /// Open the archive at `url` to read it whole (`cairn verify --source`,
    /// `cairn restore`): requests retried as for `open`, but a `file://`
    /// directory that is not there is an error, not created.
    pub fn open_existing(url: &str) -> Result<Bucket> {
        Bucket::open_with(url, retry(), false)
    }

    /// Open the archive at `url` for reads that someone waits for (a reader
    /// of dropped windows): a failed request is retried three times within
    /// 10 s, not for minutes as an upload is, and a `file://` directory that
    /// is not there is an error, not created.
    pub fn open_for_reads(url: &str) -> Result<Bucket> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
        };
        Bucket::open_with(url, retry, false)
    }

    fn open_with(url: &str, retry: RetryConfig, create: bool) -> Result<Bucket> {
        let bad = |reason: &str| ArchiveError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let setup = |source| ArchiveError::Setup {
            url: url.to_owned(),
            source,
        };
        let mut local = None;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) =
            url.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("names no bucket; write s3://BUCKET/PREFIX"));
            }
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL_S3"))
                .ok();
            if let Some(endpoint) = endpoint {
                builder = builder
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_endpoint(endpoint);
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region("us-east-1");
            }
            (Arc::new(builder.build().map_err(setup)?), prefix.to_owned())
        } else if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(bad("needs an absolute path: file:///DIR"));
            }
            if create {
                std::fs::create_dir_all(dir).map_err(|e| bad(&format!("creating {dir}: {e}")))?;
            } else if !std::path::Path::new(dir).is_dir() {
                return Err(bad(&format!("{dir} is not a directory")));
            }
            let fs = LocalFileSystem::new_with_prefix(dir).map_err(setup)?;
            local = Some(std::path::PathBuf::from(dir));
            (Arc::new(fs), String::new())
        } else {
            return Err(bad(
                "is neither s3://BUCKET/PREFIX nor file:///DIR (an absolute path)",
            ));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-archive-io")
            .enable_all()
            .build()
            .map_err(ArchiveError::Runtime)?;
        Ok(Bucket {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            url: url.to_owned(),
            local,
            runtime: Some(runtime),
        })
    }

    /// The URL the bucket was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> Path {
        match self.prefix.as_str() {
            "" => Path::from(name),
            p => Path::from(format!("{p}/{name}")),
        }
    }

    /// The bytes of object `name`, or `None` when there is none.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        let store = &self.store;
        let got = self.block_on(async move {
            match store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|source| ArchiveError::Store {
                op: "get",
                name: name.to_owned(),
                source,
            })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        match &self.runtime {
            Some(rt) => rt,
            None => unreachable!("the runtime is taken only by drop"),
        }
    }

    /// Run `job` on the private runtime and wait for it. From a thread that
    /// is inside another tokio runtime (a daemon's read, should one not be on
    /// the blocking pool), the wait happens on a thread of its own, since
    /// tokio refuses to block a runtime's thread on another runtime.
    fn block_on<T: Send>(&self, job: impl std::future::Future<Output = T> + Send) -> T {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.rt().block_on(job);
        }
        std::thread::scope(|s| match s.spawn(|| self.rt().block_on(job)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// Write object `name` whole (replacing any object of that name).
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.put_all(vec![(name.to_owned(), bytes)])
    }

    /// Write every object, [`PUTS_IN_FLIGHT`] at a time; returns once all are
    /// written, or with the first failure (after its retries).
    pub fn put_all(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        let names: Vec<String> = match self.local {
            Some(_) => objects.iter().map(|(n, _)| n.clone()).collect(),
            None => Vec::new(),
        };
        self.put_unsynced(objects)?;
        self.sync_local(&names)
    }

    /// A `file://` archive's written objects and their directories, fsynced:
    /// an object store's put is durable when it returns, and so must these
    /// be (the local copies may be dropped next).
    fn sync_local(&self, names: &[String]) -> Result<()> {
        let Some(dir) = &self.local else {
            return Ok(());
        };
        let sync = |path: &std::path::Path| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|source| ArchiveError::Sync {
                    path: path.to_owned(),
                    source,
                })
        };
        // Every directory between a file and the archive's own, which a put
        // may have made: each holds the name of the one below it.
        let mut dirs = std::collections::BTreeSet::new();
        for name in names {
            let file = dir.join(name);
            sync(&file)?;
            let mut at = file.parent();
            while let Some(d) = at.filter(|d| d.starts_with(dir)) {
                dirs.insert(d.to_owned());
                at = d.parent();
            }
        }
        dirs.iter().try_for_each(|d| sync(d))
    }

    fn put_unsynced(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        let store = &self.store;
        let jobs = objects.into_iter().map(|(name, bytes)| {
            let path = self.path(&name);
            async move {
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map(|_| ())
                    .map_err(|source| ArchiveError::Store {
                        op: "put",
                        name,
                        source,
                    })
            }
        });
        self.rt().block_on(async move {
            futures::stream::iter(jobs)
                .buffer_unordered(PUTS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await
                .map(|_| ())
        })
    }

    /// Delete object `name`; an object that is not there is not an error.
    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        let store = &self.store;
        match self.rt().block_on(store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(ArchiveError::Store {
                op: "delete",
                name: name.to_owned(),
                source,
            }),
        }
    }

    /// The names of the objects under folder `dir`, relative to the archive.
    pub fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        let store = &self.store;
        let found: Vec<object_store::ObjectMeta> = self
            .rt()
            .block_on(store.list(Some(&path)).try_collect())
            .map_err(|source| ArchiveError::Store {
                op: "list",
                name: dir.to_owned(),
                source,
            })?;
        let strip = match self.prefix.as_str() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let mut names: Vec<String> = found
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&strip).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }
}
