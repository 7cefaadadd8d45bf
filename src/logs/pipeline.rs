//! Analysis of a stream of lines on one thread or two. With two, the calling thread reads and
//! triages (cut, recall, classify) and a second thread clusters (mask, mine), batches of lines
//! passing between them; every line gets exactly the result the one-thread run gives it, and
//! the results come out in input order. Clustering is the heavier half: whenever the
//! clustering thread falls behind (its queue is full), the triage thread masks the lines of
//! the waiting batch itself instead of idling, so the two threads share the work evenly.

use std::sync::mpsc::{self, TrySendError};

use super::analyzer::{Analyzer, Clusterer, LineResult};
use super::mask::Token;
use super::triage::{Triage, Triaged};

/// A batch is handed to the clustering thread once its text reaches this many bytes...
const BATCH_BYTES: usize = 32 * 1024;
/// ...or it holds this many lines.
const BATCH_LINES: usize = 1024;
/// Batches queued for the clustering thread at most; the reader waits beyond that, so memory
/// stays bounded (each batch holds under `BATCH_BYTES` plus one cut line of text).
const IN_FLIGHT: usize = 4;
/// Lines masked by the triage thread between two tries to hand its batch over.
const MASK_STEP: usize = 32;

/// Triaged lines on their way to the clustering thread.
#[derive(Default)]
struct Batch {
    /// The (cut) lines, one after the other.
    text: String,
    /// The lines, in order.
    lines: Vec<BatchLine>,
    /// Tokens of the lines masked already.
    tokens: Vec<Token>,
    /// Lines before this one have been considered for masking.
    masked_to: usize,
}

/// One line of a [`Batch`].
#[derive(Clone, Copy)]
struct BatchLine {
    /// Where the line ends in the batch's text.
    end: usize,
    /// Its triage.
    found: Triaged,
    /// Where its tokens are in the batch's tokens, when the triage thread masked it.
    tokens: Option<(u32, u32)>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.lines.clear();
        self.tokens.clear();
        self.masked_to = 0;
    }

    /// Masks up to `n` more of the lines that need it (not exact repeats nor skeleton twins);
    /// false when no line is left to mask.
    fn mask_some(&mut self, triage: &Triage, scratch: &mut Vec<Token>, n: usize) -> bool {
        let mut start = self
            .masked_to
            .checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .map_or(0, |l| l.end);
        let mut masked = 0;
        while masked < n {
            let Some(next) = self.lines.get_mut(self.masked_to) else {
                return false;
            };
            self.masked_to += 1;
            let line = self.text.get(start..next.end).unwrap_or("");
            start = next.end;
            if next.found.repeat || next.found.twin {
                continue; // counted into a remembered cluster (masked there if it is gone)
            }
            triage.mask(line, scratch);
            // At most `max_tokens` tokens per line, and batches are bounded: fits in u32.
            let from = self.tokens.len() as u32;
            self.tokens.extend_from_slice(scratch);
            next.tokens = Some((from, self.tokens.len() as u32));
            masked += 1;
        }
        true
    }
}

/// Where the lines of a stream go: [`Feed::line`] takes them one at a time.
pub struct Feed<'a, D> {
    to: To<'a, D>,
    now_ms: u64,
}

enum To<'a, D> {
    /// One thread: each line is analysed at once.
    Direct {
        triage: &'a mut Triage,
        clusterer: &'a mut Clusterer,
        done: D,
    },
    /// Two threads: lines are triaged here and batched for the clustering thread.
    Clusterer {
        triage: &'a mut Triage,
        batch: Batch,
        send: mpsc::SyncSender<Batch>,
        spares: mpsc::Receiver<Batch>,
        scratch: Vec<Token>,
    },
}

impl<D: FnMut(&str, LineResult)> Feed<'_, D> {
    /// Analyses the next line.
    #[inline]
    pub fn line(&mut self, line: &str) {
        match &mut self.to {
            To::Direct {
                triage,
                clusterer,
                done,
            } => {
                let (line, found) = triage.triage(line);
                let result = clusterer.cluster(line, found, None, self.now_ms);
                done(line, result);
            }
            To::Clusterer {
                triage,
                batch,
                send,
                spares,
                scratch,
            } => {
                let (line, found) = triage.triage(line);
                batch.text.push_str(line);
                batch.lines.push(BatchLine {
                    end: batch.text.len(),
                    found,
                    tokens: None,
                });
                if batch.text.len() >= BATCH_BYTES || batch.lines.len() >= BATCH_LINES {
                    let spare = spares.try_recv().map_or_else(
                        |_| Batch::default(),
                        |mut b| {
                            b.clear();
                            b
                        },
                    );
                    hand_over(std::mem::replace(batch, spare), send, triage, scratch);
                }
            }
        }
    }
}

/// Sends a full batch to the clustering thread; while its queue is full, masks the batch's
/// lines here. A send fails only when the clustering thread is gone, i.e. it panicked:
/// [`analyze_stream`] passes the panic on when it joins the thread.
fn hand_over(
    mut batch: Batch,
    send: &mpsc::SyncSender<Batch>,
    triage: &Triage,
    scratch: &mut Vec<Token>,
) {
    loop {
        match send.try_send(batch) {
            Err(TrySendError::Full(full)) => batch = full,
            Ok(()) | Err(TrySendError::Disconnected(_)) => return,
        }
        if !batch.mask_some(triage, scratch, MASK_STEP) {
            let _ = send.send(batch);
            return;
        }
    }
}

/// Runs `body` with a [`Feed`] that analyses every line given to it with `analyzer`, all seen
/// at `now_ms`, and calls `done` with each (cut) line and its result, in input order. With
/// `threads` ≥ 2 the clustering runs on a second thread (so does `done`); more than two
/// threads give nothing more. Every line fed has been through `done` when this returns.
pub fn analyze_stream<D, R>(
    analyzer: &mut Analyzer,
    threads: usize,
    now_ms: u64,
    done: D,
    body: impl FnOnce(&mut Feed<'_, D>) -> R,
) -> R
where
    D: FnMut(&str, LineResult) + Send,
{
    let (triage, clusterer) = analyzer.halves();
    if threads < 2 {
        let mut feed = Feed {
            to: To::Direct {
                triage,
                clusterer,
                done,
            },
            now_ms,
        };
        return body(&mut feed);
    }
    let (send, batches) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (give_back, spares) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let mut done = done;
        let clustering = scope.spawn(move || {
            for batch in batches {
                let mut start = 0;
                for at in &batch.lines {
                    let line = batch.text.get(start..at.end).unwrap_or("");
                    start = at.end;
                    let masked = at
                        .tokens
                        .and_then(|(from, to)| batch.tokens.get(from as usize..to as usize));
                    let result = clusterer.cluster(line, at.found, masked, now_ms);
                    done(line, result);
                }
                // The reader may have finished and dropped its end: nothing to recycle then.
                let _ = give_back.send(batch);
            }
        });
        let mut feed: Feed<'_, D> = Feed {
            to: To::Clusterer {
                triage,
                batch: Batch::default(),
                send,
                spares,
                scratch: Vec::new(),
            },
            now_ms,
        };
        let result = body(&mut feed);
        if let To::Clusterer { batch, send, .. } = feed.to {
            if !batch.lines.is_empty() {
                let _ = send.send(batch);
            }
            drop(send); // the clustering thread ends after the last batch
        }
        if let Err(panic) = clustering.join() {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Classifier, MinerConfig};

    /// Every line's result from a run with `threads`, on a small miner so that clusters get
    /// evicted and remembered repeats must be mined again.
    fn results(lines: &[String], threads: usize) -> Vec<(String, LineResult)> {
        let config = MinerConfig {
            max_clusters: 8,
            ..MinerConfig::default()
        };
        let mut analyzer = Analyzer::new(Classifier::builtin(), config);
        let mut got = Vec::new();
        analyze_stream(
            &mut analyzer,
            threads,
            7,
            |line, result| {
                // A slow start fills the queue: the triage thread then masks lines itself.
                if got.len() < 20 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                got.push((line.to_owned(), result));
            },
            |feed| lines.iter().for_each(|l| feed.line(l)),
        );
        got
    }

    #[test]
    fn two_threads_give_every_line_the_result_one_thread_gives() {
        const WORDS: [&str; 17] = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec",
        ];
        let lines: Vec<String> = (0..30_000)
            .map(|i| match i % 7 {
                0 => format!("connect to 10.0.0.{} failed: Connection refused", i % 5),
                1 => "session closed for user root".to_owned(),
                2 => format!("worker {} finished job {} in {} ms", i % 3, i, i % 11),
                3 => format!("{} {} appears", WORDS[i % 13], WORDS[i % 17]),
                4 => "x".repeat(20_000), // cut to max_bytes, never remembered
                5 => format!("disk {i} full: No space left on device"),
                _ => "session closed for user root".to_owned(),
            })
            .collect();
        let one = results(&lines, 1);
        let two = results(&lines, 2);
        assert_eq!(one.len(), lines.len());
        let differ = one.iter().zip(&two).position(|(a, b)| a != b);
        assert_eq!(
            differ, None,
            "the two-thread run differs from the one-thread run"
        );
        assert!(one.iter().any(|(_, r)| r.category.is_some()));
        assert!(
            one.iter().all(|(line, _)| line.len() <= 16 * 1024),
            "lines are cut"
        );
        assert!(one.iter().filter(|(_, r)| r.new_cluster).count() > 8);
    }

    #[test]
    fn a_batch_masks_its_new_lines_as_the_miner_would_and_skips_repeats() {
        let mut analyzer = Analyzer::default();
        let (triage, _) = analyzer.halves();
        let mut batch = Batch::default();
        for line in [
            "user 1 logged in",
            "disk full",
            "user 1 logged in",
            "took 5 ms",
        ] {
            let (line, found) = triage.triage(line);
            batch.text.push_str(line);
            let end = batch.text.len();
            let tokens = None;
            batch.lines.push(BatchLine { end, found, tokens });
        }
        let mut scratch = Vec::new();
        assert!(batch.mask_some(triage, &mut scratch, 2));
        assert_eq!(batch.masked_to, 2);
        assert!(!batch.mask_some(triage, &mut scratch, 5), "nothing left");
        let masker = crate::logs::Masker::new(MinerConfig::default().mask);
        let mut start = 0;
        for (i, at) in batch.lines.iter().enumerate() {
            let line = &batch.text[start..at.end];
            start = at.end;
            if i == 2 {
                assert!(
                    at.found.repeat && at.tokens.is_none(),
                    "a repeat is not masked"
                );
                continue;
            }
            let (from, to) = at.tokens.expect("masked");
            let mut want = Vec::new();
            masker.mask(line, &mut want);
            assert_eq!(batch.tokens[from as usize..to as usize], want[..], "{line}");
        }
    }

    #[test]
    fn every_line_is_done_when_the_stream_returns_whatever_the_body_returns() {
        let mut analyzer = Analyzer::default();
        let mut done = 0;
        let fed = analyze_stream(
            &mut analyzer,
            2,
            0,
            |_, _| done += 1,
            |feed| {
                feed.line("one line");
                feed.line("another line");
                Err::<(), _>("read failed")
            },
        );
        assert_eq!(fed, Err("read failed"));
        assert_eq!(done, 2);
    }
}
