//! Rotation-safe tailing of the files matching one glob. Blocking I/O: callers run `read` on a
//! blocking thread. Files are followed by identity (device + inode), not by name, so:
//! - rename rotation: the renamed file stays open and is read to its end; the new file at the
//!   old name is a new identity, read from 0; a file no longer matched by the glob is closed
//!   once it has not grown for [`ROTATE_WAIT`];
//! - copytruncate: a file shorter than the read offset was truncated and is read again from 0;
//! - a partial last line is held until its newline arrives; lines over `max_line_bytes` are cut
//!   and the rest of them skipped; invalid UTF-8 is converted lossily. Each case is counted.
//!
//! [`Tailer::positions`] gives, per file, the offset just past the last complete line handed
//! out: persisted, it lets a restarted tailer continue with no line lost or read twice.

use crate::model::{FileId, Position};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a file that no longer matches the glob (rotated away) is still followed after it
/// last grew: a writer may still be finishing its last lines into it.
pub const ROTATE_WAIT: Duration = Duration::from_secs(5);

/// Least time between two scans of the glob: a busy file wakes the reader often, but new files
/// need not be looked for on every write.
pub const SCAN_EVERY: Duration = Duration::from_millis(250);

/// With more files followed than this, files that have not grown for [`PARK_IDLE`] are closed
/// ("parked": their offset kept) and opened again when a scan finds them changed, so that a
/// glob over thousands of dated files does not hold a file descriptor for each.
const PARK_ABOVE: usize = 256;

/// How long a file must not have grown before it may be parked.
const PARK_IDLE: Duration = Duration::from_secs(60);

/// Bytes read per file per `read` call, so one busy file cannot starve the others.
const READ_CHUNK: usize = 256 * 1024;

/// Bytes read per `read` call from all files together, so that catching up on many files at
/// once (a first start, a long stop) holds a bounded batch in memory. The files take turns at
/// going first.
const READ_BUDGET: usize = 4 * READ_CHUNK;

/// The identity (device and inode) of the file `meta` describes.
fn file_id(meta: &std::fs::Metadata) -> FileId {
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}

/// One line read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The text (lossily converted; without the newline and a trailing `\r`).
    pub text: String,
    /// The line was longer than the limit and was cut.
    pub cut: bool,
    /// The line was not valid UTF-8 (or held NUL bytes); invalid bytes became U+FFFD.
    pub invalid: bool,
}

/// What one `read` produced.
#[derive(Debug, Default)]
pub struct Batch {
    /// Complete lines, in file order per file.
    pub lines: Vec<Line>,
    /// True when a file had more to read than one chunk, or the read budget left files unread:
    /// call `read` again soon.
    pub more: bool,
    /// Files found truncated (copytruncate) and read again from the start.
    pub truncations: u64,
}

struct Followed {
    path: PathBuf,
    file: File,
    /// Bytes read so far (the read position).
    read_to: u64,
    /// Bytes of an incomplete line, held until its newline.
    partial: Vec<u8>,
    /// Dropping the rest of a line that was cut.
    skipping: bool,
    /// Matched by the glob at the last scan.
    matched: bool,
    /// When the file last grew (or was found).
    grew_at: Instant,
}

impl Followed {
    fn committed(&self) -> u64 {
        self.read_to
            .saturating_sub(u64::try_from(self.partial.len()).unwrap_or(u64::MAX))
    }
}

/// A matched file closed while idle (see [`PARK_ABOVE`]).
struct Parked {
    path: PathBuf,
    /// Offset just past the last line read.
    offset: u64,
    /// Matched by the glob at the last scan.
    matched: bool,
}

/// Follows the files matching one glob.
pub struct Tailer {
    glob: String,
    max_line_bytes: usize,
    start_at_end: bool,
    /// Offsets (and last paths) stored by an earlier run, used when their file is first seen.
    stored: HashMap<FileId, (u64, PathBuf)>,
    files: HashMap<FileId, Followed>,
    /// Files followed but closed while idle.
    parked: HashMap<FileId, Parked>,
    /// Files stopped being followed since the last `take_forgotten`.
    forgotten: Vec<FileId>,
    /// When the glob was last scanned; `None` before the first scan.
    scanned_at: Option<Instant>,
    /// Which file goes first at the next `read` (counts reads).
    turn: usize,
    buf: Vec<u8>,
}

impl Tailer {
    /// A tailer for `glob`. `stored` are positions persisted by an earlier run. On a first run
    /// (nothing stored) files found at the first scan start at their end when `start_at_end`,
    /// else at 0; every other file without a stored offset is new and starts at 0. A file at
    /// the stored path with the stored inode but another device number (remounted, a new
    /// overlay or container) takes that offset: it is the same file.
    pub fn new(
        glob: &str,
        max_line_bytes: usize,
        start_at_end: bool,
        stored: Vec<Position>,
    ) -> Tailer {
        let stored: HashMap<FileId, (u64, PathBuf)> = stored
            .into_iter()
            .map(|p| (p.id, (p.offset, p.path)))
            .collect();
        Tailer {
            glob: glob.to_string(),
            max_line_bytes: max_line_bytes.max(1),
            start_at_end: start_at_end && stored.is_empty(),
            stored,
            files: HashMap::new(),
            parked: HashMap::new(),
            forgotten: Vec::new(),
            scanned_at: None,
            turn: 0,
            buf: vec![0; READ_CHUNK],
        }
    }

    /// Finds new and rotated files (when `rescan`, e.g. a file was created or renamed, or
    /// [`SCAN_EVERY`] after the last scan), then reads what was appended to every followed file.
    pub fn read(&mut self, now: Instant, rescan: bool) -> Batch {
        if rescan
            || self
                .scanned_at
                .is_none_or(|at| now.saturating_duration_since(at) >= SCAN_EVERY)
        {
            self.scan(now);
        }
        let mut batch = Batch::default();
        let max = self.max_line_bytes;
        let mut ids: Vec<FileId> = self.files.keys().copied().collect();
        ids.sort_unstable();
        if let Some(first) = self.turn.checked_rem(ids.len()) {
            ids.rotate_left(first);
        }
        self.turn = self.turn.wrapping_add(1);
        let mut budget = READ_BUDGET;
        // Files the budget left unread this time: not forgotten, whatever their age.
        let mut unread = Vec::new();
        for id in ids {
            if budget == 0 {
                batch.more = true;
                unread.push(id);
                continue;
            }
            if let Some(followed) = self.files.get_mut(&id) {
                let chunk = &mut self.buf[..READ_CHUNK.min(budget)];
                budget -= read_file(followed, chunk, max, now, &mut batch);
            }
        }
        let forgotten = &mut self.forgotten;
        let lines = &mut batch.lines;
        self.files.retain(|id, f| {
            let keep = f.matched
                || now.saturating_duration_since(f.grew_at) < ROTATE_WAIT
                || unread.contains(id);
            if !keep {
                tracing::debug!(path = %f.path.display(), "stopped following a rotated file");
                // Its writer is done with it: a last line without a newline is complete.
                if !f.partial.is_empty() {
                    lines.push(decode(&f.partial, false));
                }
                forgotten.push(*id);
            }
            keep
        });
        if self.files.len() > PARK_ABOVE {
            self.park_idle(now);
        }
        batch
    }

    /// Closes the files that still match, hold no partial line and have not grown for
    /// [`PARK_IDLE`].
    fn park_idle(&mut self, now: Instant) {
        let idle: Vec<FileId> = self
            .files
            .iter()
            .filter(|(_, f)| {
                f.matched
                    && f.partial.is_empty()
                    && !f.skipping
                    && now.saturating_duration_since(f.grew_at) >= PARK_IDLE
            })
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(f) = self.files.remove(&id) {
                let parked = Parked {
                    offset: f.committed(),
                    path: f.path,
                    matched: true,
                };
                self.parked.insert(id, parked);
            }
        }
    }

    /// Every followed file's position, for persisting.
    pub fn positions(&self) -> Vec<Position> {
        let mut positions: Vec<Position> = self
            .files
            .iter()
            .map(|(id, f)| Position {
                id: *id,
                path: f.path.clone(),
                offset: f.committed(),
            })
            .chain(self.parked.iter().map(|(id, p)| Position {
                id: *id,
                path: p.path.clone(),
                offset: p.offset,
            }))
            .collect();
        positions.sort_by_key(|p| p.id);
        positions
    }

    /// Files no longer followed (rotated away, or stored but not found by the first scan that
    /// listed everything) since the last call: their stored offsets can go.
    pub fn take_forgotten(&mut self) -> Vec<FileId> {
        std::mem::take(&mut self.forgotten)
    }

    /// Finds files newly matching the glob (opening them at their start offset) and marks the
    /// ones that no longer match. `read` does this first; call it alone to fix the start of
    /// `from = "end"` sources at start-up.
    pub fn scan(&mut self, now: Instant) {
        let found: Vec<Result<PathBuf, PathBuf>> = match glob::glob(&self.glob) {
            Ok(paths) => paths
                .map(|found| {
                    found.map_err(|e| {
                        tracing::warn!(path = %e.path().display(), error = %e.error(), "cannot list log directory");
                        e.path().to_path_buf()
                    })
                })
                .collect(),
            Err(e) => {
                tracing::warn!(glob = %self.glob, error = %e, "invalid log glob");
                Vec::new()
            }
        };
        self.scan_found(now, found);
    }

    /// [`Tailer::scan`] with what the glob found: paths, or (`Err`) directories that could not
    /// be listed. A file under such a directory counts as still matching (a failed listing,
    /// say out of file descriptors or a flaky network mount, must not make every file look
    /// rotated away and read again from its start). Offsets stored by an earlier run that no
    /// file found claims are dropped at the first scan that lists everything and opens every
    /// file it finds, not before.
    fn scan_found(&mut self, now: Instant, found: Vec<Result<PathBuf, PathBuf>>) {
        for f in self.files.values_mut() {
            f.matched = false;
        }
        for p in self.parked.values_mut() {
            p.matched = false;
        }
        let first = self.scanned_at.is_none();
        self.scanned_at = Some(now);
        let mut unlisted = Vec::new();
        let mut complete = true;
        for found in found {
            let path = match found {
                Ok(path) => path,
                Err(dir) => {
                    unlisted.push(dir);
                    complete = false;
                    continue;
                }
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let id = file_id(&meta);
            if let Some(f) = self.files.get_mut(&id) {
                f.matched = true;
                f.path = path;
                continue;
            }
            if let Some(p) = self.parked.get_mut(&id) {
                p.matched = true;
                p.path.clone_from(&path);
                if meta.len() == p.offset {
                    continue;
                }
                // Grown (or truncated): followed again from its offset, as a stored one.
                self.stored.insert(id, (p.offset, p.path.clone()));
                match self.open(&path, id, first, now) {
                    Some(followed) => {
                        self.parked.remove(&id);
                        self.files.insert(id, followed);
                    }
                    None => {
                        self.stored.remove(&id);
                        complete = false;
                    }
                }
                continue;
            }
            match self.open(&path, id, first, now) {
                Some(followed) => {
                    self.files.insert(id, followed);
                }
                None => complete = false,
            }
        }
        for f in self.files.values_mut() {
            if !f.matched && unlisted.iter().any(|dir| f.path.starts_with(dir)) {
                f.matched = true;
            }
        }
        // A parked file no longer matched was rotated away while idle: nothing more to read.
        let forgotten = &mut self.forgotten;
        self.parked.retain(|id, p| {
            let keep = p.matched || unlisted.iter().any(|dir| p.path.starts_with(dir));
            if !keep {
                forgotten.push(*id);
            }
            keep
        });
        if complete {
            // Offsets of files that are gone will never be used.
            self.forgotten.extend(self.stored.drain().map(|(id, _)| id));
        }
    }

    fn open(&mut self, path: &Path, id: FileId, first: bool, now: Instant) -> Option<Followed> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open log file");
                return None;
            }
        };
        let meta = file.metadata().ok()?;
        // Replaced between the glob and the open: the next scan sees the new one.
        if file_id(&meta) != id {
            return None;
        }
        let len = meta.len();
        let stored = match self.stored.remove(&id) {
            Some((offset, _)) => Some(offset),
            None => self.moved(id, path),
        };
        let start = match stored {
            Some(offset) if offset <= len => offset,
            Some(_) => 0,
            None if first && self.start_at_end => len,
            None => 0,
        };
        // A stored offset is past a line's newline, except after a cut line whose rest had not
        // arrived yet: that rest is skipped now, as it would have been without the restart.
        let skipping = start > 0 && !follows_newline(&file, start);
        tracing::debug!(path = %path.display(), offset = start, skipping, "following log file");
        Some(Followed {
            path: path.to_path_buf(),
            file,
            read_to: start,
            partial: Vec::new(),
            skipping,
            matched: true,
            grew_at: now,
        })
    }
}

impl Tailer {
    /// The stored offset of the file now known as `id` at `path` when its device number
    /// changed: a stored position of the same inode at the same path. That entry is used up
    /// (and its row forgotten: the file's position is saved under its new identity).
    fn moved(&mut self, id: FileId, path: &Path) -> Option<u64> {
        let old = *self
            .stored
            .iter()
            .find(|(old, (_, at))| old.ino == id.ino && old.dev != id.dev && at == path)?
            .0;
        let (offset, _) = self.stored.remove(&old)?;
        self.forgotten.push(old);
        tracing::info!(path = %path.display(), "log file's device number changed; continuing from its stored offset");
        Some(offset)
    }
}

/// True when the byte before `offset` in `file` is a newline (false when it cannot be read).
fn follows_newline(file: &File, offset: u64) -> bool {
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset - 1).is_ok() && byte[0] == b'\n'
}

/// Reads one chunk (at most `buf.len()` bytes) of what was appended to `f` and splits it into
/// lines; returns the bytes read.
fn read_file(
    f: &mut Followed,
    buf: &mut [u8],
    max: usize,
    now: Instant,
    batch: &mut Batch,
) -> usize {
    let Ok(meta) = f.file.metadata() else {
        return 0;
    };
    let len = meta.len();
    if len < f.read_to {
        tracing::info!(path = %f.path.display(), was = f.read_to, now = len, "log file truncated; reading it from the start");
        f.read_to = 0;
        f.partial.clear();
        f.skipping = false;
        batch.truncations += 1;
    }
    if len == f.read_to {
        return 0;
    }
    if f.file.seek(SeekFrom::Start(f.read_to)).is_err() {
        return 0;
    }
    let want = usize::try_from(len - f.read_to)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let n = match f.file.read(&mut buf[..want]) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(path = %f.path.display(), error = %e, "reading log file failed");
            return 0;
        }
    };
    if n == 0 {
        return 0;
    }
    f.read_to += u64::try_from(n).unwrap_or(0);
    f.grew_at = now;
    batch.more |= f.read_to < len;
    split_lines(f, &buf[..n], max, &mut batch.lines);
    n
}

/// Appends the complete lines in `data` (after `f.partial`) to `out`; keeps the rest.
fn split_lines(f: &mut Followed, data: &[u8], max: usize, out: &mut Vec<Line>) {
    let mut rest = data;
    while !rest.is_empty() {
        let newline = memchr::memchr(b'\n', rest);
        let (head, tail) = match newline {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        if f.skipping {
            f.skipping = newline.is_none();
            continue;
        }
        let room = (max + 1).saturating_sub(f.partial.len());
        f.partial.extend_from_slice(&head[..head.len().min(room)]);
        if f.partial.len() > max {
            out.push(decode(&f.partial[..max], true));
            f.partial.clear();
            f.skipping = newline.is_none();
        } else if newline.is_some() {
            out.push(decode(&f.partial, false));
            f.partial.clear();
        }
    }
}

/// The text of a line's bytes; a cut line loses a character split by the cut.
fn decode(bytes: &[u8], cut: bool) -> Line {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let nul = memchr::memchr(0, bytes).is_some();
    // Valid UTF-8 (nearly every line) is checked once; only a bad line is decoded again.
    let (text, bad) = match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(e) if cut && e.error_len().is_none() => {
            let whole = &bytes[..e.valid_up_to()];
            (String::from_utf8_lossy(whole).into_owned(), false)
        }
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    };
    Line {
        text,
        cut,
        invalid: bad || nul,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tailer(dir: &Path, max: usize) -> Tailer {
        resumed(dir, max, false, Vec::new())
    }

    /// A tailer of `dir/*.log` as a restarted daemon makes it, with the offsets `stored`.
    fn resumed(dir: &Path, max: usize, start_at_end: bool, stored: Vec<Position>) -> Tailer {
        Tailer::new(
            &dir.join("*.log").to_string_lossy(),
            max,
            start_at_end,
            stored,
        )
    }

    fn texts(batch: &Batch) -> Vec<&str> {
        batch.lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn append(path: &Path, data: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        f.write_all(data).expect("write");
    }

    #[test]
    fn partial_line_waits_for_its_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\ntw");
        let mut t = tailer(dir.path(), 100);
        let now = Instant::now();
        assert_eq!(texts(&t.read(now, false)), ["one"]);
        assert_eq!(t.positions()[0].offset, 4);
        append(&log, b"o\r\n");
        assert_eq!(texts(&t.read(now, false)), ["two"]);
        assert_eq!(t.positions()[0].offset, 9);
    }

    #[test]
    fn overlong_lines_are_cut_and_their_rest_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        let mut long = "é".repeat(40).into_bytes();
        long.extend_from_slice(b"\nshort\n");
        append(&log, &long);
        let mut t = tailer(dir.path(), 65);
        let batch = t.read(Instant::now(), false);
        assert_eq!(batch.lines.len(), 2);
        assert!(batch.lines[0].cut && !batch.lines[0].invalid);
        assert_eq!(batch.lines[0].text, "é".repeat(32));
        assert_eq!(batch.lines[1].text, "short");
    }

    #[test]
    fn a_restart_inside_a_cut_line_skips_its_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\n0123456789abc");
        let mut t = tailer(dir.path(), 8);
        assert_eq!(texts(&t.read(Instant::now(), false)), ["one", "01234567"]);
        // The cut line's end has not arrived: the stored offset is inside it.
        let stored = t.positions();
        assert_eq!(stored.iter().map(|p| p.offset).collect::<Vec<_>>(), [17]);
        drop(t);
        append(&log, b"def\ntwo\n");
        let mut again = resumed(dir.path(), 8, false, stored);
        // Not "def" (the rest of the cut line) as a line of its own.
        assert_eq!(texts(&again.read(Instant::now(), false)), ["two"]);
        // Resuming after a complete line reads the next one whole.
        let mut at_line = again.positions();
        at_line[0].offset = 4;
        let mut third = resumed(dir.path(), 8, false, at_line);
        assert_eq!(
            texts(&third.read(Instant::now(), false)),
            ["01234567", "two"]
        );
    }

    #[test]
    fn invalid_utf8_is_converted_and_flagged() {
        let dir = tempfile::tempdir().expect("tempdir");
        append(&dir.path().join("a.log"), b"ok\n\xff\xfebad\nnul\0\n");
        let mut t = tailer(dir.path(), 100);
        let batch = t.read(Instant::now(), false);
        let flags: Vec<bool> = batch.lines.iter().map(|l| l.invalid).collect();
        assert_eq!(flags, [false, true, true]);
        assert_eq!(batch.lines[1].text, "\u{fffd}\u{fffd}bad");
    }

    #[test]
    fn stored_offsets_resume_and_truncation_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\ntwo\n");
        let mut t = tailer(dir.path(), 100);
        assert_eq!(texts(&t.read(Instant::now(), false)), ["one", "two"]);
        let mut stored = t.positions();
        stored[0].offset = 4;
        // Created while no tailer ran: new, so read whole even with `start_at_end`.
        append(&dir.path().join("b.log"), b"new\n");
        let mut again = resumed(dir.path(), 100, true, stored);
        let mut first = again.read(Instant::now(), false);
        first.lines.sort_by(|a, b| b.text.cmp(&a.text));
        assert_eq!(texts(&first), ["two", "new"]);
        std::fs::write(&log, b"x\n").expect("truncate");
        let batch = again.read(Instant::now(), false);
        assert_eq!(texts(&batch), ["x"]);
        assert_eq!(batch.truncations, 1);
    }

    #[test]
    fn a_rotated_files_last_line_without_newline_is_read_when_it_is_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\nlast words");
        let start = Instant::now();
        let mut t = tailer(dir.path(), 100);
        assert_eq!(texts(&t.read(start, false)), ["one"]);
        std::fs::rename(&log, dir.path().join("a.log.1")).expect("rotate");
        // Still growing, perhaps: held.
        assert!(t.read(start + SCAN_EVERY, true).lines.is_empty());
        // Not grown for a while and no longer matched: closed, and its last line read.
        let batch = t.read(start + ROTATE_WAIT * 2, true);
        assert_eq!(texts(&batch), ["last words"]);
        assert_eq!(t.take_forgotten().len(), 1);
    }

    #[test]
    fn idle_files_beyond_the_open_limit_are_parked_and_followed_again_when_they_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = PARK_ABOVE + 20;
        for file in 0..count {
            append(&dir.path().join(format!("{file}.log")), b"first\n");
        }
        let start = Instant::now();
        let mut t = tailer(dir.path(), 100);
        assert_eq!(t.read(start, false).lines.len(), count);
        // A minute later, all idle: closed, their offsets kept.
        let later = start + PARK_IDLE;
        assert!(t.read(later, true).lines.is_empty());
        assert_eq!((t.files.len(), t.parked.len()), (0, count));
        assert_eq!(t.positions().len(), count);
        assert!(t.positions().iter().all(|p| p.offset == 6));
        // One grows: found changed by the next scan, followed again from its offset.
        append(&dir.path().join("7.log"), b"second\n");
        assert_eq!(texts(&t.read(later + SCAN_EVERY, true)), ["second"]);
        assert_eq!((t.files.len(), t.parked.len()), (1, count - 1));
        // One is rotated away while parked: forgotten at the next scan.
        let gone = dir.path().join("9.log");
        let id = file_id(&std::fs::metadata(&gone).expect("meta"));
        std::fs::rename(&gone, dir.path().join("9.old")).expect("rotate");
        assert!(t.read(later + SCAN_EVERY * 2, true).lines.is_empty());
        assert_eq!(t.take_forgotten(), [id]);
        assert_eq!(t.positions().len(), count - 1);
    }

    #[test]
    fn a_file_whose_device_number_changed_continues_from_its_stored_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\ntwo\n");
        let mut t = tailer(dir.path(), 100);
        assert_eq!(texts(&t.read(Instant::now(), false)), ["one", "two"]);
        append(&log, b"three\n");
        // Stored under another device number (a remount): the same path and inode.
        let mut stored = t.positions();
        let moved_from = FileId {
            dev: stored[0].id.dev ^ 1,
            ino: stored[0].id.ino,
        };
        stored[0].id = moved_from;
        // And a stale entry of the same inode at another path: not this file.
        stored.push(Position {
            id: FileId {
                dev: moved_from.dev ^ 2,
                ino: moved_from.ino,
            },
            path: dir.path().join("other.log"),
            offset: 1,
        });
        let mut again = resumed(dir.path(), 100, false, stored);
        assert_eq!(texts(&again.read(Instant::now(), false)), ["three"]);
        let forgotten = again.take_forgotten();
        assert!(forgotten.contains(&moved_from), "{forgotten:?}");
    }

    #[test]
    fn a_directory_that_cannot_be_listed_forgets_no_file_and_no_stored_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, b"one\ntwo\n");
        let start = Instant::now();
        let mut t = tailer(dir.path(), 100);
        assert_eq!(texts(&t.read(start, false)), ["one", "two"]);
        let id = t.positions()[0].id;
        // Long after the file last grew, its directory cannot be listed (out of file
        // descriptors, a network mount): the file is still followed, its offset kept.
        let later = start + ROTATE_WAIT * 2;
        t.scan_found(later, vec![Err(dir.path().to_path_buf())]);
        assert!(t.read(later, false).lines.is_empty());
        assert_eq!(t.take_forgotten(), []);
        assert_eq!(t.positions().len(), 1);
        // Listed, and gone from the listing: rotated away, forgotten.
        let later = later + SCAN_EVERY;
        t.scan_found(later, Vec::new());
        t.read(later, false);
        assert_eq!(t.take_forgotten(), [id]);

        // A restart whose first listing fails keeps the stored offsets for the next one.
        let stored = vec![Position {
            id,
            path: log.clone(),
            offset: 4,
        }];
        let mut again = resumed(dir.path(), 100, false, stored);
        again.scan_found(start, vec![Err(dir.path().to_path_buf())]);
        assert_eq!(again.take_forgotten(), []);
        assert_eq!(texts(&again.read(start + SCAN_EVERY, false)), ["two"]);
    }

    #[test]
    fn one_read_of_many_files_holds_a_bounded_batch_and_every_file_gets_its_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 12 files of 300 KiB each: 3.5 MiB in all, more than three reads' budget.
        let line = "x".repeat(1023);
        for file in 0..12 {
            let text: String = (0..300).map(|i| format!("{file} {i} {line}\n")).collect();
            append(&dir.path().join(format!("{file}.log")), text.as_bytes());
        }
        let mut t = tailer(dir.path(), 4096);
        let start = Instant::now();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut reads = 0;
        loop {
            let batch = t.read(start, false);
            reads += 1;
            let bytes: usize = batch.lines.iter().map(|l| l.text.len() + 1).sum();
            // The budget, plus the starts of lines cut by an earlier read's chunk.
            assert!(
                bytes <= READ_BUDGET + 12 * 4096,
                "read {reads} held {bytes} bytes"
            );
            for l in &batch.lines {
                let key = l.text.split(' ').take(2).collect::<Vec<_>>().join(" ");
                *seen.entry(key).or_default() += 1;
            }
            if !batch.more {
                break;
            }
            assert!(reads < 100, "never done");
        }
        assert_eq!(seen.len(), 12 * 300, "every line read");
        assert!(seen.values().all(|&n| n == 1), "no line read twice");
        assert!(reads >= 4, "{reads} reads");
    }
}
