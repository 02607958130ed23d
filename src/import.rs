//! Bulk import of entries from NDJSON, one listing request per line in the shape of
//! `POST /v1/entries`. Every line is validated first; one bad line stops the import before
//! anything is written, and each bad line is reported with its number.

use std::io::BufRead;

use uuid::Uuid;

use crate::api::entries::{CreateEntryRequest, parse_listing};
use crate::domain::Role;
use crate::model::{Actor, NewEntry};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    #[error("{} invalid line(s), nothing imported; first: {}", .0.len(), .0.first().map(String::as_str).unwrap_or(""))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Who imported entries, as recorded on each of them.
pub fn import_actor() -> Actor {
    Actor {
        key_id: "import".into(),
        name: "bulk import".into(),
        role: Role::Admin,
        province: None,
    }
}

/// Parses every line; returns the entries or every error found.
pub fn parse(input: impl BufRead) -> Result<Vec<NewEntry>, ImportError> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let now = crate::model::now();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<CreateEntryRequest>(&line)
            .map_err(|e| format!("line {}: invalid_json: {e}", number + 1))
            .and_then(|body| {
                parse_listing(&body).map_err(|e| format!("line {}: {}: {e}", number + 1, e.code()))
            });
        match parsed {
            Ok((domain, scope, category, decision, reason)) => entries.push(NewEntry {
                id: Uuid::now_v7(),
                domain,
                scope,
                category,
                reason,
                decision,
                listed_at: now,
                listed_by: import_actor(),
                protection_override: None,
                // An import seeds the registry; it locates nothing and notifies no one.
                location: None,
                suspended_until: None,
                replaces: None,
                case: None,
                providers: Vec::new(),
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(ImportError::Invalid(errors))
    }
}
