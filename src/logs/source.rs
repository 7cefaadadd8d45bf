//! A running log source: tails its files (file events plus polling), analyzes every line
//! (category + template cluster), turns category rates into signals, and saves offsets and
//! cluster counts to the store together, periodically and at shutdown.

use super::cut_json;
use super::failure::{self, LEVEL_FIELDS};
use super::miner::{Cluster, ClusterId};
use super::rate::{LineClock, RateWindow};
use super::stored::StoredTemplates;
use super::tail::{FileId, Line, Position, Tailer};
use super::timestamp::{self, DEFAULT_TIME_FIELDS};
use super::{Analyzer, Classifier, MinerConfig};
use crate::config::{AlertRule, LogConfig, LogFormat, LogStart};
use crate::logs::Severity;
use crate::model::{Impact, LOG_LABEL, Signal, Status, log_fingerprint};
use crate::store::{ClusterDelta, LogProgress, Store, StoreError};
use crate::telemetry::Metrics;
use crate::telemetry::events::{LogAlertChanged, LogLinesRead};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// How often files are looked at when no file event came (inotify can drop events, and some
/// filesystems send none).
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// Longest evidence line quoted in a signal.
const EVIDENCE_CHARS: usize = 500;

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
    /// The incident manager's inbox.
    pub signals: UnboundedSender<Signal>,
    /// How often offsets and clusters are saved.
    pub flush_every: Duration,
}

/// One category-rate rule and its window.
struct Rule {
    rule: AlertRule,
    window: RateWindow,
    /// The latest matching line (evidence).
    latest: String,
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
    labels: BTreeMap<String, String>,
    impact: Impact,
    glob: String,
    watch_root: (PathBuf, bool),
    tailer: Tailer,
    analyzer: Analyzer,
    rules: Vec<Rule>,
    /// Rule index by category id.
    rule_of: HashMap<usize, usize>,
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
    /// `from = "end"` means the end at start-up).
    pub async fn open(
        config: &LogConfig,
        classifier: Classifier,
        store: &Store,
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
        let mut rules: Vec<Rule> = config
            .rules(analyzer.classifier().categories())
            .into_iter()
            .map(|rule| Rule {
                window: RateWindow::new(rule.count, rule.within),
                rule,
                latest: String::new(),
            })
            .collect();
        // A rule whose incident an earlier run left open fires on, as if it had a hit now: a
        // whole window without a hit from now on resolves it (the errors may have stopped while
        // the daemon was down), and hits that go on keep it open. The last hit before the stop
        // is not known: a firing rule signals once, so the incident's last signal is when it
        // fired, and errors that never stopped would resolve it at once.
        for rule in &mut rules {
            let fingerprint = log_fingerprint(&name, &rule.rule.category);
            if store.active_incident(&fingerprint).await?.is_some() {
                rule.window.resume_firing(Utc::now());
            }
        }
        let rule_of = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((analyzer.classifier().id_of(&r.rule.category)?, i)))
            .collect();
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
            labels: config.labels.clone(),
            impact: config.impact,
            glob: config.path.get_ref().clone(),
            watch_root: config.watch_root(),
            tailer,
            analyzer,
            rules,
            rule_of,
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
                self.process(line, now, &ctx, &mut counts);
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
            self.quiet_rules(clock, &ctx);
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

    /// Analyzes one line: message extraction, category, cluster, rate rule.
    fn process(&mut self, line: &Line, now: Instant, ctx: &SourceContext, counts: &mut Counts) {
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
        let severity = result
            .category
            .and_then(|c| self.analyzer.classifier().category(c))
            .map(|c| c.severity);
        let failure = failure::is_failure(message, severity, level.as_deref());
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
        let Some(index) = result.category.and_then(|c| self.rule_of.get(&c).copied()) else {
            return;
        };
        let clock = self.clock.now(wall, now);
        // A backlog can hold a burst, a quiet window and another burst: two incidents.
        self.quiet_rule(index, clock, ctx);
        let Some(rule) = self.rules.get_mut(index) else {
            return;
        };
        rule.latest = message.chars().take(EVIDENCE_CHARS).collect();
        if rule.window.hit(at, clock) {
            let since = rule.window.first_hit().unwrap_or(at);
            let message = format!(
                "{} `{}` lines within {}; latest: {}",
                rule.rule.count,
                rule.rule.category,
                humantime::format_duration(rule.rule.within),
                rule.latest
            );
            let (category, status) = (rule.rule.category.clone(), status_of(rule.rule.severity));
            let signal = self.signal(&category, status, Status::Ok, message, since);
            self.send(signal, true, ctx);
        }
    }

    /// Rules that fired and had a whole quiet window: healthy signals.
    fn quiet_rules(&mut self, clock: DateTime<Utc>, ctx: &SourceContext) {
        for index in 0..self.rules.len() {
            self.quiet_rule(index, clock, ctx);
        }
    }

    /// The healthy signal when rule `index` fired and had a whole quiet window before `clock`.
    fn quiet_rule(&mut self, index: usize, clock: DateTime<Utc>, ctx: &SourceContext) {
        let Some(rule) = self.rules.get_mut(index) else {
            return;
        };
        if !rule.window.quiet(clock) {
            return;
        }
        let (category, severity) = (rule.rule.category.clone(), rule.rule.severity);
        let message = format!(
            "no `{category}` line for {}",
            humantime::format_duration(rule.rule.within)
        );
        let signal = self.signal(
            &category,
            Status::Ok,
            status_of(severity),
            message,
            Utc::now(),
        );
        self.send(signal, false, ctx);
    }

    fn signal(
        &self,
        category: &str,
        status: Status,
        previous: Status,
        message: String,
        since: DateTime<Utc>,
    ) -> Signal {
        let mut labels = self.labels.clone();
        labels.insert(LOG_LABEL.into(), self.name.clone());
        labels.insert("category".into(), category.to_string());
        Signal {
            fingerprint: log_fingerprint(&self.name, category),
            check: None,
            subject: format!("log {}", self.name),
            labels,
            impact: self.impact,
            status,
            previous,
            message,
            at: Utc::now(),
            failing_since: status.is_failure().then_some(since),
        }
    }

    fn send(&self, signal: Signal, firing: bool, ctx: &SourceContext) {
        LogAlertChanged {
            source: &self.name,
            category: signal.labels.get("category").map_or("", String::as_str),
            firing,
            message: &signal.message,
        }
        .emit(&ctx.metrics);
        let _ = ctx.signals.send(signal);
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

/// The signal status of a category's severity: `critical` and `error` lines mean something
/// failed; `warning` and `info` only warn.
fn status_of(severity: Severity) -> Status {
    match severity {
        Severity::Critical | Severity::Error => Status::Critical,
        Severity::Warning | Severity::Info => Status::Warning,
    }
}
