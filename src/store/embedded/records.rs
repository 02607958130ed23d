//! Registrations and recordals in the embedded store: one table per kind keyed by credit code
//! or ICP number (JSON values), and two index tables of `(domain, icp)` and `(sponsor, icp)`
//! pairs. A put of any number of records is one redb write transaction, so an import is on
//! disk whole or not at all.

use std::collections::HashMap;

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;

use super::{EmbeddedStore, db_err, decode, encode};
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::records::{Recordal, Registration};
use crate::store::StoreResult;
use crate::store::records::{PutCounts, RecordStore, links};

/// Credit code → JSON of the registration.
const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");
/// ICP number → JSON of the recordal.
const RECORDALS: TableDefinition<&str, &[u8]> = TableDefinition::new("recordals");
/// (domain, ICP number): the recordals naming each domain.
const BY_DOMAIN: TableDefinition<(&str, &str), ()> = TableDefinition::new("recordals_by_domain");
/// (sponsor credit code, ICP number): each sponsor's recordals.
const BY_SPONSOR: TableDefinition<(&str, &str), ()> = TableDefinition::new("recordals_by_sponsor");

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    create_tables!(txn; REGISTRATIONS, RECORDALS, BY_DOMAIN, BY_SPONSOR);
    Ok(())
}

/// Reads the recordals of `icps` (index rows hold ICP numbers) from an open table.
fn read_recordals<'a>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    icps: impl IntoIterator<Item = &'a str>,
) -> StoreResult<Vec<Recordal>> {
    let mut out = Vec::new();
    for icp in icps {
        if let Some(bytes) = table.get(icp).map_err(db_err)? {
            out.push(decode(bytes.value())?);
        }
    }
    Ok(out)
}

/// The ICP numbers under `key` in an index table of `(key, icp)` pairs.
fn linked(
    table: &impl ReadableTable<(&'static str, &'static str), ()>,
    key: &str,
) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    for row in table.range((key, "")..).map_err(db_err)? {
        let (k, _) = row.map_err(db_err)?;
        let (owner, icp) = k.value();
        if owner != key {
            break;
        }
        out.push(icp.to_owned());
    }
    Ok(out)
}

impl EmbeddedStore {
    /// The record under each of `keys` in `table`, in order; `None` where there is none.
    async fn read_each<T: DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        keys: Vec<String>,
    ) -> StoreResult<Vec<Option<T>>> {
        self.reading(move |txn| {
            let table = txn.open_table(table).map_err(db_err)?;
            keys.iter()
                .map(|key| {
                    let bytes = table.get(key.as_str()).map_err(db_err)?;
                    bytes.map(|bytes| decode(bytes.value())).transpose()
                })
                .collect()
        })
        .await
    }
}

#[async_trait]
impl RecordStore for EmbeddedStore {
    async fn put_registrations(&self, registrations: Vec<Registration>) -> StoreResult<PutCounts> {
        self.blocking(move |db| {
            // redb commits with immediate durability unless told otherwise.
            let txn = db.begin_write().map_err(db_err)?;
            let mut counts = PutCounts::default();
            {
                let mut table = txn.open_table(REGISTRATIONS).map_err(db_err)?;
                for registration in &registrations {
                    let old = table
                        .insert(registration.uscc.as_str(), encode(registration)?.as_slice())
                        .map_err(db_err)?;
                    if old.is_some() {
                        counts.updated += 1;
                    } else {
                        counts.created += 1;
                    }
                }
            }
            txn.commit().map_err(db_err)?;
            Ok(counts)
        })
        .await
    }

    async fn registrations(&self, codes: &[Uscc]) -> StoreResult<Vec<Option<Registration>>> {
        let keys = codes.iter().map(|code| code.as_str().to_owned()).collect();
        self.read_each(REGISTRATIONS, keys).await
    }

    async fn put_recordals(&self, recordals: Vec<Recordal>) -> StoreResult<PutCounts> {
        self.blocking(move |db| {
            // redb commits with immediate durability unless told otherwise.
            let txn = db.begin_write().map_err(db_err)?;
            let mut counts = PutCounts::default();
            {
                let mut table = txn.open_table(RECORDALS).map_err(db_err)?;
                let mut by_domain = txn.open_table(BY_DOMAIN).map_err(db_err)?;
                let mut by_sponsor = txn.open_table(BY_SPONSOR).map_err(db_err)?;
                for recordal in &recordals {
                    let old = table
                        .insert(recordal.icp_number.as_str(), encode(recordal)?.as_slice())
                        .map_err(db_err)?
                        .map(|bytes| decode::<Recordal>(bytes.value()))
                        .transpose()?;
                    if let Some(old) = old {
                        counts.updated += 1;
                        let (domains, (sponsor, icp)) = links(&old);
                        for (domain, icp) in &domains {
                            by_domain
                                .remove((domain.as_str(), icp.as_str()))
                                .map_err(db_err)?;
                        }
                        by_sponsor
                            .remove((sponsor.as_str(), icp.as_str()))
                            .map_err(db_err)?;
                    } else {
                        counts.created += 1;
                    }
                    let (domains, (sponsor, icp)) = links(recordal);
                    for (domain, icp) in &domains {
                        by_domain
                            .insert((domain.as_str(), icp.as_str()), ())
                            .map_err(db_err)?;
                    }
                    by_sponsor
                        .insert((sponsor.as_str(), icp.as_str()), ())
                        .map_err(db_err)?;
                }
            }
            txn.commit().map_err(db_err)?;
            Ok(counts)
        })
        .await
    }

    async fn recordals(&self, numbers: &[IcpNumber]) -> StoreResult<Vec<Option<Recordal>>> {
        let keys = numbers
            .iter()
            .map(|number| number.as_str().to_owned())
            .collect();
        self.read_each(RECORDALS, keys).await
    }

    async fn recordals_by_domain(&self, domain: &DomainName) -> StoreResult<Vec<Recordal>> {
        let domain = domain.to_string();
        self.reading(move |txn| {
            let icps = linked(&txn.open_table(BY_DOMAIN).map_err(db_err)?, &domain)?;
            let table = txn.open_table(RECORDALS).map_err(db_err)?;
            read_recordals(&table, icps.iter().map(String::as_str))
        })
        .await
    }

    async fn recordals_by_sponsors(
        &self,
        codes: &[Uscc],
    ) -> StoreResult<HashMap<Uscc, Vec<Recordal>>> {
        let codes = codes.to_vec();
        self.reading(move |txn| {
            let index = txn.open_table(BY_SPONSOR).map_err(db_err)?;
            let table = txn.open_table(RECORDALS).map_err(db_err)?;
            let mut out = HashMap::new();
            for code in codes {
                let icps = linked(&index, code.as_str())?;
                if !icps.is_empty() {
                    out.insert(
                        code,
                        read_recordals(&table, icps.iter().map(String::as_str))?,
                    );
                }
            }
            Ok(out)
        })
        .await
    }
}
