//! Shared records of the two sides: business registrations (AMR side, keyed by unified social
//! credit code) and website recordals (CA side, keyed by ICP number). This module holds the
//! records, the validation of what arrives for them (one JSON object, or one NDJSON or CSV
//! line of an import) and the cross-checks of `/v1/verify` as pure functions. Storage is left
//! to `store::records`, streaming and HTTP to `records::import` and `api::records`.

pub mod import;
pub mod verify;

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{DomainName, IcpNormalisation, IcpNumber, Province, Uscc};
use crate::model::Actor;

/// Longest free-text field (names, addresses, provider names), in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Most domains one recordal may name.
pub const MAX_DOMAINS: usize = 100;

/// The state of a business registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// In business (存续, 在业).
    Active,
    /// Business licence revoked (吊销).
    Revoked,
    /// Deregistered (注销).
    Cancelled,
    /// Moved to another registering authority (迁出).
    MovedOut,
}

impl RegistrationStatus {
    pub fn parse(input: &str) -> Option<RegistrationStatus> {
        Some(match input.trim() {
            "active" => RegistrationStatus::Active,
            "revoked" => RegistrationStatus::Revoked,
            "cancelled" => RegistrationStatus::Cancelled,
            "moved_out" => RegistrationStatus::MovedOut,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Active => "active",
            RegistrationStatus::Revoked => "revoked",
            RegistrationStatus::Cancelled => "cancelled",
            RegistrationStatus::MovedOut => "moved_out",
        }
    }
}

/// The state of a website recordal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordalStatus {
    Active,
    /// Cancelled (注销), by the operator or by the CA.
    Cancelled,
}

impl RecordalStatus {
    pub fn parse(input: &str) -> Option<RecordalStatus> {
        Some(match input.trim() {
            "active" => RecordalStatus::Active,
            "cancelled" => RecordalStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordalStatus::Active => "active",
            RecordalStatus::Cancelled => "cancelled",
        }
    }
}

/// A business registration (AMR side).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Kept even when its check character is wrong; [`Uscc::checksum_ok`] flags it.
    pub uscc: Uscc,
    pub name: String,
    pub status: RegistrationStatus,
    pub legal_representative: Option<String>,
    pub address: Option<String>,
    pub registered_province: Option<Province>,
    pub updated_at: Timestamp,
    pub updated_by: Actor,
}

/// A website recordal (CA side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recordal {
    pub icp_number: IcpNumber,
    /// What parsing rewrote in the ICP number as it was submitted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icp_normalisations: Vec<IcpNormalisation>,
    pub sponsor_name: String,
    /// Kept even when its check character is wrong; [`Uscc::checksum_ok`] flags it.
    pub sponsor_code: Uscc,
    /// Normalised, without duplicates, in the order given.
    pub domains: Vec<DomainName>,
    pub access_provider: String,
    pub access_province: Province,
    pub status: RecordalStatus,
    pub updated_at: Timestamp,
    pub updated_by: Actor,
}

/// What was wrong with one submitted record: a stable code and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordError {
    pub code: &'static str,
    pub message: String,
}

impl RecordError {
    pub fn new(code: &'static str, message: impl Into<String>) -> RecordError {
        RecordError {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> RecordError {
        RecordError::new("invalid_record", message)
    }
}

/// A registration as it arrives (a JSON object, an NDJSON line or a CSV row), before
/// validation. Every field is an optional string, so that a wrong or missing value is named
/// by [`RegistrationInput::validate`] rather than by the JSON parser.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationInput {
    /// The unified social credit code; in `PUT` it may be left out (the path names it).
    pub uscc: Option<String>,
    pub name: Option<String>,
    /// `active`, `revoked`, `cancelled` or `moved_out`.
    pub status: Option<String>,
    pub legal_representative: Option<String>,
    pub address: Option<String>,
    /// GB/T 2260 two-digit code.
    pub registered_province: Option<String>,
}

/// A recordal as it arrives, before validation.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordalInput {
    /// The ICP number; in `PUT` it may be left out (the path names it).
    pub icp_number: Option<String>,
    pub sponsor_name: Option<String>,
    /// The sponsor's unified social credit code.
    pub sponsor_code: Option<String>,
    /// JSON: an array of names. CSV: names separated by `;`, `|` or spaces.
    pub domains: Option<Domains>,
    pub access_provider: Option<String>,
    pub access_province: Option<String>,
    /// `active` or `cancelled`.
    pub status: Option<String>,
}

/// The domains of a recordal: a JSON array, or one string of names (a CSV cell).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Domains {
    List(Vec<String>),
    Text(String),
}

impl Domains {
    fn items(&self) -> Vec<&str> {
        match self {
            Domains::List(list) => list.iter().map(String::as_str).collect(),
            Domains::Text(text) => text
                .split([';', '|', ',', ' ', '\t'])
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// Trims a required text field and checks it.
fn required(field: &str, value: Option<&str>) -> Result<String, RecordError> {
    match optional(field, value)? {
        Some(text) => Ok(text),
        None => Err(RecordError::invalid(format!("{field} is missing or empty"))),
    }
}

/// Trims an optional text field (empty counts as absent) and checks it.
fn optional(field: &str, value: Option<&str>) -> Result<Option<String>, RecordError> {
    let text = value.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(RecordError::invalid(format!(
            "{field} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(RecordError::invalid(format!(
            "{field} contains a control character such as a line break"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// Parses a credit code leniently; `field` names it in the message.
pub fn parse_uscc(field: &str, input: Option<&str>) -> Result<Uscc, RecordError> {
    let input = input.unwrap_or_default();
    Uscc::parse(input).map_err(|e| RecordError::new("invalid_uscc", format!("{field}: {e}")))
}

fn parse_province(field: &str, input: Option<&str>) -> Result<Option<Province>, RecordError> {
    match input.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => Province::parse(text)
            .map(Some)
            .map_err(|e| RecordError::new("invalid_province", format!("{field}: {e}"))),
    }
}

impl RegistrationInput {
    /// Validates the fields in the documented order: uscc, name, status, legal
    /// representative, address, registered province. `key` is the code named by the path of
    /// a `PUT`; the body's `uscc`, when given, must be the same code.
    pub fn validate(
        &self,
        key: Option<&Uscc>,
        by: &Actor,
        at: Timestamp,
    ) -> Result<Registration, RecordError> {
        let uscc = match (key, self.uscc.as_deref()) {
            (Some(key), None) => *key,
            (Some(key), Some(given)) => {
                let given = parse_uscc("uscc", Some(given))?;
                if given != *key {
                    return Err(RecordError::invalid(format!(
                        "uscc {given} in the body differs from {key} in the path"
                    )));
                }
                given
            }
            (None, given) => parse_uscc("uscc", given)?,
        };
        let name = required("name", self.name.as_deref())?;
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => RegistrationStatus::Active,
            Some(text) => RegistrationStatus::parse(text).ok_or_else(|| {
                RecordError::invalid(format!(
                    "status {text:?} is not one of active, revoked, cancelled, moved_out"
                ))
            })?,
        };
        Ok(Registration {
            uscc,
            name,
            status,
            legal_representative: optional(
                "legal_representative",
                self.legal_representative.as_deref(),
            )?,
            address: optional("address", self.address.as_deref())?,
            registered_province: parse_province(
                "registered_province",
                self.registered_province.as_deref(),
            )?,
            updated_at: at,
            updated_by: by.clone(),
        })
    }
}

impl RecordalInput {
    /// Validates the fields in the documented order: icp_number, sponsor_name,
    /// sponsor_code, domains, access_provider, access_province, status.
    pub fn validate(
        &self,
        key: Option<&IcpNumber>,
        by: &Actor,
        at: Timestamp,
    ) -> Result<Recordal, RecordError> {
        let parse_icp = |text: &str| {
            IcpNumber::parse(text)
                .map_err(|e| RecordError::new("invalid_icp_number", format!("icp_number: {e}")))
        };
        let icp_number = match (key, self.icp_number.as_deref()) {
            (Some(key), None) => key.clone(),
            (Some(key), Some(given)) => {
                let given = parse_icp(given)?;
                if given != *key {
                    return Err(RecordError::invalid(format!(
                        "icp_number {given} in the body differs from {key} in the path"
                    )));
                }
                key.clone()
            }
            (None, given) => parse_icp(given.unwrap_or_default())?,
        };
        let sponsor_name = required("sponsor_name", self.sponsor_name.as_deref())?;
        let sponsor_code = parse_uscc("sponsor_code", self.sponsor_code.as_deref())?;
        let items = self
            .domains
            .as_ref()
            .map(Domains::items)
            .unwrap_or_default();
        if items.is_empty() {
            return Err(RecordError::invalid(
                "domains is missing or empty: a recordal names at least one domain",
            ));
        }
        if items.len() > MAX_DOMAINS {
            return Err(RecordError::invalid(format!(
                "domains has {} names: a recordal names at most {MAX_DOMAINS}",
                items.len()
            )));
        }
        let mut domains: Vec<DomainName> = Vec::with_capacity(items.len());
        for item in items {
            let name = DomainName::parse_listable(item)
                .map_err(|e| RecordError::new(e.code(), format!("domains: {item:?}: {e}")))?;
            if !domains.contains(&name) {
                domains.push(name);
            }
        }
        let access_provider = required("access_provider", self.access_provider.as_deref())?;
        let access_province = parse_province("access_province", self.access_province.as_deref())?
            .ok_or_else(|| {
                RecordError::new(
                    "invalid_province",
                    "access_province is missing: give the GB/T 2260 code of the province where the site is accessed",
                )
            })?;
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => RecordalStatus::Active,
            Some(text) => RecordalStatus::parse(text).ok_or_else(|| {
                RecordError::invalid(format!("status {text:?} is not one of active, cancelled"))
            })?,
        };
        let icp_normalisations = match (key, self.icp_number.as_deref()) {
            (None, Some(given)) => IcpNumber::parse(given)
                .map(|n| n.normalisations())
                .unwrap_or_default(),
            (Some(key), _) => key.normalisations(),
            _ => Vec::new(),
        };
        Ok(Recordal {
            icp_number,
            icp_normalisations,
            sponsor_name,
            sponsor_code,
            domains,
            access_provider,
            access_province,
            status,
            updated_at: at,
            updated_by: by.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn actor() -> Actor {
        Actor {
            key_id: "k_1".into(),
            name: "Beijing CA".into(),
            role: Role::Telecom,
            province: None,
        }
    }

    fn recordal_input() -> RecordalInput {
        RecordalInput {
            icp_number: Some("京ICP备13025326-2号".into()),
            sponsor_name: Some(" 北京某某科技有限公司 ".into()),
            sponsor_code: Some("91110108551385082q".into()),
            domains: Some(Domains::Text(
                "Shop.Example.cn; www.shop.example.cn;shop.example.cn".into(),
            )),
            access_provider: Some("Example Hosting".into()),
            access_province: Some("11".into()),
            status: None,
        }
    }

    #[test]
    fn a_recordal_is_normalised() {
        let recordal = recordal_input()
            .validate(None, &actor(), crate::model::now())
            .unwrap();
        assert_eq!(recordal.icp_number.as_str(), "京ICP备13025326号-2");
        assert_eq!(
            recordal.icp_normalisations,
            [IcpNormalisation::HaoAfterSite]
        );
        assert_eq!(recordal.sponsor_name, "北京某某科技有限公司");
        assert_eq!(recordal.sponsor_code.as_str(), "91110108551385082Q");
        let domains: Vec<&str> = recordal.domains.iter().map(DomainName::as_str).collect();
        assert_eq!(domains, ["shop.example.cn", "www.shop.example.cn"]);
        assert_eq!(recordal.status, RecordalStatus::Active);
    }

    #[test]
    fn each_field_is_refused_with_its_code() {
        type Change = fn(&mut RecordalInput);
        let cases: Vec<(Change, &str)> = vec![
            (
                |i| i.icp_number = Some("ICP备1号".into()),
                "invalid_icp_number",
            ),
            (|i| i.sponsor_name = None, "invalid_record"),
            (
                |i| i.sponsor_code = Some("911101085513850".into()),
                "invalid_uscc",
            ),
            (|i| i.domains = None, "invalid_record"),
            (
                |i| i.domains = Some(Domains::List(vec!["http://x.cn/".into()])),
                "invalid_domain",
            ),
            (
                |i| i.domains = Some(Domains::List(vec!["com.cn".into()])),
                "public_suffix",
            ),
            (|i| i.access_provider = Some("  ".into()), "invalid_record"),
            (
                |i| i.access_province = Some("81".into()),
                "invalid_province",
            ),
            (|i| i.access_province = None, "invalid_province"),
            (|i| i.status = Some("gone".into()), "invalid_record"),
        ];
        for (change, code) in cases {
            let mut input = recordal_input();
            change(&mut input);
            let error = input
                .validate(None, &actor(), crate::model::now())
                .unwrap_err();
            assert_eq!(error.code, code, "{error:?}");
            assert!(!error.message.ends_with('.'));
        }
    }

    #[test]
    fn a_bad_checksum_is_kept() {
        let mut input = recordal_input();
        input.sponsor_code = Some("91350203M0001QAY9B".into());
        let recordal = input.validate(None, &actor(), crate::model::now()).unwrap();
        assert!(!recordal.sponsor_code.checksum_ok());
    }

    #[test]
    fn path_and_body_must_agree() {
        let key = IcpNumber::parse("京ICP备13025326号-3").unwrap();
        let error = recordal_input()
            .validate(Some(&key), &actor(), crate::model::now())
            .unwrap_err();
        assert_eq!(error.code, "invalid_record");
        let registration = RegistrationInput {
            uscc: Some("91110000600037341L".into()),
            name: Some("x".into()),
            ..Default::default()
        };
        let key = Uscc::parse("91110108551385082Q").unwrap();
        assert!(
            registration
                .validate(Some(&key), &actor(), crate::model::now())
                .is_err()
        );
        let registration = RegistrationInput {
            name: Some("x".into()),
            status: Some("revoked".into()),
            ..Default::default()
        };
        let made = registration
            .validate(Some(&key), &actor(), crate::model::now())
            .unwrap();
        assert_eq!(made.status, RegistrationStatus::Revoked);
    }
}
