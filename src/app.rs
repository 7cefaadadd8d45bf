//! Wiring: builds every component from the config, supervises the background tasks, and shuts
//! down gracefully (stop checks and log sources, flush pending observations, log offsets and
//! clusters, close the store).

use crate::api::{self, AppState, Authenticator};
use crate::bus::EventBus;
use crate::checks::{self, Check, scheduler};
use crate::config::Config;
use crate::detect::{Detector, LogRates, SignalSink};
use crate::incidents::IncidentService;
use crate::logs::{Classifier, LogSource, SourceContext};
use crate::model::{check_fingerprint, log_fingerprint};
use crate::remedy::{EngineParts, RepairEngine};
use crate::security::audit::AuditRecord;
use crate::security::lockout::Lockout;
use crate::security::secrets::{MASTER_KEY_ENV, MasterKey, SecretError};
use crate::store::{self, Store, StoreError, Vault};
use crate::telemetry::Metrics;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for open API connections.
const SERVER_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The repair queue could not be read (the store failed, or a stored job is unreadable).
    #[error("repair queue: {0}")]
    Queue(#[from] crate::queue::QueueError),
    /// A check could not be built.
    #[error(transparent)]
    Check(#[from] checks::BuildError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The secrets could not be opened (e.g. the master key does not match).
    #[error("secrets: {0}")]
    Secrets(#[from] SecretError),
    /// The stored secrets could not be read.
    #[error("secrets: {0}")]
    Vault(#[from] crate::store::VaultError),
    /// The log categories did not compile (a validated config always compiles).
    #[error("log categories: {0}")]
    Categories(#[from] crate::logs::PatternError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The vault, when a master key is configured; its secrets are registered for redaction at
/// once. A key that does not open the stored secrets stops the start (nothing is changed).
async fn open_vault(config: &Config, store: &Store) -> Result<Option<Vault>, StartError> {
    let key_file = config
        .security
        .master_key_file
        .as_ref()
        .map(|f| std::path::PathBuf::from(f.get_ref()));
    let key = match MasterKey::load(std::env::var(MASTER_KEY_ENV).ok(), key_file.as_deref()) {
        Ok(key) => key,
        Err(SecretError::NoKey) => {
            if !store.sealed_secrets().await?.is_empty() {
                tracing::warn!(
                    "secrets are stored but no master key is configured ({MASTER_KEY_ENV} or [security] master_key_file): steps that use them will fail"
                );
            }
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let vault = Vault::open(store.clone(), key).await?;
    vault.all().await?;
    Ok(Some(vault))
}

/// A running daemon.
pub struct App {
    /// The address the API actually listens on (useful with port 0).
    pub address: SocketAddr,
    /// Shared state (also what the API sees).
    pub state: AppState,
    shutdown: CancellationToken,
    incidents_stop: CancellationToken,
    incident_task: JoinHandle<()>,
    repairs_stop: CancellationToken,
    repair_task: JoinHandle<()>,
    checks: JoinSet<()>,
    logs: JoinSet<()>,
    writer: JoinHandle<()>,
    retention: JoinHandle<()>,
    server: JoinHandle<()>,
}

impl App {
    /// Starts everything: store, checks, detection, retention and the API; `auth` resolves
    /// bearer tokens.
    pub async fn start(config: Config, auth: Authenticator) -> Result<App, StartError> {
        let config = Arc::new(config);
        let store = Store::connect(config.store.url.get_ref()).await?;
        let metrics = Arc::new(Metrics::new());
        let bus = EventBus::default();
        let shared = checks::SharedResources::new()?;
        let checks: Vec<Arc<Check>> = config
            .check
            .iter()
            .map(|c| Check::from_config(c, &shared).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let (signal_tx, signal_rx) = tokio::sync::mpsc::unbounded_channel();
        let detector = Arc::new(Detector::new(
            &checks,
            bus.clone(),
            Arc::clone(&metrics),
            Some(SignalSink {
                sender: signal_tx.clone(),
                resolve_after_ok: config.incidents.resolve_after_ok,
            }),
        ));
        // Compiled once when log sources need it, and then shared with the analyze-error
        // endpoint; without log sources the endpoint compiles it on its first request.
        let analyzer = Arc::new(std::sync::OnceLock::new());
        let mut sources = Vec::with_capacity(config.log.len());
        // The incident fingerprints the config can still resolve (see `resolve_orphans`).
        let mut configured: HashSet<String> = config
            .check
            .iter()
            .map(|c| check_fingerprint(c.name.get_ref()))
            .collect();
        if !config.log.is_empty() {
            let classifier = Classifier::from_config(&config)?;
            for log in &config.log {
                let rules = log.rules(classifier.categories());
                configured.extend(
                    rules
                        .iter()
                        .map(|rule| log_fingerprint(log.name.get_ref(), &rule.category)),
                );
                let rates =
                    LogRates::open(log, rules, &store, signal_tx.clone(), Arc::clone(&metrics))
                        .await?;
                sources
                    .push(LogSource::open(log, classifier.clone(), &store, Box::new(rates)).await?);
            }
            let _ = analyzer.set(std::sync::Mutex::new(crate::logs::Analyzer::new(
                classifier,
                crate::logs::MinerConfig::default(),
            )));
        }
        let source_context = SourceContext {
            store: store.clone(),
            metrics: Arc::clone(&metrics),
            flush_every: config.store.flush_interval.get(),
        };
        let (repair_tx, repair_rx) = tokio::sync::mpsc::unbounded_channel();
        let incidents = IncidentService::new(
            store.clone(),
            Arc::clone(&config),
            bus.clone(),
            Arc::clone(&metrics),
        )
        .with_repairs(repair_tx);
        incidents.resolve_orphans(&configured).await?;
        let vault = open_vault(&config, &store).await?;
        let repairs = RepairEngine::new(EngineParts {
            store: store.clone(),
            config: Arc::clone(&config),
            checks: checks.clone(),
            detector: Arc::clone(&detector),
            incidents: incidents.clone(),
            bus: bus.clone(),
            metrics: Arc::clone(&metrics),
            vault,
        })
        .await?;
        let started = AuditRecord::system("daemon.start", "config", "ok").with_detail(format!(
            "checks={} runbooks={} users={} mode={}",
            config.check.len(),
            config.runbook.len(),
            config.user.len(),
            config.policy.mode.as_str()
        ));
        store.append_audit(&started).await?;
        let repairs_stop = CancellationToken::new();
        let repair_task = tokio::spawn(repairs.clone().run(repair_rx, repairs_stop.clone()));
        // Stopped only after every check task has ended, so the last signals are recorded.
        let incidents_stop = CancellationToken::new();
        let incident_task = tokio::spawn(incidents.clone().run(signal_rx, incidents_stop.clone()));
        let (sink, writer) = store::writer::spawn(
            store.clone(),
            Arc::clone(&metrics),
            config.store.flush_interval.get(),
        );
        let (running_tx, running_rx) = watch::channel(true);
        metrics.monitoring_running.set(1);
        let shutdown = CancellationToken::new();
        let checks = scheduler::spawn(
            &checks,
            &scheduler::SchedulerContext {
                detection: detector.clone(),
                sink,
                running: running_rx,
                shutdown: shutdown.clone(),
            },
        );
        let mut logs = JoinSet::new();
        for source in sources {
            logs.spawn(source.run(source_context.clone(), shutdown.clone()));
        }
        drop(source_context);
        let retention = tokio::spawn(store::retention::run(
            store.clone(),
            config.store.clone(),
            config.security.audit_retention.map(|d| d.get()),
            Arc::clone(&metrics),
            shutdown.clone(),
        ));
        let store_for_auth = store.clone();
        let state = AppState {
            config: Arc::clone(&config),
            store,
            detector,
            incidents,
            repairs,
            analyzer,
            bus,
            metrics,
            running: Arc::new(running_tx),
            auth: auth.with_store(
                store_for_auth,
                config
                    .user
                    .iter()
                    .map(|u| (u.name.get_ref().clone(), u.role)),
            ),
            lockout: Arc::new(Lockout::new(
                config.security.max_login_attempts,
                config.security.login_window.get(),
                config.security.lockout.get(),
            )),
            started_at: chrono::Utc::now(),
            shutdown: shutdown.clone(),
        };
        let listen = config.server.listen.get_ref().clone();
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|source| StartError::Listen {
                address: listen.clone(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Listen {
            address: listen,
            source,
        })?;
        let router = api::router(state.clone());
        let server_shutdown = shutdown.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "API server failed");
            }
        });
        tracing::info!(%address, checks = config.check.len(), logs = config.log.len(), mode = config.policy.mode.as_str(), "homeostat started");
        // Start-up (config, migrations, secrets) leaves freed pages behind in the heap.
        crate::process::release_free_heap();
        Ok(App {
            address,
            state,
            shutdown,
            incidents_stop,
            incident_task,
            repairs_stop,
            repair_task,
            checks,
            logs,
            writer,
            retention,
            server,
        })
    }

    /// Stops checks and the API, writes every pending observation, and closes the store.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        self.shutdown.cancel();
        while self.checks.join_next().await.is_some() {}
        // Each log source saves its offsets and clusters before it ends.
        while self.logs.join_next().await.is_some() {}
        self.incidents_stop.cancel();
        let _ = self.incident_task.await;
        // Running steps are killed and unfinished repairs marked interrupted.
        self.repairs_stop.cancel();
        let _ = self.repair_task.await;
        // Every check task has dropped its sender: the writer drains the channel and returns.
        let _ = self.writer.await;
        let _ = self.retention.await;
        // Open connections get a moment to finish; event streams end with the shutdown token.
        if tokio::time::timeout(SERVER_DRAIN, &mut self.server)
            .await
            .is_err()
        {
            tracing::warn!("API connections still open after {SERVER_DRAIN:?}; closing them");
            self.server.abort();
        }
        self.state.store.close().await;
        tracing::info!("stopped");
    }
}

/// Runs the daemon until SIGINT or SIGTERM, then shuts down gracefully. The bootstrap admin
/// token comes from `HOMEOSTAT_ADMIN_TOKEN`.
pub async fn run(config: Config) -> Result<(), StartError> {
    let auth = Authenticator::new(std::env::var(api::ADMIN_TOKEN_ENV).ok());
    // Listening before the start: a step may run before `start` returns (a repair taken back
    // from the previous life), and a SIGTERM then must stop it gracefully too.
    let stop = StopSignals::listen();
    let app = App::start(config, auth).await?;
    stop.wait().await;
    app.shutdown().await;
    Ok(())
}

/// SIGINT and SIGTERM, caught from `listen` on (before, they end the process at once).
pub(crate) struct StopSignals {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    /// Starts catching SIGINT and SIGTERM.
    pub(crate) fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                signals: signal(SignalKind::interrupt())
                    .and_then(|int| Ok((int, signal(SignalKind::terminate())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Resolves on the first SIGINT or SIGTERM caught.
    pub(crate) async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
