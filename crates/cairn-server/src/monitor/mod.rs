//! The live monitor: per stream and model version, what committed decisions
//! look like (rate, label mix, scores, latency) over sliding windows (1 and 15
//! minutes by default), drift checks of the newest version against the previous
//! one on each window, and a breaker per stream whose trips are appended to the
//! ledger and sent to a webhook. Open breakers, pins and accepted pairs are
//! saved in the ledger directory and outlive a restart ([`persist`]).
//!
//! Cost on the commit path: request handlers copy each decision's stream, model,
//! label, score and latency ([`extract`]) before queueing it; once the group is
//! durable the sequencer hands the group's copies over a bounded channel with one
//! `try_send` (a full channel drops them and counts them, it never waits). The
//! monitor thread does the counting and the checks under its own lock, which the
//! commit path never takes.
//!
//! - [`window`]: bounded counters and time buckets;
//! - [`drift`]: the checks (what each computes is in `schemas/monitor.md`);
//! - [`state`]: streams, versions and breakers (pure);
//! - [`notify`]: alert entries and the signed webhook;
//! - [`persist`]: the state saved across restarts;
//! - [`prom`]: the Prometheus lines; [`settings`]: the options.

pub mod drift;
pub mod notify;
pub mod persist;
pub mod prom;
pub mod settings;
pub mod state;
pub mod window;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_store::{Append, Receipt};
use tracing::{error, info, warn};

pub use settings::{MonitorConfig, MonitorSettings};
pub use state::{Observation, State, Trip, Version};

/// Groups of observations waiting for the monitor thread; past this the
/// sequencer drops them (and counts them) rather than wait.
const QUEUE_GROUPS_MAX: usize = 1024;
/// Trips waiting for the notifier.
const TRIPS_QUEUED_MAX: usize = 64;

enum Msg {
    Group {
        time_us: i64,
        observations: Vec<Observation>,
    },
    Stop,
}

/// Counters of the monitor itself.
#[derive(Debug, Default)]
pub struct Counters {
    /// Decisions counted.
    pub observed: AtomicU64,
    /// Decisions dropped because the monitor's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Trips dropped because the notifier's queue was full.
    pub trips_dropped: AtomicU64,
    /// Alert entries appended.
    pub alerts_appended: AtomicU64,
    /// Alert entries that could not be appended.
    pub alerts_failed: AtomicU64,
    /// Webhook calls answered 2xx.
    pub webhook_delivered: AtomicU64,
    /// Webhook calls given up after every attempt.
    pub webhook_failed: AtomicU64,
}

/// Where the state is saved, and the generation saved last. Its lock is
/// taken before the state's, so that saves happen one at a time and the last
/// one written is the newest.
struct Persist {
    path: PathBuf,
    saved_generation: Mutex<u64>,
}

/// What the monitor thread, the feed and the HTTP handlers share.
pub struct Shared {
    state: Mutex<State>,
    persist: Option<Persist>,
    /// The monitor's own counters.
    pub counters: Counters,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The state, locked (never by the commit path).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Save the breakers, pins and accepted pairs if they changed since the
    /// last save. Blocking (a write and two fsyncs): call it off the async
    /// workers. A failure is logged and returned (an operator's action is
    /// answered with it), and the next change tries again.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        let mut saved_generation = p.saved_generation.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, saved) = {
            let state = self.lock();
            if state.generation() == *saved_generation {
                return Ok(());
            }
            (state.generation(), state.saved())
        };
        persist::save(&p.path, &saved)
            .inspect(|()| *saved_generation = generation)
            .inspect_err(|e| {
                error!(
                    path = %p.path.display(),
                    error = %e,
                    "the monitor's state could not be saved; an open breaker or a pin may not outlive a restart"
                )
            })
    }

    /// Where the state is saved, if anywhere.
    pub fn saved_at(&self) -> Option<&std::path::Path> {
        self.persist.as_ref().map(|p| p.path.as_path())
    }
}

/// Hands committed decisions to the monitor; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

/// The monitor's view of each item: `Some` for a decision.
pub fn extract(items: &[Append]) -> Vec<Option<Observation>> {
    items
        .iter()
        .map(|item| {
            let d = item.decision()?;
            Some(Observation {
                stream: d.stream.clone(),
                model: Version {
                    model: d.model.name.clone(),
                    version: d.model.version.clone(),
                },
                label: d.decision.clone(),
                score: d.score,
                latency_ms: d.latency_ms,
            })
        })
        .collect()
}

impl Feed {
    /// Hand over a durable group: `observed[i]` is the item whose receipt is
    /// `receipts[i]`; duplicates (answered by an earlier entry) are left out.
    /// Never blocks.
    pub fn committed(
        &self,
        time_us: i64,
        observed: Vec<Option<Observation>>,
        receipts: &[Receipt],
    ) {
        let observations: Vec<Observation> = observed
            .into_iter()
            .zip(receipts)
            .filter(|(_, r)| !r.duplicate)
            .filter_map(|(o, _)| o)
            .collect();
        if observations.is_empty() {
            return;
        }
        let n = observations.len() as u64;
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Group {
                time_us,
                observations,
            })
        {
            self.shared
                .counters
                .dropped_queue_full
                .fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The running monitor: its thread and what it shares.
pub struct Monitor {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
    config: MonitorConfig,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Monitor {
    /// Start the monitor thread, with the state saved at `state_path` (if
    /// any) taken back; trips come out of the returned receiver.
    pub fn start(
        config: MonitorConfig,
        state_path: Option<PathBuf>,
    ) -> std::io::Result<(Monitor, tokio::sync::mpsc::Receiver<Trip>)> {
        let mut state = State::new(config.limits.clone(), config.thresholds);
        if let Some(path) = &state_path {
            restore(&mut state, path);
        }
        let persist = state_path.map(|path| Persist {
            path,
            saved_generation: Mutex::new(state.generation()),
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            persist,
            counters: Counters::default(),
        });
        let (tx, rx) = sync_channel(QUEUE_GROUPS_MAX);
        let (trip_tx, trip_rx) = tokio::sync::mpsc::channel(TRIPS_QUEUED_MAX);
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cairn-monitor".into())
            .spawn(move || run(&thread_shared, &rx, &trip_tx))?;
        Ok((
            Monitor {
                shared,
                tx,
                thread: Some(thread),
                config,
            },
            trip_rx,
        ))
    }

    /// A feed for the sequencer.
    pub fn feed(&self) -> Feed {
        Feed {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The shared state, for the HTTP handlers.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The configuration.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Count what is queued, then stop the thread and save the state.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                error!("the monitor thread panicked");
            }
        }
        // A failure is logged by `save`; there is no one else to tell.
        let _ = self.shared.save();
    }
}

/// Take back the saved state; a damaged file is a warning, and every breaker
/// starts closed.
fn restore(state: &mut State, path: &std::path::Path) {
    match persist::load(path) {
        Ok(None) => {}
        Ok(Some(saved)) => {
            let open = saved
                .streams
                .values()
                .filter(|s| matches!(s.breaker, state::Breaker::Open { .. }))
                .count();
            let streams = state.restore(saved);
            info!(path = %path.display(), streams, open, "the monitor's saved breakers and pins are back");
        }
        Err(e) => warn!(
            error = %e,
            "the monitor's saved state cannot be read: every breaker starts closed and nothing is pinned (the file is replaced at the next change)"
        ),
    }
}

fn run(shared: &Shared, rx: &Receiver<Msg>, trips: &tokio::sync::mpsc::Sender<Trip>) {
    let mut touched: Vec<String> = Vec::new();
    let mut generation = shared.lock().generation();
    while let Ok(Msg::Group {
        time_us,
        observations,
    }) = rx.recv()
    {
        let (found, changed) = {
            let mut state = shared.lock();
            touched.clear();
            for o in &observations {
                state.observe(time_us, o);
                if !touched.contains(&o.stream) {
                    touched.push(o.stream.clone());
                }
            }
            let found = touched
                .iter()
                .filter_map(|s| state.evaluate(s, time_us))
                .collect::<Vec<Trip>>();
            let changed = state.generation() != generation;
            generation = state.generation();
            (found, changed)
        };
        if changed {
            // Before the trip is announced: a breaker the webhook reports open
            // is open after a restart too. A failure is logged by `save`.
            let _ = shared.save();
        }
        shared
            .counters
            .observed
            .fetch_add(observations.len() as u64, Ordering::Relaxed);
        for trip in found {
            warn!(
                stream = %trip.stream,
                check = trip.check.check,
                statistic = trip.check.statistic,
                threshold = trip.check.threshold,
                current = %trip.current.version,
                reference = %trip.reference.version,
                "breaker opened"
            );
            if trips.try_send(trip).is_err() {
                shared
                    .counters
                    .trips_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
