//! The built-in log category pack — the embedded `categories.toml`, parsed once — and how the
//! `[[category]]` tables merge over it.

use crate::model::{Category, Severity};
use serde::Deserialize;
use std::sync::LazyLock;

/// The pack's source, embedded in the binary.
const PACK: &str = include_str!("categories.toml");

/// The pack file: its `[[category]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pack {
    category: Vec<Category>,
}

/// The pack, parsed on first use.
static BUILTIN: LazyLock<Vec<Category>> = LazyLock::new(|| match toml::from_str::<Pack>(PACK) {
    Ok(pack) => pack.category,
    // The embedded pack is fixed and covered by tests, so this cannot happen.
    Err(e) => panic!("built-in category pack does not parse: {e}"),
});

/// The built-in category pack, in priority order (more specific families first).
pub fn builtin_categories() -> Vec<Category> {
    BUILTIN.clone()
}

/// A user's change to the category pack (one `[[category]]` table): a new category, or a
/// built-in one changed or turned off. `None` means the field was not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CategoryOverride {
    /// The category's name; the name of a built-in category changes that built-in.
    pub name: String,
    /// All the patterns (a built-in's own are replaced, not extended).
    pub patterns: Option<Vec<String>>,
    /// The severity (a new category without one is [`Severity::Error`]).
    pub severity: Option<Severity>,
    /// The advice (a new category without one has none).
    pub advice: Option<String>,
    /// The candidate runbooks (a new category without them has none).
    pub runbooks: Option<Vec<String>>,
    /// Removes the category of this name (the other fields are ignored).
    pub disabled: bool,
}

impl CategoryOverride {
    /// Sets the fields this override gives.
    fn apply(&self, category: &mut Category) {
        if let Some(patterns) = &self.patterns {
            category.patterns.clone_from(patterns);
        }
        if let Some(severity) = self.severity {
            category.severity = severity;
        }
        if let Some(advice) = &self.advice {
            category.advice.clone_from(advice);
        }
        if let Some(runbooks) = &self.runbooks {
            category.runbooks.clone_from(runbooks);
        }
    }
}

/// `builtin` with `overrides` applied, in priority order: first the new categories (in
/// `overrides` order), then the built-ins in their own order, changed ones in their place and
/// disabled ones left out. A change keeps the built-in's value of every field it does not give.
/// Disabling an unknown name does nothing; a repeated name changes the category again (config
/// validation rejects both).
pub fn merge_categories(builtin: Vec<Category>, overrides: &[CategoryOverride]) -> Vec<Category> {
    let mut builtin: Vec<Option<Category>> = builtin.into_iter().map(Some).collect();
    let mut added: Vec<Option<Category>> = Vec::new();
    for o in overrides {
        let found = builtin
            .iter_mut()
            .chain(added.iter_mut())
            .find(|c| c.as_ref().is_some_and(|c| c.name == o.name));
        match found {
            Some(slot) if o.disabled => *slot = None,
            Some(Some(category)) => o.apply(category),
            Some(None) => {}
            None if o.disabled => {}
            None => {
                let mut category = Category {
                    name: o.name.clone(),
                    patterns: Vec::new(),
                    severity: Severity::Error,
                    advice: String::new(),
                    runbooks: Vec::new(),
                };
                o.apply(&mut category);
                added.push(Some(category));
            }
        }
    }
    added.into_iter().chain(builtin).flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::category::compile_patterns;

    #[test]
    fn the_pack_parses_and_every_category_compiles() {
        let pack = builtin_categories();
        assert!(!pack.is_empty());
        for c in &pack {
            assert!(!c.patterns.is_empty(), "{}", c.name);
            compile_patterns(&c.patterns).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
    }

    #[test]
    fn the_pack_is_the_code_it_replaced() {
        assert_eq!(builtin_categories(), old_pack());
    }

    fn cat(
        name: &str,
        severity: Severity,
        advice: &str,
        runbooks: &[&str],
        patterns: &[&str],
    ) -> Category {
        Category {
            name: name.to_owned(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            severity,
            advice: advice.to_owned(),
            runbooks: runbooks.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// The built-in category pack, in priority order (more specific families first).
    fn old_pack() -> Vec<Category> {
        use Severity::*;
        vec![
            cat(
                "out_of_memory",
                Critical,
                "A process ran out of memory or was killed by the OOM killer: check memory limits, \
                 leaks and recent load; restart the victim if it did not come back.",
                &["restart_service", "raise_memory_limit", "collect_heap_dump"],
                &[
                    r"(?i)out of memory",
                    r"OutOfMemoryError",
                    r"\bMemoryError\b",
                    r"(?i)\boom[-_ ]kill",
                    r"(?i)invoked oom-killer",
                    r"(?i)\bKilled process \d+",
                    r"OOM command not allowed",
                    r"memory allocation of \d+ bytes failed",
                    r"(?i)cannot allocate memory",
                    r"\bENOMEM\b",
                    r"(?i)heap limit allocation failed",
                ],
            ),
            cat(
                "disk_full",
                Critical,
                "A filesystem is full: free space (rotate logs, clean temp files, vacuum) or grow \
                 the volume.",
                &["rotate_logs", "clean_tmp", "grow_volume"],
                &[
                    r"(?i)no space left on device",
                    r"\bENOSPC\b",
                    r"(?i)\bdisk (is )?full\b",
                    r"(?i)disk quota exceeded",
                    r"\bEDQUOT\b",
                    r"(?i)\bErrcode: 28\b",
                    r"(?i)the table '[^']*' is full",
                ],
            ),
            cat(
                "deadlock",
                Error,
                "Transactions or threads deadlocked: find the conflicting lock order; the \
                 application should retry the aborted transaction.",
                &["dump_locks", "restart_service"],
                &[
                    r"(?i)\bdeadlock (detected|found)",
                    r"(?i)Found one Java-level deadlock",
                    r"all goroutines are asleep - deadlock",
                    r"(?i)lock wait timeout exceeded",
                ],
            ),
            cat(
                "crash",
                Critical,
                "A process crashed (segfault, panic or uncaught exception): read the stack trace, \
                 restart the service and watch for a crash loop.",
                &["restart_service", "collect_core_dump", "rollback_release"],
                &[
                    r"\bsegfault at\b",
                    r"(?i)segmentation fault",
                    r"\bSIGSEGV\b",
                    r"(?i)core dumped",
                    r"thread '[^']*' panicked at",
                    r"(?m)^panic: ",
                    r"\bpanic: runtime error",
                    r"(?i)kernel panic",
                    r"Traceback \(most recent call last\)",
                    r#"Exception in thread ""#,
                    r"UnhandledPromiseRejection",
                    r"(?i)uncaught (exception|typeerror|referenceerror|error)",
                    r"(?i)unhandled exception",
                    r"terminate called after throwing an instance of",
                    r"was terminated by signal \d+",
                    r"BUG: unable to handle",
                    r"general protection fault",
                ],
            ),
            cat(
                "tls_error",
                Error,
                "TLS failed: check certificate expiry, the CA chain, hostnames and protocol/cipher \
                 settings on both ends.",
                &["renew_certificate", "check_ca_bundle"],
                &[
                    r"(?i)certificate verify failed",
                    r"(?i)\bx509: ",
                    r"(?i)SSL_do_handshake\(\) failed",
                    r"(?i)\b(ssl|tls) handshake (failed|failure|error)",
                    r"(?i)\btls: (handshake failure|bad certificate|unknown certificate|failed to verify)",
                    r"SSLHandshakeException",
                    r"PKIX path building failed",
                    r"(?i)unable to verify the first certificate",
                    r"\b(CERT_HAS_EXPIRED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)\b",
                    r"(?i)certificate (has )?expired",
                    r"(?i)self[- ]signed certificate in certificate chain",
                    r"(?i)\bSSL connection error",
                    r"(?i)could not accept SSL connection",
                ],
            ),
            cat(
                "dns_failure",
                Error,
                "A host name did not resolve: check the name, /etc/resolv.conf and the DNS server.",
                &["check_dns", "flush_dns_cache"],
                &[
                    r"\bNXDOMAIN\b",
                    r"(?i)name or service not known",
                    r"(?i)temporary failure in name resolution",
                    r"getaddrinfo (ENOTFOUND|EAI_AGAIN)",
                    r"(?i)\bno such host\b",
                    r"UnknownHostException",
                    r"(?i)host not found in upstream",
                    r"(?i)could not be resolved \(\d+: ",
                    r"(?i)could not translate host name",
                    r"(?i)unknown MySQL server host",
                    r"(?i)nodename nor servname provided",
                    // curl; Windows sockets (WSAHOST_NOT_FOUND is error 11001)
                    r"(?i)could not resolve host|could not resolve proxy",
                    r"(?i)\bWSAHOST_NOT_FOUND\b|\berror 11001\b",
                ],
            ),
            cat(
                "too_many_connections",
                Error,
                "A connection limit was reached: look for connection leaks, add pooling or raise \
                 the limit.",
                &["raise_connection_limit", "restart_service"],
                &[
                    r"(?i)too many connections",
                    r"(?i)too many clients already",
                    r"(?i)remaining connection slots are reserved",
                    r"(?i)max number of clients reached",
                    r"(?i)worker_connections are not enough",
                    r"(?i)too many open files",
                    r"\bEMFILE\b",
                ],
            ),
            cat(
                "upstream_timeout",
                Error,
                "The proxy's upstream did not answer in time: check the backend's health and \
                 latency, and proxy timeouts.",
                &["restart_upstream", "raise_proxy_timeout"],
                &[r"(?i)upstream timed out", r"(?i)upstream request timeout"],
            ),
            cat(
                "connection_refused",
                Error,
                "Nothing listens at the target address: check that the service is up and the \
                 host/port are right.",
                &["restart_service", "check_listen_address"],
                &[
                    r"(?i)connection refused",
                    r"\bECONNREFUSED\b",
                    r"(?i)can't connect to (local )?MySQL server",
                    r"(?i)could not connect to Redis",
                    // Windows sockets: WSAECONNREFUSED is error 10061
                    r"(?i)\bWSAECONNREFUSED\b|\berror 10061\b",
                ],
            ),
            cat(
                "connection_timeout",
                Error,
                "A connection attempt timed out or found no route to the host: check the network \
                 path, routes, firewalls and the target's load.",
                &["check_network", "restart_service"],
                &[
                    r"(?i)connection timed out",
                    r"(?i)\bconnect(ion)? timeout\b",
                    r"(?i)connect timed out",
                    r"\bETIMEDOUT\b",
                    r"(?i)\bdial tcp [^ ]*: i/o timeout",
                    r"\bConnectTimeout(Error|Exception)?\b",
                    r"(?i)timeout expired",
                    // Windows sockets: WSAETIMEDOUT is error 10060
                    r"(?i)\bWSAETIMEDOUT\b|\berror 10060\b",
                    // EHOSTUNREACH, ENETUNREACH
                    r"(?i)no route to host|NoRouteToHostException|network is unreachable|host is unreachable",
                ],
            ),
            cat(
                "auth_failed",
                Error,
                "Authentication failed: check credentials and secrets rotation; many failures from \
                 one address may be an attack.",
                &["rotate_credentials", "block_source"],
                &[
                    // Alternatives of plain phrases: the prefilter then needs one of these phrases
                    // ("login failed"), not a word as common as "failed". PostgreSQL, PAM, SASL,
                    // dovecot, MongoDB, lighttpd, exim, sshd, xrdp ...
                    r"(?i)authentication failed|authentication failure|authentication error|\bauth failed|\bauth failure\b|\bauth error|incorrect authentication data|authenticator failed|maximum authentication attempts exceeded|too many authentication failures|user not known to the underlying authentication module|\bauthfail\b|\bauth fail\b|no more user authentication methods",
                    r"(?i)authentication attempt from .* failed",
                    // MySQL, Redis
                    r"(?i)access denied for user",
                    r"\bWRONGPASS\b",
                    r"NOAUTH Authentication required",
                    // passwords and users
                    r"(?i)invalid password|\bwrong password\b|\bincorrect password\b|\bpassword mismatch|\bpassword incorrect|\bpassword does not match for|\bpassword doesn't match for|password verification failed",
                    // sshd's "Invalid user X from ADDR" (an IPv4 or IPv6 address), not "invalid user
                    // input from the form"
                    r"(?i)\binvalid user \S* ?from ([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-f]*:[0-9a-f:]*[0-9a-f])\b|userauth_request: invalid user|disconnecting invalid user|\binvalid username\b",
                    r"(?i)\binvalid credentials\b",
                    r#"(?i)\buser "[^"]*" was not found in ""#,
                    r"(?i)\bsupplied unknown user\b",
                    // sshd ("Failed publickey" is left out: a client offering several keys logs it
                    // for every key the server refuses before one is accepted)
                    r"(?i)\bFailed password for|\bFailed hostbased for|\bFailed keyboard-interactive",
                    r"(?i)\buser \S+ from \S+ not allowed because",
                    // logins: "Login failed", "LOGIN REFUSED", "FAILED LOGIN", "badlogin"
                    r"(?i)\blogin failed|\blogin failure\b|\blogin attempt failed|\blogin denied|\blogin refused|\blogon fail(ed|ure)|\bfailed log(in|on)\b|\bfail login\b|\bbadlogin\b",
                ],
            ),
            cat(
                "connection_reset",
                Warning,
                "The peer closed the connection abruptly: check the peer's logs, keep-alive and \
                 idle timeouts, and load balancers.",
                &["check_peer"],
                &[
                    r"(?i)connection reset",
                    r"\bECONNRESET\b",
                    r"(?i)socket hang up",
                    r"(?i)broken pipe",
                    r"\bEPIPE\b",
                    // Windows sockets: WSAECONNRESET is error 10054
                    r"(?i)\bWSAECONNRESET\b|\berror 10054\b",
                ],
            ),
            cat(
                "permission_denied",
                Error,
                "Access was refused by the OS or database: check file ownership/modes, SELinux or \
                 AppArmor, and grants.",
                &["fix_permissions"],
                &[
                    r"(?i)permission denied",
                    r"\bEACCES\b",
                    r"\bEPERM\b",
                    r"(?i)operation not permitted",
                    r"AccessDeniedException",
                    r"(?i)insufficient privilege",
                ],
            ),
            cat(
                "missing_file",
                Error,
                "A file or directory is missing: check paths in the configuration and the deploy.",
                &["restore_file", "redeploy"],
                &[
                    r"(?i)no such file or directory",
                    r"\bENOENT\b",
                    r"FileNotFound(Exception|Error)",
                ],
            ),
            cat(
                "rate_limited",
                Warning,
                "Requests are being rate limited: slow the client down or raise the quota.",
                &["raise_rate_limit", "throttle_client"],
                &[
                    r"(?i)\b429 Too Many Requests",
                    r"(?i)too many requests",
                    r"(?i)rate limit(ed| exceeded)",
                    r"(?i)limiting (requests|connections), excess",
                    r#"^\S+ \S+ \S+ \[[^\]]*\] "[^"]*" 429 "#,
                    r"(?i)\bthrottl(ed|ing) (request|client)",
                ],
            ),
            cat(
                "http_5xx",
                Error,
                "The server answered with a 5xx status: check the application and its upstreams.",
                &["restart_service", "rollback_release"],
                &[
                    r#"^\S+ \S+ \S+ \[[^\]]*\] "[^"]*" 5[0-9][0-9] "#,
                    r#"(?i)\bstatus[=:] ?"?5[0-9][0-9]\b"#,
                ],
            ),
            cat(
                "bad_config",
                Error,
                "The configuration is invalid: validate it (nginx -t, postgres -C, ...) and revert \
                 the last change.",
                &["validate_config", "revert_config"],
                &[
                    r"(?i)invalid config(uration)?\b",
                    r"(?i)config(uration)? file error",
                    r"(?i)config(uration)? file .* contains errors",
                    r"(?i)unknown directive",
                    r"(?i)unrecognized configuration parameter",
                    r"(?i)unknown (variable|option) '",
                    r"(?i)bad directive",
                    r"(?i)configuration file .* test failed",
                    r"(?i)failed to (load|parse) (config|configuration)\b",
                ],
            ),
        ]
    }
}
