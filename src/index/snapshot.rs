//! The JSON form of a whole view, `{"seq", "entries": [{"domain", "scope", "entry_id",
//! "category", "status"}]}`: what `GET /v1/snapshot` sends and what a mirror reads back from
//! its upstream and keeps as its local copy. One writer and one reader, so the two never drift;
//! and the latest view's JSON kept once for every request of it (`Shared`).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::View;
use crate::domain::{Category, DomainName, Scope};
use crate::model::ActiveRecord;

#[derive(Serialize)]
struct Written<'a> {
    domain: &'a str,
    scope: Scope,
    entry_id: Uuid,
    category: Category,
    status: &'static str,
}

/// Writes `view` as a JSON snapshot.
pub fn write_json(out: &mut impl Write, view: &View) -> std::io::Result<()> {
    write!(out, "{{\"seq\":{},\"entries\":[", view.seq())?;
    for (i, (domain, record)) in view.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let entry = Written {
            domain,
            scope: Scope::from_u8(record.scope).unwrap_or_default(),
            entry_id: Uuid::from_bytes(record.entry_id),
            category: Category::from_u8(record.category).unwrap_or(Category::Other),
            status: if record.is_suspended() {
                "suspended"
            } else {
                "active"
            },
        };
        serde_json::to_writer(&mut *out, &entry)?;
    }
    out.write_all(b"]}")
}

/// The JSON of the latest view a snapshot was asked of, written once and shared by every
/// request for that same view: a thousand mirrors reloading at once cost one serialisation.
#[derive(Default)]
pub struct Shared {
    latest: Mutex<Option<Arc<SharedBody>>>,
}

struct SharedBody {
    /// The view it is the JSON of. Weak, so that a view no one reads any more (its base table
    /// a whole copy of the set) is freed at once rather than kept until the next snapshot;
    /// the allocation stays while this points at it, so no later view can take its address.
    view: Weak<View>,
    json: OnceLock<bytes::Bytes>,
}

impl Shared {
    /// The JSON of `view`. The first request for a view writes it while the others for the
    /// same view wait for it: call this on a blocking thread.
    pub fn json(&self, view: &Arc<View>) -> bytes::Bytes {
        let body = {
            let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
            match &*latest {
                // The same view, not only the same sequence: a reload may give a sequence
                // number again to another set.
                Some(body) if std::ptr::eq(body.view.as_ptr(), Arc::as_ptr(view)) => {
                    Arc::clone(body)
                }
                _ => {
                    let body = Arc::new(SharedBody {
                        view: Arc::downgrade(view),
                        json: OnceLock::new(),
                    });
                    *latest = Some(Arc::clone(&body));
                    body
                }
            }
        };
        body.json
            .get_or_init(|| {
                let mut out = Vec::with_capacity(view.len() * 110 + 64);
                // Plain records into memory: serde_json cannot fail here.
                if let Err(e) = write_json(&mut out, view) {
                    tracing::error!(error = %e, "writing a snapshot to memory failed");
                }
                out.into()
            })
            .clone()
    }
}

#[derive(Deserialize)]
struct Read<'a> {
    seq: u64,
    #[serde(borrow)]
    entries: Vec<ReadEntry<'a>>,
}

#[derive(Deserialize)]
struct ReadEntry<'a> {
    #[serde(borrow)]
    domain: std::borrow::Cow<'a, str>,
    scope: Scope,
    entry_id: Uuid,
    category: Category,
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
}

/// Reads a JSON snapshot back: its sequence and every record. Any name or field this version
/// cannot read is an error, never skipped: a copy missing one listing would serve it as clean.
pub fn read_json(bytes: &[u8]) -> Result<(u64, Vec<ActiveRecord>), String> {
    let read: Read = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut records = Vec::with_capacity(read.entries.len());
    for entry in read.entries {
        let domain = DomainName::parse(&entry.domain)
            .map_err(|e| format!("entry {:?}: {e}", entry.domain))?;
        let suspended = match &*entry.status {
            "active" => false,
            "suspended" => true,
            other => return Err(format!("entry {:?}: status {other:?}", entry.domain)),
        };
        records.push(ActiveRecord {
            domain,
            entry_id: entry.entry_id,
            scope: entry.scope,
            category: entry.category,
            suspended,
        });
    }
    Ok((read.seq, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;

    #[test]
    fn a_written_view_reads_back_whole() {
        let index = Index::new(16);
        let records: Vec<ActiveRecord> = (0..40)
            .map(|i| ActiveRecord {
                domain: DomainName::parse(&format!("shop{i}.example.cn")).unwrap(),
                entry_id: Uuid::now_v7(),
                scope: if i % 2 == 0 {
                    Scope::Exact
                } else {
                    Scope::Subtree
                },
                category: Category::CounterfeitGoods,
                suspended: i % 5 == 0,
            })
            .collect();
        index.load(77, &records);
        let mut out = Vec::new();
        write_json(&mut out, &index.view()).unwrap();
        let (seq, mut read) = read_json(&out).unwrap();
        assert_eq!(seq, 77);
        read.sort_by(|a, b| a.domain.as_str().cmp(b.domain.as_str()));
        let mut expected = records;
        expected.sort_by(|a, b| a.domain.as_str().cmp(b.domain.as_str()));
        assert_eq!(read, expected);
    }

    #[test]
    fn a_shared_body_is_written_once_per_view() {
        let index = Index::new(16);
        let record = |name: &str| ActiveRecord {
            domain: DomainName::parse(name).unwrap(),
            entry_id: Uuid::now_v7(),
            scope: Scope::Exact,
            category: Category::CounterfeitGoods,
            suspended: false,
        };
        index.load(5, &[record("a.example.cn")]);
        let shared = Shared::default();
        let first = shared.json(&index.view());
        let again = shared.json(&index.view());
        assert_eq!(first.as_ptr(), again.as_ptr(), "one body for one view");
        let mut expected = Vec::new();
        write_json(&mut expected, &index.view()).unwrap();
        assert_eq!(first, expected);
        // Another set at the same sequence is another view, and another body.
        index.load(5, &[record("b.example.cn")]);
        let other = shared.json(&index.view());
        assert!(String::from_utf8_lossy(&other).contains("b.example.cn"));
        assert!(!String::from_utf8_lossy(&other).contains("a.example.cn"));
    }

    #[test]
    fn a_damaged_snapshot_is_refused_not_skipped() {
        let id = Uuid::now_v7();
        let entry = |domain: &str, status: &str| {
            format!(
                r#"{{"seq":3,"entries":[{{"domain":"{domain}","scope":"exact","entry_id":"{id}","category":"counterfeit_goods","status":"{status}"}}]}}"#
            )
        };
        assert!(read_json(entry("shop.example.cn", "active").as_bytes()).is_ok());
        assert!(read_json(entry("not a name", "active").as_bytes()).is_err());
        assert!(read_json(entry("shop.example.cn", "gone").as_bytes()).is_err());
        assert!(read_json(b"{\"seq\":3,\"entries\":[").is_err());
    }
}
