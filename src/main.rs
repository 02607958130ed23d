//! The `siteban` command: parses the command line, loads settings, starts telemetry and runs
//! the application or a maintenance task. Everything else lives in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use siteban::domain::DateWindow;
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
    /// Import entries from an NDJSON file (one POST /v1/entries body per line).
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The NDJSON file; `-` reads standard input.
        file: PathBuf,
    },
    /// Export or verify the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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
        #[arg(long)]
        config: Option<PathBuf>,
        /// Start after this record.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Verify the hash chain of an NDJSON export, or of the live store; exits 1 at the first
    /// record that was altered, removed or reordered.
    Verify {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The export to verify; without it, the store named by the settings is verified.
        file: Option<PathBuf>,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            siteban::telemetry::init(&settings.log);
            let app = Application::build(settings).await?;
            let handle = app.handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                handle.stop(true).await;
            });
            app.run_until_stopped().await?;
        }
        Command::Import { config, file } => {
            let settings = Settings::load(config.as_deref())?;
            siteban::telemetry::init(&settings.log);
            let reader: Box<dyn std::io::BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot open {}", file.display()))?,
                ))
            };
            let dates = DateWindow::until_today(settings.documents.earliest_date);
            let file = siteban::import::read(reader, dates)?;
            let store = siteban::startup::open_store(&settings).await?;
            let registry = siteban::startup::build_registry(&settings, store, None)?;
            registry
                .import(file.listings, file.lines, file.sha256)
                .await?;
        }
        Command::Audit { command } => return audit(command).await,
        Command::Health { url } => {
            let status = siteban::startup::probe(&url)?;
            anyhow::ensure!(status == 200, "{url} answered {status}");
        }
    }
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

async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    use std::io::Write;
    match command {
        AuditCommand::Export { config, after } => {
            let settings = Settings::load(config.as_deref())?;
            let store = siteban::startup::open_store(&settings).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = after;
            loop {
                let page = store.audit(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for record in &page {
                    serde_json::to_writer(&mut out, record)?;
                    out.write_all(b"\n")?;
                }
            }
            out.flush()?;
        }
        AuditCommand::Verify { config, file } => {
            let outcome = match file {
                Some(file) => {
                    let reader = std::io::BufReader::new(
                        std::fs::File::open(&file)
                            .with_context(|| format!("cannot open {}", file.display()))?,
                    );
                    siteban::audit::verify_ndjson(reader)
                }
                None => {
                    let settings = Settings::load(config.as_deref())?;
                    let store = siteban::startup::open_store(&settings).await?;
                    let mut verifier = siteban::audit::Verifier::new();
                    let mut after = 0;
                    let mut outcome = Ok(());
                    'pages: loop {
                        let page = store.audit(after, 1000).await?;
                        let Some(last) = page.last() else { break };
                        after = last.seq;
                        for record in &page {
                            if let Err(tamper) = verifier.check(record) {
                                outcome = Err(tamper);
                                break 'pages;
                            }
                        }
                    }
                    outcome.map(|()| verifier)
                }
            };
            let mut out = std::io::stdout().lock();
            match outcome {
                Ok(verifier) => {
                    writeln!(
                        out,
                        "ok: {} records verified; chain head {}",
                        verifier.verified,
                        verifier.head()
                    )?;
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
