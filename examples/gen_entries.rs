//! Writes N synthetic listing requests as NDJSON (the `siteban import` input), for benchmarks:
//! `cargo run --release --example gen_entries -- 100000 > entries.ndjson`.

use std::io::{BufWriter, Write};

use serde_json::json;

#[path = "../benches/data.rs"]
mod data;

const CATEGORIES: [&str; 5] = [
    "counterfeit_goods",
    "trademark_infringement",
    "forged_identity",
    "fraud",
    "unrecorded_website",
];

fn main() -> std::io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (i, (name, subtree)) in data::entries(n, seed).into_iter().enumerate() {
        let line = json!({
            "domain": name,
            "scope": if subtree { "subtree" } else { "exact" },
            "category": CATEGORIES[i % CATEGORIES.len()],
            "reason": "synthetic entry for measurement",
            "decision": {
                "number": format!("京市监处罚〔2024〕{}号", i + 1),
                "authority": "北京市市场监督管理局",
                "date": "2024-05-01"
            }
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
