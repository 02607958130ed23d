//! Records of providers and notices, shared by the store, the delivery worker and the API.
//! State changes of a notice are pure methods here, so that both stores apply exactly the same
//! rules inside their own atomic updates; the indexes a store keeps are derived from the record
//! (`outbox_due_ms`, `deadline_due_ms`), never stored beside it by hand.

use std::net::IpAddr;
use std::time::Duration;

use crate::model::{Secret, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Category, Cidr, Decision, DomainName, Province, Scope};
pub use crate::model::{LocatedProvider, Location, ProviderKind};

impl ProviderKind {
    /// The notice a listing sends to a provider of this kind.
    pub fn stop_action(self) -> NoticeAction {
        match self {
            ProviderKind::Access => NoticeAction::StopAccess,
            ProviderKind::Dns => NoticeAction::StopResolution,
        }
    }
}

/// An access or DNS provider as stored. The webhook secret is kept because every delivery is
/// signed with it (HMAC needs the key itself, a hash of it would not do); it is shown once, at
/// creation or rotation, and never logged (`Debug` redacts it).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub province: Option<Province>,
    /// Address ranges an access provider hosts.
    #[serde(default)]
    pub ranges: Vec<Cidr>,
    /// Name-server host suffixes a DNS provider operates (`dnsco.cn` covers `ns1.dnsco.cn`).
    #[serde(default)]
    pub nameservers: Vec<DomainName>,
    pub webhook_url: Option<String>,
    /// The raw HMAC key (base64); the provider sees it as `whsec_<base64>`.
    pub webhook_secret: Secret,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Provider {
    /// Why this provider serves a site, if it does: an address in one of its ranges (access
    /// providers) or a name server under one of its suffixes (DNS providers).
    pub fn serves(&self, addresses: &[IpAddr], nameservers: &[DomainName]) -> Option<String> {
        match self.kind {
            ProviderKind::Access => addresses.iter().find_map(|address| {
                self.ranges
                    .iter()
                    .find(|range| range.contains(*address))
                    .map(|range| format!("address {address} in {range}"))
            }),
            ProviderKind::Dns => nameservers.iter().find_map(|host| {
                self.nameservers
                    .iter()
                    .find(|suffix| host.is_within(suffix))
                    .map(|suffix| format!("name server {host} under {suffix}"))
            }),
        }
    }
}

pub fn new_provider_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("p_{}", hex::encode(bytes))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeAction {
    StopAccess,
    StopResolution,
    Restore,
}

impl NoticeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeAction::StopAccess => "stop_access",
            NoticeAction::StopResolution => "stop_resolution",
            NoticeAction::Restore => "restore",
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Written, not yet delivered by webhook nor acknowledged.
    Pending,
    /// The provider's webhook answered 2xx.
    Delivered,
    /// The provider confirmed it carried the notice out.
    Acknowledged,
    /// The deadline passed without an acknowledgement.
    Overdue,
}

impl NoticeStatus {
    pub const ALL: [NoticeStatus; 4] = [
        NoticeStatus::Pending,
        NoticeStatus::Delivered,
        NoticeStatus::Acknowledged,
        NoticeStatus::Overdue,
    ];

    pub fn parse(text: &str) -> Option<NoticeStatus> {
        NoticeStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Pending => "pending",
            NoticeStatus::Delivered => "delivered",
            NoticeStatus::Acknowledged => "acknowledged",
            NoticeStatus::Overdue => "overdue",
        }
    }
}

/// One change in a notice's life, kept in order on the notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub status: NoticeStatus,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where push delivery stands. Internal: the lease fields say which node holds the current
/// attempt and until when; another node may take the notice over only after `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// When the next webhook attempt is due; `None` when no more pushes will be made.
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub lease_until: Option<Timestamp>,
    #[serde(default)]
    pub claimed_by: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// No attempt is started after this time (the retry horizon).
    pub give_up_at: Timestamp,
}

/// Why a provider must act, as a stop or restore order states its legal basis: the decision
/// the entry rests on (for a `restore`, the document that lifted it), the entry's category and
/// the reason given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoticeBasis {
    #[schema(value_type = Object)]
    pub decision: Decision,
    #[schema(value_type = String, example = "counterfeit_goods")]
    pub category: Category,
    pub reason: String,
}

impl NoticeBasis {
    /// The basis of the notices about `entry`: its lift's document and reason once lifted,
    /// else its own decision and reason.
    pub fn of(entry: &crate::model::Entry) -> NoticeBasis {
        let (decision, reason) = match &entry.lift {
            Some(lift) => (&lift.document, &lift.reason),
            None => (&entry.decision, &entry.reason),
        };
        NoticeBasis {
            decision: decision.clone(),
            category: entry.category,
            reason: reason.clone(),
        }
    }
}

/// An order to one provider about one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: Uuid,
    pub entry_id: Uuid,
    /// Absent on notices written before notices carried it.
    #[serde(default)]
    pub basis: Option<NoticeBasis>,
    pub provider_id: String,
    pub provider_name: String,
    pub action: NoticeAction,
    pub domain: DomainName,
    pub scope: Scope,
    pub status: NoticeStatus,
    pub created_at: Timestamp,
    pub deadline: Timestamp,
    /// Webhook attempts started so far.
    pub attempts: u32,
    #[serde(default)]
    pub delivered_at: Option<Timestamp>,
    #[serde(default)]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(default)]
    pub overdue_at: Option<Timestamp>,
    pub history: Vec<StatusChange>,
    pub delivery: DeliveryState,
}

/// How notices are timed: deadlines per action and the retry horizon, from settings.
#[derive(Debug, Clone, Copy)]
pub struct NoticePlan {
    pub stop_access: Duration,
    pub stop_resolution: Duration,
    pub restore: Duration,
    pub retry_horizon: Duration,
}

impl NoticePlan {
    pub fn deadline(&self, action: NoticeAction) -> Duration {
        match action {
            NoticeAction::StopAccess => self.stop_access,
            NoticeAction::StopResolution => self.stop_resolution,
            NoticeAction::Restore => self.restore,
        }
    }

    /// A new pending notice. Push delivery is scheduled at once when the provider has a
    /// webhook; otherwise the notice waits to be pulled.
    pub fn notice(
        &self,
        entry: (&Uuid, &DomainName, Scope, &NoticeBasis),
        provider: &Provider,
        action: NoticeAction,
        now: Timestamp,
    ) -> Notice {
        Notice {
            id: Uuid::now_v7(),
            entry_id: *entry.0,
            basis: Some(entry.3.clone()),
            provider_id: provider.id.clone(),
            provider_name: provider.name.clone(),
            action,
            domain: entry.1.clone(),
            scope: entry.2,
            status: NoticeStatus::Pending,
            created_at: now,
            deadline: now + self.deadline(action),
            attempts: 0,
            delivered_at: None,
            acknowledged_at: None,
            overdue_at: None,
            history: vec![StatusChange {
                status: NoticeStatus::Pending,
                at: now,
                note: None,
            }],
            delivery: DeliveryState {
                next_attempt_at: provider.webhook_url.as_ref().map(|_| now),
                lease_until: None,
                claimed_by: None,
                last_error: None,
                give_up_at: now + self.retry_horizon,
            },
        }
    }
}

/// What a lift needs to write its `restore` notices in the same atomic write: the plan of new
/// notices, and every provider (those of the entry that still exist are told).
pub struct Restores {
    pub plan: NoticePlan,
    pub providers: Vec<Provider>,
}

impl Restores {
    /// The `restore` notices of `entry`, lifted at `now`: one to each provider it had ordered
    /// to stop that still exists.
    pub fn notices(&self, entry: &crate::model::Entry, now: Timestamp) -> Vec<Notice> {
        let basis = NoticeBasis::of(entry);
        entry
            .providers
            .iter()
            .filter_map(|id| self.providers.iter().find(|p| &p.id == id))
            .map(|provider| {
                self.plan.notice(
                    (&entry.id, &entry.domain, entry.scope, &basis),
                    provider,
                    NoticeAction::Restore,
                    now,
                )
            })
            .collect()
    }
}

/// Milliseconds since the Unix epoch, the score of the stores' time indexes.
pub use crate::model::epoch_ms;

impl Notice {
    fn set_status(&mut self, status: NoticeStatus, at: Timestamp, note: Option<String>) {
        self.status = status;
        self.history.push(StatusChange { status, at, note });
    }

    /// When the outbox should next look at this notice: the next attempt, or the end of the
    /// current lease, whichever is later. `None` once pushing is over.
    pub fn outbox_due_ms(&self) -> Option<u64> {
        if self.status == NoticeStatus::Acknowledged {
            return None;
        }
        let next = self.delivery.next_attempt_at?;
        let due = match self.delivery.lease_until {
            Some(lease) if lease > next => lease,
            _ => next,
        };
        Some(epoch_ms(due))
    }

    /// When this notice becomes overdue, while it still can.
    pub fn deadline_due_ms(&self) -> Option<u64> {
        matches!(self.status, NoticeStatus::Pending | NoticeStatus::Delivered)
            .then(|| epoch_ms(self.deadline))
    }

    /// Takes the next webhook attempt for `node` when it is due. Only one claimant can win a
    /// given version of the record: the stores apply this inside one atomic update.
    pub fn claim(&mut self, node: &str, now: Timestamp, lease: Duration) -> bool {
        match self.outbox_due_ms() {
            Some(due) if due <= epoch_ms(now) => {}
            _ => return false,
        }
        self.attempts += 1;
        self.delivery.claimed_by = Some(node.to_string());
        self.delivery.lease_until = Some(now + lease);
        true
    }

    /// Whether `node` still holds attempt `attempt` (no other node took it over meanwhile).
    pub fn held_by(&self, node: &str, attempt: u32) -> bool {
        self.attempts == attempt && self.delivery.claimed_by.as_deref() == Some(node)
    }

    /// Records a webhook that answered 2xx.
    pub fn delivered(&mut self, now: Timestamp) -> bool {
        self.delivery.next_attempt_at = None;
        self.delivery.lease_until = None;
        self.delivery.claimed_by = None;
        self.delivery.last_error = None;
        if self.delivered_at.is_none() {
            self.delivered_at = Some(now);
        }
        if self.status == NoticeStatus::Pending {
            self.set_status(NoticeStatus::Delivered, now, None);
        }
        true
    }

    /// Records a failed attempt and schedules the next one after `retry_in`, unless that is
    /// past the retry horizon: then pushing stops and the notice waits to be pulled.
    pub fn failed(&mut self, now: Timestamp, error: String, retry_in: Duration) -> bool {
        self.delivery.lease_until = None;
        self.delivery.claimed_by = None;
        let next = now + retry_in;
        if next > self.delivery.give_up_at {
            self.delivery.next_attempt_at = None;
            self.delivery.last_error = Some(format!(
                "{error}; gave up pushing after {} attempts, the notice waits to be pulled",
                self.attempts
            ));
        } else {
            self.delivery.next_attempt_at = Some(next);
            self.delivery.last_error = Some(error);
        }
        true
    }

    /// Records the provider's acknowledgement; false when it was already recorded.
    pub fn acknowledge(&mut self, now: Timestamp, note: Option<String>) -> bool {
        if self.status == NoticeStatus::Acknowledged {
            return false;
        }
        self.acknowledged_at = Some(now);
        self.delivery.next_attempt_at = None;
        self.delivery.lease_until = None;
        self.delivery.claimed_by = None;
        self.set_status(NoticeStatus::Acknowledged, now, note);
        true
    }

    /// Marks the notice overdue once its deadline has passed unacknowledged.
    pub fn mark_overdue(&mut self, now: Timestamp) -> bool {
        match self.deadline_due_ms() {
            Some(due) if due <= epoch_ms(now) => {
                self.overdue_at = Some(now);
                self.set_status(
                    NoticeStatus::Overdue,
                    now,
                    Some("the deadline passed without an acknowledgement".into()),
                );
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(webhook: bool) -> Provider {
        Provider {
            id: "p_1".into(),
            name: "Example Hosting".into(),
            kind: ProviderKind::Access,
            province: None,
            ranges: vec![Cidr::parse("203.0.113.0/24").unwrap()],
            nameservers: vec![],
            webhook_url: webhook.then(|| "http://127.0.0.1:1/hook".into()),
            webhook_secret: Secret::new("c2VjcmV0"),
            created_at: crate::model::now(),
            updated_at: crate::model::now(),
        }
    }

    fn plan() -> NoticePlan {
        NoticePlan {
            stop_access: Duration::from_secs(1800),
            stop_resolution: Duration::from_secs(1800),
            restore: Duration::from_secs(1800),
            retry_horizon: Duration::from_secs(60),
        }
    }

    fn notice(webhook: bool, now: Timestamp) -> Notice {
        let domain = DomainName::parse("shop.example.cn").unwrap();
        let basis = NoticeBasis {
            decision: Decision::parse(
                crate::domain::DecisionInput {
                    number: Some("京市监处罚〔2026〕1号".into()),
                    authority: Some("北京市市场监督管理局".into()),
                    date: Some("2026-01-05".into()),
                    document_sha256: None,
                },
                crate::domain::DateWindow::until_today(time::macros::date!(2000 - 01 - 01)),
            )
            .unwrap(),
            category: Category::CounterfeitGoods,
            reason: "sells counterfeit goods".into(),
        };
        plan().notice(
            (&Uuid::now_v7(), &domain, Scope::Subtree, &basis),
            &provider(webhook),
            NoticeAction::StopAccess,
            now,
        )
    }

    #[test]
    fn only_one_claimant_wins_an_attempt_until_the_lease_ends() {
        let now = crate::model::now();
        let lease = Duration::from_secs(30);
        let mut n = notice(true, now);
        assert!(n.claim("a", now, lease));
        assert!(!n.claim("b", now, lease), "the lease holds");
        assert!(n.held_by("a", 1));
        // A node that died leaves its lease; after it ends another node takes attempt 2.
        assert!(n.claim("b", now + lease, lease));
        assert!(!n.held_by("a", 1));
        assert!(n.held_by("b", 2));
    }

    #[test]
    fn pull_only_notices_never_enter_the_outbox() {
        let now = crate::model::now();
        let mut n = notice(false, now);
        assert_eq!(n.outbox_due_ms(), None);
        assert!(!n.claim("a", now, Duration::from_secs(1)));
    }

    #[test]
    fn failures_back_off_until_the_horizon() {
        let now = crate::model::now();
        let mut n = notice(true, now);
        assert!(n.claim("a", now, Duration::from_secs(5)));
        n.failed(now, "503".into(), Duration::from_secs(10));
        assert_eq!(
            n.outbox_due_ms(),
            Some(epoch_ms(now + Duration::from_secs(10)))
        );
        assert_eq!(n.status, NoticeStatus::Pending);
        n.failed(now, "503".into(), Duration::from_secs(120));
        assert_eq!(n.outbox_due_ms(), None, "past the 60 s horizon");
        assert!(
            n.delivery
                .last_error
                .as_deref()
                .unwrap()
                .contains("gave up")
        );
    }

    #[test]
    fn deadlines_make_notices_overdue_and_acknowledgement_ends_everything() {
        let now = crate::model::now();
        let mut n = notice(true, now);
        assert!(!n.mark_overdue(now));
        n.delivered(now);
        assert_eq!(n.status, NoticeStatus::Delivered);
        let late = now + Duration::from_secs(1801);
        assert!(n.mark_overdue(late));
        assert_eq!(n.status, NoticeStatus::Overdue);
        assert_eq!(n.deadline_due_ms(), None);
        assert!(n.acknowledge(late, None));
        assert!(
            !n.acknowledge(late, None),
            "acknowledging twice changes nothing"
        );
        let statuses: Vec<_> = n.history.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [
                NoticeStatus::Pending,
                NoticeStatus::Delivered,
                NoticeStatus::Overdue,
                NoticeStatus::Acknowledged
            ]
        );
        assert_eq!(n.outbox_due_ms(), None);
    }

    #[test]
    fn providers_match_by_range_or_name_server_suffix() {
        let access = provider(false);
        let address: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(access.serves(&[address], &[]).is_some());
        assert!(
            access
                .serves(&["198.51.100.1".parse().unwrap()], &[])
                .is_none()
        );
        let dns = Provider {
            kind: ProviderKind::Dns,
            ranges: vec![],
            nameservers: vec![DomainName::parse("dnsco.cn").unwrap()],
            ..provider(false)
        };
        let ns = |n: &str| DomainName::parse(n).unwrap();
        assert!(dns.serves(&[address], &[ns("ns1.dnsco.cn")]).is_some());
        assert!(dns.serves(&[], &[ns("ns1.notdnsco.cn")]).is_none());
        assert!(!format!("{dns:?}").contains("c2VjcmV0"));
    }
}
