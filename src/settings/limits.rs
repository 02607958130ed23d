//! The `[limits]` section: write body size, client timeouts, long-polls and per-role request
//! rates. Enforcing them is left to `limits` and the API middleware.

use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest body of a write (entries, keys, protected names); batch checks use
    /// `server.body_limit_bytes`.
    pub write_body_bytes: usize,
    /// Time a client gets to send a request's head; a slower client is cut off.
    pub header_timeout_ms: u64,
    /// Time a client gets to send a request's body.
    pub body_timeout_ms: u64,
    /// Most long-polls (`/v1/feed?wait=`) held at once on this node.
    pub max_long_polls: usize,
    /// Refusals (4xx answers) of one key for one action and error code are audited once per
    /// this many seconds: the first at once, the rest as one record with their count. 0
    /// audits every refusal on its own.
    pub refusal_audit_seconds: u64,
    pub rate: RateSettings,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            write_body_bytes: 64 * 1024,
            header_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            max_long_polls: 1000,
            refusal_audit_seconds: 60,
            rate: RateSettings::default(),
        }
    }
}

/// Requests per second allowed per token, by role; 0 means no limit. A batch check counts
/// one per name. `anonymous` applies per client address to requests without a valid token,
/// `operations` per client address to `/healthz`, `/readyz` and `/metrics` alone, `public`
/// per client address to the public pages (`/notice`, `/lookup`, `/v1/public/check`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateSettings {
    pub admin: u32,
    pub agency: u32,
    pub telecom: u32,
    pub access_provider: u32,
    pub dns_provider: u32,
    pub auditor: u32,
    pub anonymous: u32,
    pub operations: u32,
    pub public: u32,
    /// Seconds of quota that may be spent at once (the bucket size).
    pub burst_seconds: u32,
}

/// On by default, sized for the documented load with room to spare: an access provider's key
/// may check 200,000 names a second (a node answers about 100,000 single checks or 1.9 M
/// batched names a second on one core; docs/performance.md), a DNS provider polls the feed
/// and pulls the zone, case workers and administrators act at human speed or through
/// scripts of a few hundred requests a second.
impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            admin: 200,
            agency: 200,
            telecom: 200,
            access_provider: 200_000,
            dns_provider: 200,
            auditor: 100,
            anonymous: 20,
            operations: 50,
            public: 5,
            burst_seconds: 2,
        }
    }
}

impl RateSettings {
    /// Every rate off: for measuring or driving a node flat out (benchmarks, tests).
    pub fn unlimited() -> RateSettings {
        RateSettings {
            admin: 0,
            agency: 0,
            telecom: 0,
            access_provider: 0,
            dns_provider: 0,
            auditor: 0,
            anonymous: 0,
            operations: 0,
            public: 0,
            burst_seconds: 1,
        }
    }
}

impl LimitSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.write_body_bytes < 1024 {
            return Err(invalid("limits.write_body_bytes", "must be at least 1024"));
        }
        if self.header_timeout_ms == 0 || self.body_timeout_ms == 0 {
            return Err(invalid(
                "limits.header_timeout_ms",
                "timeouts must be positive",
            ));
        }
        Ok(())
    }
}
