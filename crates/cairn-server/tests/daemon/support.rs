//! Start a daemon in-process on port 0 over a temp dir, talk to it over real
//! HTTP, stop it, and look at what it left behind.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::checkpoint::NoteSigner;
use cairn_server::store::{self, AnyStore, ServedLedger};
use cairn_server::{serve, Config, Daemon, ServeError, Settings};
use cairn_store::backend::{KeyValue, Op};
use cairn_store::{Backend, Cf, Ledger, MemoryBackend, RocksBackend, StoreError, WriteBatch};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The origin of ledgers created by tests.
pub const ORIGIN: &str = "test.example/ledger";

/// A running daemon.
pub struct TestDaemon {
    pub base: String,
    pub client: reqwest::Client,
    pub ledger: Option<Arc<ServedLedger>>,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

/// A fresh temp dir holding a new ledger (as `cairnd --init` makes it).
pub fn new_ledger_dir() -> TempDir {
    // Under the target directory rather than /tmp, so fsync costs what it costs on disk.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    store::init(dir.path(), Some(ORIGIN)).unwrap();
    dir
}

/// Settings with the data dir filled in and checkpoints frequent.
pub fn config(dir: &Path, settings: Settings) -> Config {
    Settings {
        data: Some(dir.to_owned()),
        checkpoint_interval_ms: settings.checkpoint_interval_ms.or(Some(50)),
        ..settings
    }
    .resolve()
    .unwrap()
}

/// Start a daemon on a new RocksDB ledger.
pub async fn start(settings: Settings) -> TestDaemon {
    start_in(new_ledger_dir(), settings).await
}

/// Start a daemon on the ledger in `dir`.
pub async fn start_in(dir: TempDir, settings: Settings) -> TestDaemon {
    let daemon = Daemon::open(config(dir.path(), settings)).unwrap();
    launch(dir, daemon, None).await
}

/// Start a daemon over any backend (slow or failing ones).
pub async fn start_with(backend: impl Backend + 'static, settings: Settings) -> TestDaemon {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ledger = Ledger::create(Box::new(backend) as AnyStore, ORIGIN).unwrap();
    let signer = NoteSigner::new(ORIGIN, &[7; 32]).unwrap();
    let daemon = Daemon::new(config(dir.path(), settings), ledger, signer);
    launch(dir, daemon, None).await
}

/// Start with a custom HTTP client (TLS).
pub async fn launch(dir: TempDir, daemon: Daemon, client: Option<reqwest::Client>) -> TestDaemon {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ledger = Arc::clone(daemon.ledger());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, daemon, async {
        let _ = stopped.await;
    }));
    TestDaemon {
        base: format!("http://{addr}"),
        client: client.unwrap_or_default(),
        ledger: Some(ledger),
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestDaemon {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn size(&self) -> u64 {
        self.ledger.as_ref().map_or(0, |l| l.size())
    }

    /// POST a body with a content type and an optional bearer token.
    pub async fn post(&self, content_type: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self
            .client
            .post(self.url("/v1/decisions"))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    pub async fn post_json(&self, body: &str) -> Reply {
        self.post("application/json", None, body.as_bytes().to_vec())
            .await
    }

    pub async fn post_ndjson(&self, lines: &[String]) -> Reply {
        let body = lines.join("\n") + "\n";
        self.post("application/x-ndjson", None, body.into_bytes())
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// One value from `/metrics` (a line `name value`).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Wait (bounded) until the newest checkpoint covers `size` entries; return it.
    pub async fn checkpoint_at(&self, size: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.get("/v1/checkpoint").await;
            if r.status == 200 && r.text.lines().nth(1) == Some(&size.to_string()) {
                return r.text;
            }
            assert!(
                Instant::now() < deadline,
                "no checkpoint of size {size}: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Trigger shutdown and wait for `serve` to return; give back the directory.
    pub async fn stop(mut self) -> TempDir {
        self.ledger = None;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("serve returns after shutdown")
                .unwrap();
            result.expect("serve ends without error");
        }
        self.dir
    }

    /// Send the shutdown signal without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    async fn from(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

/// A valid decision, numbered.
pub fn decision(i: usize) -> String {
    serde_json::json!({
        "stream": "payments.fraud",
        "model": {"name": "fraud", "version": "7"},
        "input": {"amount": i, "currency": "EUR"},
        "output": {"approve": i & 1 == 0},
        "request_id": format!("req-{i}"),
    })
    .to_string()
}

/// Reopen a stopped daemon's ledger directory.
pub fn reopen(dir: &Path) -> Ledger<RocksBackend> {
    Ledger::open(RocksBackend::open(&dir.join(store::DB_DIR)).unwrap()).unwrap()
}

/// A memory backend with a fault before each write: a slow disk, one that
/// hangs until the test lets it go on, or one that cannot store checkpoints.
pub struct FaultyDisk {
    inner: MemoryBackend,
    before_write: Box<BeforeWrite>,
}

/// What a [`FaultyDisk`] does before each write; an error fails the write.
type BeforeWrite = dyn Fn(&WriteBatch) -> Result<(), StoreError> + Send + Sync;

impl FaultyDisk {
    fn new(
        before_write: impl Fn(&WriteBatch) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> FaultyDisk {
        FaultyDisk {
            inner: MemoryBackend::new(),
            before_write: Box::new(before_write),
        }
    }

    /// Every write takes `delay`.
    pub fn slow(delay: Duration) -> FaultyDisk {
        FaultyDisk::new(move |_| {
            std::thread::sleep(delay);
            Ok(())
        })
    }

    /// Writes wait while `gate` is shut.
    pub fn gated(gate: Arc<Gate>) -> FaultyDisk {
        FaultyDisk::new(move |_| {
            gate.pass();
            Ok(())
        })
    }

    /// Every write that stores a checkpoint fails; appends go through.
    pub fn no_checkpoints() -> FaultyDisk {
        FaultyDisk::new(|batch| {
            let touches = |op: &Op| {
                matches!(
                    op,
                    Op::Put(Cf::Checkpoints, ..) | Op::Delete(Cf::Checkpoints, _)
                )
            };
            match batch.ops.iter().any(touches) {
                true => Err(StoreError::Backend {
                    kind: cairn_store::error::EngineErrorKind::Io,
                    op: "write",
                    reason: "disk on fire".into(),
                }),
                false => Ok(()),
            }
        })
    }
}

impl Backend for FaultyDisk {
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        (self.before_write)(&batch)?;
        self.inner.write(batch)
    }
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(cf, key)
    }
    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue, StoreError>> + 'a> {
        self.inner.scan(cf, from, to)
    }
    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.inner.last_in(cf, from, to)
    }
}

/// A gate that writes wait at while it is shut.
#[derive(Default)]
pub struct Gate {
    shut: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Gate {
    /// Writes waiting at the shut gate now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn shut(&self) {
        *self.shut.lock().unwrap() = true;
    }

    pub fn open(&self) {
        *self.shut.lock().unwrap() = false;
        self.opened.notify_all();
    }

    fn pass(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let mut shut = self.shut.lock().unwrap();
        if *shut {
            self.waiting.fetch_add(1, SeqCst);
            while *shut {
                shut = self.opened.wait(shut).unwrap();
            }
            self.waiting.fetch_sub(1, SeqCst);
        }
    }
}
