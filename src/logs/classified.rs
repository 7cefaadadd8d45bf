//! What a log source hands on to detection: each line a category explained, and its clock as
//! it moves; detection (category rates) implements [`ClassifiedSink`].

use chrono::{DateTime, Utc};

/// A line that a category explained, as read by a log source.
#[derive(Clone, Copy, Debug)]
pub struct ClassifiedLine<'a> {
    /// The category's name.
    pub category: &'a str,
    /// The line's time: its own, clamped to the wall clock, or the source clock's time when it
    /// has none.
    pub at: DateTime<Utc>,
    /// The source's clock (line time) when the line was read.
    pub clock: DateTime<Utc>,
    /// The line's message (evidence).
    pub message: &'a str,
}

/// Where a log source hands its classified lines.
pub trait ClassifiedSink: Send {
    /// One classified line, in the order read.
    fn line(&mut self, line: ClassifiedLine<'_>);

    /// The source's clock after a batch of lines (a rule quiet for a whole window stops firing).
    fn clock(&mut self, clock: DateTime<Utc>);
}
