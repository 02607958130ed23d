//! Prometheus metrics of one node. Every name starts with `siteban_`; the registry is per
//! application so that tests running several applications in one process stay apart.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub checks: IntCounterVec,
    pub checks_listed: prometheus::IntCounter,
    pub checks_clear: prometheus::IntCounter,
    pub checks_invalid: prometheus::IntCounter,
    pub index_entries: IntGauge,
    pub index_bytes: IntGauge,
    pub applied_seq: IntGauge,
    pub store_head_seq: IntGauge,
    pub follower_lag_events: IntGauge,
    pub follower_stale_seconds: Gauge,
    pub follower_errors: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub audit_failures: prometheus::IntCounter,
    /// Zone transfers by outcome: `axfr`, `ixfr` (sent), `refused`, `notauth`.
    pub dns_transfers: IntCounterVec,
    /// NOTIFY messages by outcome: `answered`, `unanswered`.
    pub dns_notifies: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "siteban_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "siteban_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let checks = IntCounterVec::new(
            Opts::new("siteban_checks_total", "Names checked, by result"),
            &["result"],
        )
        .expect("valid metric");
        let index_entries = IntGauge::new(
            "siteban_index_entries",
            "Active entries in the in-memory index",
        )
        .expect("valid metric");
        let index_bytes = IntGauge::new(
            "siteban_index_heap_bytes",
            "Heap bytes held by the index tables",
        )
        .expect("valid metric");
        let applied_seq = IntGauge::new(
            "siteban_index_applied_seq",
            "Highest feed sequence applied to the index",
        )
        .expect("valid metric");
        let store_head_seq = IntGauge::new(
            "siteban_store_head_seq",
            "Newest feed sequence seen in the store",
        )
        .expect("valid metric");
        let follower_lag_events = IntGauge::new(
            "siteban_follower_lag_events",
            "Feed events in the store not yet applied to the index",
        )
        .expect("valid metric");
        let follower_stale_seconds = Gauge::new(
            "siteban_follower_stale_seconds",
            "Seconds since the follower last heard from the store",
        )
        .expect("valid metric");
        let follower_errors = IntCounterVec::new(
            Opts::new(
                "siteban_follower_errors_total",
                "Failed follower reads, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let dns_transfers = IntCounterVec::new(
            Opts::new(
                "siteban_dns_transfers_total",
                "RPZ zone transfers, by outcome",
            ),
            &["result"],
        )
        .expect("valid metric");
        let dns_notifies = IntCounterVec::new(
            Opts::new(
                "siteban_dns_notify_total",
                "NOTIFY messages sent, by outcome",
            ),
            &["result"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "siteban_rate_limited_total",
                "Requests refused by a limit, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let audit_failures = prometheus::IntCounter::new(
            "siteban_audit_failures_total",
            "State-changing requests whose audit record could not be written",
        )
        .expect("valid metric");
        for collector in [
            Box::new(rate_limited.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(audit_failures.clone()),
            Box::new(requests.clone()),
            Box::new(request_seconds.clone()),
            Box::new(checks.clone()),
            Box::new(index_entries.clone()),
            Box::new(index_bytes.clone()),
            Box::new(applied_seq.clone()),
            Box::new(store_head_seq.clone()),
            Box::new(follower_lag_events.clone()),
            Box::new(follower_stale_seconds.clone()),
            Box::new(follower_errors.clone()),
            Box::new(dns_transfers.clone()),
            Box::new(dns_notifies.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            request_seconds,
            checks_listed: checks.with_label_values(&["listed"]),
            checks_clear: checks.with_label_values(&["not_listed"]),
            checks_invalid: checks.with_label_values(&["invalid"]),
            checks,
            index_entries,
            index_bytes,
            applied_seq,
            store_head_seq,
            follower_lag_events,
            follower_stale_seconds,
            follower_errors,
            rate_limited,
            audit_failures,
            dns_transfers,
            dns_notifies,
        }
    }

    /// Registers a collector kept by another part of the service (the notices' metrics).
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
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
