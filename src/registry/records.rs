//! Shared records: business registrations (the AMR side, by credit code) and website
//! recordals (the CA side, by ICP number). The rules here: a provincial key writes only its
//! own province's records; a recordal may not record a new site for an operator that already
//! has a blacklisted site (known from its recordals or from closed cases); an import is
//! applied whole or not at all. `verify` cross-checks a domain against records and index.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::model::{Actor, Timestamp};
use crate::records::verify::{self, Finding, ListedSite};
use crate::records::{RecordError, Recordal, RecordalInput, Registration, RegistrationInput};
use crate::store::records::PutCounts;
use crate::store::{Store, StoreResult};

/// What an applied import wrote.
#[derive(Debug, Clone, Copy)]
pub struct Imported {
    pub counts: PutCounts,
    /// Records kept with a credit code whose check character is wrong.
    pub checksum_failures: u64,
    /// Recordals whose ICP number was normalised (always 0 for registrations).
    pub normalised_icp_numbers: u64,
}

/// The cross-check of a domain against the shared records and the index.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The recorded name the recordals name: the domain itself or its nearest recorded
    /// parent.
    pub recorded_as: Option<DomainName>,
    /// Whether the domain is listed in this node's index.
    pub listed: bool,
    pub recordals: Vec<Recordal>,
    /// The registrations of the recordals' sponsors that exist, by credit code.
    pub registrations: Vec<Registration>,
    pub findings: Vec<Finding>,
    /// The feed sequence of the index that answered.
    pub seq: u64,
}

/// What an import wrote, logged once.
fn imported(kind: &str, counts: PutCounts, checksum_failures: u64, normalised: u64) -> Imported {
    tracing::info!(
        kind,
        created = counts.created,
        updated = counts.updated,
        "records imported"
    );
    Imported {
        counts,
        checksum_failures,
        normalised_icp_numbers: normalised,
    }
}

/// The record a look-up of one key found, or `NotFound` saying `missing`.
fn the_one<T>(found: Vec<Option<T>>, missing: impl FnOnce() -> String) -> RegistryResult<T> {
    found
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| RegistryError::NotFound(missing()))
}

/// The record of `key` that `by` writes with `validate`: refused when `key` lies outside
/// the key's province (checked first), or when the fields are not valid.
fn admit<K, R>(
    by: &Principal,
    key: &K,
    in_province: fn(&Principal, &K) -> Result<(), RecordError>,
    validate: impl FnOnce(Option<&K>, &Actor, Timestamp) -> Result<R, RecordError>,
) -> RegistryResult<R> {
    in_province(by, key).map_err(|e| RegistryError::OutOfProvince(e.message))?;
    validate(Some(key), &by.actor(), crate::model::now())
        .map_err(|e| RegistryError::invalid(e.code, e.message))
}

/// A provincial agency key writes registrations of its own province's authorities.
fn registration_in_province(by: &Principal, uscc: &Uscc) -> Result<(), RecordError> {
    match by.province {
        Some(own) if uscc.province() != Some(own) => Err(RecordError::new(
            "out_of_province",
            format!(
                "this key acts for province {own}; {uscc} was registered in region {}",
                uscc.region()
            ),
        )),
        _ => Ok(()),
    }
}

/// A provincial telecom key writes recordals of its own province's prefix.
fn recordal_in_province(by: &Principal, icp: &IcpNumber) -> Result<(), RecordError> {
    match by.province {
        Some(own) if icp.province() != own => Err(RecordError::new(
            "out_of_province",
            format!(
                "this key acts for province {own}; {icp} is recorded in province {}",
                icp.province()
            ),
        )),
        _ => Ok(()),
    }
}

/// The rule every line of a registrations import passes for `by`: valid fields, and within
/// its province.
pub fn registration_rule(
    by: &Principal,
) -> impl Fn(RegistrationInput) -> Result<Registration, RecordError> + Send + 'static {
    line_rule(
        by,
        |row: RegistrationInput, actor, at| row.validate(None, actor, at),
        |by, registration| registration_in_province(by, &registration.uscc),
    )
}

/// The rule every line of a recordals import passes for `by` on its own (the
/// blacklisted-operator rule needs the store: [`Registry::blacklisted_operators`]).
pub fn recordal_rule(
    by: &Principal,
) -> impl Fn(RecordalInput) -> Result<Recordal, RecordError> + Send + 'static {
    line_rule(
        by,
        |row: RecordalInput, actor, at| row.validate(None, actor, at),
        |by, recordal| recordal_in_province(by, &recordal.icp_number),
    )
}

/// A line rule: `validate` as `by` at one time for the whole import, then `in_province`.
fn line_rule<I, R>(
    by: &Principal,
    validate: impl Fn(I, &Actor, Timestamp) -> Result<R, RecordError> + Send + 'static,
    in_province: impl Fn(&Principal, &R) -> Result<(), RecordError> + Send + 'static,
) -> impl Fn(I) -> Result<R, RecordError> + Send + 'static {
    let by = by.clone();
    let actor = by.actor();
    let at = crate::model::now();
    move |row: I| {
        let record = validate(row, &actor, at)?;
        in_province(&by, &record)?;
        Ok(record)
    }
}

impl Registry {
    /// Creates or replaces the registration of `uscc`; answers it and whether it was new.
    pub async fn put_registration(
        &self,
        by: &Principal,
        uscc: &Uscc,
        input: RegistrationInput,
    ) -> RegistryResult<(Registration, bool)> {
        let registration = admit(by, uscc, registration_in_province, |key, actor, at| {
            input.validate(key, actor, at)
        })?;
        let counts = self.write_registrations(vec![registration.clone()]).await?;
        Ok((registration, counts.created == 1))
    }

    /// Creates or replaces the recordal of `icp`, unless it would record a new site for a
    /// blacklisted operator; answers it and whether it was new.
    pub async fn put_recordal(
        &self,
        by: &Principal,
        icp: &IcpNumber,
        input: RecordalInput,
    ) -> RegistryResult<(Recordal, bool)> {
        let recordal = admit(by, icp, recordal_in_province, |key, actor, at| {
            input.validate(key, actor, at)
        })?;
        if let Some((_, refusal)) = self
            .blacklisted_operators(&[&recordal])
            .await?
            .into_iter()
            .next()
        {
            return Err(RegistryError::Conflict {
                code: refusal.code,
                message: refusal.message,
            });
        }
        let counts = self.write_recordals(vec![recordal.clone()]).await?;
        Ok((recordal, counts.created == 1))
    }

    /// Applies a registrations import whose every line passed [`registration_rule`].
    pub async fn import_registrations(
        &self,
        records: Vec<Registration>,
    ) -> RegistryResult<Imported> {
        let checksum_failures = records.iter().filter(|r| !r.uscc.checksum_ok()).count() as u64;
        let counts = self.write_registrations(records).await?;
        Ok(imported("registrations", counts, checksum_failures, 0))
    }

    /// Applies a recordals import whose every line passed [`recordal_rule`] and
    /// [`Registry::blacklisted_operators`].
    pub async fn import_recordals(&self, records: Vec<Recordal>) -> RegistryResult<Imported> {
        let checksum_failures = records
            .iter()
            .filter(|r| !r.sponsor_code.checksum_ok())
            .count() as u64;
        let normalised = records
            .iter()
            .filter(|r| !r.icp_normalisations.is_empty())
            .count() as u64;
        let counts = self.write_recordals(records).await?;
        Ok(imported("recordals", counts, checksum_failures, normalised))
    }

    async fn write_registrations(&self, records: Vec<Registration>) -> RegistryResult<PutCounts> {
        self.write_whole("registration", |store| async move {
            store.put_registrations(records).await
        })
        .await
    }

    async fn write_recordals(&self, records: Vec<Recordal>) -> RegistryResult<PutCounts> {
        self.write_whole("recordal", |store| async move {
            store.put_recordals(records).await
        })
        .await
    }

    /// Runs a records write in a task of its own: a caller that goes away mid-write does not
    /// cut the write (or the store's writer lock) short; it completes or fails whole.
    async fn write_whole<F>(
        &self,
        kind: &str,
        write: impl FnOnce(Arc<dyn Store>) -> F,
    ) -> RegistryResult<PutCounts>
    where
        F: Future<Output = StoreResult<PutCounts>> + Send + 'static,
    {
        tokio::spawn(write(Arc::clone(&self.store)))
            .await
            .map_err(|e| RegistryError::Internal(format!("{kind} write failed: {e}")))?
            .map_err(RegistryError::from)
    }

    pub async fn registration(&self, uscc: &Uscc) -> RegistryResult<Registration> {
        let found = self.store.registrations(std::slice::from_ref(uscc)).await?;
        the_one(found, || format!("no registration of {uscc}"))
    }

    pub async fn recordal(&self, icp: &IcpNumber) -> RegistryResult<Recordal> {
        let found = self.store.recordals(std::slice::from_ref(icp)).await?;
        the_one(found, || format!("no recordal {icp}"))
    }

    /// The recordals naming `domain` exactly (active and cancelled).
    pub async fn recordals_by_domain(&self, domain: &DomainName) -> RegistryResult<Vec<Recordal>> {
        Ok(self.store.recordals_by_domain(domain).await?)
    }

    /// The listed name covering `domain` in this node's index, if any. A suspension is not a
    /// blacklisting: it stops access while the case runs.
    fn listed_in(&self) -> impl Fn(&DomainName) -> Option<String> + '_ {
        move |domain: &DomainName| {
            self.index
                .lookup(domain.as_str())
                .hit
                .filter(|hit| !hit.record.is_suspended())
                .map(|hit| domain.as_str()[hit.start..].to_owned())
        }
    }

    /// The listed sites of `sponsors` known from closed referral cases: a case names its
    /// operator's credit code, and its closure's entry is still the one listed for its
    /// domain. This finds the operators of unrecorded sites, which no recordal names.
    async fn case_sites(
        &self,
        sponsors: &[Uscc],
    ) -> RegistryResult<HashMap<Uscc, Vec<ListedSite>>> {
        let mut out: HashMap<Uscc, Vec<ListedSite>> = HashMap::new();
        if sponsors.is_empty() {
            return Ok(out);
        }
        for case in self.store.cases().await? {
            let (Some(code), Some(entry_id)) = (case.operator_credit_code, case.entry_id) else {
                continue;
            };
            if !sponsors.contains(&code) {
                continue;
            }
            let hit = self.index.lookup(case.domain.as_str()).hit;
            if let Some(hit) = hit.filter(|h| h.entry_id() == entry_id && !h.record.is_suspended())
            {
                out.entry(code).or_default().push(ListedSite {
                    icp_number: case
                        .icp_number
                        .map_or_else(|| format!("case {}", case.id), |n| n.to_string()),
                    domain: case.domain.to_string(),
                    listed: case.domain.as_str()[hit.start..].to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Refuses recordals that would record a new site (a new recordal, or a new domain on an
    /// existing one) for a sponsor that already has a blacklisted site: by index in
    /// `recordals`.
    pub async fn blacklisted_operators(
        &self,
        recordals: &[&Recordal],
    ) -> RegistryResult<Vec<(usize, RecordError)>> {
        let numbers: Vec<IcpNumber> = recordals.iter().map(|r| r.icp_number.clone()).collect();
        let existing = self.store.recordals(&numbers).await?;
        let adding: Vec<(usize, &Recordal)> = recordals
            .iter()
            .zip(&existing)
            .enumerate()
            .filter(|(_, (new, old))| match old {
                None => true,
                Some(old) => new.domains.iter().any(|d| !old.domains.contains(d)),
            })
            .map(|(i, (new, _))| (i, *new))
            .collect();
        if adding.is_empty() {
            return Ok(Vec::new());
        }
        let sponsors: Vec<Uscc> = adding
            .iter()
            .map(|(_, r)| r.sponsor_code)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored = self.store.recordals_by_sponsors(&sponsors).await?;
        let from_cases = self.case_sites(&sponsors).await?;
        let listed = self.listed_in();
        let mut refused = Vec::new();
        for (i, recordal) in adding {
            let mut sites = verify::listed_sites(std::slice::from_ref(recordal), &listed);
            if let Some(others) = stored.get(&recordal.sponsor_code) {
                sites.extend(verify::listed_sites(others, &listed));
            }
            if let Some(known) = from_cases.get(&recordal.sponsor_code) {
                sites.extend(known.iter().cloned());
            }
            if let Some(site) = sites.first() {
                refused.push((
                    i,
                    RecordError::new(
                        "operator_blacklisted",
                        format!(
                            "the sponsor {} has a blacklisted site ({} is listed as {}): a blacklisted operator may not record new sites",
                            recordal.sponsor_code, site.domain, site.listed
                        ),
                    ),
                ));
            }
        }
        Ok(refused)
    }

    /// Cross-checks `domain` against the shared records: its recordal (the name or the
    /// nearest recorded parent), the sponsor's registration, and the sponsor's other sites in
    /// the blacklist.
    pub async fn verify(&self, domain: &DomainName) -> RegistryResult<Verified> {
        let lookup = self.index.lookup(domain.as_str());
        let mut recorded_as = None;
        let mut recordals = Vec::new();
        for name in domain.suffixes() {
            // Stop at the public suffix: `com.cn` is nobody's site.
            let Ok(name) = DomainName::parse_listable(name) else {
                break;
            };
            let found = self.store.recordals_by_domain(&name).await?;
            if !found.is_empty() {
                recorded_as = Some(name);
                recordals = found;
                break;
            }
        }
        let sponsors: Vec<Uscc> = recordals
            .iter()
            .map(|r| r.sponsor_code)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let registrations: HashMap<Uscc, Registration> = self
            .store
            .registrations(&sponsors)
            .await?
            .into_iter()
            .flatten()
            .map(|r| (r.uscc, r))
            .collect();
        let sponsor_recordals = self.store.recordals_by_sponsors(&sponsors).await?;
        let from_cases = self.case_sites(&sponsors).await?;
        let listed = self.listed_in();
        let findings = verify::findings(
            domain,
            &recordals,
            &registrations,
            &sponsor_recordals,
            &from_cases,
            &listed,
        );
        let mut registrations: Vec<Registration> = registrations.into_values().collect();
        registrations.sort_by(|a, b| a.uscc.as_str().cmp(b.uscc.as_str()));
        Ok(Verified {
            recorded_as,
            listed: lookup.hit.is_some(),
            recordals,
            registrations,
            findings,
            seq: lookup.seq,
        })
    }
}
