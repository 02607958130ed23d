//! Index behaviour: matching rules, ordering of applied events, and merges against a model.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::domain::{Category, DomainName, Scope};
use crate::model::{Event, EventKind};

fn event(seq: u64, kind: EventKind, domain: &str, scope: Scope, id: u128) -> Event {
    Event {
        seq,
        kind,
        domain: DomainName::parse(domain).unwrap(),
        scope,
        entry_id: Uuid::from_u128(id),
        category: Category::CounterfeitGoods,
        at: crate::model::now(),
    }
}

fn listed(seq: u64, domain: &str, scope: Scope, id: u128) -> Event {
    event(seq, EventKind::Listed, domain, scope, id)
}

fn lifted(seq: u64, domain: &str, scope: Scope, id: u128) -> Event {
    event(seq, EventKind::Lifted, domain, scope, id)
}

/// Applies `events`, which the test expects to be accepted.
fn apply(index: &Arc<Index>, events: &[Event]) {
    index.apply(events).unwrap();
}

/// A fresh index with `events` applied.
fn index_with(events: &[Event]) -> Arc<Index> {
    let index = Index::new(16);
    apply(&index, events);
    index
}

/// The part of `name` that matched an entry, if any.
fn matched<'a>(index: &Index, name: &'a str) -> Option<&'a str> {
    index.lookup(name).hit.map(|hit| &name[hit.start..])
}

#[test]
fn subtree_matches_below_on_label_boundaries_only() {
    let index = index_with(&[listed(1, "shop.example.cn", Scope::Subtree, 1)]);
    assert_eq!(matched(&index, "shop.example.cn"), Some("shop.example.cn"));
    assert_eq!(
        matched(&index, "www.shop.example.cn"),
        Some("shop.example.cn")
    );
    assert_eq!(matched(&index, "notshop.example.cn"), None);
    assert_eq!(matched(&index, "example.cn"), None);
    assert_eq!(index.lookup("x").seq, 1);
}

#[test]
fn exact_matches_the_name_alone() {
    let index = index_with(&[listed(1, "a.example.cn", Scope::Exact, 1)]);
    assert_eq!(matched(&index, "a.example.cn"), Some("a.example.cn"));
    assert_eq!(matched(&index, "www.a.example.cn"), None);
}

#[test]
fn the_most_specific_entry_wins() {
    let index = index_with(&[
        listed(1, "example.cn", Scope::Subtree, 1),
        listed(2, "shop.example.cn", Scope::Subtree, 2),
    ]);
    let hit = index.lookup("www.shop.example.cn").hit.unwrap();
    assert_eq!(hit.entry_id(), Uuid::from_u128(2));
    // An exact entry below a subtree entry does not hide the subtree for other names.
    apply(&index, &[listed(3, "x.shop.example.cn", Scope::Exact, 3)]);
    assert_eq!(
        index.lookup("y.x.shop.example.cn").hit.unwrap().entry_id(),
        Uuid::from_u128(2)
    );
}

#[test]
fn a_lift_removes_only_the_entry_it_names() {
    let index = index_with(&[
        listed(1, "a.example.cn", Scope::Subtree, 1),
        lifted(2, "a.example.cn", Scope::Subtree, 9),
    ]);
    assert!(index.lookup("a.example.cn").hit.is_some());
    apply(&index, &[lifted(3, "a.example.cn", Scope::Subtree, 1)]);
    assert!(index.lookup("a.example.cn").hit.is_none());
    assert_eq!(index.len(), 0);
}

#[test]
fn old_events_are_skipped_and_gaps_refused() {
    let index = index_with(&[listed(1, "a.example.cn", Scope::Subtree, 1)]);
    apply(&index, &[listed(1, "b.example.cn", Scope::Subtree, 2)]);
    assert!(index.lookup("b.example.cn").hit.is_none());
    let gap = index.apply(&[listed(3, "c.example.cn", Scope::Subtree, 3)]);
    assert_eq!(
        gap,
        Err(IndexError::Gap {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(index.seq(), 1);
}

#[tokio::test]
async fn wait_for_returns_once_the_sequence_is_applied() {
    let index = Index::new(16);
    let waiter = {
        let index = Arc::clone(&index);
        tokio::spawn(async move { index.wait_for(1, std::time::Duration::from_secs(5)).await })
    };
    apply(&index, &[listed(1, "a.example.cn", Scope::Subtree, 1)]);
    assert!(waiter.await.unwrap());
    assert!(
        !index
            .wait_for(2, std::time::Duration::from_millis(10))
            .await
    );
}

fn wait_for_merges(index: &Index) {
    while index.merging.load(std::sync::atomic::Ordering::Acquire) {
        std::thread::yield_now();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sequence of lists and lifts, with merges folding the overlay at random points,
    /// leaves the index equal to a plain map of the active set.
    #[test]
    fn index_equals_a_model_of_the_active_set(
        ops in proptest::collection::vec((0u8..12, any::<bool>(), any::<bool>()), 1..200),
        overlay_max in 1usize..8,
    ) {
        let index = Index::new(overlay_max);
        let mut model: HashMap<String, (u128, Scope)> = HashMap::new();
        let mut seq = 0;
        for (i, (name, list, exact)) in ops.into_iter().enumerate() {
            let domain = format!("n{name}.example.cn");
            let scope = if exact { Scope::Exact } else { Scope::Subtree };
            let id = i as u128 + 1;
            let kind = match (list, model.get(&domain)) {
                (true, None) => { model.insert(domain.clone(), (id, scope)); EventKind::Listed }
                (_, Some(&(existing, existing_scope))) => {
                    model.remove(&domain);
                    seq += 1;
                    index.apply(&[lifted(seq, &domain, existing_scope, existing)]).unwrap();
                    continue;
                }
                (false, None) => continue,
            };
            seq += 1;
            index.apply(&[event(seq, kind, &domain, scope, id)]).unwrap();
            if i % 7 == 0 { wait_for_merges(&index); }
        }
        wait_for_merges(&index);
        prop_assert_eq!(index.len(), model.len());
        prop_assert_eq!(index.seq(), seq);
        let view = index.view();
        let mut seen: Vec<(String, u128)> = view.iter().map(|(n, r)| (n.to_string(), u128::from_be_bytes(r.entry_id))).collect();
        seen.sort();
        let mut expected: Vec<(String, u128)> = model.iter().map(|(n, (id, _))| (n.clone(), *id)).collect();
        expected.sort();
        prop_assert_eq!(seen, expected);
        for (name, (id, _)) in &model {
            let hit = index.lookup(name).hit.unwrap();
            prop_assert_eq!(hit.entry_id(), Uuid::from_u128(*id));
        }
    }
}
