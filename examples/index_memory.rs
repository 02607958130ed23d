//! Heap bytes per entry of the index at N entries (default 1,000,000), counted exactly by a
//! counting allocator, beside the naive `HashMap<String, _>` design, and the process RSS:
//! `cargo run --release --example index_memory -- 1000000`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use siteban::domain::{Category, DomainName, Scope};
use siteban::index::Index;
use siteban::model::ActiveRecord;
use uuid::Uuid;

#[path = "../benches/data.rs"]
mod data;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let entries = data::entries(n, 1);
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

    let before = LIVE.load(Ordering::Relaxed);
    let rss_before = rss_kib();
    let index = Index::new(4096);
    index.load(1, &records);
    let index_bytes = LIVE.load(Ordering::Relaxed) - before;
    let index_rss = rss_kib().saturating_sub(rss_before);

    let before = LIVE.load(Ordering::Relaxed);
    let naive: HashMap<String, (Uuid, bool, u8)> = entries
        .iter()
        .enumerate()
        .map(|(i, (name, subtree))| (name.clone(), (Uuid::from_u128(i as u128 + 1), *subtree, 0)))
        .collect();
    let naive_bytes = LIVE.load(Ordering::Relaxed) - before;

    let avg_name = entries.iter().map(|(n, _)| n.len()).sum::<usize>() as f64 / n as f64;
    println!("entries: {n} (average name {avg_name:.1} bytes)");
    println!(
        "index: {} heap bytes, {:.1} bytes/entry (RSS grew {} KiB, {:.1} bytes/entry)",
        index_bytes,
        index_bytes as f64 / n as f64,
        index_rss,
        index_rss as f64 * 1024.0 / n as f64
    );
    println!(
        "naive HashMap<String, _>: {} heap bytes, {:.1} bytes/entry",
        naive_bytes,
        naive_bytes as f64 / n as f64
    );
    println!(
        "ratio naive/index: {:.2}",
        naive_bytes as f64 / index_bytes as f64
    );
    assert_eq!(index.len(), naive.len());
}
