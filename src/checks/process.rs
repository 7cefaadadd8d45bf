//! `process` check: is the process (by pidfile, or every process whose command line matches a
//! regex) alive? CPU percent and resident bytes become metrics and optional thresholds.

use super::sampler::Sampler;
use super::{Outcome, Probe};
use crate::config::{ProcessSelector, ProcessSettings};
use crate::model::Status;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

/// Watches one process or a set of processes.
pub struct ProcessProbe {
    sampler: Sampler<ProcessSettings>,
}

impl ProcessProbe {
    /// A probe for `settings`, sampling with the shared process table `system`.
    pub fn new(settings: ProcessSettings, system: Arc<Mutex<System>>) -> ProcessProbe {
        ProcessProbe {
            sampler: Sampler::shared(settings, system),
        }
    }
}

impl Probe for ProcessProbe {
    async fn probe(&self, _timeout: Duration) -> Outcome {
        self.sampler.sample("process", sample).await
    }
}

fn sample(settings: &ProcessSettings, system: &mut System) -> Outcome {
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    let (found, what) = match &settings.selector {
        ProcessSelector::Pidfile(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    return Outcome::new(
                        Status::Critical,
                        format!("cannot read pidfile {}: {e}", path.display()),
                    );
                }
            };
            let Ok(pid) = text.trim().parse::<u32>() else {
                return Outcome::new(
                    Status::Critical,
                    format!("pidfile {} does not hold a pid", path.display()),
                );
            };
            let pid = Pid::from_u32(pid);
            system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
            let found: Vec<(f64, u64)> = system
                .process(pid)
                .filter(|p| is_alive(p.status()))
                .map(|p| (f64::from(p.cpu_usage()), p.memory()))
                .into_iter()
                .collect();
            (found, format!("pid {pid}"))
        }
        ProcessSelector::Match(regex) => {
            // The command line is read again every time: a process that `exec`s (a wrapper
            // script's `exec java ...`) keeps its pid but changes its command line.
            system.refresh_processes_specifics(
                ProcessesToUpdate::All,
                true,
                kind.with_cmd(UpdateKind::Always),
            );
            let own = std::process::id();
            let found = system
                .processes()
                .values()
                .filter(|p| {
                    p.pid().as_u32() != own && is_alive(p.status()) && p.thread_kind().is_none()
                })
                .filter(|p| {
                    let cmdline = p
                        .cmd()
                        .iter()
                        .map(|a| a.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(" ");
                    regex.is_match(&cmdline)
                })
                .map(|p| (f64::from(p.cpu_usage()), p.memory()))
                .collect();
            (found, format!("processes matching /{}/", regex.as_str()))
        }
    };
    if found.is_empty() {
        return Outcome::new(Status::Critical, format!("{what}: not running"));
    }
    let cpu: f64 = found.iter().map(|(cpu, _)| cpu).sum();
    let rss: u64 = found.iter().map(|(_, rss)| rss).sum();
    let count = found.len();
    let mut status = Status::Ok;
    let mut message = format!(
        "{what}: {count} running, cpu {cpu:.1}%, rss {} KiB",
        rss / 1024
    );
    if settings.cpu_warn_percent.is_some_and(|w| cpu > w) {
        status = Status::Warning;
        message.push_str(" (cpu above warning)");
    }
    if settings.cpu_crit_percent.is_some_and(|c| cpu > c) {
        status = Status::Critical;
        message.push_str(" (cpu above critical)");
    }
    if settings.rss_crit_bytes.is_some_and(|c| rss > c) {
        status = Status::Critical;
        message.push_str(" (rss above critical)");
    }
    Outcome::new(status, message)
        .metric("processes", count as f64)
        .metric("cpu_percent", cpu)
        .metric("rss_bytes", rss as f64)
}

fn is_alive(status: ProcessStatus) -> bool {
    !matches!(status, ProcessStatus::Zombie | ProcessStatus::Dead)
}
