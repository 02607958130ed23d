//! The `siteban` command: parses the command line, loads settings, starts telemetry and runs
//! the application or a maintenance task. Everything else lives in the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
    /// Exit 0 when the service answers 200 at the URL (for container health checks).
    Health {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
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
            let entries = siteban::import::parse(reader)?;
            let total = entries.len();
            let store = siteban::startup::open_store(&settings).await?;
            let imported = siteban::import::write(store.as_ref(), entries).await?;
            tracing::info!(
                imported,
                skipped = total as u64 - imported,
                "import finished"
            );
        }
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
