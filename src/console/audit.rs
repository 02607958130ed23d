//! The audit log in the console, for auditors and admins: records filtered by action, by the
//! key that acted and by a window of days (Beijing time), a page at a time, and whether the
//! records read chain correctly, checked by `audit::Verifier` as `siteban audit verify` does.

use actix_web::web;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{Shown, Staff, v};
use crate::audit::{AuditRecord, Verifier};
use crate::auth::policy;
use crate::model::Timestamp;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(log));
}

/// Records shown on a page.
const PAGE: usize = 50;
/// Records read at once from the store.
const BATCH: usize = 500;
/// Records read for one page at most, so that a filter matching nothing does not read the
/// whole log in one request; the page then offers to read on.
const SCAN: usize = 10_000;

#[derive(Deserialize, Serialize, Default)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    /// First day shown (`YYYY-MM-DD`, Beijing time).
    from: Option<String>,
    /// Last day shown, included.
    to: Option<String>,
    /// The last seq already read.
    after: Option<u64>,
}

/// Midnight in Beijing at the start of `date` (`YYYY-MM-DD`), `days` later.
fn day_start(date: Option<&str>, days: i64) -> Option<Timestamp> {
    let text = date?.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).ok()?;
    let at = date.midnight().assume_offset(time::macros::offset!(+8)) + time::Duration::days(days);
    Some(at.into())
}

fn filled(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// The chain's state over the records read.
#[derive(Serialize)]
struct Chain {
    /// The first and last seq read; none when nothing was read.
    first: Option<u64>,
    last: Option<u64>,
    /// Whether the first record is checked against the start of the log too.
    from_genesis: bool,
    /// What is wrong, if anything.
    broken: Option<String>,
}

async fn log(staff: Staff, query: web::Query<AuditQuery>) -> Shown {
    staff.require(policy::READ_AUDIT)?;
    let action = filled(&query.action);
    let actor = filled(&query.actor);
    let since = day_start(filled(&query.from), 0);
    let until = day_start(filled(&query.to), 1);
    let after = query.after.unwrap_or(0);
    let shows = |r: &AuditRecord| {
        action.is_none_or(|a| r.event.action == a)
            && actor.is_none_or(|k| r.event.actor.key_id == k)
            && since.is_none_or(|t| r.event.at >= t)
            && until.is_none_or(|t| r.event.at < t)
    };
    let mut shown = Vec::new();
    let mut verifier: Option<Verifier> = None;
    let mut chain = Chain {
        first: None,
        last: None,
        from_genesis: after == 0,
        broken: None,
    };
    let mut cursor = after;
    let mut read = 0;
    let mut more = false;
    'reading: while read < SCAN {
        let batch = staff.audit_records(cursor, BATCH).await?;
        let full = batch.len() == BATCH;
        for record in batch {
            read += 1;
            cursor = record.seq;
            // Without the record before the first one read, the first is checked against
            // the hash it names; every later one against the one before it.
            let check = verifier.get_or_insert_with(|| {
                if after == 0 {
                    Verifier::new()
                } else {
                    Verifier::after(record.seq - 1, &record.prev_sha256)
                }
            });
            if let Err(tamper) = check.check(&record)
                && chain.broken.is_none()
            {
                chain.broken = Some(tamper.to_string());
            }
            chain.first.get_or_insert(record.seq);
            chain.last = Some(record.seq);
            if shows(&record) {
                shown.push(record);
                if shown.len() == PAGE {
                    more = true;
                    break 'reading;
                }
            }
        }
        if !full {
            break;
        }
        more = read >= SCAN;
    }
    let next = more.then_some(cursor);
    staff.page(
        "audit.html",
        context! {
            records => v(&shown),
            chain => v(&chain),
            next => v(&next),
            query => v(&*query),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_midnight_in_beijing() {
        let start = day_start(Some("2026-05-01"), 0).unwrap();
        assert_eq!(start.to_string(), "2026-04-30T16:00:00Z");
        let end = day_start(Some("2026-05-01"), 1).unwrap();
        assert_eq!(end.to_string(), "2026-05-01T16:00:00Z");
        assert!(day_start(Some("May 1"), 0).is_none());
        assert!(day_start(None, 0).is_none());
    }
}
