//! The cross-checks of `/v1/verify`: given a domain's recordals, their sponsors'
//! registrations and other recordals, and a way to ask the blacklist, the findings a
//! regulator acts on. Pure: the reads are the caller's (`api::records`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Recordal, RecordalStatus, Registration, RegistrationStatus};
use crate::domain::{DomainName, Uscc};

/// One finding: a stable code, a message, and the details it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// `not_recorded`, `recordal_cancelled`, `invalid_credit_code`, `entity_not_registered`,
    /// `entity_not_active`, `sponsor_name_mismatch`, `access_province_mismatch` or
    /// `operator_blacklisted`.
    pub code: &'static str,
    pub message: String,
    /// The recordal the finding is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icp_number: Option<String>,
    /// What the finding compared, by name.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub detail: BTreeMap<&'static str, String>,
}

impl Finding {
    fn new(code: &'static str, message: String, recordal: Option<&Recordal>) -> Finding {
        Finding {
            code,
            message,
            icp_number: recordal.map(|r| r.icp_number.to_string()),
            detail: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &'static str, value: impl ToString) -> Finding {
        self.detail.insert(key, value.to_string());
        self
    }
}

/// A blacklisted site of an operator: the recordal that names it (or, for a site known from a
/// closed referral case, that case), the domain, and the listed name that covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSite {
    pub icp_number: String,
    pub domain: String,
    pub listed: String,
}

/// The listed sites among `recordals` (of one sponsor), asking `listed` for each domain.
pub fn listed_sites(
    recordals: &[Recordal],
    listed: &impl Fn(&DomainName) -> Option<String>,
) -> Vec<ListedSite> {
    recordals
        .iter()
        .flat_map(|r| {
            r.domains.iter().filter_map(move |domain| {
                listed(domain).map(|name| ListedSite {
                    icp_number: r.icp_number.to_string(),
                    domain: domain.to_string(),
                    listed: name,
                })
            })
        })
        .collect()
}

/// Names compared the way registers write them: whitespace dropped, full-width forms
/// (`（` `）`) as ASCII, ASCII letters in one case.
pub fn same_name(a: &str, b: &str) -> bool {
    fn canonical(text: &str) -> String {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }
    canonical(a) == canonical(b)
}

/// The findings for `domain`: `recordals` are the recordals naming it (the most specific
/// recorded name at or above it), `registrations` the registrations of their sponsors, and
/// `sponsor_recordals` every recordal of each sponsor, and `case_sites` the listed sites of
/// each sponsor known from closed referral cases (unrecorded sites among them).
pub fn findings(
    domain: &DomainName,
    recordals: &[Recordal],
    registrations: &HashMap<Uscc, Registration>,
    sponsor_recordals: &HashMap<Uscc, Vec<Recordal>>,
    case_sites: &HashMap<Uscc, Vec<ListedSite>>,
    listed: &impl Fn(&DomainName) -> Option<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let active: Vec<&Recordal> = recordals
        .iter()
        .filter(|r| r.status == RecordalStatus::Active)
        .collect();
    if active.is_empty() {
        match recordals.first() {
            Some(cancelled) => out.push(
                Finding::new(
                    "recordal_cancelled",
                    format!(
                        "{domain} has no active recordal: {} is cancelled",
                        cancelled.icp_number
                    ),
                    Some(cancelled),
                )
                .with("domain", domain),
            ),
            None => out.push(
                Finding::new(
                    "not_recorded",
                    format!("{domain} is not named by any website recordal"),
                    None,
                )
                .with("domain", domain),
            ),
        }
    }
    for recordal in active {
        let code = &recordal.sponsor_code;
        if !code.checksum_ok() {
            out.push(
                Finding::new(
                    "invalid_credit_code",
                    format!(
                        "sponsor code {code} fails its checksum: the check character is {} but should be {}",
                        code.check(),
                        code.expected_check()
                    ),
                    Some(recordal),
                )
                .with("sponsor_code", code)
                .with("expected_check", code.expected_check()),
            );
        }
        match registrations.get(code) {
            None => out.push(
                Finding::new(
                    "entity_not_registered",
                    format!("sponsor code {code} has no business registration"),
                    Some(recordal),
                )
                .with("sponsor_code", code),
            ),
            Some(registration) => {
                if registration.status != RegistrationStatus::Active {
                    out.push(
                        Finding::new(
                            "entity_not_active",
                            format!(
                                "the sponsor {code} is {} in the business register",
                                registration.status.as_str()
                            ),
                            Some(recordal),
                        )
                        .with("sponsor_code", code)
                        .with("registration_status", registration.status.as_str()),
                    );
                }
                if !same_name(&recordal.sponsor_name, &registration.name) {
                    out.push(
                        Finding::new(
                            "sponsor_name_mismatch",
                            format!(
                                "the recordal names the sponsor {:?}, the business register {:?}",
                                recordal.sponsor_name, registration.name
                            ),
                            Some(recordal),
                        )
                        .with("recorded_name", &recordal.sponsor_name)
                        .with("registered_name", &registration.name),
                    );
                }
            }
        }
        let recordal_province = recordal.icp_number.province();
        if recordal.access_province != recordal_province {
            out.push(
                Finding::new(
                    "access_province_mismatch",
                    format!(
                        "the site is accessed in province {} ({}) but recorded in {} ({})",
                        recordal.access_province,
                        recordal.access_province.name_en(),
                        recordal_province,
                        recordal_province.name_en()
                    ),
                    Some(recordal),
                )
                .with("access_province", recordal.access_province)
                .with("recordal_province", recordal_province),
            );
        }
        let others = sponsor_recordals
            .get(code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let site = listed_sites(others, listed).into_iter().next().or_else(|| {
            case_sites
                .get(code)
                .and_then(|sites| sites.first().cloned())
        });
        if let Some(site) = site {
            out.push(
                Finding::new(
                    "operator_blacklisted",
                    format!(
                        "the sponsor {code} already has a blacklisted site: {} of {} is listed as {}",
                        site.domain, site.icp_number, site.listed
                    ),
                    Some(recordal),
                )
                .with("sponsor_code", code)
                .with("listed_domain", &site.listed)
                .with("listed_icp_number", &site.icp_number),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_registers_write_them() {
        assert!(same_name(
            "北京某某（科技）有限公司",
            "北京某某(科技)有限公司"
        ));
        assert!(same_name(" ABC 有限公司", "abc有限公司"));
        assert!(!same_name("北京甲有限公司", "北京乙有限公司"));
    }
}
