//! Detection, the only maker of signals: check status changes (flap control) and log category
//! rates become signals here; also the health score.

mod checks;
mod flap;
pub mod health;
mod log_rate;

pub use checks::{CheckState, Detector, SignalSink};
pub use health::{Health, HealthStatus};
pub use log_rate::LogRates;
