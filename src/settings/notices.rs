//! The `[locate]` and `[notices]` sections: the resolvers asked when a site is located, and
//! the deadlines, retries, leases and workers of notices to providers. Locating and delivering
//! are left to `notices`.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{SettingsError, invalid, positive};

/// Locating sites (`notices::locate`): which resolvers to ask and how long to wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocateSettings {
    /// Upstream name servers as `address:port`; empty means the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    /// Timeout of one DNS query.
    pub timeout_ms: u64,
    /// Tries per query and name server.
    pub attempts: usize,
    /// Whether listing an entry (and importing one) queues it to be located in the background.
    pub on_listing: bool,
    /// The most one attempt at locating a site spends, all lookups together (the name dates
    /// from when the listing itself waited for it).
    pub listing_budget_ms: u64,
    /// Lookups (sites located, several DNS queries each) per second at most, on this node.
    pub max_queries_per_second: u32,
    /// Sites this node locates at once, at most.
    pub concurrency: usize,
    /// How often every active entry is located again, in hours.
    pub refresh_hours: u64,
    /// How long a node holds a locate attempt before another node may take it over.
    pub lease_ms: u64,
    /// First retry delay of a failed attempt; each further one doubles it, up to
    /// `backoff_max_ms`, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// How often the locate worker looks for due jobs when nothing wakes it.
    pub poll_interval_ms: u64,
}

impl Default for LocateSettings {
    fn default() -> Self {
        LocateSettings {
            nameservers: Vec::new(),
            timeout_ms: 2000,
            attempts: 2,
            on_listing: true,
            listing_budget_ms: 3000,
            max_queries_per_second: 50,
            concurrency: 8,
            refresh_hours: 24,
            lease_ms: 30_000,
            backoff_base_ms: 5000,
            backoff_max_ms: 3_600_000,
            poll_interval_ms: 500,
        }
    }
}

impl LocateSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for server in &self.nameservers {
            if server.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "locate.nameservers",
                    format!("{server:?} is not an address and port such as 127.0.0.1:53"),
                ));
            }
        }
        positive([
            ("locate.timeout_ms", self.timeout_ms),
            ("locate.attempts", self.attempts as u64),
            ("locate.listing_budget_ms", self.listing_budget_ms),
            (
                "locate.max_queries_per_second",
                u64::from(self.max_queries_per_second),
            ),
            ("locate.concurrency", self.concurrency as u64),
            ("locate.refresh_hours", self.refresh_hours),
            ("locate.backoff_base_ms", self.backoff_base_ms),
            ("locate.poll_interval_ms", self.poll_interval_ms),
        ])?;
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(invalid(
                "locate.backoff_max_ms",
                "must be at least locate.backoff_base_ms",
            ));
        }
        // A lease that could end while the attempt still runs would let another node locate
        // the same site at once, and both would ask the upstream.
        if self.lease_ms <= self.listing_budget_ms {
            return Err(invalid(
                "locate.lease_ms",
                "must be longer than locate.listing_budget_ms",
            ));
        }
        if self.refresh_hours > 24 * 366 {
            return Err(invalid("locate.refresh_hours", "must be at most a year"));
        }
        Ok(())
    }
}

/// Notices to providers and their delivery (`notices`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeSettings {
    /// Time a provider has to acknowledge each kind of notice before it is overdue.
    pub deadline_stop_access_seconds: u64,
    pub deadline_stop_resolution_seconds: u64,
    pub deadline_restore_seconds: u64,
    /// How long after its creation a notice is still pushed by webhook.
    pub retry_horizon_seconds: u64,
    /// First retry delay; each further retry doubles it, up to `backoff_max_ms`, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Timeout of one webhook request.
    pub webhook_timeout_ms: u64,
    /// How long a node holds an attempt before another node may take it over.
    pub lease_ms: u64,
    /// How often the delivery worker looks for due attempts when nothing wakes it.
    pub poll_interval_ms: u64,
    /// Attempts claimed at once, and sent at once.
    pub batch: usize,
    pub concurrency: usize,
    /// How often overdue notices are looked for.
    pub sweep_interval_ms: u64,
    /// Whether this node runs the delivery worker and the overdue sweeper.
    pub deliver: bool,
    /// The nice value (0 to 19) of the thread that delivers notices and locates sites: above
    /// 0, serving requests gets the CPU first when both want it.
    pub background_nice: u8,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        NoticeSettings {
            deadline_stop_access_seconds: 1800,
            deadline_stop_resolution_seconds: 1800,
            deadline_restore_seconds: 1800,
            retry_horizon_seconds: 86_400,
            backoff_base_ms: 1000,
            backoff_max_ms: 600_000,
            webhook_timeout_ms: 5000,
            lease_ms: 30_000,
            poll_interval_ms: 250,
            batch: 64,
            concurrency: 32,
            sweep_interval_ms: 1000,
            deliver: true,
            background_nice: 19,
        }
    }
}

impl NoticeSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([
            (
                "notices.deadline_stop_access_seconds",
                self.deadline_stop_access_seconds,
            ),
            (
                "notices.deadline_stop_resolution_seconds",
                self.deadline_stop_resolution_seconds,
            ),
            (
                "notices.deadline_restore_seconds",
                self.deadline_restore_seconds,
            ),
            ("notices.retry_horizon_seconds", self.retry_horizon_seconds),
            ("notices.backoff_base_ms", self.backoff_base_ms),
            ("notices.webhook_timeout_ms", self.webhook_timeout_ms),
            ("notices.poll_interval_ms", self.poll_interval_ms),
            ("notices.batch", self.batch as u64),
            ("notices.concurrency", self.concurrency as u64),
            ("notices.sweep_interval_ms", self.sweep_interval_ms),
        ])?;
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(invalid(
                "notices.backoff_max_ms",
                "must be at least notices.backoff_base_ms",
            ));
        }
        if self.background_nice > 19 {
            return Err(invalid(
                "notices.background_nice",
                "must be a nice value from 0 to 19",
            ));
        }
        // A lease shorter than a request could end while the request is still running, and
        // another node would then send the same notice again at once.
        if self.lease_ms <= self.webhook_timeout_ms {
            return Err(invalid(
                "notices.lease_ms",
                "must be longer than notices.webhook_timeout_ms",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn notice_settings_are_checked_by_name() {
        let mut settings = Settings::default();
        settings.locate.nameservers = vec!["ns1.example.cn".into()];
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("locate.nameservers"), "{error}");
        let mut settings = Settings::default();
        settings.notices.lease_ms = settings.notices.webhook_timeout_ms;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("notices.lease_ms"), "{error}");
        for (key, change) in [
            (
                "locate.lease_ms",
                (|s: &mut Settings| s.locate.lease_ms = 100) as fn(&mut Settings),
            ),
            ("locate.max_queries_per_second", |s| {
                s.locate.max_queries_per_second = 0
            }),
            ("locate.concurrency", |s| s.locate.concurrency = 0),
            ("locate.refresh_hours", |s| s.locate.refresh_hours = 0),
            ("locate.backoff_max_ms", |s| s.locate.backoff_max_ms = 1),
            ("notices.background_nice", |s| {
                s.notices.background_nice = 20
            }),
        ] {
            let mut settings = Settings::default();
            change(&mut settings);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
