//! The `siteban` command: parses the command line, loads settings, starts telemetry and runs
//! the application or a maintenance task. Everything else lives in the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use siteban::audit::Verifier;
use siteban::commands::{self, Needs, Source};
use siteban::domain::DateWindow;
use siteban::remote::{Node, Token};
use siteban::settings::Settings;
use siteban::startup::Application;

#[derive(Parser)]
#[command(
    name = "siteban",
    version,
    about = "Shared national registry of illegal online-trading websites"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Settings file, layered over config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Serve as an edge mirror of a registry: `serve` with `[mirror] upstream` required.
    Mirror {
        /// Settings file, layered over config/default.toml; it sets `mirror.upstream` and
        /// `mirror.token_file`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Import entries from an NDJSON file (one POST /v1/entries body per line), into the store
    /// or, with --url, through a running node.
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        node: NodeOptions,
        /// With --url, how many lines are sent at once.
        #[arg(long, default_value_t = 4, requires = "url",
              value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Queue no locate jobs: the entries are not located, and no provider is told (with
        /// --url, each listing says `"locate": false`).
        #[arg(long)]
        no_locate: bool,
        /// The NDJSON file; `-` reads standard input.
        file: PathBuf,
    },
    /// Export or verify the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Verify a registry's transparency log: its checkpoint against the pinned key and
    /// against the one accepted before (kept in --state), and a snapshot or RPZ file against
    /// the log. Exits 1 when the registry's answers contradict the log (a split view, a
    /// rewritten history, a list the log does not make), 2 when the check could not be made.
    Verify {
        /// The registry (or any node of it), e.g. https://blacklist.example.gov.cn.
        #[arg(long, value_name = "URL")]
        url: String,
        /// File holding a token that reads the feed; without it, SITEBAN_TOKEN.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
        /// The log's verifier key, `<origin>+<id>+<key>`, pinned from a channel you trust.
        #[arg(long)]
        key: String,
        /// The log's origin; by default the key's name.
        #[arg(long)]
        origin: Option<String>,
        /// A witness's verifier key (repeatable): the latest checkpoint the witnesses
        /// cosigned is verified, and it must carry a cosignature of each.
        #[arg(long = "witness", value_name = "KEY")]
        witnesses: Vec<String>,
        /// The file keeping the last checkpoint accepted; made at the first run.
        #[arg(long, value_name = "PATH")]
        state: PathBuf,
        /// A `GET /v1/snapshot` answer to check against the log.
        #[arg(long, value_name = "PATH", conflicts_with = "rpz")]
        snapshot: Option<PathBuf>,
        /// A `GET /v1/rpz` zone file to check against the log.
        #[arg(long, value_name = "PATH")]
        rpz: Option<PathBuf>,
    },
    /// Make a signer key for the transparency log (`tlog.key_file`): the private key goes to
    /// the file, created readable by its owner only; the verifier key to pin is printed.
    LogKey {
        /// The log's origin, as `tlog.origin` will say.
        #[arg(long)]
        origin: String,
        /// Where to write the signer key; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Exit 0 when the service answers 200 at the URL (for container health checks).
    Health {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit log as NDJSON to standard output, for the other side's copy.
    Export {
        #[arg(long, conflicts_with = "url")]
        config: Option<PathBuf>,
        #[command(flatten)]
        node: NodeOptions,
        /// Start after this record.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Verify the hash chain of an NDJSON export, of the live store, or of a running node's
    /// log; exits 1 at the first record that was altered, removed or reordered.
    Verify {
        #[arg(long, conflicts_with = "url")]
        config: Option<PathBuf>,
        #[command(flatten)]
        node: NodeOptions,
        /// The export to verify; without it, the store named by the settings (or the node of
        /// --url) is verified.
        #[arg(conflicts_with = "url")]
        file: Option<PathBuf>,
        /// The transparency log's verifier key (`GET /v1/log/key`, pinned): the records are
        /// also checked against the audit log's signed checkpoint (of --url, or --checkpoint
        /// for a file). On the store, the key of the settings is used.
        #[arg(long)]
        key: Option<String>,
        /// With a file: the audit log's signed checkpoint (`GET /v1/audit/checkpoint`).
        #[arg(long, value_name = "PATH", requires = "key", requires = "file")]
        checkpoint: Option<PathBuf>,
    },
}

/// A running node to work through instead of opening the store, which a server on the
/// embedded store holds while it runs.
#[derive(Args)]
struct NodeOptions {
    /// Work through the node serving at this URL (e.g. http://127.0.0.1:8080) over its HTTP
    /// API instead of opening the store.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// File holding the token for --url; without it, SITEBAN_TOKEN. A token is never given on
    /// the command line, where other users see it.
    #[arg(long, value_name = "PATH", requires = "url")]
    token_file: Option<PathBuf>,
}

impl NodeOptions {
    /// The node of `--url`, with its token; none without `--url`.
    fn connect(&self) -> anyhow::Result<Option<Node>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let token = Token::read(self.token_file.as_deref())?;
        Ok(Some(Node::new(url, token)?))
    }
}

/// Runs a node (a registry node, or a mirror) until a signal stops it.
async fn serve(settings: Settings) -> anyhow::Result<()> {
    siteban::telemetry::init(&settings.log);
    let app = Application::build(settings).await?;
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    Ok(())
}

/// Says on standard error what a command works on, so that its output is never mistaken for
/// another store's.
fn using(what: std::fmt::Arguments) -> anyhow::Result<()> {
    writeln!(std::io::stderr(), "using {what}")?;
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(Settings::load(config.as_deref())?).await?,
        Command::Mirror { config } => {
            let settings = Settings::load(config.as_deref())?;
            anyhow::ensure!(
                settings.mirror.enabled(),
                "a mirror needs mirror.upstream (and mirror.token_file) in its settings"
            );
            serve(settings).await?;
        }
        Command::Import {
            config,
            node,
            concurrency,
            no_locate,
            file,
        } => return import(config, node, concurrency.into(), !no_locate, file).await,
        Command::Audit { command } => return audit(command).await,
        Command::Verify {
            url,
            token_file,
            key,
            origin,
            witnesses,
            state,
            snapshot,
            rpz,
        } => {
            let node = Node::new(&url, Token::read(token_file.as_deref())?)?;
            let origin = origin.unwrap_or_else(|| key.split('+').next().unwrap_or("").to_string());
            let list = match (&snapshot, &rpz) {
                (Some(path), _) => Some(siteban::verify::List::Snapshot(path)),
                (None, Some(path)) => Some(siteban::verify::List::Rpz(path)),
                (None, None) => None,
            };
            let outcome =
                siteban::verify::verify(&node, &key, &origin, &witnesses, &state, list).await;
            let mut out = std::io::stdout().lock();
            match outcome {
                Ok(report) => {
                    write!(out, "ok: checkpoint of {} leaves verified", report.size)?;
                    if let Some(previous) = report.previous {
                        write!(
                            out,
                            ", consistent with the one of {previous} accepted before"
                        )?;
                    }
                    if let (Some(size), Some(entries)) = (report.list_size, report.entries) {
                        write!(
                            out,
                            "; the list of {entries} items is the one the log's first {size} events make"
                        )?;
                    }
                    writeln!(out)?;
                }
                Err(siteban::verify::Failure::Tampered(why)) => {
                    writeln!(out, "FAILED: {why}")?;
                    std::process::exit(1);
                }
                Err(siteban::verify::Failure::Unverified(why)) => {
                    writeln!(out, "NOT VERIFIED: {why}")?;
                    std::process::exit(2);
                }
            }
        }
        Command::LogKey { origin, out } => {
            let skey = siteban::tlog::generate_key(&origin).map_err(anyhow::Error::msg)?;
            let key = siteban::tlog::LogKey::new(&skey, &origin).map_err(anyhow::Error::msg)?;
            write_secret(&out, &skey)?;
            writeln!(std::io::stdout(), "{}", key.verifier())?;
        }
        Command::Health { url } => {
            let status = siteban::startup::probe(&url)?;
            anyhow::ensure!(status == 200, "{url} answered {status}");
        }
    }
    Ok(())
}

/// Writes `secret` to a new file readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can install a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

async fn import(
    config: Option<PathBuf>,
    node: NodeOptions,
    concurrency: usize,
    locate: bool,
    file: PathBuf,
) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    siteban::telemetry::init(&settings.log);
    let node = node.connect()?;
    let reader: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?,
        ))
    };
    let dates = DateWindow::until_today(settings.documents.earliest_date);
    let mut out = std::io::stdout().lock();
    if let Some(node) = node {
        using(format_args!("the running node at {}", node.url()))?;
        let bodies = siteban::import::read_bodies(reader, dates, locate)?;
        let report = commands::import_through(&node, bodies, concurrency).await?;
        writeln!(
            out,
            "listed {}, waiting for review {}, skipped {} (already listed), refused {}; {} lines",
            report.listed,
            report.pending,
            report.skipped,
            report.refused.len(),
            report.lines
        )?;
        anyhow::ensure!(
            report.refused.is_empty(),
            "{} line(s) refused, the others were sent: {}",
            report.refused.len(),
            report.refused.join("; ")
        );
        return Ok(());
    }
    using(format_args!("the store at {}", settings.store.location()))?;
    let read = siteban::import::read(reader, dates)?;
    let operand = file.display().to_string();
    let store = commands::open_store(&settings, "import", &operand, Needs::Listings).await?;
    let registry = siteban::startup::build_registry(&settings, store, None)?;
    let report = registry
        .import(read.listings, read.lines, read.sha256, locate)
        .await?;
    writeln!(
        out,
        "imported {}, skipped {} (already listed); {} lines, sha256 {}",
        report.imported, report.skipped, report.lines, report.sha256
    )?;
    Ok(())
}

async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export {
            config,
            node,
            after,
        } => {
            let source = source(config, &node, "audit export").await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            commands::export_audit(&source, after, &mut out).await?;
        }
        AuditCommand::Verify {
            config,
            node,
            file,
            key,
            checkpoint,
        } => {
            let (outcome, anchor) = match file {
                Some(file) => {
                    using(format_args!("the export in {}", file.display()))?;
                    let reader = std::io::BufReader::new(
                        std::fs::File::open(&file)
                            .with_context(|| format!("cannot open {}", file.display()))?,
                    );
                    let anchor = match (&checkpoint, &key) {
                        (Some(path), Some(key)) => Some(
                            std::fs::read(path)
                                .with_context(|| format!("cannot read {}", path.display()))
                                .map(|note| siteban::audit::open_checkpoint(&note, key))?,
                        ),
                        (None, Some(_)) => anyhow::bail!(
                            "with a file, --key needs --checkpoint: the audit log's signed checkpoint to check it against"
                        ),
                        _ => None,
                    };
                    match anchor {
                        Some(Err(tamper)) => (Err(tamper), None),
                        Some(Ok(anchor)) => (
                            siteban::audit::verify_ndjson(reader, Verifier::anchored(&anchor)),
                            Some(anchor),
                        ),
                        None => (siteban::audit::verify_ndjson(reader, Verifier::new()), None),
                    }
                }
                None => {
                    let source = source(config.clone(), &node, "audit verify").await?;
                    match commands::audit_anchor(&source, config.as_deref(), key.as_deref()).await?
                    {
                        Some(Err(tamper)) => (Err(tamper), None),
                        Some(Ok(anchor)) => (
                            commands::verify_audit(&source, Verifier::anchored(&anchor)).await?,
                            Some(anchor),
                        ),
                        None => (
                            commands::verify_audit(&source, Verifier::new()).await?,
                            None,
                        ),
                    }
                }
            };
            let outcome = outcome.and_then(|verifier| verifier.finish(anchor.as_ref()));
            let mut out = std::io::stdout().lock();
            match outcome {
                Ok(verifier) => {
                    write!(
                        out,
                        "ok: {} records verified; chain head {}",
                        verifier.verified,
                        verifier.head()
                    )?;
                    match anchor {
                        Some(anchor) => writeln!(
                            out,
                            "; the first {} are those the audit log's signed checkpoint covers",
                            anchor.size
                        )?,
                        None => writeln!(
                            out,
                            "; not checked against a signed checkpoint (give --key)"
                        )?,
                    }
                }
                Err(tamper) => {
                    writeln!(out, "TAMPERED: {tamper}")?;
                    std::process::exit(1);
                }
            }
        }
    }
    Ok(())
}

/// The audit log of the node of `--url`, or else of the store the settings name.
async fn source(
    config: Option<PathBuf>,
    node: &NodeOptions,
    command: &str,
) -> anyhow::Result<Source> {
    if let Some(node) = node.connect()? {
        using(format_args!("the running node at {}", node.url()))?;
        return Ok(Source::Node(node));
    }
    let settings = Settings::load(config.as_deref())?;
    using(format_args!("the store at {}", settings.store.location()))?;
    let store = commands::open_store(&settings, command, "", Needs::AuditLog).await?;
    Ok(Source::Store(store))
}
