//! The part of the store that keeps the shared records: business registrations by credit
//! code, website recordals by ICP number, and the recordal indexes by domain and by sponsor.
//! Implemented by both backends (`embedded/records.rs`, `redis/records.rs`). A put of many
//! records is one atomic write: an import is applied whole or not at all.

use std::collections::HashMap;

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::records::{Recordal, Registration};

/// How many records a put created and how many it replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutCounts {
    pub created: u64,
    pub updated: u64,
}

#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Creates or replaces registrations (keys distinct), in one atomic write.
    async fn put_registrations(&self, registrations: Vec<Registration>) -> StoreResult<PutCounts>;

    /// The registrations of `codes`, in the order given.
    async fn registrations(&self, codes: &[Uscc]) -> StoreResult<Vec<Option<Registration>>>;

    /// Creates or replaces recordals (keys distinct) and moves their domain and sponsor
    /// index rows to match, in one atomic write.
    async fn put_recordals(&self, recordals: Vec<Recordal>) -> StoreResult<PutCounts>;

    /// The recordals of `numbers`, in the order given.
    async fn recordals(&self, numbers: &[IcpNumber]) -> StoreResult<Vec<Option<Recordal>>>;

    /// Every recordal that names `domain` exactly, in ICP-number order.
    async fn recordals_by_domain(&self, domain: &DomainName) -> StoreResult<Vec<Recordal>>;

    /// Every recordal of each sponsor in `codes`, in ICP-number order; a sponsor without
    /// recordals is absent from the map.
    async fn recordals_by_sponsors(
        &self,
        codes: &[Uscc],
    ) -> StoreResult<HashMap<Uscc, Vec<Recordal>>>;
}

/// The index rows of a recordal: `(domain, icp)` and `(sponsor, icp)`.
pub(crate) fn links(recordal: &Recordal) -> (Vec<(String, String)>, (String, String)) {
    let icp = recordal.icp_number.to_string();
    let domains = recordal
        .domains
        .iter()
        .map(|d| (d.to_string(), icp.clone()))
        .collect();
    (domains, (recordal.sponsor_code.to_string(), icp))
}
