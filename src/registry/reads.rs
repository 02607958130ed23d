//! What callers read and manage beside entries and cases: API keys (this node's key cache
//! reloaded at once after a change), providers and the binding of provider keys, notices and
//! their acknowledgement, the compliance report, locating a site, the feed and the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use super::{Registry, RegistryError, RegistryResult};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::domain::{DomainName, Role};
use crate::model::{Entry, Event, KeyRecord, Location, ProviderKind};
use crate::notices::model::{Notice, NoticeStatus, Provider};
use crate::store::notices::{NoticeChange, NoticePage, NoticePageQuery};

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderCompliance {
    pub provider_id: String,
    pub name: String,
    pub kind: ProviderKind,
    #[schema(value_type = Option<String>)]
    pub province: Option<crate::domain::Province>,
    /// Notices written to the provider.
    pub sent: u64,
    /// Notices whose webhook answered 2xx at least once.
    pub delivered: u64,
    pub acknowledged: u64,
    /// Notices that passed their deadline unacknowledged, including those acknowledged late.
    pub overdue: u64,
    /// Of those, the ones still unacknowledged.
    pub overdue_open: u64,
    pub acknowledged_late: u64,
    /// Median time from a notice's creation to its acknowledgement; null when none.
    pub median_seconds_to_acknowledge: Option<f64>,
}

impl Registry {
    /// Stores a new key and reloads this node's key cache, so the key works here as soon as
    /// the admin is answered; other nodes follow through the store's key log.
    pub async fn create_key(&self, record: KeyRecord) -> RegistryResult<()> {
        self.store.create_key(record).await?;
        self.refresh_keys().await
    }

    /// Revokes a key; its token stops working on this node at once.
    pub async fn revoke_key(&self, id: &str) -> RegistryResult<()> {
        if !self.store.revoke_key(id).await? {
            return Err(RegistryError::NotFound(format!("no key with id {id:?}")));
        }
        self.refresh_keys().await
    }

    async fn refresh_keys(&self) -> RegistryResult<()> {
        let (version, keys) = self.store.keys().await?;
        self.auth.replace(version, &keys);
        Ok(())
    }

    /// Every key, oldest first.
    pub async fn keys(&self) -> RegistryResult<Vec<KeyRecord>> {
        let (_, mut keys) = self.store.keys().await?;
        keys.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(keys)
    }

    /// Checks the `provider_id` of a new key: required for provider roles, refused for
    /// others, and of the kind the role speaks for.
    pub async fn key_provider(
        &self,
        role: Role,
        provider_id: Option<String>,
    ) -> RegistryResult<Option<String>> {
        let kind = match role {
            Role::AccessProvider => ProviderKind::Access,
            Role::DnsProvider => ProviderKind::Dns,
            _ if provider_id.is_some() => {
                return Err(RegistryError::invalid(
                    "invalid_provider",
                    "only access_provider and dns_provider keys are bound to a provider",
                ));
            }
            _ => return Ok(None),
        };
        let id = provider_id.ok_or_else(|| {
            RegistryError::invalid(
                "provider_required",
                format!(
                    "{} key needs provider_id, the provider it speaks for",
                    with_article(role)
                ),
            )
        })?;
        let provider = self.provider(&id).await.map_err(|_| {
            RegistryError::invalid("unknown_provider", format!("no provider with id {id:?}"))
        })?;
        if provider.kind != kind {
            return Err(RegistryError::invalid(
                "invalid_provider",
                format!(
                    "{} key needs a provider of kind {}, {id} is {}",
                    with_article(role),
                    kind.as_str(),
                    provider.kind.as_str()
                ),
            ));
        }
        Ok(Some(id))
    }

    pub async fn providers(&self) -> RegistryResult<Vec<Provider>> {
        Ok(self.store.providers().await?)
    }

    pub async fn provider(&self, id: &str) -> RegistryResult<Provider> {
        self.store
            .provider(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no provider with id {id:?}")))
    }

    /// Creates or replaces a provider.
    pub async fn put_provider(&self, provider: Provider) -> RegistryResult<()> {
        Ok(self.store.put_provider(provider).await?)
    }

    pub async fn delete_provider(&self, id: &str) -> RegistryResult<()> {
        if !self.store.delete_provider(id).await? {
            return Err(RegistryError::NotFound(format!(
                "no provider with id {id:?}"
            )));
        }
        Ok(())
    }

    /// Locates `domain` now, within the listing budget, against every provider.
    pub async fn locate(&self, domain: &DomainName) -> RegistryResult<Location> {
        let providers = self.store.providers().await?;
        Ok(self.notices.locate(domain, &providers).await)
    }

    /// A page of a provider's notices, oldest first.
    pub async fn provider_notices(&self, query: NoticePageQuery) -> RegistryResult<NoticePage> {
        Ok(self.store.provider_notices(query).await?)
    }

    /// The notices written about `entry`, oldest first, that `by` may read: every one for a
    /// regulator or auditor, its own provider's for a provider's key.
    pub async fn entry_notices(
        &self,
        by: &Principal,
        entry: &Entry,
    ) -> RegistryResult<Vec<Notice>> {
        let mut notices = self.store.entry_notices(entry.id).await?;
        if matches!(by.role, Role::AccessProvider | Role::DnsProvider) {
            let own = by.provider_id.as_deref();
            notices.retain(|n| own == Some(n.provider_id.as_str()));
        }
        Ok(notices)
    }

    /// How many notices are in each status, all providers together: a read of a few counters.
    pub async fn notice_counts(&self) -> RegistryResult<BTreeMap<NoticeStatus, u64>> {
        Ok(self.store.notice_counts().await?)
    }

    /// Indexes by entry the notices written before that index existed, once per store: every
    /// provider's notices, a page at a time, then marks the index complete. Rows already there
    /// stay, and notices written meanwhile index themselves, so nodes may run it together.
    /// Answers how many rows it wrote (0 when the index was complete).
    pub async fn index_entry_notices(&self) -> RegistryResult<usize> {
        if self.store.entry_notices_complete().await? {
            return Ok(0);
        }
        let mut written = 0;
        for provider in self.store.providers().await? {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .provider_notices(NoticePageQuery {
                        provider_id: provider.id.clone(),
                        status: None,
                        after,
                        limit: 1000,
                    })
                    .await?;
                let rows: Vec<(Uuid, Uuid)> =
                    page.notices.iter().map(|n| (n.entry_id, n.id)).collect();
                written += rows.len();
                self.store.add_entry_notice_rows(rows, false).await?;
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        self.store.add_entry_notice_rows(Vec::new(), true).await?;
        Ok(written)
    }

    /// One notice, if `own` (the provider a provider key speaks for; `None` for others) may
    /// see it.
    pub async fn notice(&self, own: Option<&str>, id: Uuid) -> RegistryResult<Notice> {
        match self.store.notice(id).await? {
            Some(notice) if own.is_none_or(|p| p == notice.provider_id) => Ok(notice),
            _ => Err(RegistryError::NotFound(format!("no notice with id {id}"))),
        }
    }

    /// Records that the provider carried notice `id` out; answers the notice and whether
    /// this changed it (acknowledging again changes nothing).
    pub async fn acknowledge(
        &self,
        id: Uuid,
        note: Option<String>,
    ) -> RegistryResult<(Notice, bool)> {
        let now = crate::model::now();
        let change: NoticeChange = Arc::new(move |n: &mut Notice| n.acknowledge(now, note.clone()));
        self.store
            .update_notice(id, change)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no notice with id {id}")))
    }

    /// Per provider: notices sent, delivered, acknowledged, overdue, and the median time to
    /// acknowledge. It reads every notice of every provider: a report, not a hot path.
    pub async fn compliance(&self) -> RegistryResult<Vec<ProviderCompliance>> {
        let mut providers = self.store.providers().await?;
        providers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let mut report = Vec::with_capacity(providers.len());
        for provider in providers {
            let mut row = ProviderCompliance {
                provider_id: provider.id.clone(),
                name: provider.name.clone(),
                kind: provider.kind,
                province: provider.province,
                sent: 0,
                delivered: 0,
                acknowledged: 0,
                overdue: 0,
                overdue_open: 0,
                acknowledged_late: 0,
                median_seconds_to_acknowledge: None,
            };
            let mut times = Vec::new();
            let mut after = None;
            loop {
                let query = NoticePageQuery {
                    provider_id: provider.id.clone(),
                    status: None,
                    after,
                    limit: 10_000,
                };
                let page = self.store.provider_notices(query).await?;
                for n in &page.notices {
                    row.sent += 1;
                    row.delivered += u64::from(n.delivered_at.is_some());
                    if n.overdue_at.is_some() {
                        row.overdue += 1;
                    }
                    match n.acknowledged_at {
                        Some(at) => {
                            row.acknowledged += 1;
                            row.acknowledged_late += u64::from(n.overdue_at.is_some());
                            times.push((at - n.created_at).as_seconds_f64().max(0.0));
                        }
                        None => row.overdue_open += u64::from(n.overdue_at.is_some()),
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            row.median_seconds_to_acknowledge = median(times).map(to_the_millisecond);
            report.push(row);
        }
        Ok(report)
    }

    /// Feed events after `after`, at most `limit`.
    pub async fn events(&self, after: u64, limit: usize) -> RegistryResult<Vec<Event>> {
        Ok(self.store.events(after, limit).await?)
    }

    /// Events after `after` for a long-poll, which waits for the index when there are none:
    /// from the events this node applied when it holds them all and knows of nothing newer in
    /// the store, so that thousands of waiting followers woken by one event cost no store
    /// read; from the store otherwise.
    pub async fn events_for_long_poll(
        &self,
        after: u64,
        limit: usize,
    ) -> RegistryResult<Vec<Event>> {
        if let Some(events) = self.recent.after(after, crate::store::clamp_limit(limit))
            && (!events.is_empty()
                || self.recent.last()
                    >= self.health.head.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Ok(events);
        }
        self.events(after, limit).await
    }

    /// Audit records after `after`, at most `limit`, in order.
    pub async fn audit_records(
        &self,
        after: u64,
        limit: usize,
    ) -> RegistryResult<Vec<AuditRecord>> {
        Ok(self.store.audit(after, limit).await?)
    }
}

/// `role` (`agency`, `access_provider`, …) with its indefinite article.
pub(super) fn with_article(role: impl std::fmt::Display) -> String {
    let role = role.to_string();
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {role}")
}

/// Seconds to the millisecond, as the times they come from: no float noise in answers
/// (`146.092`, not `146.09199999999998`).
fn to_the_millisecond(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::{median, to_the_millisecond};

    #[test]
    fn seconds_are_given_to_the_millisecond() {
        let noisy = 146_092.0 / 1000.0 - 1e-13;
        assert_eq!(
            serde_json::to_string(&to_the_millisecond(noisy)).unwrap(),
            "146.092"
        );
        assert_eq!(to_the_millisecond(0.0004), 0.0);
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
