//! A running log source: tails its files (file events plus polling), analyzes every line
//! (category + template cluster), hands the classified lines on to detection, and saves offsets
//! and cluster counts to the store together, periodically and at shutdown.

use super::classified::{ClassifiedLine, ClassifiedSink};
use super::clock::LineClock;
use super::cut_json;
use super::failure::{self, LEVEL_FIELDS};
use super::miner::{Cluster, ClusterId};
use super::stored::StoredTemplates;
use super::tail::{Line, Tailer};
use super::timestamp::{self, DEFAULT_TIME_FIELDS};
use super::{Analyzer, Classifier, MinerConfig};
use crate::config::{LogConfig, LogFormat, LogStart};
use crate::model::{FileId, Position};
use crate::store::{ClusterDelta, LogProgress, Store, StoreError};
use crate::telemetry::Metrics;
use crate::telemetry::events::LogLinesRead;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often files are looked at when no file event came (inotify can drop events, and some
/// filesystems send none).
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Evicted clusters with unsaved lines that make the next save come at once (bounds the memory
/// they hold between saves).
const EVICTED_SAVE_AT: usize = 1000;

/// Evicted clusters with unsaved lines beyond which, while saves fail, no more is read: the
/// lines wait in the files until a save gets through, so a failing store with a stream of new
/// templates cannot grow memory without bound (one read adds at most a read's worth of lines).
const EVICTED_HOLD: usize = 4 * EVICTED_SAVE_AT;

/// What every log source needs from the daemon.
#[derive(Clone)]
pub struct SourceContext {
    /// Offsets and clusters are saved here.
    pub store: Store,
    /// Line counters.
    pub metrics: Arc<Metrics>,
    /// How often offsets and clusters are saved.
    pub flush_every: Duration,
}

/// New lines of one cluster since the last save.
struct Pending {
    lines: i64,
    /// Of those, lines that report a failure ([`failure::is_failure`]).
    failures: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// Lines of one batch, by outcome.
#[derive(Default)]
struct Counts {
    lines: u64,
    cut: u64,
    invalid: u64,
    skipped: u64,
    untimed: u64,
}

/// A configured log source, ready to run.
pub struct LogSource {
    name: String,
    format: LogFormat,
    /// Whether the format can give a line time (json, or a regex with a `time` group).
    timed: bool,
    /// The source's time, in line time (category rates count by it).
    clock: LineClock,
    glob: String,
    watch_root: (PathBuf, bool),
    tailer: Tailer,
    analyzer: Analyzer,
    /// Detection, which the classified lines go to.
    detection: Box<dyn ClassifiedSink>,
    pending: HashMap<ClusterId, Pending>,
    /// Clusters the miner evicted (LRU or per node) with lines not saved yet, and those lines.
    evicted: Vec<(Cluster, Pending)>,
    /// Stored row of each cluster saved before, and whether the cluster joined a row stored
    /// before it (that row keeps its own sample lines: those of the template's first lines).
    rows: HashMap<ClusterId, (i64, bool)>,
    /// The stored rows' templates, which the clusters of a restarted source join.
    stored: StoredTemplates,
    forgotten: Vec<FileId>,
    /// The positions of the last save (an idle source does not write).
    saved: Vec<Position>,
    /// Whether the store knows the source has started (its first save records it).
    started: bool,
}

impl LogSource {
    /// Builds the source from its (validated) config and the categories in force (the
    /// config's classifier), resuming at the offsets stored for it, and finds its files now (so
    /// `from = "end"` means the end at start-up); its classified lines go to `detection`.
    pub async fn open(
        config: &LogConfig,
        classifier: Classifier,
        store: &Store,
        detection: Box<dyn ClassifiedSink>,
    ) -> Result<LogSource, StoreError> {
        let name = config.name.get_ref().clone();
        // A config that loaded has a valid format; plain is the harmless fallback.
        let format = config.format().unwrap_or(LogFormat::Plain);
        let timed = match &format {
            LogFormat::Plain => false,
            LogFormat::Json { .. } => true,
            LogFormat::Regex(re) => re.capture_names().any(|n| n == Some("time")),
        };
        let mut analyzer = Analyzer::new(classifier, MinerConfig::default());
        analyzer.miner_mut().keep_evicted();
        let stored = store.log_positions(&name).await?;
        let started = store.log_source_started(&name).await?;
        let stored_templates = StoredTemplates::new(store.log_cluster_templates(&name).await?);
        let mut tailer = Tailer::new(
            config.path.get_ref(),
            config.max_line_bytes,
            config.from == LogStart::End && !started,
            stored,
        );
        tailer.scan(Instant::now());
        Ok(LogSource {
            name,
            format,
            timed,
            clock: LineClock::default(),
            glob: config.path.get_ref().clone(),
            watch_root: config.watch_root(),
            tailer,
            analyzer,
            detection,
            pending: HashMap::new(),
            evicted: Vec::new(),
            rows: HashMap::new(),
            stored: stored_templates,
            forgotten: Vec::new(),
            saved: Vec::new(),
            started,
        })
    }

    /// Tails until `shutdown`, then saves where it stopped.
    pub async fn run(mut self, ctx: SourceContext, shutdown: CancellationToken) {
        let (wake_tx, mut wake) = tokio::sync::mpsc::channel::<()>(1);
        let rescan = Arc::new(AtomicBool::new(false));
        let _watcher = self.watch(wake_tx, Arc::clone(&rescan));
        let mut last_flush = Instant::now();
        loop {
            if self.evicted.len() >= EVICTED_HOLD {
                self.flush(&ctx).await;
                last_flush = Instant::now();
                if self.evicted.len() >= EVICTED_HOLD {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(POLL_EVERY) => continue,
                    }
                }
            }
            let mut tailer = self.tailer;
            let rescan = rescan.swap(false, Ordering::SeqCst);
            let read = tokio::task::spawn_blocking(move || {
                let batch = tailer.read(Instant::now(), rescan);
                (tailer, batch)
            })
            .await;
            let batch = match read {
                Ok((tailer, batch)) => {
                    self.tailer = tailer;
                    batch
                }
                Err(e) => {
                    tracing::error!(source = %self.name, error = %e, "log tailing failed; source stopped");
                    return;
                }
            };
            self.forgotten.extend(self.tailer.take_forgotten());
            let now = Instant::now();
            let mut counts = Counts::default();
            for line in &batch.lines {
                self.process(line, now, &mut counts);
            }
            LogLinesRead {
                source: &self.name,
                lines: counts.lines,
                cut: counts.cut,
                invalid: counts.invalid,
                skipped: counts.skipped,
                untimed: counts.untimed,
                truncations: batch.truncations,
            }
            .emit(&ctx.metrics);
            let clock = self.clock.now(Utc::now(), now);
            self.detection.clock(clock);
            self.collect_evicted();
            if last_flush.elapsed() >= ctx.flush_every || self.evicted.len() >= EVICTED_SAVE_AT {
                self.flush(&ctx).await;
                last_flush = Instant::now();
            }
            if batch.more {
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wake.recv() => {}
                _ = tokio::time::sleep(POLL_EVERY) => {}
            }
        }
        self.flush(&ctx).await;
    }

    /// A file watcher that wakes the loop on writes to matched files and on any other change
    /// below the glob's directory (creations, renames, removals: those also set `rescan`, so a
    /// file that exists only briefly under a matched name is still found); `None` (and polling
    /// only) when it cannot be set up.
    fn watch(
        &self,
        wake: tokio::sync::mpsc::Sender<()>,
        rescan: Arc<AtomicBool>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let (root, deep) = &self.watch_root;
        let mode = if *deep {
            notify::RecursiveMode::Recursive
        } else {
            notify::RecursiveMode::NonRecursive
        };
        let pattern = glob::Pattern::new(&self.glob).ok();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Writes to other files in the directory (say, the SQLite store) are no news.
                let relevant = event.map_or(true, |e| match e.kind {
                    notify::EventKind::Access(_) => false,
                    notify::EventKind::Modify(notify::event::ModifyKind::Data(_)) => e
                        .paths
                        .iter()
                        .any(|p| pattern.as_ref().is_none_or(|g| g.matches_path(p))),
                    _ => {
                        rescan.store(true, Ordering::SeqCst);
                        true
                    }
                });
                if relevant {
                    // Full means a wake-up is already pending: nothing is lost.
                    let _ = wake.try_send(());
                }
            })
            .and_then(|mut w| w.watch(root, mode).map(|()| w));
        match &mut watcher {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(source = %self.name, dir = %root.display(), error = %e, "no file events for this log source; polling only");
            }
        }
        watcher.ok()
    }

    /// Analyzes one line: message extraction, category, cluster; a classified line goes on to
    /// detection.
    fn process(&mut self, line: &Line, now: Instant, counts: &mut Counts) {
        counts.lines += 1;
        counts.cut += u64::from(line.cut);
        counts.invalid += u64::from(line.invalid);
        if line.text.contains('\0') {
            counts.skipped += 1;
            return;
        }
        let wall = Utc::now();
        let (json, cut_message);
        let (message, time, level) = match &self.format {
            LogFormat::Plain => (Some(line.text.as_str()), None, None),
            LogFormat::Regex(re) => match re.captures(&line.text) {
                Some(c) => (
                    c.name("message").map(|m| m.as_str()),
                    c.name("time")
                        .and_then(|t| timestamp::parse(t.as_str(), wall)),
                    c.name("level").map(|l| Cow::Borrowed(l.as_str())),
                ),
                None => (None, None, None),
            },
            LogFormat::Json {
                message_field,
                time_field,
            } => {
                json = serde_json::from_str::<serde_json::Value>(&line.text).ok();
                if json.is_none() && line.cut {
                    // A cut line no longer parses: its string fields are read up to the cut.
                    let field = |name: &str| cut_json::field(&line.text, name);
                    cut_message = field(message_field);
                    let time = time_of(time_field.as_deref(), field);
                    (
                        cut_message.as_deref(),
                        time.and_then(|t| timestamp::parse(&t, wall)),
                        LEVEL_FIELDS
                            .iter()
                            .find_map(|name| field(name))
                            .map(Cow::Owned),
                    )
                } else {
                    let field = |name: &str| json.as_ref()?.get(name).filter(|v| !v.is_null());
                    let time = time_of(time_field.as_deref(), field);
                    let level = LEVEL_FIELDS.iter().find_map(|name| match field(name)? {
                        serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                        serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
                        _ => None,
                    });
                    (
                        field(message_field).and_then(|v| v.as_str()),
                        time.and_then(|t| timestamp::from_json(t, wall)),
                        level,
                    )
                }
            }
        };
        let Some(message) = message.filter(|m| !m.trim().is_empty()) else {
            counts.skipped += 1;
            return;
        };
        counts.untimed += u64::from(self.timed && time.is_none());
        let at = self.clock.observe(time, wall, now);
        // Clusters are seen at their lines' own times (a backlog read now happened earlier).
        let at_ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let result = self.analyzer.analyze_line(message, at_ms);
        let category = result
            .category
            .and_then(|c| self.analyzer.classifier().category(c));
        let failure = failure::is_failure(message, category.map(|c| c.severity), level.as_deref());
        let pending = self.pending.entry(result.cluster).or_insert(Pending {
            lines: 0,
            failures: 0,
            first_seen: at,
            last_seen: at,
        });
        pending.lines += 1;
        pending.failures += i64::from(failure);
        pending.first_seen = pending.first_seen.min(at);
        pending.last_seen = pending.last_seen.max(at);
        let Some(category) = category else {
            return;
        };
        self.detection.line(ClassifiedLine {
            category: &category.name,
            at,
            clock: self.clock.now(wall, now),
            message,
        });
    }

    /// Keeps the clusters the miner evicted that have unsaved lines, for the next save; drops
    /// the others.
    fn collect_evicted(&mut self) {
        for cluster in self.analyzer.miner_mut().drain_evicted() {
            if let Some(pending) = self.pending.remove(&cluster.id) {
                self.evicted.push((cluster, pending));
            }
        }
    }

    /// Saves offsets and cluster counts (of live and of evicted clusters) in one transaction;
    /// on failure keeps them for the next try.
    async fn flush(&mut self, ctx: &SourceContext) {
        self.collect_evicted();
        let positions = self.tailer.positions();
        if self.pending.is_empty()
            && self.evicted.is_empty()
            && self.forgotten.is_empty()
            && positions == self.saved
            && self.started
        {
            return;
        }
        let miner = self.analyzer.miner();
        let live = self
            .pending
            .iter()
            .filter_map(|(id, p)| Some((miner.cluster(*id)?, p)));
        let evicted = self.evicted.iter().map(|(cluster, p)| (cluster, p));
        let (ids, clusters): (Vec<(ClusterId, bool)>, Vec<ClusterDelta>) = live
            .chain(evicted)
            .map(|(cluster, p)| {
                let template = cluster.template();
                // A cluster saved before keeps its row; a new one joins a stored row it fits
                // (one its template had before a restart, or before an eviction).
                let (row, joined, template) = match self.rows.get(&cluster.id) {
                    Some(&(row, joined)) => (
                        Some(row),
                        joined,
                        self.stored.joined(row, &template).ok_or(template),
                    ),
                    None => match self.stored.find(&template) {
                        Some((row, template)) => (Some(row), true, Ok(template)),
                        None => (None, false, Ok(template)),
                    },
                };
                // `Err`: a known row no longer remembered keeps its stored template.
                let keep_template = template.is_err();
                let template = template.unwrap_or_else(|own| own);
                // At once: another cluster of this flush may join the same row.
                if let (Some(row), false) = (row, keep_template) {
                    self.stored.remember(row, &template);
                }
                let delta = ClusterDelta {
                    row,
                    template,
                    keep_template,
                    lines: p.lines,
                    failures: p.failures,
                    first_seen: p.first_seen,
                    last_seen: p.last_seen,
                    samples: if joined {
                        Vec::new()
                    } else {
                        cluster.samples.clone()
                    },
                };
                ((cluster.id, joined), delta)
            })
            .unzip();
        let progress = LogProgress {
            source: &self.name,
            positions: &positions,
            forgotten: &self.forgotten,
            clusters: &clusters,
            mark_started: !self.started,
            at: Utc::now(),
        };
        match ctx.store.save_log_progress(&progress).await {
            Ok(rows) => {
                for (delta, &row) in clusters.iter().zip(&rows) {
                    match delta.row {
                        // Retention removed the row: the cluster got a new one.
                        Some(gone) if gone != row => {
                            self.stored.forget(gone);
                            self.stored.remember(row, &delta.template);
                        }
                        _ if !delta.keep_template => self.stored.remember(row, &delta.template),
                        _ => {}
                    }
                }
                self.rows.extend(
                    ids.into_iter()
                        .zip(rows)
                        .map(|((id, joined), row)| (id, (row, joined))),
                );
                let miner = self.analyzer.miner();
                self.rows.retain(|id, _| miner.cluster(*id).is_some());
                self.pending.clear();
                self.evicted.clear();
                self.forgotten.clear();
                self.saved = positions;
                self.started = true;
            }
            Err(e) => {
                ctx.metrics.store_errors.inc();
                tracing::warn!(source = %self.name, error = %e, "saving log offsets and clusters failed; will retry");
            }
        }
    }
}

/// A json line's time field: `time_field`, or the first of [`DEFAULT_TIME_FIELDS`] present;
/// `field` reads a field.
fn time_of<T>(time_field: Option<&str>, field: impl Fn(&str) -> Option<T>) -> Option<T> {
    match time_field {
        Some(name) => field(name),
        None => DEFAULT_TIME_FIELDS.iter().find_map(|name| field(name)),
    }
}
