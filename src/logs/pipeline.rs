//! Analysis of a stream of lines on one thread or two. With two, the calling thread reads and
//! triages (cut, recall, classify) and a second thread clusters (mask, mine), batches of lines
//! passing between them; every line gets exactly the result the one-thread run gives it, and
//! the results come out in input order.

use std::sync::mpsc;

use super::analyzer::{Analyzer, Clusterer, LineResult};
use super::triage::{Triage, Triaged};

/// A batch is handed to the clustering thread once its text reaches this many bytes...
const BATCH_BYTES: usize = 32 * 1024;
/// ...or it holds this many lines.
const BATCH_LINES: usize = 1024;
/// Batches queued for the clustering thread at most; the reader waits beyond that, so memory
/// stays bounded (each batch holds under `BATCH_BYTES` plus one cut line of text).
const IN_FLIGHT: usize = 4;

/// Triaged lines on their way to the clustering thread.
#[derive(Default)]
struct Batch {
    /// The (cut) lines, one after the other.
    text: String,
    /// Where each line ends in `text`, and its triage.
    lines: Vec<(usize, Triaged)>,
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
                let result = clusterer.cluster(line, found, self.now_ms);
                done(line, result);
            }
            To::Clusterer {
                triage,
                batch,
                send,
                spares,
            } => {
                let (line, found) = triage.triage(line);
                batch.text.push_str(line);
                batch.lines.push((batch.text.len(), found));
                if batch.text.len() >= BATCH_BYTES || batch.lines.len() >= BATCH_LINES {
                    let spare = spares.try_recv().map_or_else(
                        |_| Batch::default(),
                        |mut b| {
                            b.text.clear();
                            b.lines.clear();
                            b
                        },
                    );
                    // This fails only when the clustering thread is gone, i.e. it panicked:
                    // `analyze_stream` passes the panic on when it joins the thread.
                    let _ = send.send(std::mem::replace(batch, spare));
                }
            }
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
                for &(end, found) in &batch.lines {
                    let line = batch.text.get(start..end).unwrap_or("");
                    start = end;
                    let result = clusterer.cluster(line, found, now_ms);
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
            |line, result| got.push((line.to_owned(), result)),
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
