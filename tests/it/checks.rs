//! Each check type against real things: an HTTP server made slow, failing or stopped; a TCP
//! listener; Nagios plugins for every exit code with perfdata; a process that is killed.

use crate::common;

use common::{Behaviour, Target, config};
use homeostat::checks::{Check, Outcome, SharedResources};
use homeostat::model::Status;
use std::time::Duration;

fn build(toml: &str) -> Check {
    let config = config(toml);
    Check::from_config(
        &config.check[0],
        &SharedResources::new().expect("resources"),
    )
    .expect("check builds")
}

async fn run(check: &Check) -> Outcome {
    check.kind.probe(check.timeout).await
}

fn http_check(target: &Target, extra: &str) -> Check {
    build(&format!(
        "[[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ntimeout = \"2s\"\n{extra}",
        target.url()
    ))
}

#[tokio::test]
async fn http_check_follows_the_server_through_slow_error_and_down() {
    let mut target = Target::start().await;
    // Each delay is at least 250 ms away from the limit it must not cross (a slow CI machine
    // adds latency to every request): healthy well under `latency_warn`, the warning delay
    // well under `latency_crit`, the hung one past the 2 s timeout.
    let check = http_check(
        &target,
        "body_contains = \"ok\"\nlatency_warn = \"250ms\"\nlatency_crit = \"1s\"\n",
    );

    let healthy = run(&check).await;
    assert_eq!(healthy.status, Status::Ok, "{healthy:?}");
    assert_eq!(healthy.metrics["status_code"], 200.0);

    target.set(Behaviour::Slow(500));
    let warning = run(&check).await;
    assert_eq!(warning.status, Status::Warning, "{warning:?}");
    target.set(Behaviour::Slow(1200));
    let slow = run(&check).await;
    assert_eq!(slow.status, Status::Critical);
    assert!(slow.message.contains("slow"), "{slow:?}");

    target.set(Behaviour::Slow(3000));
    let hung = run(&check).await;
    assert_eq!(hung.status, Status::Critical);
    assert!(hung.message.contains("no response within"), "{hung:?}");

    target.set(Behaviour::Error);
    let failing = run(&check).await;
    assert_eq!(failing.status, Status::Critical);
    assert!(failing.message.contains("HTTP 500"), "{failing:?}");

    target.stop().await;
    let down = run(&check).await;
    assert_eq!(down.status, Status::Critical);
    assert!(down.message.contains("connection failed"), "{down:?}");
}

#[tokio::test]
async fn http_check_honours_expect_status_and_body() {
    let target = Target::start().await;
    target.set(Behaviour::Error);
    assert_eq!(
        run(&http_check(&target, "expect_status = [500]\n"))
            .await
            .status,
        Status::Ok
    );
    target.set(Behaviour::Healthy);
    let wrong_body = run(&http_check(&target, "body_contains = \"ready\"\n")).await;
    assert_eq!(wrong_body.status, Status::Critical);
    assert!(
        wrong_body.message.contains("body does not contain"),
        "{wrong_body:?}"
    );
}

#[tokio::test]
async fn tcp_check_sees_a_listener_open_and_closed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let check = build(&format!(
        "[[check]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"{address}\"\ntimeout = \"1s\"\n"
    ));
    let open = run(&check).await;
    assert_eq!(open.status, Status::Ok, "{open:?}");
    assert!(open.metrics.contains_key("connect_seconds"));
    drop(listener);
    let closed = run(&check).await;
    assert_eq!(closed.status, Status::Critical, "{closed:?}");
}

/// Writes an executable Nagios-style plugin script.
fn plugin(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write plugin");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

fn command_check(argv: &[&str], timeout: &str) -> Check {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    build(&format!(
        "[[check]]\nname = \"p\"\ntype = \"command\"\ncommand = [{}]\ntimeout = \"{timeout}\"\n",
        argv.join(", ")
    ))
}

#[tokio::test]
async fn command_check_maps_every_exit_code_and_parses_perfdata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            0,
            Status::Ok,
            "DISK OK - free space: / 3326 MB (56%) | /=2643MB;5948;5958;0;5968 time=12ms",
        ),
        (
            1,
            Status::Warning,
            "LOAD WARNING - load average: 5.12 | load1=5.120;5.000;10.000;0; load5=U",
        ),
        (
            2,
            Status::Critical,
            "PROCS CRITICAL: 0 processes | procs=0;;1:",
        ),
        (
            3,
            Status::Unknown,
            "UNKNOWN - cannot read /proc | 'read errors'=3c",
        ),
        (7, Status::Unknown, "weird exit"),
    ];
    for (code, expected, output) in cases {
        let script = plugin(
            dir.path(),
            &format!("plugin{code}"),
            &format!("echo '{output}'\nexit {code}"),
        );
        let outcome = run(&command_check(&[&script], "5s")).await;
        assert_eq!(outcome.status, expected, "exit {code}: {outcome:?}");
        assert_eq!(
            outcome.message,
            output.split('|').next().unwrap_or_default().trim()
        );
    }
    let script = plugin(
        dir.path(),
        "perf",
        "echo 'OK | /=2643MB;5948;5958;0;5968 time=12ms pct=56% rx=10c'",
    );
    let outcome = run(&command_check(&[&script], "5s")).await;
    assert_eq!(outcome.metrics["__bytes"], 2643.0 * 1024.0 * 1024.0);
    assert!((outcome.metrics["time_seconds"] - 0.012).abs() < 1e-9);
    assert_eq!(outcome.metrics["pct_percent"], 56.0);
    assert_eq!(outcome.metrics["rx_total"], 10.0);
}

#[tokio::test]
async fn command_check_timeout_is_unknown_and_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("grandchild.pid");
    // The plugin starts a grandchild that would outlive a plain kill of the plugin.
    let script = plugin(
        dir.path(),
        "hang",
        &format!("sleep 300 &\necho $! > {}\nwait", marker.display()),
    );
    // The timeout leaves a slow machine time to start the plugin and its grandchild; the bound
    // on the run is far below the grandchild's 300 s (which a run that waited for it, or for
    // the pipe it holds open, would take).
    let started = std::time::Instant::now();
    let outcome = run(&command_check(&[&script], "2s")).await;
    assert_eq!(outcome.status, Status::Unknown, "{outcome:?}");
    assert!(outcome.message.contains("timed out"), "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let pid: i32 = std::fs::read_to_string(&marker)
        .expect("grandchild pid")
        .trim()
        .parse()
        .expect("pid");
    common::wait_gone(pid, Duration::from_secs(20), "grandchild killed").await;
}

#[tokio::test]
async fn command_check_that_cannot_start_is_unknown() {
    let outcome = run(&command_check(&["/nonexistent/check_nothing"], "1s")).await;
    assert_eq!(outcome.status, Status::Unknown);
    assert!(outcome.message.contains("cannot start"), "{outcome:?}");
}

#[tokio::test]
async fn process_check_by_pidfile_and_by_match_sees_a_killed_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = format!("homeostat-test-sleeper-{}", std::process::id());
    // The shell waits until the test has probed it once, then `exec -a` gives the same pid a
    // command line we can match on: a probe that kept the first command line it read would
    // never see the match. (A file, not a delay, says when: a slow machine can take longer
    // than any delay to reach the first probe.)
    let go = dir.path().join("go");
    let mut child = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "while [ ! -e '{}' ]; do sleep 0.02; done; exec -a {tag} sleep 300",
                go.display()
            ),
        ])
        .spawn()
        .expect("spawn");
    let pidfile = dir.path().join("worker.pid");
    std::fs::write(&pidfile, child.id().to_string()).expect("pidfile");
    let by_pidfile = build(&format!(
        "[[check]]\nname = \"w\"\ntype = \"process\"\npidfile = \"{}\"\n",
        pidfile.display()
    ));
    let by_match = build(&format!(
        "[[check]]\nname = \"w\"\ntype = \"process\"\nmatch = \"^{tag}\"\n"
    ));
    let before_exec = run(&by_match).await;
    assert_eq!(before_exec.status, Status::Critical, "{before_exec:?}");
    std::fs::write(&go, "").expect("go");

    let alive = common::eventually(Duration::from_secs(20), "process visible", || async {
        let o = run(&by_match).await;
        (o.status == Status::Ok).then_some(o)
    })
    .await;
    assert_eq!(alive.metrics["processes"], 1.0);
    assert!(alive.metrics["rss_bytes"] > 0.0);
    assert_eq!(run(&by_pidfile).await.status, Status::Ok);

    child.kill().expect("kill");
    child.wait().expect("reap");
    let dead = run(&by_pidfile).await;
    assert_eq!(dead.status, Status::Critical, "{dead:?}");
    assert!(dead.message.contains("not running"), "{dead:?}");
    assert_eq!(run(&by_match).await.status, Status::Critical);

    std::fs::write(&pidfile, "garbage").expect("pidfile");
    assert_eq!(run(&by_pidfile).await.status, Status::Critical);
    std::fs::remove_file(&pidfile).expect("rm");
    assert!(
        run(&by_pidfile)
            .await
            .message
            .contains("cannot read pidfile")
    );
}

#[tokio::test]
async fn host_check_reports_resources_and_crosses_thresholds() {
    let relaxed = build(
        "[[check]]\nname = \"h\"\ntype = \"host\"\ndisk_path = \"/\"\ndisk_crit_percent = 100.1\nmemory_crit_percent = 100.1\n",
    );
    let outcome = run(&relaxed).await;
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    for metric in ["cpu_percent", "memory_percent", "disk_percent", "load1"] {
        assert!(
            outcome.metrics.contains_key(metric),
            "missing {metric}: {outcome:?}"
        );
    }
    let strict = build("[[check]]\nname = \"h\"\ntype = \"host\"\ndisk_crit_percent = 0.001\n");
    let outcome = run(&strict).await;
    assert_eq!(outcome.status, Status::Critical, "{outcome:?}");
    assert!(outcome.message.starts_with("disk "), "{outcome:?}");
    let warn = build(
        "[[check]]\nname = \"h\"\ntype = \"host\"\nmemory_warn_percent = 0.001\ndisk_crit_percent = 100.1\nmemory_crit_percent = 100.1\n",
    );
    assert_eq!(run(&warn).await.status, Status::Warning);
}

/// Serves one HTTPS answer per connection with a certificate from `ca` valid for `days`.
async fn tls_server(days: i64) -> (std::net::SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio::io::AsyncWriteExt;
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    params.not_after = time_from_unix(now + days * 86_400);
    params.not_before = time_from_unix(now - 86_400);
    let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let mut buf = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (address, ca.pem())
}

fn time_from_unix(seconds: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(seconds).expect("time")
}

#[tokio::test]
async fn https_check_reports_certificate_days_left_and_warns_before_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (days, expected) in [(90, Status::Ok), (5, Status::Warning)] {
        let (address, ca_pem) = tls_server(days).await;
        let ca_file = dir.path().join(format!("ca-{days}.pem"));
        std::fs::write(&ca_file, ca_pem).expect("ca file");
        let check = build(&format!(
            "[[check]]\nname = \"tls\"\ntype = \"http\"\nurl = \"https://localhost:{}/\"\nca_file = \"{}\"\ntls_warn_days = 14\n",
            address.port(),
            ca_file.display()
        ));
        let outcome = run(&check).await;
        assert_eq!(outcome.status, expected, "{days} days: {outcome:?}");
        let left = outcome.metrics["tls_cert_days_left"];
        assert!(
            (left - days as f64).abs() < 0.1,
            "{days} days: metric {left}"
        );
    }
    // Without the CA the certificate is not trusted: the check fails, it does not skip TLS.
    let (address, _) = tls_server(90).await;
    let untrusted = build(&format!(
        "[[check]]\nname = \"tls\"\ntype = \"http\"\nurl = \"https://localhost:{}/\"\n",
        address.port()
    ));
    assert_eq!(run(&untrusted).await.status, Status::Critical);
}
