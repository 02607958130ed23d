//! Limits against abuse and exhaustion: per-token rate limits by role and per-address limits
//! for requests without a valid token (both with `governor`), and the cap on concurrent
//! long-polls. Body sizes and timeouts are enforced where bodies are read (`api::read_json`)
//! and by the HTTP server (`startup`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Principal;
use crate::domain::Role;
use crate::settings::LimitSettings;

/// A request over a limit: what to tell the client, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RateLimited {
    pub message: String,
    /// Whole seconds to wait, at least 1 (`Retry-After`).
    pub retry_after: u64,
}

pub struct Limits {
    per_role: Vec<(Role, DefaultKeyedRateLimiter<String>)>,
    anonymous: Option<DefaultKeyedRateLimiter<IpAddr>>,
    long_polls: Arc<tokio::sync::Semaphore>,
    max_long_polls: usize,
    clock: DefaultClock,
    pub rejected: prometheus::IntCounterVec,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_second: u32,
    burst_seconds: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(burst_seconds.max(1))).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl Limits {
    pub fn new(settings: &LimitSettings, rejected: prometheus::IntCounterVec) -> Limits {
        let rate = &settings.rate;
        let per_role = [
            (Role::Admin, rate.admin),
            (Role::Agency, rate.agency),
            (Role::Telecom, rate.telecom),
            (Role::AccessProvider, rate.access_provider),
            (Role::DnsProvider, rate.dns_provider),
            (Role::Auditor, rate.auditor),
        ]
        .into_iter()
        .filter_map(|(role, per_second)| Some((role, limiter(per_second, rate.burst_seconds)?)))
        .collect();
        Limits {
            per_role,
            anonymous: limiter(rate.anonymous, rate.burst_seconds),
            long_polls: Arc::new(tokio::sync::Semaphore::new(settings.max_long_polls)),
            max_long_polls: settings.max_long_polls,
            clock: DefaultClock::default(),
            rejected,
        }
    }

    fn refuse(
        &self,
        kind: &str,
        earliest: governor::NotUntil<governor::clock::QuantaInstant>,
    ) -> RateLimited {
        self.rejected.with_label_values(&[kind]).inc();
        let wait = earliest.wait_time_from(self.clock.now());
        RateLimited {
            message: format!(
                "rate limit exceeded; retry in {} ms",
                wait.as_millis().max(1)
            ),
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// Spends `cost` units of the caller's quota (one per request, one per name in a batch).
    pub fn check(&self, principal: &Principal, cost: u32) -> Result<(), RateLimited> {
        let Some((_, limiter)) = self
            .per_role
            .iter()
            .find(|(role, _)| *role == principal.role)
        else {
            return Ok(());
        };
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        match limiter.check_key_n(&principal.key_id, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(earliest)) => Err(self.refuse("token", earliest)),
            Err(_) => {
                self.rejected.with_label_values(&["token"]).inc();
                Err(RateLimited {
                    message: format!(
                        "a request of {cost} names is more than this key's rate allows at once"
                    ),
                    retry_after: 1,
                })
            }
        }
    }

    /// Spends one unit of the quota of a client address without a valid token.
    pub fn check_anonymous(&self, address: Option<IpAddr>) -> Result<(), RateLimited> {
        let (Some(limiter), Some(address)) = (&self.anonymous, address) else {
            return Ok(());
        };
        limiter
            .check_key(&address)
            .map_err(|earliest| self.refuse("address", earliest))
    }

    /// A slot for one long-poll, held until the permit is dropped.
    pub fn long_poll(&self) -> Result<tokio::sync::OwnedSemaphorePermit, RateLimited> {
        Arc::clone(&self.long_polls)
            .try_acquire_owned()
            .map_err(|_| {
                self.rejected.with_label_values(&["long_poll"]).inc();
                RateLimited {
                    message: "too many long-polls are waiting on this node; poll again shortly"
                        .into(),
                    retry_after: 1,
                }
            })
    }

    /// Long-polls waiting now.
    pub fn long_polls_waiting(&self) -> usize {
        self.max_long_polls - self.long_polls.available_permits()
    }

    /// Forgets idle keys so the limiters' memory stays bounded; called periodically.
    pub fn housekeeping(&self) {
        for (_, limiter) in &self.per_role {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.anonymous {
            limiter.retain_recent();
        }
    }
}
