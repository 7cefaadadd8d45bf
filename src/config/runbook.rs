//! `[[runbook]]`: what to do about a kind of incident — steps, verify, rollback, approval, budget.
//! The foundation validates runbooks and their references; the remediation engine runs them.

use super::{Duration, StepConfig};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// How a repair proves it worked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// The check that must be healthy again.
    pub check: Spanned<String>,
    /// How long to wait for it. Default `"30s"`.
    #[serde(default = "default_verify_within")]
    pub within: Duration,
}

fn default_verify_within() -> Duration {
    Duration::from_secs(30)
}

/// Whether a human must approve a repair first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Runs without approval (unless `risk = "high"`).
    #[default]
    None,
    /// Waits in `awaiting_approval`.
    Required,
}

/// What happens when nobody decides within `approval_timeout`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// The repair is denied.
    #[default]
    Deny,
    /// The repair is approved.
    Approve,
}

/// How much harm a runbook can do; `high` implies approval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Safe to run unattended.
    #[default]
    Low,
    /// Worth a look afterwards.
    Medium,
    /// Needs approval.
    High,
}

/// Roles, weakest first.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Run repairs, read.
    Runner,
    /// Operate: ack/resolve, approve/deny, run repairs, emergency stop, start/stop monitoring.
    Editor,
    /// Everything.
    Admin,
}

impl Role {
    /// The name used in config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Runner => "runner",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Runner, Role::Editor, Role::Admin];
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (expected viewer, runner, editor or admin)"))
    }
}

/// One `[[runbook]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookConfig {
    /// Unique name, referenced from a check's `remedy`.
    pub name: Spanned<String>,
    /// Ordered steps.
    #[serde(deserialize_with = "located_steps")]
    pub steps: Vec<StepConfig>,
    /// The check that proves the repair worked.
    pub verify: Option<VerifyConfig>,
    /// Steps run when verify fails.
    #[serde(default, deserialize_with = "located_steps")]
    pub rollback: Vec<StepConfig>,
    /// Budget: attempts within `window` before the breaker opens. Default `3`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Budget window. Default `"1h"`.
    #[serde(default = "default_window")]
    pub window: Duration,
    /// How long the breaker stays open. Default `"5m"`.
    #[serde(default = "default_cooldown")]
    pub cooldown: Duration,
    /// `none` or `required`. Default `none`.
    #[serde(default)]
    pub approval: Approval,
    /// Least role that may approve. Default `editor`.
    #[serde(default = "default_required_role")]
    pub required_role: Role,
    /// How long a repair waits for approval. Default `"30m"`.
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout: Duration,
    /// `deny` or `approve` when the approval times out. Default `deny`.
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// `low`, `medium` or `high` (high implies approval). Default `low`.
    #[serde(default)]
    pub risk: Risk,
    /// `observe`, `dry-run` or `enforce` for this runbook only; never looser than `[policy]
    /// mode` (a looser one is a config error). Default: the global mode.
    pub mode: Option<Spanned<super::Mode>>,
    /// 1 (first) .. 9 (last) in the repair queue. Default `5`.
    #[serde(default = "default_priority")]
    pub priority: Spanned<u8>,
}

/// Steps remember where they are in the file, so step errors point at the step.
fn located_steps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<StepConfig>, D::Error> {
    let steps = Vec::<Spanned<StepConfig>>::deserialize(deserializer)?;
    Ok(steps
        .into_iter()
        .map(|step| {
            let span = step.span();
            let mut step = step.into_inner();
            step.span = span;
            step
        })
        .collect())
}

fn default_max_attempts() -> u32 {
    3
}

fn default_window() -> Duration {
    Duration::from_secs(3600)
}

fn default_cooldown() -> Duration {
    Duration::from_secs(300)
}

fn default_required_role() -> Role {
    Role::Editor
}

fn default_approval_timeout() -> Duration {
    Duration::from_secs(1800)
}

fn default_priority() -> Spanned<u8> {
    Spanned::new(0..0, 5)
}
