//! Log analysis: variable masking, online template mining (Drain-style clusters of the lines no
//! category explains), classification of log lines into known failure categories, and live
//! log sources (rotation-safe tailing, classified lines handed on to detection, stored clusters
//! with their failure lines).

pub mod analyzer;
pub mod category;
pub mod classified;
pub mod clock;
pub mod cut_json;
pub mod failure;
pub mod mask;
pub mod memo;
pub mod miner;
pub mod pipeline;
pub mod prefilter;
pub mod skeleton;
pub mod source;
pub mod stored;
pub mod tail;
pub mod timestamp;
pub mod triage;
pub mod wordscan;

pub use analyzer::{Analyzer, Clusterer, LineResult};
pub use category::{Classifier, PatternError};
pub use mask::{MaskConfig, Masker, Token};
pub use miner::{Cluster, ClusterId, ClusterRef, MinerConfig, TemplateMiner};
pub use pipeline::{Feed, analyze_stream};
pub use source::{LogSource, SourceContext};
pub use triage::{Triage, Triaged};
