//! The daemon's life: start the sequencer and the checkpointer, accept
//! connections (at most `connections_max`, optionally over TLS) until the
//! shutdown future resolves, then drain.
//!
//! Shutdown, step by step:
//! 1. stop accepting; `/readyz` answers 503;
//! 2. every connection finishes the request it is serving and closes
//!    (at most `shutdown_grace_ms`);
//! 3. the sequencer commits everything still queued and stops;
//! 4. a last checkpoint covering every entry is signed;
//! 5. with `--archive`, a last archiving run uploads it (at most
//!    `shutdown_grace_ms`; an unfinished upload is resumed by the next start);
//! 6. the store is flushed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cairn_archive::ArchiveReads;
use cairn_core::checkpoint::NoteSigner;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::admission::ByteBudget;
use crate::archiver::{ArchiveStatus, Archiver};
use crate::auth::Auth;
use crate::checkpointer::{Checkpointer, Trigger};
use crate::config::Config;
use crate::error::ServeError;
use crate::health::Health;
use crate::indexer::Indexer;
use crate::metrics::Metrics;
use crate::monitor::notify::Notifier;
use crate::monitor::{Feed, Monitor, Trip};
use crate::routes::{self, AppParts, AppState};
use crate::sequencer::{CommitLimits, Sequencer, Shared};
use crate::store::{self, ServedLedger};
use crate::tls;

/// An opened ledger with its signing key and configuration, ready to serve.
#[derive(Debug)]
pub struct Daemon {
    config: Config,
    ledger: Arc<ServedLedger>,
    signer: NoteSigner,
    archive_reads: Option<Arc<ArchiveReads>>,
}

impl Daemon {
    /// Open the ledger directory named by the configuration.
    pub fn open(config: Config) -> Result<Daemon, ServeError> {
        let opened = store::open(&config.data, config.archive.as_ref())?;
        let mut ledger = opened.ledger;
        ledger.set_disk_reserve(config.limits.disk_reserve_bytes);
        // Both cores are busy parsing requests: small groups (single-decision
        // traffic) are cheaper salted and compressed on the sequencer itself.
        ledger.set_small_groups_inline(true);
        let mut daemon = Daemon::new(config, ledger, opened.signer);
        daemon.archive_reads = opened.archive;
        Ok(daemon)
    }

    /// Serve an already opened ledger (tests use other backends).
    pub fn new(config: Config, ledger: ServedLedger, signer: NoteSigner) -> Daemon {
        Daemon {
            config,
            ledger: Arc::new(ledger),
            signer,
            archive_reads: None,
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<ServedLedger> {
        &self.ledger
    }
}

/// What every connection task needs.
struct Connections {
    router: Router,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
}

/// Check what `serve` would refuse (bearer tokens, TLS files) without opening
/// anything, so that `cairnd --init` creates no ledger for a daemon that could
/// not start.
pub fn preflight(config: &Config) -> Result<(), ServeError> {
    if let Some(files) = &config.tls {
        tls::acceptor(&files.cert, &files.key)?;
    }
    Auth::from_config(&config.tokens)?;
    Ok(())
}

/// Serve `daemon` on `listener` until `shutdown` resolves, then drain and stop.
pub async fn serve(
    listener: TcpListener,
    daemon: Daemon,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let Daemon {
        config,
        ledger,
        signer,
        archive_reads,
    } = daemon;
    let limits = config.limits;
    let tls = match &config.tls {
        Some(files) => Some(tls::acceptor(&files.cert, &files.key)?),
        None => None,
    };
    let auth = Arc::new(Auth::from_config(&config.tokens)?);
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let monitor = start_monitor(&config)?;
    let archive = config.archive.as_ref().map(|a| {
        let mut status = ArchiveStatus::new(a.url.clone(), a.max_lag_s);
        status.retention = a.retention;
        status.reads = archive_reads.clone();
        Arc::new(status)
    });
    let webhook_signer = signer.clone();
    let background = Background::start(
        &config,
        &ledger,
        signer,
        &health,
        &metrics,
        monitor.as_ref().map(|(m, _)| m.feed()),
        archive.as_ref(),
    )?;
    let budget = ByteBudget::new(limits.queue_bytes_max);
    let state = AppState::new(AppParts {
        ledger: Arc::clone(&ledger),
        sequencer: background.sequencer.handle(),
        auth: Arc::clone(&auth),
        metrics: Arc::clone(&metrics),
        health: Arc::clone(&health),
        budget: Arc::clone(&budget),
        limits,
        otlp: Arc::new(config.otlp.clone()),
        monitor: monitor.as_ref().map(|(m, _)| m.shared()),
        archive,
    });
    let (monitor, notifier) = match monitor {
        Some((m, trips)) => {
            let notifier = Notifier {
                sequencer: background.sequencer.handle(),
                budget,
                signer: webhook_signer,
                webhook_url: m.config().webhook_url.clone(),
                webhook_attempts: m.config().webhook_attempts,
                shared: m.shared(),
                origin: ledger.origin().to_owned(),
            };
            (Some(m), Some(tokio::spawn(notifier.run(trips))))
        }
        None => (None, None),
    };
    log_start(&listener, &config, &ledger, &auth);
    let (connections_stop, connections_stopped) = watch::channel(false);
    let connections = Arc::new(Connections {
        router: routes::router(state),
        tls,
        header_read_timeout: Duration::from_millis(limits.header_read_timeout_ms),
        stop: connections_stopped,
        metrics,
        tracker: TaskTracker::new(),
    });
    accept(&listener, &connections, limits.connections_max, shutdown).await;
    drop(listener);
    info!("shutting down: draining requests in flight");
    health.drain();
    let _ = connections_stop.send(true);
    drain(
        &connections,
        Duration::from_millis(limits.shutdown_grace_ms),
    )
    .await;
    background
        .stop(Duration::from_millis(limits.shutdown_grace_ms))
        .await;
    if let Some(m) = monitor {
        let _ = tokio::task::spawn_blocking(move || m.stop()).await;
    }
    if let Some(n) = notifier {
        // A webhook still being retried is given up: the alert entry, if the
        // trip got that far, is in the ledger.
        n.abort();
    }
    flush(&ledger).await;
    info!(size = ledger.size(), "stopped");
    Ok(())
}

/// The sequencer, indexer and archiver threads and the checkpointer task.
struct Background {
    sequencer: Sequencer,
    indexer: Indexer,
    archiver: Option<Archiver>,
    checkpointer: tokio::task::JoinHandle<()>,
    checkpoints_stop: watch::Sender<bool>,
}

impl Background {
    fn start(
        config: &Config,
        ledger: &Arc<ServedLedger>,
        signer: NoteSigner,
        health: &Arc<Health>,
        metrics: &Arc<Metrics>,
        monitor: Option<Feed>,
        archive: Option<&Arc<ArchiveStatus>>,
    ) -> Result<Background, ServeError> {
        let last_checkpoint = match ledger.latest_checkpoint() {
            Ok(latest) => latest.map_or(0, |(size, _)| size),
            Err(e) => {
                warn!(error = %e, "cannot read the newest checkpoint; a new one will be signed");
                0
            }
        };
        metrics
            .checkpoint_size
            .store(last_checkpoint, Ordering::Relaxed);
        let trigger = Trigger::new(config.checkpoints.every_entries, last_checkpoint);
        let limits = config.limits;
        let sequencer = Sequencer::start(
            Arc::clone(ledger),
            limits.queue_requests_max,
            CommitLimits {
                entries_max: limits.commit_entries_max,
                bytes_max: limits.commit_bytes_max,
            },
            Shared {
                health: Arc::clone(health),
                metrics: Arc::clone(metrics),
                trigger: Arc::clone(&trigger),
                monitor,
            },
        )
        .map_err(|source| ServeError::Io {
            action: "starting the sequencer thread",
            source,
        })?;
        let indexer =
            Indexer::start(Arc::clone(ledger), Arc::clone(metrics)).map_err(|source| {
                ServeError::Io {
                    action: "starting the indexer thread",
                    source,
                }
            })?;
        let archiver = match (&config.archive, archive) {
            (Some(a), Some(status)) => Some(
                Archiver::start(a, Arc::clone(ledger), Arc::clone(status)).map_err(|source| {
                    ServeError::Io {
                        action: "starting the archiver thread",
                        source,
                    }
                })?,
            ),
            _ => None,
        };
        let (checkpoints_stop, checkpoints_stopped) = watch::channel(false);
        let checkpointer = tokio::spawn(
            Checkpointer {
                ledger: Arc::clone(ledger),
                signer,
                publish_dir: config.publish_dir.clone(),
                interval: Duration::from_millis(config.checkpoints.interval_ms),
                trigger,
                metrics: Arc::clone(metrics),
                health: Arc::clone(health),
            }
            .run(checkpoints_stopped),
        );
        Ok(Background {
            sequencer,
            indexer,
            archiver,
            checkpointer,
            checkpoints_stop,
        })
    }

    /// Commit what is queued, sign the last checkpoint, then archive it
    /// (waiting at most `grace` for the archiver).
    async fn stop(self, grace: Duration) {
        self.sequencer.stop().await;
        let indexer = self.indexer;
        if tokio::task::spawn_blocking(move || indexer.stop())
            .await
            .is_err()
        {
            error!("the indexer could not be stopped");
        }
        let _ = self.checkpoints_stop.send(true);
        if self.checkpointer.await.is_err() {
            error!("the checkpointer task panicked");
        }
        if let Some(archiver) = self.archiver {
            if tokio::task::spawn_blocking(move || archiver.stop(grace))
                .await
                .is_err()
            {
                error!("the archiver could not be stopped");
            }
        }
    }
}

/// The monitor thread and the receiver of its trips, when the monitor is on.
fn start_monitor(
    config: &Config,
) -> Result<Option<(Monitor, tokio::sync::mpsc::Receiver<Trip>)>, ServeError> {
    if !config.monitor.enabled {
        return Ok(None);
    }
    // Open breakers and pins are kept beside the ledger.
    let state_path = config.data.join(crate::monitor::persist::FILE_NAME);
    Monitor::start(config.monitor.clone(), Some(state_path))
        .map(Some)
        .map_err(|source| ServeError::Io {
            action: "starting the monitor thread",
            source,
        })
}

fn log_start(listener: &TcpListener, config: &Config, ledger: &ServedLedger, auth: &Auth) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    info!(
        %addr,
        origin = ledger.origin(),
        size = ledger.size(),
        data = %config.data.display(),
        tls = config.tls.is_some(),
        "cairnd listening"
    );
    if !auth.enabled() {
        warn!(
            %addr,
            "AUTHENTICATION IS OFF: no [[tokens]] are configured, so anyone who can reach this \
             address may append and read. Configure tokens (see `cairnd hash-token`) before \
             exposing the daemon beyond this machine."
        );
    }
}

/// Accept connections until `shutdown` resolves.
async fn accept(
    listener: &TcpListener,
    connections: &Arc<Connections>,
    connections_max: usize,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limit = Arc::new(Semaphore::new(connections_max));
    tokio::pin!(shutdown);
    loop {
        // Take a connection slot first: past the limit, clients wait in the
        // kernel's listen backlog instead of costing memory here.
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => return,
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let c = Arc::clone(connections);
        connections
            .tracker
            .spawn(async move { c.serve(stream, peer, permit).await });
    }
}

/// Wait for open connections to finish, at most `grace`.
async fn drain(connections: &Connections, grace: Duration) {
    connections.tracker.close();
    if tokio::time::timeout(grace, connections.tracker.wait())
        .await
        .is_err()
    {
        warn!(
            open = connections.tracker.len(),
            "shutdown_grace_ms is over; leaving connections still open"
        );
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn flush(ledger: &Arc<ServedLedger>) {
    // After a failed write the memtables may hold a batch whose fsync failed and
    // whose requests were answered with an error; do not make it an SST file.
    if let Some(reason) = ledger.poisoned() {
        warn!(%reason, "not flushing the store after a failed write; the WAL is replayed on the next start");
        return;
    }
    let l = Arc::clone(ledger);
    match tokio::task::spawn_blocking(move || l.backend().flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(error = %e, "flushing the store failed (the WAL holds every entry)"),
        Err(e) => error!(error = %e, "flushing the store failed"),
    }
}

impl Connections {
    async fn serve(&self, stream: TcpStream, peer: SocketAddr, _permit: OwnedSemaphorePermit) {
        self.metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        self.metrics
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        match &self.tls {
            None => self.http(stream, peer).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.header_read_timeout, acceptor.accept(stream)).await
                {
                    Ok(Ok(tls)) => self.http(tls, peer).await,
                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
        self.metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Serve HTTP/1.1 on one connection; on shutdown, finish the request in
    /// flight and close.
    async fn http<I>(&self, io: I, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true);
        let service = TowerToHyperService::new(self.router.clone());
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stop = self.stop.clone();
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
