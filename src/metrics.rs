//! Prometheus metrics of one node. Every name starts with `siteban_`; the registry is per
//! application so that tests running several applications in one process stay apart.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub checks: IntCounterVec,
    pub checks_listed: IntCounter,
    pub checks_clear: IntCounter,
    pub checks_invalid: IntCounter,
    pub index_entries: IntGauge,
    pub index_bytes: IntGauge,
    pub applied_seq: IntGauge,
    pub store_head_seq: IntGauge,
    pub follower_lag_events: IntGauge,
    pub follower_stale_seconds: Gauge,
    pub log_size: IntGauge,
    pub log_failures: IntCounter,
    pub witness_failures: IntCounter,
    pub follower_errors: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub audit_failures: IntCounter,
    /// Zone transfers by outcome: `axfr`, `ixfr` (sent), `refused`, `notauth`.
    pub dns_transfers: IntCounterVec,
    /// NOTIFY messages by outcome: `answered`, `unanswered`.
    pub dns_notifies: IntCounterVec,
    /// TCP connections the DNS listener holds open now.
    pub dns_tcp_open: IntGauge,
    /// TCP connections the DNS listener closed itself, by reason: `source_limit` and
    /// `total_limit` (closed as soon as accepted), `idle` (no query in time), `write_timeout`
    /// (the client read nothing of an answer in time).
    pub dns_tcp_closed: IntCounterVec,
    pub inbox_announcements: IntCounterVec,
}

/// Upper bounds of the request latency buckets, in seconds: from 100 µs (a check answered from
/// memory) to 30 s (the longest long-poll of the feed).
const LATENCY_BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Registers a metric as it is built and hands it back, so that none is built and forgotten.
fn registered<M>(registry: &Registry, metric: prometheus::Result<M>) -> M
where
    M: Collector + Clone + 'static,
{
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| registered(&registry, IntCounter::new(name, help));
        let counters = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help));
        let latency = HistogramOpts::new(
            "siteban_http_request_duration_seconds",
            "HTTP request latency by route",
        );
        let checks = counters(
            "siteban_checks_total",
            "Names checked, by result",
            &["result"],
        );
        Metrics {
            requests: counters(
                "siteban_http_requests_total",
                "HTTP requests by route, method and status",
                &["route", "method", "status"],
            ),
            request_seconds: registered(
                &registry,
                HistogramVec::new(latency.buckets(LATENCY_BUCKETS.to_vec()), &["route"]),
            ),
            checks_listed: checks.with_label_values(&["listed"]),
            checks_clear: checks.with_label_values(&["not_listed"]),
            checks_invalid: checks.with_label_values(&["invalid"]),
            checks,
            index_entries: gauge(
                "siteban_index_entries",
                "Active entries in the in-memory index",
            ),
            index_bytes: gauge(
                "siteban_index_heap_bytes",
                "Heap bytes held by the index tables",
            ),
            applied_seq: gauge(
                "siteban_index_applied_seq",
                "Highest feed sequence applied to the index",
            ),
            store_head_seq: gauge(
                "siteban_store_head_seq",
                "Newest feed sequence seen in the store",
            ),
            follower_lag_events: gauge(
                "siteban_follower_lag_events",
                "Feed events in the store not yet applied to the index",
            ),
            follower_stale_seconds: registered(
                &registry,
                Gauge::new(
                    "siteban_follower_stale_seconds",
                    "Seconds since the follower last heard from the store",
                ),
            ),
            log_size: gauge(
                "siteban_log_size",
                "Leaves of the transparency log's tree as this node last wrote or read it",
            ),
            log_failures: counter(
                "siteban_log_failures_total",
                "Times the transparency log could not grow",
            ),
            witness_failures: counter(
                "siteban_log_witness_failures_total",
                "Submissions of a checkpoint that a witness did not cosign",
            ),
            follower_errors: counters(
                "siteban_follower_errors_total",
                "Failed follower reads, by kind",
                &["kind"],
            ),
            rate_limited: counters(
                "siteban_rate_limited_total",
                "Requests refused by a limit, by kind",
                &["kind"],
            ),
            audit_failures: counter(
                "siteban_audit_failures_total",
                "State-changing requests whose audit record could not be written",
            ),
            dns_transfers: counters(
                "siteban_dns_transfers_total",
                "RPZ zone transfers, by outcome",
                &["result"],
            ),
            dns_notifies: counters(
                "siteban_dns_notify_total",
                "NOTIFY messages sent, by outcome",
                &["result"],
            ),
            dns_tcp_open: gauge(
                "siteban_dns_tcp_connections",
                "TCP connections the DNS listener holds open",
            ),
            dns_tcp_closed: counters(
                "siteban_dns_tcp_closed_total",
                "TCP connections the DNS listener closed itself, by reason",
                &["reason"],
            ),
            inbox_announcements: counters(
                "siteban_inbox_announcements_total",
                "Inbox webhook attempts made by this node, by result (delivered, failed)",
                &["result"],
            ),
            registry,
        }
    }

    /// Registers a collector kept by another part of the service (the notices' metrics).
    pub fn register(&self, collector: Box<dyn Collector>) {
        self.registry
            .register(collector)
            .expect("metric names are unique");
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .ok();
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
