//! Every bad config is reported as `file:line:col: message`, at the right place, and
//! `homeostat check-config` exits 1 with those lines (0 for a good file).

use crate::common;

use common::{config_issues, homeostat};
use homeostat::config::Config;
use std::path::Path;

fn assert_one(text: &str, at: &str, containing: &str) {
    let found = config_issues(text);
    assert!(
        found
            .iter()
            .any(|i| i.starts_with(&format!("h.toml:{at}: ")) && i.contains(containing)),
        "expected h.toml:{at} containing {containing:?}, got {found:#?}"
    );
}

const RUNBOOK: &str = "[[runbook]]\nname = \"restart-api\"\nsteps = [ { run = [\"true\"] } ]\n";

#[test]
fn unknown_key_is_named_with_its_position() {
    assert_one(
        "[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
        "3:1",
        "unknown field `listen_port`",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\n  intervall = \"1s\"\n",
        "5:3",
        "unknown field `intervall`",
    );
    assert_one(
        "[polcy]\nmode = \"observe\"\n",
        "1:2",
        "unknown field `polcy`",
    );
}

#[test]
fn wrong_type_is_reported_where_the_value_is() {
    assert_one(
        "[policy]\nmax_concurrent_repairs = \"four\"\n",
        "2:26",
        "invalid type",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\nremedy = \"x\"\n",
        "5:10",
        "invalid type",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"smtp\"\n",
        "3:8",
        "unknown variant `smtp`",
    );
}

#[test]
fn bad_duration_says_what_a_duration_looks_like() {
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\ninterval = \"10\"\n",
        "5:12",
        "invalid duration `10`",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\ntimeout = \"soon\"\n",
        "5:11",
        "\"500ms\"",
    );
}

#[test]
fn duplicate_check_names_point_at_the_second() {
    let text = "[[check]]\nname = \"api\"\ntype = \"tcp\"\naddress = \"h:1\"\n\n[[check]]\nname = \"api\"\ntype = \"tcp\"\naddress = \"h:2\"\n";
    assert_one(text, "7:8", "duplicate check name `api`");
}

#[test]
fn remedy_naming_a_missing_runbook_is_an_error() {
    let text = format!(
        "{RUNBOOK}[[check]]\nname = \"api\"\ntype = \"tcp\"\naddress = \"h:1\"\nremedy = [\"restart-api\", \"restart-apii\"]\n"
    );
    assert_one(
        &text,
        "8:26",
        "remedy `restart-apii` is not a defined runbook",
    );
}

#[test]
fn verify_check_must_exist() {
    let text = "[[runbook]]\nname = \"r\"\nsteps = [ { run = [\"true\"] } ]\nverify = { check = \"nope\", within = \"5s\" }\n";
    assert_one(text, "4:20", "verify.check `nope` is not a defined check");
}

#[test]
fn keys_of_another_type_and_missing_required_keys_are_errors() {
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\nurl = \"http://x\"\n",
        "5:7",
        "key `url` does not apply to a check of type `tcp`",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"http\"\n",
        "3:8",
        "needs `url",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"process\"\npidfile = \"/p\"\nmatch = \"x\"\n",
        "3:8",
        "exactly one of",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"command\"\ncommand = []\n",
        "3:8",
        "non-empty `command",
    );
}

#[test]
fn bad_values_are_located() {
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"http\"\nurl = \"ftp://x\"\n",
        "4:7",
        "unsupported URL scheme `ftp`",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"process\"\nmatch = \"(\"\n",
        "4:9",
        "invalid regex",
    );
    assert_one(
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"nohostport\"\n",
        "4:11",
        "expected host:port",
    );
    assert_one(
        "[server]\nlisten = \"localhost\"\n",
        "2:10",
        "invalid listen address",
    );
    assert_one("[store]\nurl = \"mysql://x\"\n", "2:7", "invalid store url");
    assert_one(
        &format!("{RUNBOOK}priority = 12\n"),
        "4:12",
        "priority must be between 1",
    );
    assert_one(
        &format!("[policy]\nmode = \"dry-run\"\n{RUNBOOK}mode = \"enforce\"\n"),
        "6:8",
        "looser than the global mode `dry-run`",
    );
    assert_one(
        "[[check]]\nname = \"a b\"\ntype = \"host\"\n",
        "2:8",
        "use letters, digits",
    );
    assert_one("x = \n", "1:5", "");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = "[[check]]\nname = \"a\"\ntype = \"tcp\"\n\n[[check]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nremedy = [\"nope\"]\n";
    let found = config_issues(text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("h.toml:3:8:"), "{found:#?}");
    assert!(found[1].starts_with("h.toml:6:8:"), "{found:#?}");
    assert!(found[2].starts_with("h.toml:9:11:"), "{found:#?}");
}

#[test]
fn the_contract_example_is_valid() {
    let text = r#"
[server]
listen = "127.0.0.1:9780"
[store]
url = "sqlite://homeostat.db"
[policy]
mode = "enforce"
max_concurrent_repairs = 4
max_repairs_per_hour = 60
[[check]]
name = "api"
type = "http"
url = "http://127.0.0.1:8000/health"
interval = "10s"
timeout = "2s"
expect_status = [200]
body_contains = "ok"
latency_warn = "1s"
latency_crit = "3s"
failures_before_critical = 1
remedy = ["restart-api"]
[[check]]
name = "web"
type = "tcp"
address = "127.0.0.1:5432"
[[check]]
name = "load"
type = "command"
command = ["/usr/lib/nagios/plugins/check_load", "-w", "5", "-c", "10"]
[[check]]
name = "worker"
type = "process"
pidfile = "/run/worker.pid"
[[check]]
name = "host"
type = "host"
disk_path = "/"
disk_crit_percent = 85
memory_crit_percent = 95
cpu_crit_percent = 90
[[runbook]]
name = "restart-api"
steps = [ { run = ["systemctl", "restart", "api"], timeout = "30s" } ]
verify = { check = "api", within = "30s" }
rollback = []
max_attempts = 3
window = "1h"
cooldown = "5m"
approval = "none"
required_role = "editor"
approval_timeout = "30m"
on_timeout = "deny"
risk = "low"
priority = 5
"#;
    let config = Config::parse(text, Path::new("h.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.check.len(), 5);
    assert_eq!(config.runbook.len(), 1);
}

#[test]
fn check_config_command_exits_1_with_located_errors_and_0_when_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\ninterval = \"ten\"\n",
    )
    .expect("write");
    let out = homeostat()
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:5:12: invalid duration `ten`", bad.display())),
        "{stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"h:1\"\n",
    )
    .expect("write");
    let out = homeostat()
        .arg("check-config")
        .env("HOMEOSTAT_CONFIG", &good)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let missing = homeostat()
        .args(["check-config", "/nonexistent/h.toml"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read config"));
}

#[test]
fn the_example_config_in_the_repository_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homeostat.toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_template_inside_double_quotes_of_a_shell_step_is_refused_where_it_is() {
    assert_one(
        "[[runbook]]\nname = \"say\"\nsteps = [\n  { run = [\"echo \\\"{{ incident.title }}\\\"\"], shell = true },\n]\n",
        "4:11",
        "inside double quotes",
    );
    // The same template outside the quotes is fine.
    Config::parse(
        "[[runbook]]\nname = \"say\"\nsteps = [ { run = [\"echo {{ incident.title }}\"], shell = true } ]\n",
        Path::new("h.toml"),
    )
    .expect("accepted");
}
