//! What anyone may learn of a listing without a key: the public notice page a blocked
//! visitor is sent to, the public look-up and its JSON. It tells only what a penalty decision
//! already made public: the name, the decision (number, authority, date), the category and
//! since when. Never who listed it, the reason's text, the case it came from or anything of a
//! case still open: a suspension, which an open case orders, is answered as not listed.

use crate::domain::{Category, DomainName, Scope};
use crate::model::{EntryStatus, Timestamp};

use super::{Registry, RegistryResult};

/// A listing as the public sees it.
pub struct PublicListing {
    /// The listed name (the name asked about, or a parent of it for a subtree listing).
    pub domain: DomainName,
    pub scope: Scope,
    pub category: Category,
    pub since: Timestamp,
    pub decision_number: String,
    pub decision_authority: String,
    pub decision_date: time::Date,
}

impl Registry {
    /// The listing that blocks `domain` now, as the public may see it; none when no decided
    /// listing blocks it.
    pub async fn public_listing(
        &self,
        domain: &DomainName,
    ) -> RegistryResult<Option<PublicListing>> {
        let Some(hit) = self.index.lookup(domain.as_str()).hit else {
            return Ok(None);
        };
        let listed = DomainName::parse(&domain.as_str()[hit.start..])?;
        let entry = self
            .history(&listed)
            .await?
            .into_iter()
            .find(|e| e.id == hit.entry_id() && e.status == EntryStatus::Active);
        Ok(entry.map(|e| PublicListing {
            domain: e.domain,
            scope: e.scope,
            category: e.category,
            since: e.listed_at,
            decision_number: e.decision.number,
            decision_authority: e.decision.authority,
            decision_date: e.decision.date,
        }))
    }
}
