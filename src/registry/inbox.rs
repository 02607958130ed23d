//! What waits for an organisation: the cases and referrals whose next step is its own, oldest
//! first, with their age.

use serde::Serialize;
use uuid::Uuid;

use super::cases::org_of;
use super::{Registry, RegistryResult};
use crate::auth::Principal;
use crate::cases::referral::Referral;
use crate::cases::{Case, Org, referral, workflow};
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
        let cases = self.store.cases().await?;
        let referrals = self.store.referrals().await?;
        Ok((org, waiting(org, &cases, &referrals, crate::model::now())))
    }
}

/// What waits for `org` among `cases` and `referrals` at `now`, oldest first.
pub(super) fn waiting(
    org: Org,
    cases: &[Case],
    referrals: &[Referral],
    now: Timestamp,
) -> Vec<InboxItem> {
    let item = |kind, id, (action, since): (&'static str, Timestamp)| InboxItem {
        kind,
        id,
        action,
        domain: None,
        subject: None,
        since,
        age_seconds: (now - since).whole_seconds(),
    };
    let mut items: Vec<InboxItem> = cases
        .iter()
        .filter_map(|c| {
            workflow::waiting_for(c, org).map(|waits| InboxItem {
                domain: Some(c.domain.to_string()),
                ..item("case", c.id, waits)
            })
        })
        .collect();
    items.extend(referrals.iter().filter_map(|r| {
        referral::waiting_for(r, org).map(|waits| InboxItem {
            domain: r.domain.as_ref().map(ToString::to_string),
            subject: Some(r.subject.clone()),
            ..item("referral", r.id, waits)
        })
    }));
    items.sort_by_key(|i| i.since);
    items
}
