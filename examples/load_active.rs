//! Fills a Redis store with N active entries the fast way, for the scale benchmark
//! (`benches/scale.sh`): the names of `benches/data.rs` (registrable names under common and
//! Chinese suffixes, `www.` names, 5 % IDNs, 80 % subtree and 20 % exact), normalised as the
//! service does, written straight into the active-set hash with pipelined `HSET`s, plus the
//! sequence counter and the format key. That is everything a lookup node reads at start
//! (`Store::active_set`) and serves checks, snapshots and the RPZ zone from; the entries'
//! documents, history and feed events are not written, so `/v1/entries` knows nothing of
//! them. The layout is the store format in ARCHITECTURE.md ("Boundaries").
//! Also writes `<out>/queries.txt`: 10,000 check names, URL-safe, half of them at or below a
//! listed name drawn from the whole set, half unlisted.
//!
//! `cargo run --release --example load_active -- redis://127.0.0.1:6379/0 10000000 /tmp/out`

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use siteban::domain::{Category, DomainName, Scope};

#[path = "../benches/data.rs"]
mod data;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: load_active REDIS_URL N OUT_DIR")?;
    let n: usize = args.next().ok_or("N")?.parse()?;
    let out = std::path::PathBuf::from(args.next().ok_or("OUT_DIR")?);
    let mut conn = redis::Client::open(url.as_str())?.get_connection()?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut pick = StdRng::seed_from_u64(7);
    let mut hits = Vec::with_capacity(5000);
    let batch = 10_000;
    let mut pipe = redis::pipe();
    let started = std::time::Instant::now();
    for i in 0..n {
        let (name, subtree) = data::entry_name(&mut rng, i);
        let domain = DomainName::parse(&name)?;
        let scope = if subtree {
            Scope::Subtree
        } else {
            Scope::Exact
        };
        let mut record = [0u8; 18];
        record[..16].copy_from_slice(uuid::Uuid::now_v7().as_bytes());
        record[16] = scope.to_u8();
        record[17] = Category::ALL[i % Category::ALL.len()].to_u8();
        pipe.hset("{siteban}:active", domain.as_str(), &record[..])
            .ignore();
        // Reservoir sampling: 5,000 listed names drawn evenly from the whole set.
        if hits.len() < 5000 {
            hits.push((domain.as_str().to_string(), subtree));
        } else {
            let j = pick.random_range(0..=i);
            if j < 5000 {
                hits[j] = (domain.as_str().to_string(), subtree);
            }
        }
        if (i + 1) % batch == 0 || i + 1 == n {
            pipe.query::<()>(&mut conn)?;
            pipe = redis::pipe();
        }
    }
    redis::pipe()
        .set("{siteban}:seq", n)
        .ignore()
        .set("{siteban}:format", siteban::store::FORMAT_VERSION)
        .ignore()
        .query::<()>(&mut conn)?;
    eprintln!(
        "loaded {n} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut queries = std::io::BufWriter::new(std::fs::File::create(out.join("queries.txt"))?);
    for (i, (name, subtree)) in hits.iter().enumerate() {
        // An exact entry matches its own name only; a subtree entry, names below it too.
        if *subtree {
            writeln!(queries, "www.{name}")?;
        } else {
            writeln!(queries, "{name}")?;
        }
        writeln!(queries, "www.clean-{}.example.com", i * 7919 % 10_000_000)?;
    }
    queries.flush()?;
    Ok(())
}
