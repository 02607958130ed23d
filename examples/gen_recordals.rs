//! Writes N synthetic website recordals as NDJSON (the `POST /v1/recordals/import` input), each
//! with its own sponsor and two domains, for the import benchmark (`benches/records_import.sh`):
//! `cargo run --release --example gen_recordals -- 100000 [bad lines] > recordals.ndjson`.
//! Bad lines carry an ICP number of seven digits and are spread evenly through the file.

use std::io::{BufWriter, Write};

use serde_json::json;
use siteban::domain::Uscc;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let bad: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let every = n.checked_div(bad).map_or(usize::MAX, |every| every.max(1));
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..n {
        let sponsor = Uscc::with_check_character(&format!("9111010{i:010}"))
            .expect("a valid body")
            .to_string();
        let number = if i % every == every / 2 {
            format!("京ICP备{:07}号", i % 10_000_000)
        } else {
            format!("京ICP备{:08}号", 50_000_000 + i)
        };
        let line = json!({
            "icp_number": number,
            "sponsor_name": format!("北京第{i}号科技有限公司"),
            "sponsor_code": sponsor,
            "domains": [format!("site{i}.example.cn"), format!("www.site{i}.example.cn")],
            "access_provider": "Example Hosting Beijing",
            "access_province": "11"
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
}
