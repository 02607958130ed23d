//! The bulk import of entries (`siteban import`): listings checked as `POST /v1/entries`
//! checks them (the protected names), then written in atomic batches, each entry with its
//! locate job unless told not to (the locate worker then tells the providers it finds), and
//! one audit record for the whole file.

use super::{Listing, Registry, RegistryError, RegistryResult};
use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::domain::Role;
use crate::model::{Actor, LocateJob, Location, ProviderKind};

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Lines read, blank ones included.
    pub lines: usize,
    /// Entries written; the others were already listed.
    pub imported: u64,
    pub skipped: u64,
    /// SHA-256 of the imported file, as recorded in the audit log.
    pub sha256: String,
}

/// Who imported entries, as recorded on each of them and in the audit log.
pub fn import_actor() -> Actor {
    Actor {
        key_id: "import".into(),
        name: "bulk import".into(),
        role: Role::Admin,
        province: None,
    }
}

impl Registry {
    /// Imports `listings` (each with its line number) read from a file of `lines` lines whose
    /// SHA-256 is `sha256`. Every listing is checked first; one that touches a protected name
    /// stops the import before anything is written, and every such line is named. An entry
    /// whose domain is already listed is skipped. With `locate`, each entry whose line does
    /// not say `"locate": false` is written with a locate job. The import is audited as one
    /// record.
    pub async fn import(
        &self,
        listings: Vec<(usize, Listing)>,
        lines: usize,
        sha256: String,
        locate: bool,
    ) -> RegistryResult<ImportReport> {
        let by = Principal::from_actor(import_actor());
        let now = crate::model::now();
        let mut entries = Vec::with_capacity(listings.len());
        let mut errors = Vec::new();
        for (line, listing) in listings {
            if let Err(e) = self.check_protection(&by, &listing.domain, None).await {
                errors.push(match e {
                    RegistryError::Invalid { code, message } => {
                        format!("line {line}: {code}: {message}")
                    }
                    other => return Err(other),
                });
                continue;
            }
            let located = locate && listing.locate;
            let mut entry = listing.into_entry(&by, now);
            if located {
                entry.location = Some(Location::pending(now));
                entry.locate = Some(LocateJob::new(
                    entry.id,
                    entry.domain.clone(),
                    ProviderKind::ALL.to_vec(),
                    now,
                ));
            }
            entries.push(entry);
        }
        if !errors.is_empty() {
            return Err(RegistryError::invalid(
                "import_rejected",
                invalid_lines(&errors),
            ));
        }
        let total = entries.len() as u64;
        let queued = entries.iter().any(|e| e.locate.is_some());
        let imported = self.store.import(entries).await?;
        if queued {
            self.notices.queued();
        }
        let report = ImportReport {
            lines,
            imported,
            skipped: total - imported,
            sha256,
        };
        self.store
            .append_audit(AuditEvent {
                at: crate::model::now(),
                actor: by.actor(),
                address: String::new(),
                method: "CLI".into(),
                path: "siteban import".into(),
                action: "entry.import".into(),
                target: format!("sha256:{}", report.sha256),
                status: 200,
                outcome: "ok".into(),
                request_id: String::new(),
                detail: format!(
                    "lines {} imported {} skipped {}",
                    report.lines, report.imported, report.skipped
                ),
                repeated: 0,
            })
            .await?;
        tracing::info!(
            lines = report.lines,
            imported = report.imported,
            skipped = report.skipped,
            sha256 = %report.sha256,
            "import finished"
        );
        Ok(report)
    }
}

/// The refusal of an import: how many lines are invalid, then each on a line of its own.
pub fn invalid_lines(errors: &[String]) -> String {
    let count = match errors.len() {
        1 => "1 invalid line".to_string(),
        n => format!("{n} invalid lines"),
    };
    format!("{count}, nothing imported:\n  {}", errors.join("\n  "))
}
