//! The maintenance commands (`siteban import`, `audit export`, `audit verify`) on the store the
//! settings name or on a running node (`crate::remote`), one loop for both so that the output
//! is the same either way. Parsing the command line and choosing where output goes are left to
//! `main.rs`.

use std::io::Write;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::audit::{AuditRecord, Tamper, Verifier};
use crate::import::ImportBodies;
use crate::model::EntryStatus;
use crate::remote::{Listed, Node, RemoteError};
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// Records read per page of the audit log: the most `GET /v1/audit` gives.
const PAGE: usize = 1000;

/// Where the audit log is read from.
pub enum Source {
    Store(Arc<dyn Store>),
    Node(Node),
}

impl Source {
    async fn audit(&self, after: u64) -> anyhow::Result<Vec<AuditRecord>> {
        Ok(match self {
            Source::Store(store) => store.audit(after, PAGE).await?,
            Source::Node(node) => node.audit(after, PAGE).await?,
        })
    }

    /// Calls `each` with every audit record after `after`, page by page, until it answers
    /// `false` or the log ends.
    async fn each_record(
        &self,
        mut after: u64,
        mut each: impl FnMut(&AuditRecord) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        loop {
            let page = self.audit(after).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.seq;
            for record in &page {
                if !each(record)? {
                    return Ok(());
                }
            }
        }
    }
}

/// Writes the audit records after `after` to `out`, one JSON object per line, and returns how
/// many there were.
pub async fn export_audit(
    source: &Source,
    after: u64,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let mut written = 0;
    source
        .each_record(after, |record| {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")?;
            written += 1;
            Ok(true)
        })
        .await?;
    out.flush()?;
    Ok(written)
}

/// Verifies the whole audit log of `source`: the verifier at its end, or the first break in
/// the chain. An error is a failure to read the log, not a finding about it.
pub async fn verify_audit(
    source: &Source,
    mut verifier: Verifier,
) -> anyhow::Result<Result<Verifier, Tamper>> {
    let mut broken = None;
    source
        .each_record(0, |record| match verifier.check(record) {
            Ok(()) => Ok(true),
            Err(tamper) => {
                broken = Some(tamper);
                Ok(false)
            }
        })
        .await?;
    Ok(broken.map_or(Ok(verifier), Err))
}

/// The audit log's signed checkpoint to verify `source` against, opened: from the node of
/// `--url` with the pinned `key`; from the store with the settings' key (or the key kept in
/// the store). None when there is no key to check with, or no checkpoint yet.
pub async fn audit_anchor(
    source: &Source,
    config: Option<&std::path::Path>,
    key: Option<&str>,
) -> anyhow::Result<Option<Result<crate::tlog::Verified, Tamper>>> {
    match source {
        Source::Node(node) => {
            let Some(key) = key else {
                return Ok(None);
            };
            let note = node
                .read(
                    "/v1/audit/checkpoint",
                    "reading the audit log's checkpoint",
                    crate::remote::AUDIT_KEY,
                )
                .await?;
            Ok(Some(crate::audit::open_checkpoint(&note, key)))
        }
        Source::Store(store) => {
            let (_, note) = store.log_head(crate::store::log::LogName::Audit).await?;
            let Some(note) = note else {
                return Ok(None);
            };
            let settings = Settings::load(config)?;
            let log = crate::registry::log::Log::open(
                store.as_ref(),
                &settings.tlog.origin,
                settings.tlog.key_file.as_deref(),
            )
            .await?;
            let origin = crate::tlog::audit_origin(&settings.tlog.origin);
            let key = key.unwrap_or(log.verifier());
            Ok(Some(
                crate::tlog::open_checkpoint(&note, key, &origin).map_err(Tamper::Checkpoint),
            ))
        }
    }
}

/// What a command would need from a running node, for the advice given when a server holds
/// the embedded store.
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    /// Reading the audit log: an admin or auditor token.
    AuditLog,
    /// Listing entries: an agency or telecom token.
    Listings,
}

/// Opens the store the settings name for `siteban <command> [<operand>]`. When a running
/// server holds the embedded store, the error says so and how to run the command against
/// that server instead, rather than quoting the database's own message.
pub async fn open_store(
    settings: &Settings,
    command: &str,
    operand: &str,
    needs: Needs,
) -> anyhow::Result<Arc<dyn Store>> {
    match crate::startup::open_store(settings).await {
        Ok(store) => Ok(store),
        Err(e) if held(&e) => Err(anyhow::anyhow!(
            "{}",
            held_advice(settings, command, operand, needs)
        )),
        Err(e) => Err(e),
    }
}

fn held(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(StoreError::Held(_))))
}

fn held_advice(settings: &Settings, command: &str, operand: &str, needs: Needs) -> String {
    let data = &settings.store.path;
    let admin_token = data.join("admin_token");
    let (token_file, token) = match needs {
        Needs::AuditLog if admin_token.exists() => (
            admin_token.display().to_string(),
            "an admin or auditor token (here the bootstrap admin token)",
        ),
        Needs::AuditLog => ("FILE".into(), "an admin or auditor token"),
        Needs::Listings => ("FILE".into(), "an agency or telecom key's token"),
    };
    let operand = if operand.is_empty() {
        String::new()
    } else {
        format!(" {operand}")
    };
    format!(
        "a running server holds the data directory {} (the embedded store opens in one process \
         at a time); run the command against that server over its HTTP API instead:\n  \
         siteban {command} --url {} --token-file {token_file}{operand}\n\
         where --url is the server's address (server.listen) and --token-file a file holding \
         {token}; {} may hold the token instead",
        data.display(),
        settings.server.local_url(),
        crate::remote::TOKEN_ENV,
    )
}

/// What an import through a running node did.
#[derive(Debug, Default)]
pub struct NodeImport {
    /// Lines read, blank ones included.
    pub lines: usize,
    /// Entries listed, and entries waiting for review (`entries.require_approval`).
    pub listed: u64,
    pub pending: u64,
    /// Lines whose domain was already listed.
    pub skipped: u64,
    /// Each refused line, by its number: `line N: code: message`.
    pub refused: Vec<String>,
}

/// Sends each line of `bodies` to the node as `POST /v1/entries`, `concurrency` at a time.
/// A line the node refuses is reported and the others go on; a wrong token or role, or a
/// node that cannot be reached, stops the import, saying how far it got.
pub async fn import_through(
    node: &Node,
    bodies: ImportBodies,
    concurrency: usize,
) -> anyhow::Result<NodeImport> {
    let total = bodies.bodies.len();
    let mut answers = futures_util::stream::iter(bodies.bodies)
        .map(|(line, body)| async move { (line, node.list(body).await) })
        .buffer_unordered(concurrency.max(1));
    let mut report = NodeImport {
        lines: bodies.lines,
        ..NodeImport::default()
    };
    let mut refused = Vec::new();
    let mut answered = 0;
    while let Some((line, answer)) = answers.next().await {
        let answer = answer.map_err(|e: RemoteError| {
            anyhow::Error::new(e).context(format!(
                "import stopped after {answered} of {total} listings were answered; running it \
                 again is safe, as domains already listed are skipped"
            ))
        })?;
        answered += 1;
        match answer {
            Listed::Written(entry) if entry.status == EntryStatus::Pending => report.pending += 1,
            Listed::Written(_) => report.listed += 1,
            Listed::AlreadyListed => report.skipped += 1,
            Listed::Failed(why) => refused.push((line, why)),
        }
    }
    refused.sort_by_key(|(line, _)| *line);
    report.refused = refused
        .into_iter()
        .map(|(line, why)| format!("line {line}: {why}"))
        .collect();
    Ok(report)
}
