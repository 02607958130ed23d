//! What waits for an organisation: the cases and referrals whose next step is its own, oldest
//! first, with their age.

use serde::Serialize;
use uuid::Uuid;

use super::cases::org_of;
use super::{Registry, RegistryResult};
use crate::auth::Principal;
use crate::cases::Org;
use crate::cases::{referral, workflow};
use crate::model::Timestamp;

/// One thing waiting for an organisation, as `/v1/inbox` lists it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// `case` or `referral`.
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub id: Uuid,
    /// What the organisation is expected to do: `accept_or_return`, `forward`,
    /// `execute_suspension`, `submit_decision`, `close` (cases), `accept_or_return`, `answer`
    /// (referrals).
    pub action: &'static str,
    pub domain: Option<String>,
    pub subject: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Seconds since `since`.
    pub age_seconds: i64,
}

impl Registry {
    /// The organisation `by` speaks for, and what waits for it, oldest first.
    pub async fn inbox(&self, by: &Principal) -> RegistryResult<(Org, Vec<InboxItem>)> {
        let org = org_of(by)?;
        let now = crate::model::now();
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
                    age_seconds: (now - since).whole_seconds(),
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
                age_seconds: (now - since).whole_seconds(),
            })
        }));
        items.sort_by_key(|i| i.since);
        Ok((org, items))
    }
}
