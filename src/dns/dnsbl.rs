//! The DNSBL zone: `<name>.<dnsbl_zone>` answers `A 127.0.0.2` when `name` is listed, with the
//! subtree semantics of checks (`View::find`), and a TXT record naming the entry id, category
//! and decision number; NXDOMAIN when it is not listed. Only a listing ever produces an address:
//! every other outcome is a response code, so an error can never look like a listing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::DomainName;
use crate::index::{Hit, Index};
use crate::store::Store;

/// The address that says "listed".
pub const LISTED: [u8; 4] = [127, 0, 0, 2];

/// How long a TXT answer waits for the store to give the decision number; past that it is
/// answered without it, so a slow store never holds the listener.
const DECISION_TIMEOUT: Duration = Duration::from_millis(250);
/// Decision numbers kept in memory; an entry's decision never changes, so entries are kept
/// until the cache is full and then all dropped at once (cheap, and rare).
const DECISION_CACHE_MAX: usize = 100_000;

/// The listed entry matching `name` (lower case, relative to the DNSBL zone), if any.
pub fn lookup(index: &Index, name: &str) -> Option<Hit> {
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    index.lookup(name).hit
}

/// The TXT strings of a listing. The decision number is UTF-8, as stored.
pub fn txt_strings(hit: &Hit, decision: Option<&str>) -> Vec<Vec<u8>> {
    let mut strings = vec![
        format!("entry_id={}", hit.entry_id()).into_bytes(),
        format!("category={}", hit.category().as_str()).into_bytes(),
    ];
    if let Some(number) = decision {
        strings.push(format!("decision={number}").into_bytes());
    }
    strings
}

/// Decision numbers by entry id, fetched from the store on the first TXT query for an entry.
#[derive(Default)]
pub struct Decisions {
    cache: Mutex<HashMap<Uuid, String>>,
}

impl Decisions {
    /// The decision number of the entry `hit` found for `domain` (the matched name).
    pub async fn number(&self, store: &dyn Store, domain: &str, hit: &Hit) -> Option<String> {
        let id = hit.entry_id();
        if let Some(number) = self.lock().get(&id) {
            return Some(number.clone());
        }
        let name = DomainName::parse(domain).ok()?;
        let history = match tokio::time::timeout(DECISION_TIMEOUT, store.history(&name)).await {
            Ok(Ok(history)) => history,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "DNSBL TXT answered without the decision number");
                return None;
            }
            Err(_) => {
                tracing::warn!("DNSBL TXT answered without the decision number: the store is slow");
                return None;
            }
        };
        let number = history.into_iter().find(|e| e.id == id)?.decision.number;
        let mut cache = self.lock();
        if cache.len() >= DECISION_CACHE_MAX {
            cache.clear();
        }
        cache.insert(id, number.clone());
        Some(number)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, String>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Scope};
    use crate::model::ActiveRecord;

    #[test]
    fn listings_match_like_checks_and_txt_names_the_entry() {
        let index = Index::new(16);
        let id = Uuid::from_u128(42);
        index.load(
            3,
            &[
                ActiveRecord {
                    domain: DomainName::parse("shop.example.cn").unwrap(),
                    entry_id: id,
                    scope: Scope::Subtree,
                    category: Category::CounterfeitGoods,
                    suspended: false,
                },
                ActiveRecord {
                    domain: DomainName::parse("one.example.net").unwrap(),
                    entry_id: Uuid::from_u128(7),
                    scope: Scope::Exact,
                    category: Category::Fraud,
                    suspended: false,
                },
            ],
        );
        let hit = lookup(&index, "www.shop.example.cn").unwrap();
        assert_eq!(hit.start, 4);
        assert!(lookup(&index, "shop.example.cn").is_some());
        assert!(lookup(&index, "notshop.example.cn").is_none());
        assert!(lookup(&index, "one.example.net").is_some());
        assert!(lookup(&index, "www.one.example.net").is_none());
        assert!(lookup(&index, "").is_none());
        assert!(lookup(&index, &"a.".repeat(127)).is_none());
        let strings = txt_strings(&hit, Some("京市监处罚〔2024〕123号"));
        assert_eq!(
            strings,
            [
                format!("entry_id={id}").into_bytes(),
                b"category=counterfeit_goods".to_vec(),
                "decision=京市监处罚〔2024〕123号".as_bytes().to_vec(),
            ]
        );
        assert_eq!(txt_strings(&hit, None).len(), 2);
    }
}
