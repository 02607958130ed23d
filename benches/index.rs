//! Index lookup at 1,000,000 entries: the compact lock-free index beside a naive design (a
//! `HashMap<String, _>` probed with a freshly allocated string per suffix), on one thread.

use std::collections::HashMap;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use siteban::domain::{Category, DomainName, Scope};
use siteban::index::Index;
use siteban::model::ActiveRecord;
use uuid::Uuid;

#[path = "data.rs"]
mod data;

const ENTRIES: usize = 1_000_000;
const BATCH: usize = 1000;

/// The naive baseline: owned strings, a new `String` for every suffix tried.
fn naive_lookup(map: &HashMap<String, (Uuid, bool)>, name: &str) -> Option<Uuid> {
    let labels: Vec<&str> = name.split('.').collect();
    for i in 0..labels.len() {
        let suffix = labels[i..].join(".");
        if let Some((id, subtree)) = map.get(&suffix)
            && (i == 0 || *subtree)
        {
            return Some(*id);
        }
    }
    None
}

fn lookup(c: &mut Criterion) {
    let entries = data::entries(ENTRIES, 1);
    // Names reach the index normalised, as the API hands them over.
    let entries: Vec<(String, bool)> = entries
        .into_iter()
        .map(|(name, subtree)| {
            (
                DomainName::parse(&name)
                    .expect("generated names are valid")
                    .to_string(),
                subtree,
            )
        })
        .collect();
    let queries: Vec<String> = data::queries(&entries, BATCH, 2)
        .iter()
        .map(|q| {
            DomainName::parse(q)
                .expect("generated queries are valid")
                .to_string()
        })
        .collect();
    let records: Vec<ActiveRecord> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, subtree))| ActiveRecord {
            domain: DomainName::parse(name).expect("generated names are valid"),
            entry_id: Uuid::from_u128(i as u128 + 1),
            scope: if *subtree {
                Scope::Subtree
            } else {
                Scope::Exact
            },
            category: Category::CounterfeitGoods,
            suspended: false,
        })
        .collect();
    let index = Index::new(4096);
    index.load(1, &records);
    drop(records);
    let naive: HashMap<String, (Uuid, bool)> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, subtree))| (name.clone(), (Uuid::from_u128(i as u128 + 1), *subtree)))
        .collect();
    // Both designs must agree before their speed is worth comparing.
    for q in &queries {
        assert_eq!(
            index.lookup(q).hit.map(|h| h.entry_id()),
            naive_lookup(&naive, q),
            "{q}"
        );
    }

    let mut group = c.benchmark_group("lookup_1m");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("index", |b| {
        b.iter(|| {
            let mut hits = 0;
            for q in &queries {
                hits += index.lookup(std::hint::black_box(q)).hit.is_some() as usize;
            }
            hits
        })
    });
    group.bench_function("naive_hashmap_alloc", |b| {
        b.iter(|| {
            let mut hits = 0;
            for q in &queries {
                hits += naive_lookup(&naive, std::hint::black_box(q)).is_some() as usize;
            }
            hits
        })
    });
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
