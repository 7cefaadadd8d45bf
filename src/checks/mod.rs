//! Checks: one file per check type behind the `Probe` trait, dispatched by the `CheckKind` enum,
//! and the scheduler that runs each check on its interval.

mod command;
mod host;
mod http;
mod outcome;
pub mod perfdata;
mod process;
mod sampler;
pub mod scheduler;
mod tcp;

pub use command::CommandProbe;
pub use host::HostProbe;
pub use http::{HttpProbe, client_for, shared_client};
pub use outcome::Outcome;
pub use process::ProcessProbe;
pub use tcp::TcpProbe;

use crate::config::{CheckConfig, CheckSettings, CheckType};
use crate::model::Status;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of probe: runs once and reports an outcome. Implementations never panic and
/// respect `timeout` themselves where they can clean up better than a dropped future.
pub trait Probe {
    /// Runs the probe once.
    fn probe(&self, timeout: Duration) -> impl Future<Output = Outcome> + Send;
}

/// The probe of a check, by type.
pub enum CheckKind {
    /// HTTP(S) request.
    Http(HttpProbe),
    /// TCP connect.
    Tcp(TcpProbe),
    /// Nagios plugin.
    Command(CommandProbe),
    /// Process liveness.
    Process(ProcessProbe),
    /// Host resources.
    Host(HostProbe),
}

impl CheckKind {
    /// Runs the probe once.
    pub async fn probe(&self, timeout: Duration) -> Outcome {
        match self {
            CheckKind::Http(p) => p.probe(timeout).await,
            CheckKind::Tcp(p) => p.probe(timeout).await,
            CheckKind::Command(p) => p.probe(timeout).await,
            CheckKind::Process(p) => p.probe(timeout).await,
            CheckKind::Host(p) => p.probe(timeout).await,
        }
    }

    /// The status a run has when it exceeds its time limit: `unknown` for plugins (Nagios
    /// convention), `critical` for everything else (the target did not answer).
    pub fn timeout_status(&self) -> Status {
        match self {
            CheckKind::Command(_) => Status::Unknown,
            _ => Status::Critical,
        }
    }
}

/// What checks share: one HTTP client (one connection pool) and one copy of the process table
/// for every `process` check.
#[derive(Clone)]
pub struct SharedResources {
    /// The client of `http` checks without their own `ca_file`.
    pub http: reqwest::Client,
    /// The process table `process` checks sample.
    pub processes: Arc<Mutex<sysinfo::System>>,
}

impl SharedResources {
    /// Fresh shared resources.
    pub fn new() -> Result<SharedResources, reqwest::Error> {
        Ok(SharedResources {
            http: shared_client()?,
            processes: Arc::new(Mutex::new(sysinfo::System::new())),
        })
    }
}

/// A configured check, ready to run.
pub struct Check {
    /// Unique name.
    pub name: String,
    /// Its type.
    pub kind_name: CheckType,
    /// Time between runs.
    pub interval: Duration,
    /// Time limit of a run.
    pub timeout: Duration,
    /// Consecutive failures before `critical`.
    pub failures_before_critical: u32,
    /// Candidate runbooks.
    pub remedy: Vec<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Incident impact.
    pub impact: crate::model::Impact,
    /// The probe.
    pub kind: CheckKind,
}

/// Why a check could not be built (the config validator reports these with locations first).
#[derive(Debug, thiserror::Error)]
#[error("check `{name}`: {message}")]
pub struct BuildError {
    /// The check.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

impl Check {
    /// Builds the runtime check from its config, with the resources all checks share.
    pub fn from_config(
        config: &CheckConfig,
        shared: &SharedResources,
    ) -> Result<Check, BuildError> {
        let name = config.name.get_ref().clone();
        let settings = config.settings().map_err(|errors| BuildError {
            name: name.clone(),
            message: errors
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        let kind = match settings {
            CheckSettings::Http(s) => {
                let client = client_for(&s, &shared.http).map_err(|message| BuildError {
                    name: name.clone(),
                    message,
                })?;
                CheckKind::Http(HttpProbe::new(s, client))
            }
            CheckSettings::Tcp(s) => CheckKind::Tcp(TcpProbe::new(s)),
            CheckSettings::Command(s) => CheckKind::Command(CommandProbe::new(s)),
            CheckSettings::Process(s) => {
                CheckKind::Process(ProcessProbe::new(s, Arc::clone(&shared.processes)))
            }
            CheckSettings::Host(s) => CheckKind::Host(HostProbe::new(s)),
        };
        Ok(Check {
            name,
            kind_name: *config.kind.get_ref(),
            interval: config.interval.get(),
            timeout: config.timeout.get(),
            failures_before_critical: config.failures_before_critical,
            remedy: config.remedy.iter().map(|r| r.get_ref().clone()).collect(),
            labels: config.labels.clone(),
            impact: config.impact,
            kind,
        })
    }
}
