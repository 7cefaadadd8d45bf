//! The `homeostat` command line: parses arguments (clap) and calls into the library.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use homeostat::config::{Config, ConfigError, DEFAULT_PATH};
use homeostat::logs::Classifier;
use homeostat::telemetry::{LogFormat, init_logging};
use std::path::PathBuf;
use std::process::ExitCode;

/// Homeostat: watches services, finds what is broken, fixes what it safely can, asks a human for
/// the rest, and keeps the record.
#[derive(Parser)]
#[command(name = "homeostat", version, about)]
struct Cli {
    /// Config file (default `homeostat.toml`).
    #[arg(long, global = true, env = "HOMEOSTAT_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// A self-contained demo: a flaky sample service that Homeostat watches and repairs.
    Demo {
        /// API address.
        #[arg(long, default_value = "127.0.0.1:9780")]
        listen: std::net::SocketAddr,
        /// Address of the sample service.
        #[arg(long, default_value = "127.0.0.1:9781")]
        sample: std::net::SocketAddr,
        /// Admin token for the demo's API.
        #[arg(
            long,
            env = "HOMEOSTAT_ADMIN_TOKEN",
            default_value = "demo",
            hide_env_values = true
        )]
        token: String,
    },
    /// The demo's flaky sample service (used by `demo` and its restart runbook).
    #[command(hide = true)]
    SampleService {
        /// Where to listen.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Log file.
        #[arg(long)]
        log: PathBuf,
        /// Replace the instance in --pidfile with a fresh one in the background, then exit.
        #[arg(long, requires = "pidfile")]
        restart: bool,
        /// Pidfile for --restart.
        #[arg(long)]
        pidfile: Option<PathBuf>,
    },
    /// Validate a config file: exit 0, or 1 with `file:line:col: message` for every problem.
    CheckConfig {
        /// The file (default: --config, HOMEOSTAT_CONFIG, or homeostat.toml).
        file: Option<PathBuf>,
    },
    /// Offline log analysis: error categories with advice, and template clusters of the rest.
    ///
    /// The categories are the built-in pack changed by the config's `[[category]]` tables: the
    /// config named by --config or HOMEOSTAT_CONFIG, else ./homeostat.toml when it exists.
    Analyze {
        /// Log files to read.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Summary format.
        #[arg(long, value_enum, default_value_t = homeostat::cli::analyze::Format::Table)]
        format: homeostat::cli::analyze::Format,
        /// Print `line_no<TAB>cluster_id<TAB>template` for every input line.
        #[arg(long)]
        assignments: bool,
        /// Clusters listed in the summary.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Threads: 1, or 2 to read and classify on one while clustering on the other (same
        /// results). Default: 2 when this process may use two CPUs or more, else 1.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        threads: Option<u8>,
    },
    /// Ask a running daemon for its status and health.
    Status {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// List or show repairs on a running daemon.
    Repairs {
        #[command(flatten)]
        daemon: DaemonArgs,
        #[command(subcommand)]
        command: Option<homeostat::cli::repairs::RepairsCommand>,
    },
    /// Approve a repair awaiting approval.
    Approve {
        /// Repair id.
        id: String,
        /// A note for the record.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Deny a repair awaiting approval.
    Deny {
        /// Repair id.
        id: String,
        /// A note for the record.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Engage the emergency stop: no repair starts, running steps are killed; survives restarts.
    EmergencyStop {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Lift the emergency stop.
    Resume {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Manage stored users (works on the config's store directly).
    User {
        #[command(subcommand)]
        command: homeostat::cli::users::UserCommand,
    },
    /// Create, list or revoke API tokens (works on the config's store directly).
    Token {
        #[command(subcommand)]
        command: homeostat::cli::tokens::TokenCommand,
    },
    /// Manage encrypted secrets (needs the master key).
    Secret {
        #[command(subcommand)]
        command: homeostat::cli::secrets::SecretCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: homeostat::cli::audit::AuditCommand,
    },
    /// A report from a running daemon: health, performance or repairs over a window.
    Report {
        /// Which report.
        #[arg(value_parser = report_kind())]
        kind: homeostat::reports::Kind,
        /// The window: how far back, e.g. `24h`, `7d`, `90m`.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        /// Output format.
        #[arg(long, value_parser = report_format(), default_value = "md")]
        format: homeostat::reports::Format,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// List, show, acknowledge or resolve incidents on a running daemon.
    Incidents {
        #[command(flatten)]
        daemon: DaemonArgs,
        #[command(subcommand)]
        command: Option<homeostat::cli::incidents::IncidentsCommand>,
    },
}

/// How to reach a running daemon.
#[derive(clap::Args)]
struct DaemonArgs {
    /// Daemon URL (default: from the config's `[server] listen`, else http://127.0.0.1:9780).
    #[arg(long, global = true)]
    server: Option<String>,
    /// Bearer token.
    #[arg(long, global = true, env = "HOMEOSTAT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the raw JSON.
    #[arg(long, global = true)]
    json: bool,
}

impl DaemonArgs {
    fn client(
        &self,
        config: Option<&std::path::Path>,
    ) -> Result<homeostat::cli::client::DaemonClient> {
        let server = self
            .server
            .clone()
            .unwrap_or_else(|| default_server(config));
        homeostat::cli::client::DaemonClient::new(&server, self.token.as_deref())
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { file } => {
            let path = Config::resolve_path(file.as_deref().or(cli.config.as_deref()));
            Ok(match Config::load(&path) {
                Ok(config) => {
                    println!(
                        "{}: ok ({} checks, {} runbooks)",
                        path.display(),
                        config.check.len(),
                        config.runbook.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            })
        }
        Command::Demo {
            listen,
            sample,
            token,
        } => {
            init_logging(cli.log_format);
            runtime()?.block_on(homeostat::demo::run(listen, sample, &token))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::SampleService {
            listen,
            log,
            restart,
            pidfile,
        } => {
            let rt = runtime()?;
            match (restart, pidfile) {
                (true, Some(pidfile)) => {
                    rt.block_on(homeostat::demo::sample::restart(listen, &log, &pidfile))?
                }
                _ => rt.block_on(homeostat::demo::sample::serve(listen, &log))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            init_logging(cli.log_format);
            let path = Config::resolve_path(cli.config.as_deref());
            let config = load_or_explain(&path)?;
            runtime()?.block_on(homeostat::app::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze {
            files,
            format,
            assignments,
            top,
            threads,
        } => {
            let classifier = analysis_classifier(cli.config.as_deref())?;
            // The CPUs this process may use (its affinity mask and CPU quota count).
            let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = threads.map_or(usable.min(2), usize::from);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let written = homeostat::cli::analyze::run(
                &files,
                classifier,
                homeostat::cli::analyze::Options {
                    format,
                    assignments,
                    top,
                    threads,
                },
                &mut out,
                &mut std::io::stderr().lock(),
            )
            .and_then(|()| std::io::Write::flush(&mut out).map_err(anyhow::Error::from));
            match written {
                // `analyze ... | head` closing the pipe early is not an error.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(ExitCode::SUCCESS)
                }
                other => other.map(|()| ExitCode::SUCCESS),
            }
        }
        Command::Status { daemon } => {
            let client = daemon.client(cli.config.as_deref())?;
            runtime()?.block_on(homeostat::cli::status::run(&client, daemon.json))
        }
        Command::Repairs { daemon, command } => {
            let client = daemon.client(cli.config.as_deref())?;
            let command = command.unwrap_or(homeostat::cli::repairs::RepairsCommand::List {
                state: None,
                limit: 50,
            });
            runtime()?.block_on(homeostat::cli::repairs::run(&client, command, daemon.json))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve {
            ref id,
            ref note,
            ref daemon,
        }
        | Command::Deny {
            ref id,
            ref note,
            ref daemon,
        } => {
            let approve = matches!(cli.command, Command::Approve { .. });
            let client = daemon.client(cli.config.as_deref())?;
            runtime()?.block_on(homeostat::cli::repairs::decide(
                &client,
                id,
                approve,
                note.as_deref(),
                daemon.json,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::EmergencyStop { ref daemon } | Command::Resume { ref daemon } => {
            let stop = matches!(cli.command, Command::EmergencyStop { .. });
            let client = daemon.client(cli.config.as_deref())?;
            runtime()?.block_on(homeostat::cli::repairs::kill_switch(&client, stop))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command } => with_config(cli.config.as_deref(), async |config| {
            homeostat::cli::users::run(config, command).await
        }),
        Command::Token { command } => with_config(cli.config.as_deref(), async |config| {
            homeostat::cli::tokens::run(config, command).await
        }),
        Command::Secret { command } => with_config(cli.config.as_deref(), async |config| {
            homeostat::cli::secrets::run(config, command).await
        }),
        Command::Audit { command } => {
            let config = load_or_explain(&Config::resolve_path(cli.config.as_deref()))?;
            runtime()?.block_on(homeostat::cli::audit::run(&config, command))
        }
        Command::Report {
            kind,
            since,
            format,
            daemon,
        } => {
            let server = daemon
                .server
                .clone()
                .unwrap_or_else(|| default_server(cli.config.as_deref()));
            let client = daemon.client(cli.config.as_deref())?;
            let window = chrono::Duration::from_std(since).context("--since is too long")?;
            let start = chrono::Utc::now()
                .checked_sub_signed(window)
                .context("--since is too long")?;
            let report = runtime()?.block_on(homeostat::reports::run(
                &client, &server, kind, start, format,
            ))?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Incidents { daemon, command } => {
            let client = daemon.client(cli.config.as_deref())?;
            let command = command.unwrap_or(homeostat::cli::incidents::IncidentsCommand::List {
                state: None,
                limit: 50,
            });
            runtime()?.block_on(homeostat::cli::incidents::run(
                &client,
                command,
                daemon.json,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_or_explain(path: &std::path::Path) -> Result<Config> {
    match Config::load(path) {
        Ok(config) => Ok(config),
        Err(ConfigError::Invalid { issues }) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            bail!(
                "{}: {} problem(s) in the config",
                path.display(),
                issues.len()
            )
        }
        Err(e) => Err(e).context("loading the config"),
    }
}

/// The categories `analyze` uses: those of the explicit config (which must load), else of
/// `homeostat.toml` when it exists, else the built-in pack.
fn analysis_classifier(explicit: Option<&std::path::Path>) -> Result<Classifier> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if std::path::Path::new(DEFAULT_PATH).is_file() => PathBuf::from(DEFAULT_PATH),
        None => return Ok(Classifier::builtin()),
    };
    let config = load_or_explain(&path)?;
    Classifier::from_config(&config).context("compiling the log categories")
}

/// Runs a command that works on the store itself (no daemon), with the config loaded first.
fn with_config(
    explicit: Option<&std::path::Path>,
    run: impl AsyncFnOnce(&Config) -> Result<()>,
) -> Result<ExitCode> {
    let config = load_or_explain(&Config::resolve_path(explicit))?;
    runtime()?.block_on(run(&config))?;
    Ok(ExitCode::SUCCESS)
}

/// Parses a report name, listing the names in `--help`.
fn report_kind() -> impl clap::builder::TypedValueParser<Value = homeostat::reports::Kind> {
    use clap::builder::TypedValueParser as _;
    use homeostat::reports::Kind;
    clap::builder::PossibleValuesParser::new(Kind::ALL.map(Kind::as_str))
        .try_map(|name| name.parse::<Kind>())
}

/// Parses a report format, listing the formats in `--help`.
fn report_format() -> impl clap::builder::TypedValueParser<Value = homeostat::reports::Format> {
    use clap::builder::TypedValueParser as _;
    use homeostat::reports::Format;
    clap::builder::PossibleValuesParser::new(Format::ALL.map(Format::as_str))
        .try_map(|name| name.parse::<Format>())
}

/// The daemon URL from the config's listen address, when a config is readable.
fn default_server(explicit: Option<&std::path::Path>) -> String {
    let path = Config::resolve_path(explicit);
    let listen = Config::load(&path)
        .map(|c| c.server.listen.into_inner())
        .unwrap_or_else(|_| "127.0.0.1:9780".to_string());
    let listen = listen
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    format!("http://{listen}")
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), each keeping
/// freed memory; for a mostly idle daemon two arenas are plenty and keep the footprint small.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any other thread exists; mallopt only tunes
    // the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
