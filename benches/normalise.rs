//! Name normalisation: `DomainName::parse` (validation plus UTS #46) beside the bare `idna`
//! conversion it builds on, for plain ASCII, mixed-case and Unicode input.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use siteban::domain::DomainName;

fn normalise(c: &mut Criterion) {
    let inputs: [(&str, &str); 3] = [
        ("ascii", "www.shop-123.example.com.cn"),
        ("mixed_case_trailing_dot", "WWW.Shop-123.Example.COM.cn."),
        ("unicode", "购物.例子.中国"),
    ];
    let mut group = c.benchmark_group("normalise");
    group.throughput(Throughput::Elements(1));
    for (label, input) in inputs {
        group.bench_function(format!("domain_name_parse/{label}"), |b| {
            b.iter(|| DomainName::parse(std::hint::black_box(input)).is_ok())
        });
        group.bench_function(format!("idna_domain_to_ascii/{label}"), |b| {
            b.iter(|| idna::domain_to_ascii(std::hint::black_box(input)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, normalise);
criterion_main!(benches);
