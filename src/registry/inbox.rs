//! What waits for an organisation: the cases and referrals whose next step is its own, oldest
//! first, with their age.

use crate::model::Timestamp;
use uuid::Uuid;

use super::cases::org_of;
use super::{Registry, RegistryResult};
use crate::auth::Principal;
use crate::cases::Org;
use crate::cases::{referral, workflow};

/// One thing waiting for an organisation.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// `case` or `referral`.
    pub kind: &'static str,
    pub id: Uuid,
    /// What the organisation is expected to do: `accept_or_return`, `forward`,
    /// `execute_suspension`, `submit_decision`, `close` (cases), `accept_or_return`, `answer`
    /// (referrals).
    pub action: &'static str,
    pub domain: Option<String>,
    pub subject: Option<String>,
    pub since: Timestamp,
}

impl Registry {
    /// The organisation `by` speaks for, and what waits for it, oldest first.
    pub async fn inbox(&self, by: &Principal) -> RegistryResult<(Org, Vec<InboxItem>)> {
        let org = org_of(by)?;
        let mut items: Vec<InboxItem> = self
            .store
            .cases()
            .await?
            .into_iter()
            .filter_map(|c| {
                workflow::waiting_for(&c, org).map(|(action, since)| InboxItem {
                    kind: "case",
                    id: c.id,
                    action,
                    domain: Some(c.domain.to_string()),
                    subject: None,
                    since,
                })
            })
            .collect();
        items.extend(self.store.referrals().await?.into_iter().filter_map(|r| {
            referral::waiting_for(&r, org).map(|(action, since)| InboxItem {
                kind: "referral",
                id: r.id,
                action,
                domain: r.domain.as_ref().map(ToString::to_string),
                subject: Some(r.subject.clone()),
                since,
            })
        }));
        items.sort_by_key(|i| i.since);
        Ok((org, items))
    }
}
