//! `host` check: this machine's CPU, memory, disk (of the filesystem holding `disk_path`) and load,
//! each a metric, each judged against its warning and critical percent.

use super::sampler::Sampler;
use super::{Outcome, Probe};
use crate::config::HostSettings;
use crate::model::Status;
use std::time::Duration;
use sysinfo::{Disks, System};

/// Samples host resources.
pub struct HostProbe {
    sampler: Sampler<HostSettings>,
}

impl HostProbe {
    /// A probe for `settings`.
    pub fn new(settings: HostSettings) -> HostProbe {
        HostProbe {
            sampler: Sampler::new(settings),
        }
    }
}

impl Probe for HostProbe {
    async fn probe(&self, _timeout: Duration) -> Outcome {
        self.sampler.sample("host", sample).await
    }
}

/// One judged measurement.
struct Reading {
    name: &'static str,
    value: f64,
    warn: Option<f64>,
    crit: Option<f64>,
}

fn sample(s: &HostSettings, system: &mut System) -> Outcome {
    system.refresh_cpu_usage();
    system.refresh_memory();
    let cpu = f64::from(system.global_cpu_usage());
    let total = system.total_memory() as f64;
    let memory = if total > 0.0 {
        100.0 * (total - system.available_memory() as f64) / total
    } else {
        0.0
    };
    let cores = system.cpus().len().max(1) as f64;
    let load = System::load_average();
    let disk = disk_used_percent(&s.disk_path);
    let mut readings = vec![
        Reading {
            name: "cpu",
            value: cpu,
            warn: s.cpu_warn_percent,
            crit: s.cpu_crit_percent,
        },
        Reading {
            name: "memory",
            value: memory,
            warn: s.memory_warn_percent,
            crit: Some(s.memory_crit_percent),
        },
        Reading {
            name: "load per core",
            value: load.one / cores,
            warn: None,
            crit: s.load_crit_per_core,
        },
    ];
    if let Some(disk) = disk {
        readings.push(Reading {
            name: "disk",
            value: disk,
            warn: s.disk_warn_percent,
            crit: Some(s.disk_crit_percent),
        });
    }
    let mut status = Status::Ok;
    let mut problems = Vec::new();
    for r in &readings {
        if r.crit.is_some_and(|c| r.value >= c) {
            status = status.worst(Status::Critical);
            problems.push(format!(
                "{} {:.1} >= {:.1}",
                r.name,
                r.value,
                r.crit.unwrap_or_default()
            ));
        } else if r.warn.is_some_and(|w| r.value >= w) {
            status = status.worst(Status::Warning);
            problems.push(format!(
                "{} {:.1} >= {:.1}",
                r.name,
                r.value,
                r.warn.unwrap_or_default()
            ));
        }
    }
    let mut message = match disk {
        Some(disk) => format!(
            "cpu {cpu:.1}%, memory {memory:.1}%, disk {disk:.1}%, load {:.2}",
            load.one
        ),
        None => format!(
            "cpu {cpu:.1}%, memory {memory:.1}%, disk of {} unknown, load {:.2}",
            s.disk_path.display(),
            load.one
        ),
    };
    if !problems.is_empty() {
        message = format!("{}; {message}", problems.join(", "));
    }
    let mut outcome = Outcome::new(status, message)
        .metric("cpu_percent", cpu)
        .metric("memory_percent", memory)
        .metric("load1", load.one)
        .metric("load5", load.five)
        .metric("load15", load.fifteen);
    if let Some(disk) = disk {
        outcome = outcome.metric("disk_percent", disk);
    }
    outcome
}

/// Used percent of the filesystem holding `path` (the mount point with the longest matching prefix).
fn disk_used_percent(path: &std::path::Path) -> Option<f64> {
    let path = std::fs::canonicalize(path).ok()?;
    let disks = Disks::new_with_refreshed_list();
    let disk = disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())?;
    let total = disk.total_space() as f64;
    (total > 0.0).then(|| 100.0 * (total - disk.available_space() as f64) / total)
}
