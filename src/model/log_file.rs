//! Where a log source stands in a file it follows: the file's identity (device and inode) and
//! the offset read to — what the store saves and the tailer resumes from.

use std::path::PathBuf;

/// The identity of a file: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// Where a followed file stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The file's identity.
    pub id: FileId,
    /// Its last known path.
    pub path: PathBuf,
    /// Offset just past the last complete line handed out.
    pub offset: u64,
}
