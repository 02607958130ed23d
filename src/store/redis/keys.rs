//! Every key of the Redis store, built in one place so that this file shows the whole key
//! layout. Every key starts with the one hash tag `{siteban}`, so all of them hash to one
//! slot: a script or `MULTI` may only touch keys of one slot on Redis Cluster, and every write
//! here touches several keys at once. What the keys hold is left to the files that read and
//! write them (`entries.rs`, `notices.rs`, `cases.rs`, `records.rs`, `documents.rs`).

use uuid::Uuid;

use crate::store::log::LogName;

use crate::domain::DomainName;
use crate::store::StatusFilter;
use crate::store::cases::Folder;

/// Builds every Redis key the service uses; nothing else in the code names a key.
pub(super) struct Keys;

/// The four families of bucketed hashes of shared records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Family {
    Registrations,
    Recordals,
    ByDomain,
    BySponsor,
}

/// Entries, the feed, API keys, the audit log and protected names.
impl Keys {
    const TAG: &'static str = "{siteban}";

    fn named(name: &str) -> String {
        format!("{}:{name}", Self::TAG)
    }
    /// The stored format version, checked when the store opens.
    pub(super) fn format() -> String {
        Self::named("format")
    }
    /// The counter the feed sequence numbers come from.
    pub(super) fn seq() -> String {
        Self::named("seq")
    }
    /// The transparency log's `size`, `checkpoint` and signer `key` (`redis/log.rs`).
    pub(super) fn log(name: &str) -> String {
        format!("{}:log:{name}", Self::TAG)
    }
    /// The `size` or `checkpoint` of the feed's log (`log:`) or the audit log's
    /// (`auditlog:`).
    pub(super) fn log_of(log: LogName, name: &str) -> String {
        format!("{}:{}:{name}", Self::TAG, Self::log_prefix(log))
    }
    /// A tile of a transparency log's tree: level, index.
    pub(super) fn log_tile(log: LogName, level: u8, index: u64) -> String {
        format!(
            "{}:{}:tile:{level}:{index}",
            Self::TAG,
            Self::log_prefix(log)
        )
    }
    fn log_prefix(log: LogName) -> &'static str {
        match log {
            LogName::Feed => "log",
            LogName::Audit => "auditlog",
        }
    }
    /// The feed stream; its entry ids are `<seq>-0`.
    pub(super) fn feed() -> String {
        Self::named("feed")
    }
    /// Domain → active record (`store::encode_active`).
    pub(super) fn active() -> String {
        Self::named("active")
    }
    /// An entry's hash (`doc`, `seq`, once lifted `lift`, `lift_seq`; while a lift waits for
    /// approval `pending_lift`; once one was rejected `rejected_lifts`).
    pub(super) fn entry(id: Uuid) -> String {
        format!("{}:entry:{}", Self::TAG, id.simple())
    }
    /// The ids of every entry made for a domain, oldest first.
    pub(super) fn history(domain: &DomainName) -> String {
        format!("{}:history:{}", Self::TAG, domain.as_str())
    }
    /// Entry ids scored by listing sequence, one sorted set per filter.
    pub(super) fn by_seq(filter: StatusFilter) -> String {
        Self::named(match filter {
            StatusFilter::All => "by_seq:all",
            StatusFilter::Active => "by_seq:active",
            StatusFilter::Lifted => "by_seq:lifted",
        })
    }
    /// Domain → the id of its entry waiting for review.
    pub(super) fn pending() -> String {
        Self::named("pending")
    }
    /// Domain → the id of its active entry whose lift waits for approval.
    pub(super) fn pending_lifts() -> String {
        Self::named("pending_lifts")
    }
    /// API key id → key record.
    pub(super) fn keys() -> String {
        Self::named("keys")
    }
    /// The counter of key changes.
    pub(super) fn keys_version() -> String {
        Self::named("keys:version")
    }
    /// The stream of key changes that followers block on, beside the feed.
    pub(super) fn keys_log() -> String {
        Self::named("keys:log")
    }
    /// The audit records, record n at list index n - 1.
    pub(super) fn audit() -> String {
        Self::named("audit")
    }
    /// `<seq> <sha256>` of the last audit record, the head the next one chains to.
    pub(super) fn audit_head() -> String {
        Self::named("audit:head")
    }
    /// Domain → protected name.
    pub(super) fn protected() -> String {
        Self::named("protected")
    }
}

/// Uploaded documents and the index of the records that name them.
impl Keys {
    /// A document's hash (`meta`, `content`), under the SHA-256 of its bytes.
    pub(super) fn document(sha256: &str) -> String {
        format!("{}:document:{sha256}", Self::TAG)
    }
    /// Every `store::documents::ref_row`, all with score 0 so that one hash's rows are one
    /// lexicographic range; the entry, case and referral scripts add to it.
    pub(super) fn document_refs() -> String {
        Self::named("documents:refs")
    }
    /// Set to 1 once the index covers the records written before it existed.
    pub(super) fn document_refs_complete() -> String {
        Self::named("documents:refs:complete")
    }
}

/// Cases and referrals: each record a hash (`doc`, `ver`), each folder a set of ids.
impl Keys {
    /// A case's hash; the list and lift scripts write it alongside an entry.
    pub(super) fn case(id: Uuid) -> String {
        Self::record(Folder::Cases, id)
    }
    pub(super) fn record(folder: Folder, id: Uuid) -> String {
        format!("{}:{}:{}", Self::TAG, Self::names(folder).0, id.simple())
    }
    pub(super) fn folder(folder: Folder) -> String {
        Self::named(Self::names(folder).1)
    }
    /// The name of one record of `folder`, and of the folder's set of ids.
    fn names(folder: Folder) -> (&'static str, &'static str) {
        match folder {
            Folder::Cases => ("case", "cases"),
            Folder::Referrals => ("referral", "referrals"),
            Folder::OrgWebhooks => ("org_webhook", "org_webhooks"),
            Folder::Announcements => ("announcement", "announcements"),
            Folder::Sessions => ("session", "sessions"),
        }
    }
}

/// Providers and notices.
impl Keys {
    /// Provider id → provider.
    pub(super) fn providers() -> String {
        Self::named("providers")
    }
    /// A notice's hash (`doc`, `ver`).
    pub(super) fn notice(id: Uuid) -> String {
        format!("{}:notice:{}", Self::TAG, id.simple())
    }
    /// Notice ids scored by when they are due for delivery.
    pub(super) fn notice_outbox() -> String {
        Self::named("notices:outbox")
    }
    /// Notice ids scored by their deadline.
    pub(super) fn notice_deadlines() -> String {
        Self::named("notices:deadlines")
    }
    /// Notice status → number of notices in it.
    pub(super) fn notice_counts() -> String {
        Self::named("notices:counts")
    }
    /// An entry's locate job (`doc`, `ver`), under the entry's id.
    pub(super) fn locate_job(entry: Uuid) -> String {
        format!("{}:locate:job:{}", Self::TAG, entry.simple())
    }
    /// Entry ids scored by when their locate job is due (or its lease ends).
    pub(super) fn locate_due() -> String {
        Self::named("locate:due")
    }
    /// A provider's notice ids, all with score 0 so that they are read in id order.
    pub(super) fn provider_notices(provider_id: &str) -> String {
        format!("{}:notices:provider:{provider_id}", Self::TAG)
    }
    /// The ids of the notices written about an entry (sorted set, score 0, by id).
    pub(super) fn entry_notices(entry_id: Uuid) -> String {
        format!("{}:notices:entry:{}", Self::TAG, entry_id.simple())
    }
    /// Set to 1 once the entry index covers the notices written before it existed.
    pub(super) fn entry_notices_complete() -> String {
        Self::named("notices:entry:complete")
    }

    /// Set once every entry located before locating ran in the background has a locate job.
    pub(super) fn locate_jobs_complete() -> String {
        Self::named("locate:complete")
    }
}

/// Registrations and recordals: four families of bucketed hashes, their staging copies, and
/// the counters, commit markers and writer locks of a put.
impl Keys {
    fn family(family: Family) -> &'static str {
        match family {
            Family::Registrations => "registrations",
            Family::Recordals => "recordals",
            Family::ByDomain => "recordals:by_domain",
            Family::BySponsor => "recordals:by_sponsor",
        }
    }
    /// One bucket of a family.
    pub(super) fn record_bucket(family: Family, bucket: u64) -> String {
        format!("{}:{}:{bucket}", Self::TAG, Self::family(family))
    }
    /// The staging copy of a bucket for the put `token`.
    pub(super) fn record_stage(token: &str, family: Family, bucket: u64) -> String {
        format!(
            "{}:stage:{token}:{}:{bucket}",
            Self::TAG,
            Self::family(family)
        )
    }
    /// The counter of committed puts of `kind` (`registrations` or `recordals`).
    pub(super) fn records_version(kind: &str) -> String {
        format!("{}:records:version:{kind}", Self::TAG)
    }
    /// The marker a commit leaves, so that a commit whose answer was lost can be read back.
    pub(super) fn records_commit(token: &str) -> String {
        format!("{}:records:commit:{token}", Self::TAG)
    }
    /// The writer lock of `kind`.
    pub(super) fn records_lock(kind: &str) -> String {
        format!("{}:records:lock:{kind}", Self::TAG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key layout is part of the stored format: a key that changes its name strands the
    /// data stored under the old one.
    #[test]
    fn the_key_layout_is_the_stored_one() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let domain = DomainName::parse("shop.example.cn").unwrap();
        let simple = "0123456789abcdef0123456789abcdef";
        let keys = [
            (Keys::format(), "{siteban}:format".to_string()),
            (Keys::seq(), "{siteban}:seq".into()),
            (Keys::feed(), "{siteban}:feed".into()),
            (Keys::active(), "{siteban}:active".into()),
            (Keys::entry(id), format!("{{siteban}}:entry:{simple}")),
            (
                Keys::history(&domain),
                "{siteban}:history:shop.example.cn".into(),
            ),
            (
                Keys::by_seq(StatusFilter::All),
                "{siteban}:by_seq:all".into(),
            ),
            (
                Keys::by_seq(StatusFilter::Active),
                "{siteban}:by_seq:active".into(),
            ),
            (
                Keys::by_seq(StatusFilter::Lifted),
                "{siteban}:by_seq:lifted".into(),
            ),
            (Keys::pending(), "{siteban}:pending".into()),
            (Keys::keys(), "{siteban}:keys".into()),
            (Keys::keys_version(), "{siteban}:keys:version".into()),
            (Keys::keys_log(), "{siteban}:keys:log".into()),
            (Keys::audit(), "{siteban}:audit".into()),
            (Keys::audit_head(), "{siteban}:audit:head".into()),
            (Keys::protected(), "{siteban}:protected".into()),
            (Keys::case(id), format!("{{siteban}}:case:{simple}")),
            (
                Keys::record(Folder::Referrals, id),
                format!("{{siteban}}:referral:{simple}"),
            ),
            (Keys::folder(Folder::Cases), "{siteban}:cases".into()),
            (
                Keys::folder(Folder::Referrals),
                "{siteban}:referrals".into(),
            ),
            (
                Keys::record(Folder::OrgWebhooks, id),
                format!("{{siteban}}:org_webhook:{simple}"),
            ),
            (
                Keys::folder(Folder::Announcements),
                "{siteban}:announcements".into(),
            ),
            (
                Keys::record(Folder::Sessions, id),
                format!("{{siteban}}:session:{simple}"),
            ),
            (Keys::folder(Folder::Sessions), "{siteban}:sessions".into()),
            (
                Keys::entry_notices(id),
                format!("{{siteban}}:notices:entry:{simple}"),
            ),
            (
                Keys::entry_notices_complete(),
                "{siteban}:notices:entry:complete".into(),
            ),
            (
                Keys::locate_jobs_complete(),
                "{siteban}:locate:complete".into(),
            ),
            (
                Keys::document(&"ab".repeat(32)),
                format!("{{siteban}}:document:{}", "ab".repeat(32)),
            ),
            (Keys::document_refs(), "{siteban}:documents:refs".into()),
            (
                Keys::document_refs_complete(),
                "{siteban}:documents:refs:complete".into(),
            ),
            (Keys::providers(), "{siteban}:providers".into()),
            (Keys::notice(id), format!("{{siteban}}:notice:{simple}")),
            (Keys::notice_outbox(), "{siteban}:notices:outbox".into()),
            (
                Keys::notice_deadlines(),
                "{siteban}:notices:deadlines".into(),
            ),
            (Keys::notice_counts(), "{siteban}:notices:counts".into()),
            (
                Keys::provider_notices("isp-1"),
                "{siteban}:notices:provider:isp-1".into(),
            ),
            (
                Keys::record_bucket(Family::Registrations, 7),
                "{siteban}:registrations:7".into(),
            ),
            (
                Keys::record_bucket(Family::Recordals, 7),
                "{siteban}:recordals:7".into(),
            ),
            (
                Keys::record_bucket(Family::ByDomain, 7),
                "{siteban}:recordals:by_domain:7".into(),
            ),
            (
                Keys::record_bucket(Family::BySponsor, 7),
                "{siteban}:recordals:by_sponsor:7".into(),
            ),
            (
                Keys::record_stage("t1", Family::ByDomain, 7),
                "{siteban}:stage:t1:recordals:by_domain:7".into(),
            ),
            (
                Keys::records_version("recordals"),
                "{siteban}:records:version:recordals".into(),
            ),
            (
                Keys::records_commit("t1"),
                "{siteban}:records:commit:t1".into(),
            ),
            (
                Keys::records_lock("registrations"),
                "{siteban}:records:lock:registrations".into(),
            ),
        ];
        for (built, stored) in keys {
            assert_eq!(built, stored);
            assert!(built.starts_with("{siteban}:"), "{built} has the hash tag");
        }
    }
}
