//! Classification of log lines into known failure categories (OOM, disk full, TLS, ...).
//! A prefilter names the few categories whose required words a line holds; only their
//! patterns run, each category's compiled (into one multi-pattern regex, a set) when a line
//! first needs it.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use regex_automata::meta;

use super::prefilter::{Candidates, Prefilter};
use crate::config::{Config, builtin_categories, compile_patterns};
use crate::model::{Category, CategoryId};

/// A category whose pattern does not compile.
#[derive(Debug)]
pub struct PatternError {
    /// Name of the category.
    pub category: String,
    /// The offending pattern.
    pub pattern: String,
    /// The regex compiler's message.
    pub source: regex::Error,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "category {}: bad pattern {:?}: {}",
            self.category, self.pattern, self.source
        )
    }
}

impl std::error::Error for PatternError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Classifies lines against a list of categories in priority order.
#[derive(Clone, Debug)]
pub struct Classifier {
    categories: Vec<Category>,
    /// Each category's patterns as one set (same index), compiled when a line first may match
    /// it; `None` when they do not compile together (see [`Classifier::compile_all`]).
    sets: Vec<OnceLock<Option<meta::Regex>>>,
    /// Names the categories a line may match.
    prefilter: Prefilter,
}

impl Classifier {
    /// Checks every pattern's syntax and prepares the prefilter; earlier categories win over
    /// later ones. Patterns are compiled on first use: [`Classifier::compile_all`] compiles
    /// them now, to find patterns too large to compile together.
    pub fn new(categories: Vec<Category>) -> Result<Self, PatternError> {
        let mut parsed = Vec::new();
        for (id, c) in categories.iter().enumerate() {
            for p in &c.patterns {
                let hir = regex_syntax::parse(p).map_err(|e| PatternError {
                    category: c.name.clone(),
                    pattern: p.clone(),
                    // The regex compiler's own message when it agrees (it uses this parser).
                    source: Regex::new(p)
                        .err()
                        .unwrap_or_else(|| regex::Error::Syntax(e.to_string())),
                })?;
                parsed.push((id, hir));
            }
        }
        let prefilter = Prefilter::new(categories.len(), parsed.iter().map(|(id, h)| (*id, h)));
        Ok(Classifier {
            sets: categories.iter().map(|_| OnceLock::new()).collect(),
            categories,
            prefilter,
        })
    }

    /// A classifier with the categories in force in `config` (see [`Config::categories`]).
    pub fn from_config(config: &Config) -> Result<Self, PatternError> {
        Self::new(config.categories())
    }

    /// A classifier with [`builtin_categories`].
    pub fn builtin() -> Self {
        // The built-in patterns are fixed and covered by tests, so this cannot fail.
        match Self::new(builtin_categories()) {
            Ok(c) => c,
            Err(e) => panic!("built-in category pack does not compile: {e}"),
        }
    }

    /// Compiles every category's patterns now; the first category whose patterns do not
    /// compile together (the `regex` size limits) is the error. A classifier that passed
    /// this never fails to compile a category later.
    pub fn compile_all(&self) -> Result<(), PatternError> {
        for (c, set) in self.categories.iter().zip(&self.sets) {
            let compiled = compile_patterns(&c.patterns).map_err(|source| PatternError {
                category: c.name.clone(),
                pattern: c.patterns.join(" | "),
                source,
            })?;
            let _ = set.set(Some(compiled)); // compiled already by another caller: the same
        }
        Ok(())
    }

    /// The compiled patterns of category `c`, kept in `set`.
    fn set<'a>(
        &self,
        c: &Category,
        set: &'a OnceLock<Option<meta::Regex>>,
    ) -> Option<&'a meta::Regex> {
        set.get_or_init(|| compile_patterns(&c.patterns).ok())
            .as_ref()
    }

    /// The first category (in priority order) with a pattern matching `line`.
    pub fn classify(&self, line: &str) -> Option<CategoryId> {
        self.classify_among(line, self.prefilter.candidates(line))
    }

    /// [`Classifier::classify`] with the candidate categories known already: `candidates` must
    /// hold every category the prefilter would let through for `line` (as
    /// [`Classifier::skeleton_candidates`] of its skeleton does).
    pub fn classify_among(&self, line: &str, mut candidates: Candidates) -> Option<CategoryId> {
        candidates.find(|&id| {
            let (Some(c), Some(set)) = (self.categories.get(id), self.sets.get(id)) else {
                return false;
            };
            self.set(c, set).is_some_and(|set| set.is_match(line))
        })
    }

    /// [`Classifier::classify`], letting the prefilter learn from the line which of its words'
    /// parts this log rarely contains (it then lets fewer lines through to the pattern set).
    pub fn classify_learning(&mut self, line: &str) -> Option<CategoryId> {
        self.prefilter.observe(line);
        self.classify(line)
    }

    /// The categories a line whose number skeleton (see [`super::skeleton`]) is `skeleton`
    /// may match, for [`Classifier::classify_among`]: lines of one skeleton are classified
    /// without a scan for words each (and not at all when there are none).
    pub fn skeleton_candidates(&self, skeleton: &[u8]) -> Candidates {
        self.prefilter.skeleton_candidates(skeleton)
    }

    /// True when the prefilter can rule every category out (each of its patterns requires
    /// some literal word); a category that cannot be ruled out runs its patterns on every line.
    pub fn is_prefiltered(&self) -> bool {
        self.prefilter.is_selective()
    }

    /// The category with this id.
    pub fn category(&self, id: CategoryId) -> Option<&Category> {
        self.categories.get(id)
    }

    /// All categories, in priority order (index = id).
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The id of the category with this name.
    pub fn id_of(&self, name: &str) -> Option<CategoryId> {
        self.categories.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    /// The category the classifier built from the config `toml` puts `line` in.
    fn classified(toml: &str, line: &str) -> Option<String> {
        let config = Config::parse(toml, std::path::Path::new("h.toml")).expect("config");
        let classifier = Classifier::from_config(&config).expect("compiles");
        let id = classifier.classify(line)?;
        classifier.category(id).map(|c| c.name.clone())
    }

    #[test]
    fn the_classifier_follows_the_configs_categories_over_the_pack() {
        // A user's category comes before the pack, even on a line a built-in also matches.
        let added = "[[runbook]]\nname = \"vpn\"\nsteps = [ { run = [\"true\"] } ]\n\
                     [[category]]\nname = \"payment_gateway_down\"\n\
                     patterns = ['(?i)payment gateway .* unreachable']\nrunbooks = [\"vpn\"]\n";
        let both = "Payment gateway eu-1 unreachable: connection refused";
        assert_eq!(
            classified(added, both).as_deref(),
            Some("payment_gateway_down")
        );
        assert_eq!(
            classified(added, "dial tcp 10.0.0.1:443: connect: connection refused").as_deref(),
            Some("connection_refused")
        );
        // A changed built-in keeps its place: the earlier out-of-memory still wins.
        let changed = "[[category]]\nname = \"connection_refused\"\nseverity = \"critical\"\n";
        let oom = "Out of memory: Killed process 1 (x); connection refused";
        assert_eq!(classified(changed, oom).as_deref(), Some("out_of_memory"));
        // Replaced patterns replace; a disabled built-in is gone.
        let replaced =
            "[[category]]\nname = \"connection_refused\"\npatterns = ['backend \\d+ refused us']\n";
        assert_eq!(
            classified(replaced, "backend 7 refused us").as_deref(),
            Some("connection_refused")
        );
        assert_eq!(
            classified(replaced, "Error: connect ECONNREFUSED 1.2.3.4:5"),
            None
        );
        let disabled = "[[category]]\nname = \"rate_limited\"\ndisabled = true\n";
        assert_eq!(classified(disabled, "HTTP/1.1 429 Too Many Requests"), None);
        assert_eq!(
            classified("", "HTTP/1.1 429 Too Many Requests").as_deref(),
            Some("rate_limited")
        );
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

    const HITS: &[(&str, &str)] = &[
        (
            "out_of_memory",
            "Out of memory: Killed process 4242 (java) total-vm:8123456kB, anon-rss:4045056kB, file-rss:0kB",
        ),
        (
            "out_of_memory",
            "[12345.678901] postgres invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0",
        ),
        (
            "out_of_memory",
            "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
        ),
        (
            "out_of_memory",
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
        ),
        (
            "out_of_memory",
            "-OOM command not allowed when used memory > 'maxmemory'.",
        ),
        (
            "out_of_memory",
            "memory allocation of 68719476736 bytes failed",
        ),
        (
            "out_of_memory",
            "2024-01-02 10:00:00.123 UTC [1234] ERROR:  out of memory",
        ),
        ("out_of_memory", "fatal error: runtime: out of memory"),
        (
            "disk_full",
            "2024-01-02 10:00:00 UTC [77] PANIC:  could not write to file \"pg_wal/xlogtemp.77\": No space left on device",
        ),
        ("disk_full", "Error: ENOSPC: no space left on device, write"),
        (
            "disk_full",
            "[ERROR] /usr/sbin/mysqld: Disk is full writing './binlog.000042' (Errcode: 28 - No space left on device). Waiting for someone to free space...",
        ),
        (
            "disk_full",
            "[ERROR] /usr/sbin/mysqld: The table 'sessions' is full",
        ),
        (
            "deadlock",
            "2024-01-02 10:00:00 UTC [4321] ERROR:  deadlock detected",
        ),
        (
            "deadlock",
            "ERROR 1213 (40001): Deadlock found when trying to get lock; try restarting transaction",
        ),
        (
            "deadlock",
            "fatal error: all goroutines are asleep - deadlock!",
        ),
        ("deadlock", "Found one Java-level deadlock:"),
        (
            "crash",
            "[ 1234.567890] myapp[4242]: segfault at 0 ip 00007f3a2b1c4d5e sp 00007ffd1c2b3a40 error 4 in libc-2.31.so[7f3a2b0a1000+178000]",
        ),
        ("crash", "thread 'main' panicked at src/main.rs:42:10:"),
        (
            "crash",
            "panic: runtime error: invalid memory address or nil pointer dereference",
        ),
        ("crash", "Traceback (most recent call last):"),
        (
            "crash",
            "Exception in thread \"main\" java.lang.NullPointerException",
        ),
        (
            "crash",
            "(node:4242) UnhandledPromiseRejectionWarning: Error: boom",
        ),
        (
            "crash",
            "2024-01-02 10:00:00 UTC [1] LOG:  server process (PID 4242) was terminated by signal 11: Segmentation fault",
        ),
        ("crash", "Kernel panic - not syncing: Fatal exception"),
        (
            "tls_error",
            "requests.exceptions.SSLError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1129)')))",
        ),
        (
            "tls_error",
            "Get \"https://api.example.com\": x509: certificate has expired or is not yet valid: current time 2024-01-02T10:00:00Z is after 2023-12-31T23:59:59Z",
        ),
        (
            "tls_error",
            "2024/01/02 10:00:00 [crit] 1234#0: *5678 SSL_do_handshake() failed (SSL: error:14094410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream",
        ),
        (
            "tls_error",
            "javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target",
        ),
        ("tls_error", "Error: unable to verify the first certificate"),
        (
            "tls_error",
            "http: TLS handshake error from 10.0.0.7:51234: remote error: tls: bad certificate",
        ),
        ("dns_failure", "Error: getaddrinfo ENOTFOUND db.internal"),
        (
            "dns_failure",
            "dial tcp: lookup db.internal on 127.0.0.53:53: no such host",
        ),
        (
            "dns_failure",
            "psql: error: could not translate host name \"db\" to address: Name or service not known",
        ),
        ("dns_failure", "java.net.UnknownHostException: db.internal"),
        (
            "dns_failure",
            "2024/01/02 10:00:00 [emerg] 1#1: host not found in upstream \"backend:8080\" in /etc/nginx/conf.d/default.conf:12",
        ),
        (
            "dns_failure",
            "socket.gaierror: [Errno -3] Temporary failure in name resolution",
        ),
        (
            "dns_failure",
            ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 4242",
        ),
        (
            "auth_failed",
            "2024-01-02 10:00:00 UTC [4242] FATAL:  password authentication failed for user \"app\"",
        ),
        (
            "auth_failed",
            "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",
        ),
        (
            "auth_failed",
            "-WRONGPASS invalid username-password pair or user is disabled.",
        ),
        ("auth_failed", "(error) NOAUTH Authentication required."),
        (
            "auth_failed",
            "sshd[811]: Invalid user oracle from 203.0.113.9 port 40112",
        ),
        (
            "auth_failed",
            "sshd[811]: User root from 203.0.113.9 not allowed because not listed in AllowUsers",
        ),
        (
            "auth_failed",
            "dovecot: imap-login: Disconnected (auth failed, 3 attempts in 9 secs): user=<bob>",
        ),
        (
            "auth_failed",
            "exim: dovecot_login authenticator failed for (x) [203.0.113.9]: 535 Incorrect authentication data",
        ),
        (
            "auth_failed",
            "2024/01/02 10:00:00 [error] 7#7: *1 user \"bob\": password mismatch, client: 203.0.113.9",
        ),
        (
            "auth_failed",
            "Logon  Login failed for user 'sa'. Reason: Password did not match that for the login provided.",
        ),
        (
            "auth_failed",
            "vsftpd[99]: [bob] FAIL LOGIN: Client \"203.0.113.9\"",
        ),
        (
            "auth_failed",
            "IMAP Error: Login failed for bob from 203.0.113.9",
        ),
        (
            "auth_failed",
            "FAILED LOGIN 1 FROM tty1 FOR bob, Authentication failure",
        ),
        (
            "auth_failed",
            "sshd[5]: Received disconnect from 203.0.113.9: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
        ),
        (
            "auth_failed",
            "sshd[5]: Received disconnect from 203.0.113.9: 14: No more user authentication methods available. [preauth]",
        ),
        (
            "dns_failure",
            "curl: (6) Could not resolve host: api.example.com",
        ),
        // A login that failed because a backend is unreachable is a network failure first.
        (
            "connection_refused",
            "LDAP login failed: ldap.internal:389: java.net.ConnectException: Connection refused",
        ),
        (
            "connection_timeout",
            "authentication error: Could not contact LDAP server: Connection timed out",
        ),
        (
            "too_many_connections",
            "login failed: FATAL: sorry, too many clients already",
        ),
        (
            "dns_failure",
            "api.example.com:443 error : Could not resolve api.example.com error 11001",
        ),
        (
            "connection_refused",
            "db:5432 error : Could not connect - connection attempt failed with error 10061",
        ),
        (
            "connection_timeout",
            "java.net.NoRouteToHostException: No route to host (Host unreachable)",
        ),
        ("connection_timeout", "connect: Network is unreachable"),
        (
            "connection_reset",
            "recv failed: WSAECONNRESET: An existing connection was forcibly closed by the remote host",
        ),
        (
            "auth_failed",
            "Failed password for invalid user admin from 203.0.113.9 port 52022 ssh2",
        ),
        (
            "too_many_connections",
            "2024-01-02 10:00:00 UTC [4242] FATAL:  sorry, too many clients already",
        ),
        (
            "too_many_connections",
            "ERROR 1040 (HY000): Too many connections",
        ),
        ("too_many_connections", "-ERR max number of clients reached"),
        (
            "too_many_connections",
            "2024/01/02 10:00:00 [alert] 1234#0: 1024 worker_connections are not enough",
        ),
        (
            "too_many_connections",
            "2024/01/02 10:00:00 [crit] 1234#0: accept4() failed (24: Too many open files)",
        ),
        (
            "upstream_timeout",
            "2024/01/02 10:00:00 [error] 1234#0: *5678 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.1, server: example.com, request: \"GET /api HTTP/1.1\", upstream: \"http://127.0.0.1:8080/api\"",
        ),
        (
            "upstream_timeout",
            "2024/01/02 10:00:00 [error] 1234#0: *9 upstream timed out (110: Operation timed out) while connecting to upstream, client: 10.0.0.2",
        ),
        (
            "connection_refused",
            "2024/01/02 10:00:00 [error] 1234#0: *5678 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1",
        ),
        (
            "connection_refused",
            "Could not connect to Redis at 127.0.0.1:6379: Connection refused",
        ),
        (
            "connection_refused",
            "Error: connect ECONNREFUSED 127.0.0.1:5432",
        ),
        (
            "connection_refused",
            "ERROR 2003 (HY000): Can't connect to MySQL server on 'db' (111)",
        ),
        (
            "connection_refused",
            "dial tcp 127.0.0.1:5432: connect: connection refused",
        ),
        (
            "connection_timeout",
            "java.net.SocketTimeoutException: connect timed out",
        ),
        ("connection_timeout", "dial tcp 10.0.0.5:443: i/o timeout"),
        (
            "connection_timeout",
            "Error: connect ETIMEDOUT 10.0.0.5:443",
        ),
        (
            "connection_timeout",
            "psql: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: Connection timed out",
        ),
        (
            "connection_reset",
            "2024/01/02 10:00:00 [error] 1234#0: *5678 recv() failed (104: Connection reset by peer) while reading response header from upstream",
        ),
        ("connection_reset", "Error: read ECONNRESET"),
        (
            "connection_reset",
            "java.net.SocketException: Connection reset",
        ),
        (
            "connection_reset",
            "ConnectionResetError: [Errno 104] Connection reset by peer",
        ),
        (
            "permission_denied",
            "PermissionError: [Errno 13] Permission denied: '/var/log/app.log'",
        ),
        (
            "permission_denied",
            "2024/01/02 10:00:00 [crit] 1234#0: *1 open() \"/var/www/html/index.html\" failed (13: Permission denied)",
        ),
        (
            "permission_denied",
            "2024-01-02 10:00:00 UTC [4242] ERROR:  permission denied for table users",
        ),
        (
            "permission_denied",
            "Error: EACCES: permission denied, open '/etc/app/secret.json'",
        ),
        (
            "missing_file",
            "2024/01/02 10:00:00 [error] 1234#0: *1 open() \"/usr/share/nginx/html/favicon.ico\" failed (2: No such file or directory)",
        ),
        (
            "missing_file",
            "java.io.FileNotFoundException: /etc/app/application.yml (No such file or directory)",
        ),
        (
            "missing_file",
            "FileNotFoundError: [Errno 2] No such file or directory: 'config.yaml'",
        ),
        (
            "missing_file",
            "Error: ENOENT: no such file or directory, open '/app/.env'",
        ),
        ("rate_limited", "HTTP/1.1 429 Too Many Requests"),
        (
            "rate_limited",
            "2024/01/02 10:00:00 [error] 1234#0: *5678 limiting requests, excess: 20.540 by zone \"one\", client: 10.0.0.1",
        ),
        (
            "rate_limited",
            "openai.error.RateLimitError: Rate limit exceeded",
        ),
        (
            "rate_limited",
            "10.0.0.1 - - [02/Jan/2024:10:00:00 +0000] \"GET /api/items HTTP/1.1\" 429 162 \"-\" \"curl/8.0\"",
        ),
        (
            "http_5xx",
            "10.0.0.1 - - [02/Jan/2024:10:00:00 +0000] \"GET /api/items HTTP/1.1\" 502 157 \"-\" \"Mozilla/5.0\"",
        ),
        (
            "http_5xx",
            "192.168.1.20 - frank [10/Oct/2023:13:55:36 -0700] \"POST /checkout HTTP/1.1\" 500 2326 \"https://shop.example/cart\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
        ),
        (
            "http_5xx",
            "level=error msg=\"request failed\" method=GET path=/api status=503",
        ),
        (
            "bad_config",
            "2024/01/02 10:00:00 [emerg] 1#1: unknown directive \"proxy_passs\" in /etc/nginx/conf.d/default.conf:7",
        ),
        (
            "bad_config",
            "nginx: configuration file /etc/nginx/nginx.conf test failed",
        ),
        (
            "bad_config",
            "2024-01-02 10:00:00 UTC [1] LOG:  configuration file \"/etc/postgresql/16/main/postgresql.conf\" contains errors; unaffected changes were applied",
        ),
        (
            "bad_config",
            "2024-01-02 10:00:00 UTC [1] FATAL:  unrecognized configuration parameter \"shared_bufers\"",
        ),
        (
            "bad_config",
            "*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***",
        ),
        (
            "bad_config",
            "[ERROR] [MY-000067] [Server] unknown variable 'innodb_bufer_pool_size=1G'.",
        ),
        (
            "bad_config",
            "Error: invalid configuration: missing field `listen`",
        ),
    ];

    const BENIGN: &[&str] = &[
        "2024-01-02 10:00:00 UTC [1] LOG:  database system is ready to accept connections",
        "1:M 02 Jan 2024 10:00:00.000 * Ready to accept connections tcp",
        "10.0.0.1 - - [02/Jan/2024:10:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 612 \"-\" \"Mozilla/5.0\"",
        "10.0.0.2 - - [02/Jan/2024:10:00:01 +0000] \"POST /api/login HTTP/1.1\" 201 48 \"-\" \"curl/8.0\"",
        "10.0.0.3 - - [02/Jan/2024:10:00:02 +0000] \"GET /missing HTTP/1.1\" 404 153 \"-\" \"curl/8.0\"",
        "INFO  Server started on port 8080",
        "connection established with 10.0.0.5:5432",
        "Build finished: 0 errors, 0 warnings",
        "2024-01-02 10:00:00 UTC [42] LOG:  checkpoint complete: wrote 120 buffers (0.7%)",
        "2024-01-02 10:00:00 UTC [1] LOG:  received SIGHUP, reloading configuration files",
        "2024-01-02T10:00:00.000Z INFO  [main] o.s.b.w.embedded.tomcat.TomcatWebServer: Tomcat started on port(s): 8080 (http)",
        "Accepted publickey for deploy from 10.0.0.9 port 51515 ssh2: RSA SHA256:abc",
        "Accepted password for deploy from 10.0.0.9 port 51515 ssh2",
        "Successful login for user alice from 10.0.0.4",
        "User alice logged in (authentication succeeded, method=PLAIN)",
        "password changed for user alice",
        "Login attempt 1 of 3 for alice succeeded",
        "ValidationError: invalid user input from form field 'email'",
        "rejected invalid user input from face detection stage",
        "Skipping invalid user record from 2024-01-02 import",
        "Resetting login failures for user alice",
        "Max login failures before lockout: 5",
        "auth failures=0 auth successes=12",
        "user \"alice\" was not found in cache, loading",
        "BAD PASSWORD: The password is shorter than 8 characters",
        "New password does not match confirmation",
        "Failed publickey for git from 10.0.0.9 port 51515 ssh2: ED25519 SHA256:abc",
        "pam_unix(sshd:session): session opened for user deploy by (uid=0)",
        "2024/01/02 10:00:00 [notice] 1#1: start worker processes",
        "Listening on 0.0.0.0:3000",
        "TLS handshake completed with api.example.com using TLSv1.3",
        "certificate for example.com is valid until 2030-01-01",
        "Resolved db.internal to 10.0.0.5",
        "[Note] /usr/sbin/mysqld: ready for connections. Version: '8.0.36'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306",
        "DB saved on disk",
        "Background saving terminated with success",
        "GC pause (G1 Evacuation Pause) (young) 24M->8M(256M) 3.456ms",
        "kernel: [    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)",
        "Started Session 42 of user root.",
        "INFO: Retrying request after backoff of 200ms (attempt 1 of 3)",
        "health check passed: 3/3 upstreams healthy",
        "Configuration loaded from /etc/app/config.yaml",
    ];

    #[test]
    fn every_category_hits_real_lines() {
        let c = Classifier::builtin();
        assert!(
            c.is_prefiltered(),
            "every built-in pattern needs a literal word"
        );
        for (want, line) in HITS {
            let got = c
                .classify(line)
                .and_then(|id| c.category(id))
                .map(|c| c.name.as_str());
            assert_eq!(got, Some(*want), "line: {line}");
        }
        for cat in c.categories() {
            let n = HITS.iter().filter(|(w, _)| *w == cat.name).count();
            assert!(n >= 2, "category {} has {n} sample lines", cat.name);
        }
    }

    proptest::proptest! {
        /// Classifying gives the first category with a matching pattern, the patterns tried
        /// one by one, whatever the prefilter ruled out, neither as built nor after learning
        /// from a log: lines are stitched from the sample lines' words in random ASCII case.
        #[test]
        fn the_prefilter_never_hides_a_match(picks in proptest::collection::vec((0usize..10_000, proptest::bool::ANY), 1..12), seed in proptest::num::u64::ANY) {
            static BUILTIN: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(Classifier::builtin);
            static LEARNED: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(|| {
                let mut c = Classifier::builtin();
                let log = HITS.iter().map(|(_, l)| *l).chain(BENIGN.iter().copied()).cycle();
                for line in log.take(300_000) {
                    c.prefilter.observe(line); // as classify_learning does, without matching
                }
                c
            });
            static EACH: std::sync::LazyLock<Vec<Vec<Regex>>> = std::sync::LazyLock::new(|| {
                builtin_categories()
                    .iter()
                    .map(|c| c.patterns.iter().map(|p| Regex::new(p).expect("compiles")).collect())
                    .collect()
            });
            let words: Vec<&str> = HITS
                .iter()
                .map(|(_, l)| *l)
                .chain(BENIGN.iter().copied())
                .flat_map(str::split_whitespace)
                .collect();
            let line = picks
                .iter()
                .map(|&(i, upper)| {
                    let w = words[i % words.len()];
                    if upper { w.to_ascii_uppercase() } else { w.to_ascii_lowercase() }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let want = EACH.iter().position(|c| c.iter().any(|re| re.is_match(&line)));
            for c in [&*BUILTIN, &*LEARNED] {
                proptest::prop_assert_eq!(c.classify(&line), want, "{}", line);
            }
            // Nor do the candidates of a number skeleton, for this line or one renumbered.
            for line in [line.clone(), crate::logs::skeleton::renumber(&line, seed)] {
                let want = EACH.iter().position(|c| c.iter().any(|re| re.is_match(&line)));
                let among = BUILTIN.skeleton_candidates(&skeleton_of(&line));
                proptest::prop_assert_eq!(BUILTIN.classify_among(&line, among), want, "{}", line);
            }
        }
    }

    fn skeleton_of(line: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        crate::logs::skeleton::write(line.as_bytes(), &mut buf).to_vec()
    }

    #[test]
    fn a_skeleton_rules_a_category_out_only_when_no_word_of_it_is_in_it() {
        let c = Classifier::builtin();
        let ruled_out = |line: &str| c.skeleton_candidates(&skeleton_of(line)).next().is_none();
        for (want, line) in HITS {
            let among = c.skeleton_candidates(&skeleton_of(line));
            assert_eq!(c.classify_among(line, among), c.id_of(want), "line: {line}");
        }
        let quiet = BENIGN.iter().filter(|line| ruled_out(line)).count();
        assert!(quiet * 2 > BENIGN.len(), "{quiet} of {}", BENIGN.len());
        // A 5xx access-log line needs its status: its skeleton holds the skeleton of `" 503 `.
        let ok = r#"10.0.0.1 - - [02/Jan/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 12"#;
        assert!(!ruled_out(ok));
        assert_eq!(c.classify(ok), None);
        assert!(ruled_out("worker 0 finished job 0 in 0 ms"));
    }

    #[test]
    fn benign_lines_hit_nothing() {
        assert!(BENIGN.len() >= 20);
        let c = Classifier::builtin();
        for line in BENIGN {
            let got = c
                .classify(line)
                .and_then(|id| c.category(id))
                .map(|c| c.name.clone());
            assert_eq!(got, None, "line: {line}");
        }
    }

    #[test]
    fn bad_pattern_is_reported() {
        let err = Classifier::new(vec![cat("x", Severity::Info, "", &[], &["("])]);
        assert!(err.is_err_and(|e| e.category == "x" && e.pattern == "("));
        // Each fits the default size limit, together they do not: found by compile_all.
        let big = Classifier::new(vec![
            cat("fine", Severity::Info, "", &[], &["ok"]),
            cat(
                "big",
                Severity::Info,
                "",
                &[],
                &[r"\w{1000}", r"\w{999}", r"\w{998}"],
            ),
        ])
        .expect("the syntax is fine");
        assert!(big.compile_all().is_err_and(|e| e.category == "big"));
        assert_eq!(big.classify("ok"), Some(0));
    }

    #[test]
    fn priority_order_wins() {
        let c = Classifier::builtin();
        // Mentions both an OOM kill and a restart; OOM comes first.
        let id = c.classify("Out of memory: Killed process 1 (x); connection refused");
        assert_eq!(id, c.id_of("out_of_memory"));
    }
}
