//! `cleanup` steps, the disk-full repair: delete or gzip regular files matching a glob that are
//! older than an age, oldest first, until the next file would pass the byte cap. Symlinks, paths
//! through symlinked directories below the glob's literal directory, and directories are never
//! touched.

use super::{Outcome, Render};
use crate::config::{CleanupAction, CleanupStep, Duration, cleanup_glob_problem};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// Bytes compressed between two looks at the stop token.
const CHUNK: usize = 1 << 20;

/// A cleanup with its glob rendered (and checked again).
#[derive(Clone)]
pub(super) struct Sweep {
    glob: String,
    older_than: Duration,
    action: CleanupAction,
    max_bytes: u64,
}

/// What a sweep did so far.
#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
    left: u64,
    failures: Vec<String>,
    lines: Vec<String>,
}

impl Sweep {
    pub(super) fn new(step: &CleanupStep, render: &Render<'_>) -> Result<Sweep, String> {
        let glob = render(step.glob.get_ref())?;
        if let Some(problem) = cleanup_glob_problem(&glob) {
            return Err(problem);
        }
        Ok(Sweep {
            glob,
            older_than: step.older_than,
            action: step.action,
            max_bytes: step.max_bytes,
        })
    }

    pub(super) fn command(&self) -> Vec<String> {
        vec![
            "cleanup".to_string(),
            self.action.as_str().to_string(),
            self.glob.clone(),
            format!("older_than={}", self.older_than),
            format!("max_bytes={}", self.max_bytes),
        ]
    }

    /// Sweeps on a blocking thread; stops between files (and between chunks of a gzip) when the
    /// kill token fires or this future is dropped (the step timed out).
    pub(super) async fn run(&self, kill: &CancellationToken) -> Outcome {
        let stop = kill.child_token();
        let _stop_when_dropped = stop.clone().drop_guard();
        let sweep = self.clone();
        match tokio::task::spawn_blocking(move || sweep.sweep(&stop)).await {
            Ok(outcome) => outcome,
            Err(e) => Err(format!("cleanup task failed: {e}")).into(),
        }
    }

    fn sweep(&self, stop: &CancellationToken) -> Outcome {
        let Some(cutoff) = SystemTime::now().checked_sub(self.older_than.get()) else {
            return Err(format!(
                "older_than {} reaches before 1970",
                self.older_than
            ))
            .into();
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = match glob::glob_with(&self.glob, options) {
            Ok(paths) => paths,
            Err(e) => return Err(format!("invalid glob `{}`: {e}", self.glob)).into(),
        };
        let base = literal_dir(&self.glob);
        let mut candidates = Vec::new();
        for path in paths.flatten() {
            if stop.is_cancelled() {
                return Err("stopped".to_string()).into();
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let gzipped = path.extension().is_some_and(|e| e == "gz");
            if !meta.file_type().is_file()
                || through_symlink(&path, &base)
                || (self.action == CleanupAction::Gzip && gzipped)
            {
                continue;
            }
            if let Ok(modified) = meta.modified()
                && modified < cutoff
            {
                candidates.push((modified, meta.len(), path));
            }
        }
        candidates.sort();
        let mut tally = Tally::default();
        let total = candidates.len();
        for (index, (_, size, path)) in candidates.into_iter().enumerate() {
            if stop.is_cancelled() {
                tally.failures.push("stopped".to_string());
                break;
            }
            if tally.bytes.saturating_add(size) > self.max_bytes {
                tally.left = u64::try_from(total - index).unwrap_or(u64::MAX);
                break;
            }
            let done = match self.action {
                CleanupAction::Delete => fs::remove_file(&path).map_err(|e| e.to_string()),
                CleanupAction::Gzip => gzip(&path, stop),
            };
            match done {
                Ok(()) => {
                    tally.files += 1;
                    tally.bytes += size;
                    tally.lines.push(format!(
                        "{} {} ({size} bytes)",
                        self.past_tense(),
                        path.display()
                    ));
                }
                Err(e) => tally.failures.push(format!("{}: {e}", path.display())),
            }
        }
        self.outcome(tally)
    }

    fn past_tense(&self) -> &'static str {
        match self.action {
            CleanupAction::Delete => "deleted",
            CleanupAction::Gzip => "gzipped",
        }
    }

    fn outcome(&self, tally: Tally) -> Outcome {
        let mut output = format!(
            "{} {} files, {} bytes",
            self.past_tense(),
            tally.files,
            tally.bytes
        );
        if tally.left > 0 {
            output.push_str(&format!(
                "; {} old files left: max_bytes {} reached",
                tally.left, self.max_bytes
            ));
        }
        output.push('\n');
        for line in tally.lines {
            output.push_str(&line);
            output.push('\n');
        }
        let error = (!tally.failures.is_empty()).then(|| {
            format!(
                "{} files could not be cleaned: {}",
                tally.failures.len(),
                tally.failures.join("; ")
            )
        });
        Outcome { output, error }
    }
}

/// The directory before the glob's first wildcard (checked by `cleanup_glob_problem`).
fn literal_dir(glob: &str) -> PathBuf {
    let wildcard = ["*", "?", "["]
        .iter()
        .filter_map(|w| glob.find(w))
        .min()
        .unwrap_or(glob.len());
    let literal = glob.get(..wildcard).unwrap_or_default();
    PathBuf::from(
        literal
            .rfind('/')
            .and_then(|i| literal.get(..i))
            .unwrap_or_default(),
    )
}

/// Whether a directory between `base` (written by the user) and `path` is a symlink.
fn through_symlink(path: &Path, base: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(base) && *dir != base)
        .any(|dir| fs::symlink_metadata(dir).map_or(true, |m| m.file_type().is_symlink()))
}

/// Compresses `path` to `path.gz` (same mtime), then removes `path`. Refuses to overwrite.
fn gzip(path: &Path, stop: &CancellationToken) -> Result<(), String> {
    let mut target = path.as_os_str().to_owned();
    target.push(".gz");
    let target = PathBuf::from(target);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(format!("{} exists", target.display()));
    }
    let mut partial = target.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let result = compress(path, &partial, stop).and_then(|()| {
        fs::rename(&partial, &target).map_err(|e| format!("cannot rename: {e}"))?;
        fs::remove_file(path).map_err(|e| format!("gzipped but cannot remove: {e}"))
    });
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

fn compress(path: &Path, partial: &Path, stop: &CancellationToken) -> Result<(), String> {
    let mut source = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let metadata = source.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    let modified = metadata
        .modified()
        .map_err(|e| format!("cannot stat: {e}"))?;
    // The archive is exactly as private as the log it replaces.
    let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777;
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let mut encoder = GzEncoder::new(out, Compression::default());
    let mut buffer = vec![0; CHUNK];
    loop {
        if stop.is_cancelled() {
            return Err("stopped".to_string());
        }
        let read = source
            .read(&mut buffer)
            .map_err(|e| format!("cannot read: {e}"))?;
        let Some(chunk) = buffer.get(..read).filter(|c| !c.is_empty()) else {
            break;
        };
        encoder
            .write_all(chunk)
            .map_err(|e| format!("cannot write: {e}"))?;
    }
    let out: File = encoder
        .finish()
        .map_err(|e| format!("cannot finish gzip: {e}"))?;
    out.sync_all().map_err(|e| format!("cannot sync: {e}"))?;
    out.set_modified(modified)
        .map_err(|e| format!("cannot set mtime: {e}"))
}
