//! Bulk import of records from NDJSON or CSV, parsed as the body streams in: a blocking task
//! reads the chunks the HTTP handler forwards ([`ChannelReader`]), parses and validates line
//! by line, and keeps only the validated records and the per-line errors, never the body.
//! Whether anything is applied is left to the caller (`api::records`): all or nothing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Domains, RecordError, RecordalInput, RegistrationInput};

/// The formats an import accepts, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`application/x-ndjson`, `application/ndjson`,
    /// `application/jsonl`).
    Ndjson,
    /// RFC 4180 CSV with a header row naming the columns (`text/csv`).
    Csv,
}

impl Format {
    /// The format of a `Content-Type` header value (parameters such as `charset` ignored).
    pub fn from_content_type(value: &str) -> Option<Format> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Format::Ndjson),
            "text/csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// What was wrong with one line of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// One-based line number in the body (CSV: the header is line 1).
    pub line: u64,
    pub code: &'static str,
    pub message: String,
}

/// The outcome of parsing a whole body.
#[derive(Debug)]
pub struct Parsed<T> {
    /// Validated records with their line numbers, in body order.
    pub records: Vec<(u64, T)>,
    /// The first `max_errors` line errors, in body order.
    pub errors: Vec<LineError>,
    /// How many lines had errors (may exceed `errors.len()`).
    pub error_count: u64,
}

/// Why a whole import was refused before its lines were judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the import has more than {0} records; split it")]
    TooManyRecords(usize),
    #[error("cannot read the body: {0}")]
    Read(String),
}

/// A row type an import can hold: deserialised from an NDJSON line, or built from CSV cells.
pub trait ImportRow: DeserializeOwned {
    /// The CSV columns, in their usual order; a header may name them in any order.
    const COLUMNS: &'static [&'static str];
    /// The row from `(column, cell)` pairs; empty cells are absent.
    fn from_cells(cells: &[(&str, &str)]) -> Self;
}

fn cell(cells: &[(&str, &str)], column: &str) -> Option<String> {
    cells
        .iter()
        .find(|(name, _)| *name == column)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

impl ImportRow for RegistrationInput {
    const COLUMNS: &'static [&'static str] = &[
        "uscc",
        "name",
        "status",
        "legal_representative",
        "address",
        "registered_province",
    ];

    fn from_cells(cells: &[(&str, &str)]) -> Self {
        RegistrationInput {
            uscc: cell(cells, "uscc"),
            name: cell(cells, "name"),
            status: cell(cells, "status"),
            legal_representative: cell(cells, "legal_representative"),
            address: cell(cells, "address"),
            registered_province: cell(cells, "registered_province"),
        }
    }
}

impl ImportRow for RecordalInput {
    const COLUMNS: &'static [&'static str] = &[
        "icp_number",
        "sponsor_name",
        "sponsor_code",
        "domains",
        "access_provider",
        "access_province",
        "status",
    ];

    fn from_cells(cells: &[(&str, &str)]) -> Self {
        RecordalInput {
            icp_number: cell(cells, "icp_number"),
            sponsor_name: cell(cells, "sponsor_name"),
            sponsor_code: cell(cells, "sponsor_code"),
            domains: cell(cells, "domains").map(Domains::Text),
            access_provider: cell(cells, "access_provider"),
            access_province: cell(cells, "access_province"),
            status: cell(cells, "status"),
        }
    }
}

/// Limits of one import.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_records: usize,
    pub max_errors: usize,
}

/// Collects records and errors, and refuses a key seen on an earlier line.
struct Collector<T> {
    parsed: Parsed<T>,
    seen: HashMap<String, u64>,
    limits: Limits,
    lines: usize,
}

impl<T> Collector<T> {
    fn new(limits: Limits) -> Collector<T> {
        Collector {
            parsed: Parsed {
                records: Vec::new(),
                errors: Vec::new(),
                error_count: 0,
            },
            seen: HashMap::new(),
            limits,
            lines: 0,
        }
    }

    fn error(&mut self, line: u64, error: RecordError) {
        self.parsed.error_count += 1;
        if self.parsed.errors.len() < self.limits.max_errors {
            self.parsed.errors.push(LineError {
                line,
                code: error.code,
                message: error.message,
            });
        }
    }

    fn count(&mut self) -> Result<(), ImportError> {
        self.lines += 1;
        if self.lines > self.limits.max_records {
            return Err(ImportError::TooManyRecords(self.limits.max_records));
        }
        Ok(())
    }

    fn outcome(&mut self, line: u64, outcome: Result<T, RecordError>, key: impl Fn(&T) -> String) {
        match outcome {
            Ok(record) => {
                let key = key(&record);
                match self.seen.get(&key) {
                    Some(first) => {
                        let first = *first;
                        self.error(
                            line,
                            RecordError::new(
                                "duplicate_record",
                                format!("{key} was already given on line {first}"),
                            ),
                        );
                    }
                    None => {
                        self.seen.insert(key, line);
                        self.parsed.records.push((line, record));
                    }
                }
            }
            Err(error) => self.error(line, error),
        }
    }
}

/// Parses a whole body in `format`, validating each row with `validate` and refusing a
/// second row with the same `key`. Blocking: run it off the async runtime.
pub fn parse<R: ImportRow, T>(
    format: Format,
    reader: impl Read,
    limits: Limits,
    validate: impl Fn(R) -> Result<T, RecordError>,
    key: impl Fn(&T) -> String,
) -> Result<Parsed<T>, ImportError> {
    let mut collector = Collector::new(limits);
    match format {
        Format::Ndjson => {
            let mut reader = BufReader::with_capacity(64 * 1024, reader);
            let mut buffer = Vec::new();
            let mut line = 0u64;
            loop {
                buffer.clear();
                let read = reader
                    .read_until(b'\n', &mut buffer)
                    .map_err(|e| ImportError::Read(e.to_string()))?;
                if read == 0 {
                    break;
                }
                line += 1;
                let text = buffer.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                collector.count()?;
                let outcome = serde_json::from_slice::<R>(text)
                    .map_err(|e| RecordError::new("invalid_json", format!("malformed JSON: {e}")))
                    .and_then(&validate);
                collector.outcome(line, outcome, &key);
            }
        }
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(reader);
            // A header that cannot be read or names an unknown column makes every line
            // meaningless: it is the one error of the import, on line 1.
            let headers: Vec<String> = match csv.headers() {
                Ok(headers) => headers
                    .iter()
                    .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
                    .collect(),
                Err(e) => {
                    collector.error(
                        1,
                        RecordError::new("invalid_header", format!("cannot read the header: {e}")),
                    );
                    return Ok(collector.parsed);
                }
            };
            if let Some(unknown) = headers.iter().find(|h| !R::COLUMNS.contains(&h.as_str())) {
                collector.error(
                    1,
                    RecordError::new(
                        "invalid_header",
                        format!(
                            "unknown column {unknown:?}; the columns are {}",
                            R::COLUMNS.join(", ")
                        ),
                    ),
                );
                return Ok(collector.parsed);
            }
            let mut record = csv::StringRecord::new();
            loop {
                match csv.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = record.position().map_or(0, |p| p.line());
                        if record.iter().all(|cell| cell.trim().is_empty()) {
                            continue;
                        }
                        collector.count()?;
                        if record.len() != headers.len() {
                            collector.error(
                                line,
                                RecordError::new(
                                    "invalid_record",
                                    format!(
                                        "{} cells where the header names {} columns",
                                        record.len(),
                                        headers.len()
                                    ),
                                ),
                            );
                            continue;
                        }
                        let cells: Vec<(&str, &str)> = headers
                            .iter()
                            .map(String::as_str)
                            .zip(record.iter())
                            .collect();
                        let outcome = validate(R::from_cells(&cells));
                        collector.outcome(line, outcome, &key);
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        if let csv::ErrorKind::Io(io) = e.kind() {
                            return Err(ImportError::Read(io.to_string()));
                        }
                        collector.count()?;
                        collector.error(
                            line,
                            RecordError::new("invalid_record", format!("malformed CSV: {e}")),
                        );
                    }
                }
            }
        }
    }
    Ok(collector.parsed)
}

/// A blocking [`Read`] over body chunks that an async task forwards through a channel; the
/// end of the channel is the end of the body, an `Err` item a failed body.
pub struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl ChannelReader {
    pub fn new(receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>) -> Self {
        ChannelReader {
            receiver,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(message)) => return Err(std::io::Error::other(message)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::model::Actor;
    use crate::records::Recordal;

    fn actor() -> Actor {
        Actor {
            key_id: "k".into(),
            name: "CA".into(),
            role: Role::Telecom,
            province: None,
        }
    }

    fn run(format: Format, body: &str) -> Result<Parsed<Recordal>, ImportError> {
        let limits = Limits {
            max_records: 5,
            max_errors: 10,
        };
        let at = crate::model::now();
        parse(
            format,
            body.as_bytes(),
            limits,
            |row: RecordalInput| row.validate(None, &actor(), at),
            |r: &Recordal| r.icp_number.to_string(),
        )
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/x-ndjson; charset=utf-8"),
            Some(Format::Ndjson)
        );
        assert_eq!(Format::from_content_type("Text/CSV"), Some(Format::Csv));
        assert_eq!(Format::from_content_type("application/json"), None);
    }

    #[test]
    fn ndjson_lines_are_judged_one_by_one() {
        let body = concat!(
            r#"{"icp_number":"京ICP备13025326号-1","sponsor_name":"甲","sponsor_code":"91110108551385082Q","domains":["a.example.cn"],"access_provider":"P","access_province":"11"}"#,
            "\n\n",
            "not json\n",
            r#"{"icp_number":"京ICP备13025326号-1","sponsor_name":"甲","sponsor_code":"91110108551385082Q","domains":["b.example.cn"],"access_provider":"P","access_province":"11"}"#,
            "\n",
            r#"{"icp_number":"京ICP备1号","sponsor_name":"甲"}"#,
        );
        let parsed = run(Format::Ndjson, body).unwrap();
        assert_eq!(parsed.records.len(), 1);
        let summary: Vec<(u64, &str)> = parsed.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(
            summary,
            [
                (3, "invalid_json"),
                (4, "duplicate_record"),
                (5, "invalid_icp_number")
            ]
        );
    }

    #[test]
    fn csv_with_quoted_cells_and_errors() {
        let body = "icp_number,sponsor_name,sponsor_code,domains,access_provider,access_province\n\
                    京ICP备13025326号-1,\"甲, 有限公司\",91110108551385082Q,a.example.cn;b.example.cn,P,11\n\
                    京ICP备13025326号-2,乙,91110108551385082Q,c.example.cn,P,99\n\
                    京ICP备13025326号-3,丙\n";
        let parsed = run(Format::Csv, body).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].1.sponsor_name, "甲, 有限公司");
        assert_eq!(parsed.records[0].1.domains.len(), 2);
        let summary: Vec<(u64, &str)> = parsed.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(summary, [(3, "invalid_province"), (4, "invalid_record")]);
        let parsed = run(Format::Csv, "icp,name\n").unwrap();
        assert_eq!(parsed.errors[0].line, 1);
        assert_eq!(parsed.errors[0].code, "invalid_header");
    }

    #[test]
    fn too_many_records() {
        let body = "{}\n".repeat(6);
        assert_eq!(
            run(Format::Ndjson, &body).unwrap_err(),
            ImportError::TooManyRecords(5)
        );
    }
}
