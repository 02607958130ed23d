//! Limits against abuse and exhaustion: per-token rate limits by role, per-address limits
//! for requests without a valid token and, apart from those, for the operations endpoints
//! (all with `governor`), and the cap on concurrent long-polls. Body sizes and timeouts are enforced where bodies are read (`api::read_json`)
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
    /// Waiting cannot help: the request costs more than the key's whole bucket
    /// (`rate × burst_seconds`; the message says how much that is).
    pub never_fits: bool,
}

pub struct Limits {
    /// Each limited role's limiter, its rate per second and its bucket.
    per_role: Vec<(Role, DefaultKeyedRateLimiter<String>, u32, u32)>,
    anonymous: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Per address, for `/healthz`, `/readyz` and `/metrics` alone: a load balancer's health
    /// checks must not starve because bad requests came from the same address.
    operations: Option<DefaultKeyedRateLimiter<IpAddr>>,
    public: Option<DefaultKeyedRateLimiter<IpAddr>>,
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
        .filter_map(|(role, per_second)| {
            let bucket = per_second.saturating_mul(rate.burst_seconds.max(1));
            Some((
                role,
                limiter(per_second, rate.burst_seconds)?,
                per_second,
                bucket,
            ))
        })
        .collect();
        Limits {
            per_role,
            anonymous: limiter(rate.anonymous, rate.burst_seconds),
            operations: limiter(rate.operations, rate.burst_seconds),
            public: limiter(rate.public, rate.burst_seconds),
            long_polls: Arc::new(tokio::sync::Semaphore::new(settings.max_long_polls)),
            max_long_polls: settings.max_long_polls,
            clock: DefaultClock::default(),
            rejected,
        }
    }

    /// The refusal of a request that can go through after `extra` more of waiting.
    fn refuse(
        &self,
        kind: &str,
        earliest: governor::NotUntil<governor::clock::QuantaInstant>,
        extra: std::time::Duration,
    ) -> RateLimited {
        self.rejected.with_label_values(&[kind]).inc();
        let wait = earliest.wait_time_from(self.clock.now()) + extra;
        RateLimited {
            message: format!(
                "rate limit exceeded; retry in {} ms",
                wait.as_millis().max(1)
            ),
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            never_fits: false,
        }
    }

    /// Spends one unit of the caller's quota for a request.
    pub fn check(&self, principal: &Principal) -> Result<(), RateLimited> {
        self.check_names(principal, 1)
    }

    /// Spends the rest of a batch of `names` names, whose request already spent one unit
    /// (the quota counts names). A batch larger than the key's whole bucket can never pass
    /// and says so, instead of sending the client back for ever.
    pub fn check_batch(&self, principal: &Principal, names: u32) -> Result<(), RateLimited> {
        if let Some((_, _, _, bucket)) = self.limit_of(principal)
            && names > *bucket
        {
            self.rejected.with_label_values(&["batch"]).inc();
            return Err(RateLimited {
                message: format!(
                    "a batch of {names} names is more than this key may check at once; send \
                     at most {bucket} names per request"
                ),
                retry_after: 0,
                never_fits: true,
            });
        }
        self.check_names(principal, names.saturating_sub(1))
    }

    fn limit_of(
        &self,
        principal: &Principal,
    ) -> Option<&(Role, DefaultKeyedRateLimiter<String>, u32, u32)> {
        self.per_role
            .iter()
            .find(|(role, ..)| *role == principal.role)
    }

    fn check_names(&self, principal: &Principal, cost: u32) -> Result<(), RateLimited> {
        let Some((_, limiter, per_second, bucket)) = self.limit_of(principal) else {
            return Ok(());
        };
        let Some(cost) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        match limiter.check_key_n(&principal.key_id, cost) {
            Ok(Ok(())) => Ok(()),
            // The retried request spends one unit before its names: wait for that one too.
            Ok(Err(earliest)) => {
                let one = std::time::Duration::from_secs(1) / (*per_second).max(1);
                Err(self.refuse("token", earliest, one))
            }
            // `check_batch` keeps batches within the bucket; a single request always fits.
            Err(_) => Err(RateLimited {
                message: format!("more than this key's bucket of {bucket} at once"),
                retry_after: 0,
                never_fits: true,
            }),
        }
    }

    /// Spends one unit of the quota of a client address without a valid token.
    pub fn check_anonymous(&self, address: Option<IpAddr>) -> Result<(), RateLimited> {
        self.check_address(&self.anonymous, "address", address)
    }

    /// Spends one unit of a client address's allowance for the operations endpoints.
    pub fn check_operations(&self, address: Option<IpAddr>) -> Result<(), RateLimited> {
        self.check_address(&self.operations, "operations", address)
    }

    /// Spends one unit of a client address's allowance for the public pages.
    pub fn check_public(&self, address: Option<IpAddr>) -> Result<(), RateLimited> {
        self.check_address(&self.public, "public", address)
    }

    fn check_address(
        &self,
        limiter: &Option<DefaultKeyedRateLimiter<IpAddr>>,
        kind: &str,
        address: Option<IpAddr>,
    ) -> Result<(), RateLimited> {
        let (Some(limiter), Some(address)) = (limiter, address) else {
            return Ok(());
        };
        limiter
            .check_key(&address)
            .map_err(|earliest| self.refuse(kind, earliest, Default::default()))
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
                    never_fits: false,
                }
            })
    }

    /// Long-polls waiting now.
    pub fn long_polls_waiting(&self) -> usize {
        self.max_long_polls - self.long_polls.available_permits()
    }

    /// Forgets idle keys so the limiters' memory stays bounded; called periodically.
    pub fn housekeeping(&self) {
        for (_, limiter, ..) in &self.per_role {
            limiter.retain_recent();
        }
        for limiter in [&self.anonymous, &self.operations, &self.public]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
        }
    }
}
