//! `cleanup` steps, the disk-full repair: delete or gzip regular files matching a glob that are
//! older than an age, oldest first, until the next file would pass the byte cap. Symlinks, paths
//! through symlinked directories below the glob's literal directory, and directories are never
//! touched: every file is reached again from the literal directory with `O_NOFOLLOW` at each
//! level and must still be the file that was listed, so a symlink swapped in meanwhile leads
//! nowhere. A sweep looks at no more than `MAX_ENTRIES` directory entries.

use super::{Outcome, Render};
use crate::config::{CleanupAction, CleanupStep, Duration, cleanup_glob_problem};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// Bytes compressed between two looks at the stop token.
const CHUNK: usize = 1 << 20;
/// Directory entries one sweep looks at, at most (bounded work however big the directory is,
/// or however deep a `**`); the rest waits for the next run.
const MAX_ENTRIES: usize = 100_000;
/// How glob patterns match names (as a shell would: `*` never matches a leading dot).
const MATCH_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// A cleanup with its glob rendered (and checked again).
#[derive(Clone)]
pub(super) struct Sweep {
    glob: String,
    older_than: Duration,
    action: CleanupAction,
    max_bytes: u64,
}

/// What a sweep found to clean, oldest first.
struct Listing {
    /// The glob's literal directory.
    base: PathBuf,
    candidates: Vec<Candidate>,
    /// Directory entries looked at.
    examined: usize,
    /// Whether `MAX_ENTRIES` ended the listing.
    cut_short: bool,
}

/// An old enough regular file, as listed.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    modified: SystemTime,
    size: u64,
    path: PathBuf,
    /// Its directory's path below the base, name by name.
    below: Vec<OsString>,
    name: OsString,
    /// Device and inode: whatever is at its name when it is cleaned must still be this file.
    id: (u64, u64),
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
        let listing = match self.list(cutoff, stop) {
            Ok(listing) => listing,
            Err(e) => return Err(e).into(),
        };
        self.act(listing, stop)
    }

    /// The old enough regular files the glob matches, oldest first. Directories are listed
    /// without following symlinks, and at most `MAX_ENTRIES` entries are looked at.
    fn list(&self, cutoff: SystemTime, stop: &CancellationToken) -> Result<Listing, String> {
        let base = literal_dir(&self.glob);
        let rest = self
            .glob
            .get(base.as_os_str().len()..)
            .unwrap_or_default()
            .trim_start_matches('/');
        let patterns = rest
            .split('/')
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c == "**" {
                    Ok(None)
                } else {
                    glob::Pattern::new(c)
                        .map(Some)
                        .map_err(|e| format!("invalid glob `{}`: {e}", self.glob))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut listing = Listing {
            base: base.clone(),
            candidates: Vec::new(),
            examined: 0,
            cut_short: false,
        };
        self.walk(&base, &[], &patterns, cutoff, stop, &mut listing);
        if stop.is_cancelled() {
            return Err("stopped".to_string());
        }
        listing.candidates.sort();
        Ok(listing)
    }

    /// Matches `patterns` (`None` is `**`) below `dir` (`below` names its directories under the
    /// base), adding old enough regular files to `listing`.
    fn walk(
        &self,
        dir: &Path,
        below: &[OsString],
        patterns: &[Option<glob::Pattern>],
        cutoff: SystemTime,
        stop: &CancellationToken,
        listing: &mut Listing,
    ) {
        let Some((first, rest)) = patterns.split_first() else {
            return;
        };
        if first.is_none() {
            // `**` matches no directory too.
            self.walk(dir, below, rest, cutoff, stop, listing);
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if listing.examined >= MAX_ENTRIES {
                listing.cut_short = true;
                return;
            }
            if stop.is_cancelled() {
                return;
            }
            listing.examined += 1;
            let name = entry.file_name();
            let Some(text) = name.to_str() else {
                continue; // Not UTF-8: no pattern matches it.
            };
            // The entry's own type: a symlink is a symlink here, never what it points to.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let matched = match first {
                Some(pattern) => pattern.matches_with(text, MATCH_OPTIONS),
                None => !text.starts_with('.'),
            };
            if !matched {
                continue;
            }
            let last = rest.is_empty() && first.is_some();
            if kind.is_dir() && !last {
                let mut deeper = below.to_vec();
                deeper.push(name.clone());
                // `**` may match more directories; a named level matches this one.
                let next = if first.is_none() { patterns } else { rest };
                self.walk(&entry.path(), &deeper, next, cutoff, stop, listing);
            } else if kind.is_file() && (last || (first.is_none() && rest.is_empty())) {
                let gzipped = Path::new(&name).extension().is_some_and(|e| e == "gz");
                if self.action == CleanupAction::Gzip && gzipped {
                    continue;
                }
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if let Ok(modified) = meta.modified()
                    && modified < cutoff
                {
                    listing.candidates.push(Candidate {
                        modified,
                        size: meta.len(),
                        path: entry.path(),
                        below: below.to_vec(),
                        name,
                        id: (meta.dev(), meta.ino()),
                    });
                }
            }
        }
    }

    /// Deletes or gzips the listed files, oldest first, up to `max_bytes`; each is reached
    /// from the base directory without following a symlink, and must still be the file listed.
    fn act(&self, listing: Listing, stop: &CancellationToken) -> Outcome {
        let mut tally = Tally::default();
        let total = listing.candidates.len();
        for (index, candidate) in listing.candidates.into_iter().enumerate() {
            if stop.is_cancelled() {
                tally.failures.push("stopped".to_string());
                break;
            }
            let size = candidate.size;
            if tally.bytes.saturating_add(size) > self.max_bytes {
                tally.left = u64::try_from(total - index).unwrap_or(u64::MAX);
                break;
            }
            let done = Dir::open(&listing.base, &candidate.below)
                .map_err(|e| format!("cannot open its directory without symlinks: {e}"))
                .and_then(|dir| match self.action {
                    CleanupAction::Delete => dir.remove(&candidate.name, candidate.id),
                    CleanupAction::Gzip => gzip(&dir, &candidate, stop),
                });
            let path = candidate.path.display();
            match done {
                Ok(()) => {
                    tally.files += 1;
                    tally.bytes += size;
                    tally
                        .lines
                        .push(format!("{} {path} ({size} bytes)", self.past_tense()));
                }
                Err(e) => tally.failures.push(format!("{path}: {e}")),
            }
        }
        if listing.cut_short {
            tally.lines.push(format!(
                "listing stopped after {MAX_ENTRIES} entries; the rest is left for the next run"
            ));
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

/// A directory reached from the base without following a symlink below it, kept open: what a
/// sweep deletes, reads and writes is named relative to it, so swapping a directory for a
/// symlink after the listing cannot lead the sweep out of the tree.
struct Dir {
    fd: OwnedFd,
}

impl Dir {
    /// `base` (as the user wrote it, symlinks allowed), then each of `below` with `O_NOFOLLOW`.
    fn open(base: &Path, below: &[OsString]) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(base)?;
        let mut dir = Dir { fd: file.into() };
        for name in below {
            let fd = dir.open_at(name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            dir = Dir { fd };
        }
        Ok(dir)
    }

    /// `openat` relative to this directory, never following a symlink at `name`.
    fn open_at(&self, name: &OsStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
        let name = c_name(name)?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the returned fd is
        // checked and then owned by exactly one `OwnedFd`.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                libc::c_uint::from(mode),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened by this call and is owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The entry `name` itself (a symlink is not followed): device, inode and whether it is a
    /// regular file.
    fn entry(&self, name: &OsStr) -> io::Result<((u64, u64), bool)> {
        let c = c_name(name)?;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c` is NUL-terminated and `stat` points to writable memory of the right type.
        let done = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                stat.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        #[allow(clippy::unnecessary_cast)] // The field types differ between targets.
        let id = (stat.st_dev as u64, stat.st_ino as u64);
        Ok((id, stat.st_mode & libc::S_IFMT == libc::S_IFREG))
    }

    /// Fails unless `name` is still the regular file `id` that was listed.
    fn check(&self, name: &OsStr, id: (u64, u64)) -> Result<(), String> {
        match self.entry(name) {
            Ok((found, true)) if found == id => Ok(()),
            Ok(_) => Err("replaced since it was listed; left alone".to_string()),
            Err(e) => Err(format!("cannot stat: {e}")),
        }
    }

    /// Removes `name` if it is still the regular file `id`.
    fn remove(&self, name: &OsStr, id: (u64, u64)) -> Result<(), String> {
        self.check(name, id)?;
        self.unlink(name).map_err(|e| e.to_string())
    }

    fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: `c` is NUL-terminated; unlinkat never follows a symlink at `name`.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Links `from` as `to` in this directory; fails if `to` exists (never replaces it).
    fn link(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (c_name(from)?, c_name(to)?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: both names are NUL-terminated; flags 0 do not follow a symlink at `from`.
        if unsafe { libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Compresses `candidate` to `NAME.gz` beside it (same mtime and permissions), then removes
/// it. Refuses to overwrite, and to read anything but the regular file that was listed.
fn gzip(dir: &Dir, candidate: &Candidate, stop: &CancellationToken) -> Result<(), String> {
    let mut target = candidate.name.clone();
    target.push(".gz");
    let mut partial = target.clone();
    partial.push(".partial");
    if dir.entry(&target).is_ok() {
        return Err(format!("{} exists", target.to_string_lossy()));
    }
    let result = compress(dir, candidate, &partial, stop).and_then(|()| {
        dir.link(&partial, &target)
            .map_err(|e| format!("cannot create {}: {e}", target.to_string_lossy()))?;
        let _ = dir.unlink(&partial);
        dir.remove(&candidate.name, candidate.id)
            .map_err(|e| format!("gzipped but cannot remove: {e}"))
    });
    if result.is_err() {
        let _ = dir.unlink(&partial);
    }
    result
}

fn compress(
    dir: &Dir,
    candidate: &Candidate,
    partial: &OsStr,
    stop: &CancellationToken,
) -> Result<(), String> {
    // Non-blocking: a FIFO swapped in must not hang the open (it is refused below anyway).
    let mut source = File::from(
        dir.open_at(&candidate.name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .map_err(|e| format!("cannot open: {e}"))?,
    );
    let metadata = source.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !metadata.is_file() || (metadata.dev(), metadata.ino()) != candidate.id {
        return Err("replaced since it was listed; left alone".to_string());
    }
    let modified = metadata
        .modified()
        .map_err(|e| format!("cannot stat: {e}"))?;
    // The archive is exactly as private as the log it replaces.
    let mode = metadata.mode() & 0o777;
    let out = File::from(
        dir.open_at(
            partial,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            mode as libc::mode_t,
        )
        .map_err(|e| format!("cannot create {}: {e}", partial.to_string_lossy()))?,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn old_file(path: &Path) {
        fs::write(path, "old").expect("write");
        let old = SystemTime::now() - std::time::Duration::from_secs(86_400);
        File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(old))
            .expect("mtime");
    }

    fn sweep(glob: String, action: CleanupAction) -> Sweep {
        Sweep {
            glob,
            older_than: "1h".parse().expect("duration"),
            action,
            max_bytes: u64::MAX,
        }
    }

    #[test]
    fn symlinks_swapped_in_after_the_listing_lead_nowhere() {
        let root = tempfile::tempdir().expect("tempdir");
        let (logs, outside) = (root.path().join("logs"), root.path().join("outside"));
        fs::create_dir_all(logs.join("sub")).expect("dirs");
        fs::create_dir_all(&outside).expect("dirs");
        old_file(&logs.join("sub/a.log"));
        old_file(&logs.join("b.log"));
        old_file(&outside.join("a.log"));
        old_file(&outside.join("secret"));
        let stop = CancellationToken::new();
        for action in [CleanupAction::Delete, CleanupAction::Gzip] {
            let sweep = sweep(format!("{}/**/*.log", logs.display()), action);
            let cutoff = SystemTime::now() - std::time::Duration::from_secs(60);
            let listing = sweep.list(cutoff, &stop).expect("list");
            assert_eq!(listing.candidates.len(), 2);
            // After the listing: the directory becomes a symlink out of the tree, and the
            // file a symlink to a file outside.
            fs::rename(logs.join("sub"), root.path().join("moved")).expect("move dir");
            std::os::unix::fs::symlink(&outside, logs.join("sub")).expect("symlink dir");
            fs::remove_file(logs.join("b.log")).expect("remove");
            std::os::unix::fs::symlink(outside.join("secret"), logs.join("b.log"))
                .expect("symlink file");
            let outcome = sweep.act(listing, &stop);
            assert!(
                outcome
                    .output
                    .starts_with(&format!("{} 0 files", sweep.past_tense()))
            );
            assert!(
                outcome
                    .error
                    .is_some_and(|e| e.starts_with("2 files could not"))
            );
            assert_eq!(fs::read_to_string(outside.join("a.log")).expect("a"), "old");
            assert_eq!(
                fs::read_to_string(outside.join("secret")).expect("b"),
                "old"
            );
            assert!(logs.join("b.log").is_symlink());
            assert!(!outside.join("a.log.gz").exists() && !logs.join("b.log.gz").exists());
            // Back as it was for the next action.
            fs::remove_file(logs.join("sub")).expect("unlink");
            fs::rename(root.path().join("moved"), logs.join("sub")).expect("move back");
            fs::remove_file(logs.join("b.log")).expect("unlink");
            old_file(&logs.join("b.log"));
        }
    }

    #[test]
    fn listing_stops_after_max_entries() {
        let root = tempfile::tempdir().expect("tempdir");
        for n in 0..3 {
            old_file(&root.path().join(format!("{n}.log")));
        }
        let stop = CancellationToken::new();
        let sweep = sweep(
            format!("{}/*.log", root.path().display()),
            CleanupAction::Delete,
        );
        let cutoff = SystemTime::now();
        let mut listing = Listing {
            base: root.path().to_path_buf(),
            candidates: Vec::new(),
            examined: MAX_ENTRIES - 2,
            cut_short: false,
        };
        let pattern = glob::Pattern::new("*.log").expect("pattern");
        sweep.walk(
            root.path(),
            &[],
            &[Some(pattern)],
            cutoff,
            &stop,
            &mut listing,
        );
        assert_eq!(listing.candidates.len(), 2);
        assert!(listing.cut_short);
    }
}
