//! Shared by the probes that read `/proc` through sysinfo (`host`, `process`): one `System`
//! kept between runs (CPU percent is usage since the previous sample), sampled off the async threads.

use super::Outcome;
use crate::model::Status;
use std::sync::{Arc, Mutex};
use sysinfo::System;

/// Settings plus the `System` a probe samples with.
pub struct Sampler<S> {
    settings: Arc<S>,
    system: Arc<Mutex<System>>,
}

impl<S: Send + Sync + 'static> Sampler<S> {
    /// A sampler for `settings` with its own `System`.
    pub fn new(settings: S) -> Sampler<S> {
        Sampler::shared(settings, Arc::new(Mutex::new(System::new())))
    }

    /// A sampler for `settings` that samples with `system`, shared with other probes (one copy
    /// of the process table for every `process` check).
    pub fn shared(settings: S, system: Arc<Mutex<System>>) -> Sampler<S> {
        // sysinfo keeps every process's stat file open by default: hundreds of descriptors for
        // a `match` check. Re-open them per sample instead.
        sysinfo::set_open_files_limit(0);
        Sampler {
            settings: Arc::new(settings),
            system,
        }
    }

    /// Runs `sample` on a blocking thread; a panic or a cancelled task becomes `unknown`.
    pub async fn sample(
        &self,
        what: &'static str,
        sample: fn(&S, &mut System) -> Outcome,
    ) -> Outcome {
        let settings = Arc::clone(&self.settings);
        let system = Arc::clone(&self.system);
        tokio::task::spawn_blocking(move || {
            let mut system = system
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            sample(&settings, &mut system)
        })
        .await
        .unwrap_or_else(|e| Outcome::new(Status::Unknown, format!("{what} sampling failed: {e}")))
    }
}
