//! Listing a domain, approving or rejecting a listing that waits for a second key, and reading
//! entries; lifting is `lifts.rs`'s. A listing that takes effect is one atomic write of the
//! entry, its event, the notices it orders and its locate job
//! (`NoticeStore::list_with_notices`); the answer waits until this node's index shows it, and
//! never for locating, which the locate worker does (`delivery::locating`). Entries answered carry the `document_uploaded`
//! flags (`documents`).

use uuid::Uuid;

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::domain::{Category, Decision, DomainName, Role, Scope};
use crate::model::{Actor, Entry, EntryStatus, LocateJob, NewEntry, Review as Reviewed, Timestamp};
use crate::notices::model::{Notice, NoticeAction, Provider, ProviderKind};
use crate::store::{EntryQuery, StatusFilter};

/// A listing as submitted, its fields validated; the registry's rules are checked by
/// [`Registry::list`].
#[derive(Debug, Clone)]
pub struct Listing {
    pub domain: DomainName,
    pub scope: Scope,
    pub category: Category,
    pub decision: Decision,
    pub reason: String,
    /// Ids of providers to notify besides those found by locating the site.
    pub providers: Vec<String>,
    /// Whether the site is located (when the node locates listings at all).
    pub locate: bool,
    /// The justification given for listing a protected name deliberately (`Some("")` when
    /// an override was asked for without one).
    pub override_protection: Option<String>,
}

impl Listing {
    /// The entry this listing makes, listed by `by` at `at`; the named providers and any
    /// protection override are the caller's to add.
    pub(super) fn into_entry(self, by: &Principal, at: Timestamp) -> NewEntry {
        NewEntry::new(
            self.domain,
            self.scope,
            self.category,
            self.decision,
            self.reason,
            by.actor(),
            at,
        )
    }
}

/// A second key's decision on a listing, or a lift, that waits for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Approve,
    Reject,
}

impl Review {
    /// The record of this decision by `by`, on something submitted at `proposed_at`.
    pub(super) fn by(self, by: &Principal, reason: String, proposed_at: Timestamp) -> Reviewed {
        Reviewed {
            outcome: match self {
                Review::Approve => "approved",
                Review::Reject => "rejected",
            }
            .into(),
            by: by.actor(),
            at: crate::model::now(),
            reason,
            proposed_at,
        }
    }
}

/// What a second key reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A listing waiting for approval (`entries.require_approval`).
    Listing,
    /// A lift waiting for approval (`entries.require_lift_approval`).
    Lift,
}

/// A second key's decision as asked for: on what, of which domain (`wanted`, when given, must
/// be the entry's id), which way, and why.
#[derive(Debug, Clone)]
pub struct ReviewAsked {
    pub subject: Subject,
    pub domain: DomainName,
    pub wanted: Option<Uuid>,
    pub decision: Review,
    pub reason: String,
}

/// What a write answers: the entry as written and the notices written with it.
pub type Written = (Entry, Vec<Notice>);

/// Which entries a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryFilter {
    Stored(StatusFilter),
    /// Entries waiting for review.
    Pending,
    /// Active entries whose lift waits for approval.
    PendingLift,
}

impl Registry {
    /// Lists a domain for `by`: the named providers must exist and no protected name may be
    /// touched (unless a national telecom key overrides it). With four-eyes on, the entry
    /// waits for review; otherwise it is located and written with its notices at once.
    pub async fn list(
        &self,
        by: &Principal,
        mut listing: Listing,
    ) -> RegistryResult<(Entry, Vec<Notice>)> {
        let approval = self.settings.entries.require_approval;
        // A listing that takes effect now needs the providers it names to notify them at once;
        // one waiting for approval only checks that they exist.
        let needs_all = !approval && !listing.providers.is_empty();
        let providers = if needs_all {
            self.named_providers(&listing.providers).await?
        } else {
            for id in &listing.providers {
                if self.store.provider(id).await?.is_none() {
                    return Err(unknown_provider(id));
                }
            }
            Vec::new()
        };
        let protection_override = self
            .check_protection(by, &listing.domain, listing.override_protection.as_deref())
            .await?;
        let named = std::mem::take(&mut listing.providers);
        let locate = listing.locate;
        let mut new = listing.into_entry(by, crate::model::now());
        new.protection_override = protection_override;
        new.providers = named;
        let (entry, notices) = if approval {
            // Locating and notices wait for the approval (which locates as the node does);
            // the named providers are kept.
            (self.store.propose(new).await?, Vec::new())
        } else {
            let all = [NoticeAction::StopAccess, NoticeAction::StopResolution];
            self.write_listing(new, &providers, &all, locate).await?
        };
        Ok((self.marked(entry).await, notices))
    }

    /// Writes a listing that takes effect now (a direct listing, a case's suspension or
    /// closure): plans a stop notice for each provider named whose stop action is one of
    /// `actions` and a job to locate the site (the providers it finds of those kinds are told
    /// then, unless `locate` is false), writes entry, notices and job in one atomic write and
    /// waits for this node's index, never for DNS. `providers` holds at least the named ones.
    pub(crate) async fn write_listing(
        &self,
        mut new: NewEntry,
        providers: &[Provider],
        actions: &[NoticeAction],
        locate: bool,
    ) -> crate::store::StoreResult<(Entry, Vec<Notice>)> {
        let kinds: Vec<ProviderKind> = ProviderKind::ALL
            .into_iter()
            .filter(|k| actions.contains(&k.stop_action()))
            .collect();
        let notices = self.notices.prepare(&mut new, providers, &kinds, locate);
        let queued = new.locate.is_some();
        let entry = self.store.list_with_notices(new, notices.clone()).await?;
        if queued {
            self.notices.queued();
        }
        Ok(self.settled(entry, notices).await)
    }

    /// Takes a second key's decision on what waits for it: a listing, or a lift
    /// (`Registry::review_lift`).
    pub async fn review(&self, by: &Principal, asked: ReviewAsked) -> RegistryResult<Written> {
        match asked.subject {
            Subject::Listing => self.review_listing(by, asked).await,
            Subject::Lift => self.review_lift(by, asked).await,
        }
    }

    /// Approves or rejects the listing of the domain that waits for review (`wanted`, when
    /// given, must be its id). The reviewer is another key of the submitter's side, within
    /// its province; an approval is located and notified as a direct listing is, in the
    /// same atomic write that lists it.
    async fn review_listing(&self, by: &Principal, asked: ReviewAsked) -> RegistryResult<Written> {
        let (domain, wanted, decision) = (&asked.domain, asked.wanted, asked.decision);
        let pending = self
            .store
            .pending(domain)
            .await?
            .filter(|e| wanted.is_none_or(|id| id == e.id))
            .ok_or_else(|| {
                RegistryError::NotPending(format!("{domain} has no entry waiting for review"))
            })?;
        check_reviewer(by, &pending.listed_by, &pending, "entry")?;
        let review = decision.by(by, asked.reason, pending.listed_at);
        let (entry, notices) = match decision {
            Review::Approve => self.approve(pending, review).await?,
            Review::Reject => (
                self.store.reject(domain, pending.id, review).await?,
                Vec::new(),
            ),
        };
        Ok((self.marked(entry).await, notices))
    }

    async fn approve(
        &self,
        pending: Entry,
        review: Reviewed,
    ) -> crate::store::StoreResult<(Entry, Vec<Notice>)> {
        let providers = self.store.providers().await?;
        let mut new = pending.as_new();
        let notices = self
            .notices
            .prepare(&mut new, &providers, &ProviderKind::ALL, true);
        let mut approved = pending;
        approved.location = new.location;
        approved.providers = new.providers;
        approved.review = Some(review);
        let job = new.locate;
        let queued = job.is_some();
        let entry = self
            .store
            .approve_with_notices(approved, notices.clone(), job)
            .await?;
        if queued {
            self.notices.queued();
        }
        Ok(self.settled(entry, notices).await)
    }

    /// After a write with notices: hands the notices to delivery and waits until this node's
    /// index shows the write (the entry's lift, when it was lifted).
    pub(super) async fn settled(&self, entry: Entry, notices: Vec<Notice>) -> (Entry, Vec<Notice>) {
        self.notices.written(&notices);
        let seq = entry.lift.as_ref().map_or(entry.seq, |lift| lift.seq);
        self.await_index(seq).await;
        (entry, notices)
    }

    /// Has the site of `domain`'s active entry located again now, by the locate worker of
    /// some node; answers the entry as it stands. An entry without a locate job (listed
    /// before locating ran in the background, or without it) gets one.
    pub async fn relocate(&self, domain: &DomainName) -> RegistryResult<Entry> {
        let current = self
            .history(domain)
            .await?
            .into_iter()
            .rev()
            .find(crate::store::notices::still_located)
            .ok_or_else(|| RegistryError::NotListed("this domain has no active entry".into()))?;
        let now = crate::model::now();
        let hurry: crate::store::notices::LocateJobChange =
            std::sync::Arc::new(move |job: &mut LocateJob| job.hurry(now));
        if self
            .store
            .update_locate_job(current.id, hurry)
            .await?
            .is_none()
        {
            self.store.put_locate_job(job_for(&current, now)).await?;
        }
        self.notices.queued();
        Ok(self.marked(current).await)
    }

    /// Gives a locate job to every active entry located before locating ran in the
    /// background (it has a location and no job), once per store, so that it is located
    /// again every `locate.refresh_hours` like the rest; each job is due at a random time
    /// within that period, so that a large registry is not located all at once. Entries
    /// without a location were listed with locating off and stay so. Answers how many jobs
    /// were written.
    pub async fn give_older_entries_locate_jobs(&self) -> RegistryResult<usize> {
        if !self.settings.locate.on_listing || self.store.locate_jobs_complete().await? {
            return Ok(0);
        }
        let period_ms = self.settings.locate.refresh_hours.saturating_mul(3_600_000);
        let now = crate::model::now();
        let mut written = 0;
        let mut after = 0;
        loop {
            let (page, next) = self
                .store
                .entries(EntryQuery {
                    filter: StatusFilter::Active,
                    after,
                    limit: 1000,
                })
                .await?;
            let jobs = page
                .iter()
                .filter(|entry| entry.location.is_some())
                .map(|entry| {
                    let offset = rand::random_range(0..period_ms.max(1));
                    job_for(entry, now + std::time::Duration::from_millis(offset))
                })
                .collect();
            written += self.store.put_locate_jobs(jobs, false).await?;
            match next {
                Some(next) => after = next,
                None => break,
            }
        }
        self.store.put_locate_jobs(Vec::new(), true).await?;
        if written > 0 {
            self.notices.queued();
        }
        Ok(written)
    }

    /// Every entry ever made for `domain`, oldest first.
    pub async fn history(&self, domain: &DomainName) -> RegistryResult<Vec<Entry>> {
        Ok(self.store.history(domain).await?)
    }

    /// The entries of `domain` that `by` may read: all of them for a regulator or auditor; for
    /// a provider's key, those its provider was sent notices about (an order states its basis,
    /// and the provider may read it), and a refusal when there are none.
    pub async fn history_for(
        &self,
        by: &Principal,
        domain: &DomainName,
    ) -> RegistryResult<Vec<Entry>> {
        let mut history = self.history(domain).await?;
        if matches!(by.role, Role::AccessProvider | Role::DnsProvider) {
            let provider = by.provider_id.as_deref();
            history.retain(|e| provider.is_some_and(|p| e.providers.iter().any(|x| x == p)));
            if history.is_empty() {
                return Err(RegistryError::Forbidden(format!(
                    "this key's provider was sent no notice about {domain}"
                )));
            }
        }
        self.mark_uploaded(&mut history).await;
        Ok(history)
    }

    /// A page of entries in listing order after cursor `after`, and the next cursor; entries
    /// (and lifts) waiting for review are few and come in one page.
    pub async fn entries(
        &self,
        filter: EntryFilter,
        after: u64,
        limit: usize,
    ) -> RegistryResult<(Vec<Entry>, Option<u64>)> {
        let (mut entries, next) = match filter {
            EntryFilter::Pending => (self.store.pending_entries(limit).await?, None),
            EntryFilter::PendingLift => (self.store.pending_lifts(limit).await?, None),
            EntryFilter::Stored(filter) => {
                let query = EntryQuery {
                    filter,
                    after,
                    limit,
                };
                self.store.entries(query).await?
            }
        };
        self.mark_uploaded(&mut entries).await;
        Ok((entries, next))
    }
}

impl Registry {
    /// Every provider, after checking that each of `named` is one of them.
    pub(super) async fn named_providers(&self, named: &[String]) -> RegistryResult<Vec<Provider>> {
        let providers = self.store.providers().await?;
        if let Some(unknown) = named
            .iter()
            .find(|id| !providers.iter().any(|p| &p.id == *id))
        {
            return Err(unknown_provider(unknown));
        }
        Ok(providers)
    }
}

fn unknown_provider(id: &str) -> RegistryError {
    RegistryError::invalid("unknown_provider", format!("no provider with id {id:?}"))
}

/// Checks that `principal` may review what `submitter` submitted about `entry` (`what`: the
/// entry itself, or a lift of it): another key than the submitter's, of the same side (agency
/// or telecom), within the entry's province and the submitter's.
pub(super) fn check_reviewer(
    principal: &Principal,
    submitter: &Actor,
    entry: &Entry,
    what: &str,
) -> RegistryResult<()> {
    if submitter.key_id == principal.key_id {
        return Err(RegistryError::Forbidden(format!(
            "a different key than the one that submitted the {what} must review it"
        )));
    }
    if submitter.role != principal.role {
        return Err(RegistryError::Forbidden(format!(
            "the {what} was submitted by {} key; a key of the same side must review it",
            super::reads::with_article(submitter.role.as_str())
        )));
    }
    check_province(principal, entry)?;
    within_province(principal, submitter, || {
        format!("the {what} of {} was submitted by", entry.domain)
    })
}

/// Refuses a provincial key acting on an entry listed by a key of another province (or by a
/// national key): provinces act within their own remit; national keys may act on any entry.
pub(super) fn check_province(principal: &Principal, entry: &Entry) -> RegistryResult<()> {
    within_province(principal, &entry.listed_by, || {
        format!("{} was listed by", entry.domain)
    })
}

/// Refuses a provincial key acting on what `owner` did (`done` says what, ending in "by"),
/// when `owner` is of another province or national.
fn within_province(
    principal: &Principal,
    owner: &Actor,
    done: impl FnOnce() -> String,
) -> RegistryResult<()> {
    match principal.province {
        Some(own) if owner.province != Some(own) => Err(RegistryError::OutOfProvince(format!(
            "{} {}; a key of province {own} may act only on its own province's entries",
            done(),
            owner
                .province
                .map_or("a national key".to_string(), |p| format!(
                    "a key of province {p}"
                )),
        ))),
        _ => Ok(()),
    }
}

/// The locate job of `entry`, due at `due`: a suspension tells access providers only.
fn job_for(entry: &Entry, due: Timestamp) -> LocateJob {
    let kinds = if entry.status == EntryStatus::Suspended {
        vec![ProviderKind::Access]
    } else {
        ProviderKind::ALL.to_vec()
    };
    LocateJob::new(entry.id, entry.domain.clone(), kinds, due)
}
