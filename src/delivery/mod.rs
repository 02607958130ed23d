//! The notice service of a node: telling providers to stop serving a listed site. A listing
//! plans one notice per provider named and a locate job (`prepare`); the registry writes them
//! with the entry in one atomic write, and lifting writes `restore` notices the same way. The
//! locate worker (`locating`) looks the site up (`locate`) in the background and writes what it
//! found with the notices to the providers found. The delivery worker (`worker`) pushes notices
//! to providers' webhooks, signed, with retries. Notices as data and their state changes are in
//! `notices`; the store keeps them (`store::notices`); the registry's sweeper marks them
//! overdue.

pub mod locate;
pub mod locating;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};
use tokio::sync::Notify;

use crate::domain::DomainName;
use crate::model::{LocateJob, Location, NewEntry, ProviderKind};
use crate::notices::model::{Notice, NoticeBasis, NoticePlan, Provider};
use crate::settings::{LocateSettings, NoticeSettings};
use crate::store::{Store, StoreResult};
use locate::Locator;

/// Metrics of notices and their delivery, registered with the node's other metrics.
pub struct NoticeMetrics {
    pub created: IntCounterVec,
    pub deliveries: IntCounterVec,
    pub delivery_seconds: Histogram,
    pub overdue_marked: IntCounter,
    pub by_status: IntGaugeVec,
    pub overdue: IntGauge,
    /// Locate attempts made by this node, by result (located, failed, lost).
    pub locate_attempts: IntCounterVec,
    /// Locate jobs due now, and how long the earliest of them has been due.
    pub locate_queue: IntGauge,
    pub locate_oldest_seconds: Gauge,
}

impl NoticeMetrics {
    pub fn new(metrics: &crate::metrics::Metrics) -> NoticeMetrics {
        let created = IntCounterVec::new(
            Opts::new(
                "siteban_notices_created_total",
                "Notices written, by action",
            ),
            &["action"],
        )
        .expect("valid metric");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "siteban_notice_deliveries_total",
                "Webhook attempts made by this node, by result (delivered, failed, gave_up)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let delivery_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "siteban_notice_delivery_seconds",
                "Time from a notice's creation to its webhook answering 2xx",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
            ]),
        )
        .expect("valid metric");
        let overdue_marked = IntCounter::new(
            "siteban_notices_overdue_marked_total",
            "Notices this node marked overdue",
        )
        .expect("valid metric");
        let by_status = IntGaugeVec::new(
            Opts::new("siteban_notices", "Notices in the store, by status"),
            &["status"],
        )
        .expect("valid metric");
        let overdue = IntGauge::new(
            "siteban_notices_overdue",
            "Notices past their deadline without an acknowledgement",
        )
        .expect("valid metric");
        let locate_attempts = IntCounterVec::new(
            Opts::new(
                "siteban_locate_attempts_total",
                "Locate attempts made by this node, by result (located, failed, lost, ended)",
            ),
            &["result"],
        )
        .expect("valid metric");
        let locate_queue = IntGauge::new(
            "siteban_locate_queue",
            "Locate jobs due now (listings not yet located, retries and refreshes)",
        )
        .expect("valid metric");
        let locate_oldest_seconds = Gauge::new(
            "siteban_locate_oldest_due_seconds",
            "How long the earliest due locate job has been due",
        )
        .expect("valid metric");
        metrics.register(Box::new(locate_attempts.clone()));
        metrics.register(Box::new(locate_queue.clone()));
        metrics.register(Box::new(locate_oldest_seconds.clone()));
        metrics.register(Box::new(created.clone()));
        metrics.register(Box::new(deliveries.clone()));
        metrics.register(Box::new(delivery_seconds.clone()));
        metrics.register(Box::new(overdue_marked.clone()));
        metrics.register(Box::new(by_status.clone()));
        metrics.register(Box::new(overdue.clone()));
        NoticeMetrics {
            created,
            deliveries,
            delivery_seconds,
            overdue_marked,
            by_status,
            overdue,
            locate_attempts,
            locate_queue,
            locate_oldest_seconds,
        }
    }
}

/// Writes the body of a notice's webhook.
pub type WebhookBody = fn(&Notice) -> Vec<u8>;

/// The notice service of one node.
pub struct Notices {
    pub store: Arc<dyn Store>,
    pub locator: Locator,
    pub locate: LocateSettings,
    pub settings: NoticeSettings,
    pub metrics: NoticeMetrics,
    /// This node's name in leases, random per process.
    pub node_id: String,
    /// The body of a notice's webhook, in the contract's JSON (the API writes it).
    pub body: WebhookBody,
    /// Wakes the delivery worker when this node writes notices.
    pub(crate) wake: Notify,
    /// Wakes the locate worker when this node writes locate jobs.
    pub(crate) wake_locate: Notify,
    pub(crate) http: reqwest::Client,
}

impl Notices {
    pub fn new(
        store: Arc<dyn Store>,
        settings: &crate::settings::Settings,
        metrics: &crate::metrics::Metrics,
        body: WebhookBody,
    ) -> anyhow::Result<Notices> {
        crate::notices::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.notices.webhook_timeout_ms))
            .connect_timeout(Duration::from_millis(settings.notices.webhook_timeout_ms))
            // A webhook that redirects is misconfigured; following it could leak the notice.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siteban/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Notices {
            store,
            locator: Locator::new(&settings.locate)?,
            locate: settings.locate.clone(),
            settings: settings.notices.clone(),
            metrics: NoticeMetrics::new(metrics),
            body,
            node_id: format!("n_{}", &crate::auth::new_key_id()[2..]),
            wake: Notify::new(),
            wake_locate: Notify::new(),
            http,
        })
    }

    pub fn plan(&self) -> NoticePlan {
        let s = &self.settings;
        NoticePlan {
            stop_access: Duration::from_secs(s.deadline_stop_access_seconds),
            stop_resolution: Duration::from_secs(s.deadline_stop_resolution_seconds),
            restore: Duration::from_secs(s.deadline_restore_seconds),
            retry_horizon: Duration::from_secs(s.retry_horizon_seconds),
        }
    }

    /// Locates `domain` within the budget of one attempt.
    pub async fn locate(&self, domain: &DomainName, providers: &[Provider]) -> Location {
        let budget = Duration::from_millis(self.locate.listing_budget_ms);
        self.locator.locate(domain, providers, budget).await
    }

    /// Plans a stop notice to each provider `named` on `new` (of `kinds`), at once, and, when
    /// listings are located and `locate` asks for it, a locate job due now; records both on
    /// `new`. `providers` holds at least the named ones.
    pub fn prepare(
        &self,
        new: &mut NewEntry,
        providers: &[Provider],
        kinds: &[ProviderKind],
        locate: bool,
    ) -> Vec<Notice> {
        let named = std::mem::take(&mut new.providers);
        if self.locate.on_listing && locate {
            new.location = Some(Location::pending(new.listed_at));
            new.locate = Some(LocateJob::new(
                new.id,
                new.domain.clone(),
                kinds.to_vec(),
                new.listed_at,
            ));
        }
        let mut chosen: Vec<String> = Vec::new();
        for id in named {
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        let now = new.listed_at;
        let plan = self.plan();
        let basis = NoticeBasis {
            decision: new.decision.clone(),
            category: new.category,
            reason: new.reason.clone(),
        };
        let notices: Vec<Notice> = chosen
            .iter()
            .filter_map(|id| providers.iter().find(|p| &p.id == id))
            .filter(|p| kinds.contains(&p.kind))
            .map(|p| {
                plan.notice(
                    (&new.id, &new.domain, new.scope, &basis),
                    p,
                    p.kind.stop_action(),
                    now,
                )
            })
            .collect();
        new.providers = chosen;
        notices
    }

    /// Wakes the locate worker for the locate jobs this node wrote.
    pub fn queued(&self) {
        self.wake_locate.notify_one();
    }

    /// Counts the notices a write made and wakes the delivery worker for them.
    pub fn written(&self, notices: &[Notice]) {
        for notice in notices {
            self.metrics
                .created
                .with_label_values(&[notice.action.as_str()])
                .inc();
        }
        if notices.iter().any(|n| n.delivery.next_attempt_at.is_some()) {
            self.wake.notify_one();
        }
    }

    /// Brings the notice gauges up to date from the store's counts.
    pub async fn refresh_gauges(&self) -> StoreResult<()> {
        let counts = self.store.notice_counts().await?;
        for (status, n) in &counts {
            self.metrics
                .by_status
                .with_label_values(&[status.as_str()])
                .set(*n as i64);
        }
        self.metrics.overdue.set(
            counts
                .get(&crate::notices::model::NoticeStatus::Overdue)
                .copied()
                .unwrap_or(0) as i64,
        );
        let now = crate::model::now();
        let (due, oldest) = self.store.locate_queue(now).await?;
        self.metrics.locate_queue.set(due as i64);
        let age = oldest.map_or(0.0, |ms| {
            (crate::notices::model::epoch_ms(now).saturating_sub(ms)) as f64 / 1000.0
        });
        self.metrics.locate_oldest_seconds.set(age);
        Ok(())
    }
}
