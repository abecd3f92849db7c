//! Start a daemon in-process, read its metrics and entries, and stand a lossy
//! proxy in front of it.

use std::net::SocketAddr;

use cairn_client::{Decision, Model};
use cairn_server::{serve, Daemon as Served, ServeError, Settings};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A daemon serving a fresh ledger.
pub struct Daemon {
    pub addr: SocketAddr,
    http: reqwest::Client,
    token: Option<String>,
    _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Start a daemon with `settings` over a new ledger.
pub async fn start(settings: Settings) -> Daemon {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    cairn_server::store::init(dir.path(), Some("client.test/ledger")).unwrap();
    let config = Settings {
        data: Some(dir.path().to_owned()),
        checkpoint_interval_ms: Some(50),
        ..settings
    }
    .resolve()
    .unwrap();
    let daemon = Served::open(config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, daemon, async {
        let _ = stopped.await;
    }));
    Daemon {
        addr,
        http: reqwest::Client::new(),
        token: None,
        _dir: dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Daemon {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Read with this bearer token from now on.
    pub fn reading_with(mut self, token: &str) -> Daemon {
        self.token = Some(token.to_owned());
        self
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.url()));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// One value from `/metrics`; 0 when the line is absent (a reject reason
    /// never seen).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// The leaf hash the daemon serves for `seq`.
    pub async fn leaf_hash(&self, seq: u64) -> String {
        let (status, text) = self.get(&format!("/v1/entries/{seq}")).await;
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["receipt"]["leaf_hash"].as_str().unwrap().to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// Decision number `i` on `payments.fraud`, with about `pad` bytes of input.
pub fn decision(i: usize, pad: usize) -> Decision {
    let mut d = Decision::new(
        "payments.fraud",
        Model::new("fraud-model", "7.2.0"),
        json!({"amount": i, "note": "x".repeat(pad)}),
        json!({"label": if i.is_multiple_of(3) { "review" } else { "approve" }}),
    );
    d.request_id = Some(format!("req-{i}"));
    d
}

/// A proxy to `upstream` that passes the first request on but closes the
/// connection instead of passing its answer back, as a network failure after
/// the daemon stored the batch would; later connections pass through.
pub async fn lossy_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream).await.unwrap();
            if std::mem::take(&mut first) {
                tokio::spawn(swallow_answer(client, server));
            } else {
                tokio::spawn(async move {
                    let (mut client, mut server) = (client, server);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        }
    });
    addr
}

async fn swallow_answer(client: TcpStream, server: TcpStream) {
    let (mut from_client, to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
    });
    // The first byte of the answer: the daemon has stored the batch.
    let mut byte = [0u8; 1];
    let _ = from_server.read(&mut byte).await;
    up.abort();
    let _ = up.await;
    drop(to_client);
}
