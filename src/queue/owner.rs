//! Lease owners: the name a worker holds its leases under says which process on which host it
//! is, so a restarted daemon can tell its own dead previous life from a live neighbour.

use std::fmt;

/// The prefix of every owner name made here (other names are never judged dead).
const PREFIX: &str = "homeostat";

/// Which process holds a lease: host name, kernel boot, pid namespace, pid and the process's
/// start time. Two owners with the same boot and pid namespace see the same process table,
/// so whether the other one is still alive can be looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseOwner {
    host: String,
    boot: String,
    pid_ns: String,
    pid: u32,
    ticks: u64,
    tag: String,
}

/// What this process can tell about a lease owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// A process of this host's process table that is running now (this one included).
    Alive,
    /// A process of this host's process table that has exited (its pid is gone or reused).
    Dead,
    /// Another host (or another pid namespace), or a name this version does not know.
    Unknown,
}

impl LeaseOwner {
    /// This process, with `tag` telling apart several workers in it (e.g. the queue name and a
    /// random number).
    pub fn current(tag: &str) -> LeaseOwner {
        let pid = std::process::id();
        LeaseOwner {
            host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
            boot: read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            pid,
            ticks: crate::process::start_ticks(pid).unwrap_or(0),
            tag: tag.replace('/', "_"),
        }
    }

    /// Reads an owner name made by `to_string`; `None` for any other name.
    pub fn parse(name: &str) -> Option<LeaseOwner> {
        let mut parts = name.split('/');
        if parts.next()? != PREFIX {
            return None;
        }
        let owner = LeaseOwner {
            host: parts.next()?.to_string(),
            boot: parts.next()?.to_string(),
            pid_ns: parts.next()?.to_string(),
            pid: parts.next()?.parse().ok()?,
            ticks: parts.next()?.parse().ok()?,
            tag: parts.next()?.to_string(),
        };
        parts.next().is_none().then_some(owner)
    }

    /// Whether the lease owner named `name` still runs, as far as this process can see.
    pub fn liveness_of(&self, name: &str) -> Liveness {
        let Some(other) = LeaseOwner::parse(name) else {
            return Liveness::Unknown;
        };
        // Without a boot id or pid namespace nothing proves that pids mean the same here.
        if self.boot.is_empty()
            || self.pid_ns.is_empty()
            || other.host != self.host
            || other.boot != self.boot
            || other.pid_ns != self.pid_ns
        {
            return Liveness::Unknown;
        }
        if (other.pid, other.ticks) == (self.pid, self.ticks)
            || crate::process::start_ticks(other.pid) == Some(other.ticks)
        {
            Liveness::Alive
        } else {
            Liveness::Dead
        }
    }
}

impl fmt::Display for LeaseOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}/{}/{}/{}/{}/{}/{}",
            self.host, self.boot, self.pid_ns, self.pid, self.ticks, self.tag
        )
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim().replace('/', "_");
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_only_dead_local_processes_are_dead() {
        let me = LeaseOwner::current("repairs-1");
        let name = me.to_string();
        assert_eq!(LeaseOwner::parse(&name), Some(me.clone()));
        assert_eq!(me.liveness_of(&name), Liveness::Alive);
        // A child that has exited (and been reaped) is a dead previous life.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let child_pid = child.id();
        let child_ticks = crate::process::start_ticks(child_pid);
        child.wait().expect("wait");
        let dead = LeaseOwner {
            pid: child_pid,
            ticks: child_ticks.unwrap_or(1),
            ..me.clone()
        };
        assert_eq!(me.liveness_of(&dead.to_string()), Liveness::Dead);
        // Our own pid with another start time: the pid was reused, the owner is dead.
        let reused = LeaseOwner {
            ticks: me.ticks + 1,
            ..me.clone()
        };
        assert_eq!(me.liveness_of(&reused.to_string()), Liveness::Dead);
        let elsewhere = LeaseOwner {
            boot: "another-boot".into(),
            ..dead
        };
        assert_eq!(me.liveness_of(&elsewhere.to_string()), Liveness::Unknown);
        assert_eq!(me.liveness_of("homeostat-123-abcd"), Liveness::Unknown);
        assert_eq!(LeaseOwner::parse(&format!("{name}/extra")), None);
    }
}
