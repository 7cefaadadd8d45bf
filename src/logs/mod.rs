//! Log analysis: variable masking, online template mining (Drain-style clusters of the lines no
//! category explains) and classification of log lines into known failure categories.

pub mod analyzer;
pub mod category;
pub mod mask;
pub mod miner;

pub use analyzer::{Analyzer, LineResult};
pub use category::{Category, CategoryId, Classifier, Severity, builtin_categories};
pub use mask::{MaskConfig, Masker, Token};
pub use miner::{Cluster, ClusterId, MinerConfig, TemplateMiner};
