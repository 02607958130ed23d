//! Bulk import of entries from NDJSON, one listing request per line in the shape of
//! `POST /v1/entries`. Every line is read and validated first; one bad line stops the import
//! before anything is written, and each bad line is reported with its number. The listings
//! then go through the registry's import use case (`Registry::import`), which checks them as
//! a listing is checked and audits the import, or, against a running node, each line is sent
//! as it is to `POST /v1/entries` (`crate::commands`).

use std::io::BufRead;

use sha2::{Digest, Sha256};

use crate::api::entries::{CreateEntryRequest, parse_listing};
use crate::api::parse_json;
use crate::domain::DateWindow;
use crate::model::NewEntry;
use crate::registry::{Listing, import_actor};
use crate::settings::DocumentSettings;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    /// Every invalid line, each as `line N: code: message`.
    #[error("{}", crate::registry::invalid_lines(.0))]
    Invalid(Vec<String>),
}

/// An import file, read and validated.
pub struct ImportFile {
    /// Each listing with its line number.
    pub listings: Vec<(usize, Listing)>,
    /// Lines read, blank ones included.
    pub lines: usize,
    /// SHA-256 of the bytes read, in hex.
    pub sha256: String,
}

/// An import file, read and validated, each line kept as the request body it is, for sending
/// to a running node (`siteban import --url`).
pub struct ImportBodies {
    /// Each non-blank line's text with its line number.
    pub bodies: Vec<(usize, String)>,
    /// Lines read, blank ones included.
    pub lines: usize,
}

/// Reads every line, the decisions dated within `dates`; returns the listings or every error
/// found.
pub fn read(input: impl BufRead, dates: DateWindow) -> Result<ImportFile, ImportError> {
    let mut listings = Vec::new();
    let (lines, sha256) = scan(input, dates, |line, _, listing| {
        listings.push((line, listing));
    })?;
    Ok(ImportFile {
        listings,
        lines,
        sha256,
    })
}

/// Reads and validates every line as `read` does, keeping each line's text instead of its
/// listing; without `locate`, each body says `"locate": false`.
pub fn read_bodies(
    input: impl BufRead,
    dates: DateWindow,
    locate: bool,
) -> Result<ImportBodies, ImportError> {
    let mut bodies = Vec::new();
    let (lines, _) = scan(input, dates, |line, text, _| {
        let body = match serde_json::from_str::<serde_json::Value>(text) {
            // Every line that reaches here is a JSON object.
            Ok(serde_json::Value::Object(mut fields)) if !locate => {
                fields.insert("locate".into(), false.into());
                serde_json::Value::Object(fields).to_string()
            }
            _ => text.to_string(),
        };
        bodies.push((line, body));
    })?;
    Ok(ImportBodies { bodies, lines })
}

/// Validates every line, handing each valid one to `each` with its number and text; returns
/// the number of lines and the SHA-256 of the bytes read, or every error found.
fn scan(
    mut input: impl BufRead,
    dates: DateWindow,
    mut each: impl FnMut(usize, &str, Listing),
) -> Result<(usize, String), ImportError> {
    let mut errors = Vec::new();
    let mut hash = Sha256::new();
    let mut lines = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        hash.update(line.as_bytes());
        lines += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let parsed = parse_json::<CreateEntryRequest>(text.as_bytes())
            .and_then(|body| {
                parse_listing(&body, dates).map(|fields| (fields, body.locate.unwrap_or(true)))
            })
            .map_err(|e| format!("line {lines}: {}: {e}", e.code()));
        match parsed {
            // An import seeds the registry: it names no providers and overrides nothing.
            Ok(((domain, scope, category, decision, reason), locate)) => each(
                lines,
                text,
                Listing {
                    domain,
                    scope,
                    category,
                    decision,
                    reason,
                    providers: Vec::new(),
                    locate,
                    override_protection: None,
                },
            ),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    Ok((lines, hex::encode(hash.finalize())))
}

/// Reads every line into entries as the import writes them, without the registry's checks:
/// for seeding a store directly, as the Redis and DNS tests do.
pub fn parse(input: impl BufRead) -> Result<Vec<NewEntry>, ImportError> {
    let now = crate::model::now();
    let dates = DateWindow::until_today(DocumentSettings::default().earliest_date);
    Ok(read(input, dates)?
        .listings
        .into_iter()
        .map(|(_, l)| {
            NewEntry::new(
                l.domain,
                l.scope,
                l.category,
                l.decision,
                l.reason,
                import_actor(),
                now,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_import_names_every_bad_line() {
        let valid = r#"{"domain": "ok.example.cn", "category": "fraud", "reason": "fraud", "decision": {"number": "京市监处罚〔2026〕1号", "authority": "北京市市场监督管理局", "date": "2026-01-05"}}"#;
        let input = format!("{{\"domain\": \"com.cn\"}}\n{valid}\n\nnot json\n");
        let dates = DateWindow::until_today(time::macros::date!(2000 - 01 - 01));
        let Err(error) = read(input.as_bytes(), dates) else {
            panic!("an import with bad lines was accepted");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("2 invalid lines, nothing imported:"),
            "{message}"
        );
        assert!(message.contains("\n  line 1: "), "{message}");
        assert!(message.contains("\n  line 4: invalid_json"), "{message}");
        assert!(!message.contains("line 2"), "{message}");
    }
}
