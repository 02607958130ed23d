//! Synthetic registry data shared by the benchmarks and examples: realistic name shapes
//! (registrable names under common and Chinese suffixes, some subdomains, some IDNs) and check
//! queries that hit and miss. Deterministic for a given seed, so runs compare.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SUFFIXES: [&str; 10] = [
    "cn", "com", "com.cn", "net", "top", "xyz", "shop", "net.cn", "cc", "中国",
];
const WORDS: [&str; 12] = [
    "shop", "mall", "buy", "outlet", "store", "deal", "brand", "luxury", "cheap", "official",
    "goods", "market",
];
const IDN_WORDS: [&str; 4] = ["购物", "例子", "商城", "名牌"];

/// The `i`-th listed name, as an agency would submit it (IDNs in Unicode), and whether it is a
/// subtree entry.
pub fn entry_name(rng: &mut StdRng, i: usize) -> (String, bool) {
    let word = WORDS[rng.random_range(0..WORDS.len())];
    let suffix = SUFFIXES[rng.random_range(0..SUFFIXES.len())];
    let base = if rng.random_bool(0.05) {
        format!(
            "{}{i}.{suffix}",
            IDN_WORDS[rng.random_range(0..IDN_WORDS.len())]
        )
    } else {
        format!("{word}-{i}.{suffix}")
    };
    let name = if rng.random_bool(0.15) {
        format!("www.{base}")
    } else {
        base
    };
    (name, rng.random_bool(0.8))
}

pub fn entries(n: usize, seed: u64) -> Vec<(String, bool)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|i| entry_name(&mut rng, i)).collect()
}

/// Check queries against `entries`: half are names below or at a listed name, half miss.
pub fn queries(entries: &[(String, bool)], n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    (0..n)
        .map(|_| {
            if rng.random_bool(0.5) {
                let (name, _) = &entries[rng.random_range(0..entries.len())];
                match rng.random_range(0..3) {
                    0 => name.clone(),
                    1 => format!("www.{name}"),
                    _ => format!("img.cdn.{name}"),
                }
            } else {
                let word = WORDS[rng.random_range(0..WORDS.len())];
                let suffix = SUFFIXES[rng.random_range(0..SUFFIXES.len())];
                format!(
                    "www.{word}-clean{}.{suffix}",
                    rng.random_range(0..10_000_000u32)
                )
            }
        })
        .collect()
}
