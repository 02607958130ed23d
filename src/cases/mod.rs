//! Referral cases: the path of the regulation from a provincial market regulator's finding to
//! the telecom side's measures, as data. A case records its facts, its route (`routing`), who
//! holds it, the hand-over waiting for acceptance, the emergency suspension and the closure,
//! and a timeline of every step. The rules of each step are `workflow`'s; storing a case is
//! the store's (`store::cases`), as opaque versioned documents; HTTP shapes are `api::cases`'.

pub mod org;
pub mod referral;
pub mod routing;
pub mod subscription;
pub mod workflow;

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use org::Org;
pub use routing::{Route, RouteKind};

use crate::domain::{Category, Decision, DomainName, IcpNumber, Province, Uscc};
use crate::model::{Actor, NamesDocuments, distinct_hashes};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Handed over; the receiving organisation has yet to accept or return it.
    Referred,
    /// With its holder, which forwards it, executes what was requested, or (when returned to
    /// the opener) sends it again or withdraws it.
    Held,
    /// The telecom side executed the measures; nothing more happens.
    Closed,
    /// The opener withdrew it.
    Withdrawn,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Referred => "referred",
            CaseState::Held => "held",
            CaseState::Closed => "closed",
            CaseState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(input: &str) -> Option<CaseState> {
        Some(match input {
            "referred" => CaseState::Referred,
            "held" => CaseState::Held,
            "closed" => CaseState::Closed,
            "withdrawn" => CaseState::Withdrawn,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(self, CaseState::Referred | CaseState::Held)
    }
}

/// A hand-over waiting for the receiving organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handover {
    #[schema(value_type = String)]
    pub from: Org,
    #[schema(value_type = String)]
    pub to: Org,
    /// The position of `to` on the route.
    pub hop: usize,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// Why a site is suspended before its case ends (the regulation's three grounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    NationalSecurity,
    PublicSafety,
    Property,
}

impl Ground {
    /// Every ground, in the order declared.
    pub const ALL: [Ground; 3] = [
        Ground::NationalSecurity,
        Ground::PublicSafety,
        Ground::Property,
    ];

    pub fn parse(input: &str) -> Option<Ground> {
        Some(match input {
            "national_security" => Ground::NationalSecurity,
            "public_safety" => Ground::PublicSafety,
            "property" => Ground::Property,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ground::NationalSecurity => "national_security",
            Ground::PublicSafety => "public_safety",
            Ground::Property => "property",
        }
    }
}

/// The opener's written request to suspend access, and what became of it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suspension {
    /// The letter: its number, issuing authority and date.
    #[schema(value_type = Object)]
    pub letter: Decision,
    pub ground: Ground,
    pub requested_by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    /// The registry entry with status `suspended`, once executed.
    #[schema(value_type = Option<String>)]
    pub entry_id: Option<Uuid>,
    pub executed_by: Option<Actor>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub executed_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// How it ended: `expired`, `listed` (the closure's listing took its place), `ended` (the
    /// case closed without a registry measure) or `withdrawn`.
    pub ended: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
}

impl Suspension {
    /// Executed and not yet ended: the domain is in the registry as `suspended`.
    pub fn in_force(&self) -> bool {
        self.entry_id.is_some() && self.ended.is_none()
    }
}

/// A measure the telecom side may take at closure.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Cancel the operator's recordal (or licence).
    CancelRecordal,
    /// Tell the access providers to stop access.
    StopAccess,
    /// Tell the DNS providers to stop resolution.
    StopResolution,
    /// Put the site on the blacklist of illegal websites.
    Blacklist,
}

impl Measure {
    /// Every measure, in the order declared.
    pub const ALL: [Measure; 4] = [
        Measure::CancelRecordal,
        Measure::StopAccess,
        Measure::StopResolution,
        Measure::Blacklist,
    ];

    pub fn parse(input: &str) -> Option<Measure> {
        Some(match input {
            "cancel_recordal" => Measure::CancelRecordal,
            "stop_access" => Measure::StopAccess,
            "stop_resolution" => Measure::StopResolution,
            "blacklist" => Measure::Blacklist,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::CancelRecordal => "cancel_recordal",
            Measure::StopAccess => "stop_access",
            Measure::StopResolution => "stop_resolution",
            Measure::Blacklist => "blacklist",
        }
    }

    /// Whether the measure needs the site in the registry: access and DNS providers act on
    /// what the registry lists, so stopping access or resolution lists it too.
    pub fn lists(self) -> bool {
        !matches!(self, Measure::CancelRecordal)
    }
}

/// The opener's penalty decision and recommendation letter, and the telecom side's measures.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Closure {
    /// The administrative penalty decision (行政处罚决定书).
    #[schema(value_type = Object)]
    pub decision: Decision,
    /// The letter of administrative recommendation (行政建议函).
    #[schema(value_type = Object)]
    pub recommendation: Decision,
    pub submitted_by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub submitted_at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<Measure>,
    pub executed_by: Option<Actor>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub executed_at: Option<Timestamp>,
}

/// A document named in a step: its kind, number and hash as far as known.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepDocument {
    /// `evidence`, `suspension_letter`, `penalty_decision`, `recommendation_letter`,
    /// `return_reason` or `referral_document`.
    pub kind: String,
    pub number: Option<String>,
    pub sha256: Option<String>,
    /// Whether the document named by `sha256` was uploaded: set when an answer is shaped,
    /// never stored (see `Decision::document_uploaded`). Absent without a hash.
    #[serde(default, deserialize_with = "crate::domain::shown_only")]
    pub document_uploaded: Option<bool>,
}

impl StepDocument {
    pub fn of(kind: &str, decision: &Decision) -> StepDocument {
        StepDocument::new(
            kind,
            Some(decision.number.clone()),
            decision.document_sha256.clone(),
        )
    }

    /// A document of `kind` named by its number or its hash (or both).
    pub fn new(kind: &str, number: Option<String>, sha256: Option<String>) -> StepDocument {
        StepDocument {
            kind: kind.into(),
            number,
            sha256,
            document_uploaded: None,
        }
    }

    fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool) {
        self.document_uploaded = self.sha256.as_deref().map(uploaded);
    }
}

/// The hashes of the documents of `steps` and of `more`.
fn step_hashes<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    more: impl IntoIterator<Item = &'a StepDocument>,
) -> impl Iterator<Item = Option<&'a String>> {
    steps
        .into_iter()
        .flat_map(|s| &s.documents)
        .chain(more)
        .map(|d| d.sha256.as_ref())
}

/// The kinds under which the documents of `steps` and of `more` name `sha256`, each once.
fn step_kinds<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    more: impl IntoIterator<Item = &'a StepDocument>,
    sha256: &str,
) -> Vec<String> {
    let mut kinds: Vec<String> = steps
        .into_iter()
        .flat_map(|s| &s.documents)
        .chain(more)
        .filter(|d| d.sha256.as_deref() == Some(sha256))
        .map(|d| d.kind.clone())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// Marks the documents of `steps` and of `more`.
fn mark_steps<'a>(
    steps: impl IntoIterator<Item = &'a mut Step>,
    more: impl IntoIterator<Item = &'a mut StepDocument>,
    uploaded: &dyn Fn(&str) -> bool,
) {
    for document in steps.into_iter().flat_map(|s| &mut s.documents).chain(more) {
        document.mark_uploaded(uploaded);
    }
}

/// One event of a case's timeline: who did what, when, with which documents.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    /// `opened`, `handed_over`, `accepted`, `returned`, `suspension_requested`,
    /// `suspension_executed`, `suspension_expired`, `decision_submitted`, `closed`,
    /// `withdrawn`.
    pub action: String,
    /// The organisation that acted; absent when siteban itself did (an expiry).
    #[schema(value_type = Option<String>)]
    pub org: Option<Org>,
    pub by: Option<Actor>,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<StepDocument>,
}

/// A referral case.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Case {
    #[schema(value_type = String)]
    pub id: Uuid,
    /// Grows by one with every change; a change is written only over the version it read.
    pub version: u64,
    #[schema(value_type = String, example = "shop.example.cn")]
    pub domain: DomainName,
    pub domain_unicode: Option<String>,
    /// Whether the site has an ICP recordal.
    pub recorded: bool,
    #[schema(value_type = Option<String>, example = "京ICP备13025326号-2")]
    pub icp_number: Option<IcpNumber>,
    #[schema(value_type = Option<String>, example = "11")]
    pub recordal_province: Option<Province>,
    /// Where the site is connected to the internet.
    #[schema(value_type = String, example = "44")]
    pub access_province: Province,
    pub operator_name: Option<String>,
    /// Kept as given even when its check character is wrong; see the flag below.
    #[schema(value_type = Option<String>, example = "91110108551385082Q")]
    pub operator_credit_code: Option<Uscc>,
    /// Whether `operator_credit_code`'s check character is right; absent without a code.
    pub operator_credit_code_checksum_ok: Option<bool>,
    #[schema(value_type = String, example = "counterfeit_goods")]
    pub category: Category,
    pub summary: String,
    /// SHA-256 of each evidence document, lower-case hex.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[schema(value_type = String, example = "amr:11")]
    pub opener: Org,
    pub opened_by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: Timestamp,
    pub route: Route,
    /// The position of the holder on the route.
    pub hop: usize,
    /// The organisation holding the case.
    #[schema(value_type = String)]
    pub holder: Org,
    pub handover: Option<Handover>,
    pub state: CaseState,
    /// When what the case now waits for began: its age in an inbox counts from here.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    pub suspension: Option<Suspension>,
    pub closure: Option<Closure>,
    /// The blacklist entry made at closure.
    #[schema(value_type = Option<String>)]
    pub entry_id: Option<Uuid>,
    /// Whether the recordal was marked cancelled at closure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recordal_cancelled: bool,
    pub timeline: Vec<Step>,
}

/// A case names its evidence, its letters and the documents of its steps; the flag goes on
/// the letters and the steps (`evidence` is a list of bare hashes, also in the `opened` step).
impl NamesDocuments for Case {
    fn document_hashes(&self) -> Vec<String> {
        let letters = [
            self.suspension.as_ref().map(|s| &s.letter),
            self.closure.as_ref().map(|c| &c.decision),
            self.closure.as_ref().map(|c| &c.recommendation),
        ];
        distinct_hashes(
            step_hashes(&self.timeline, [])
                .chain(self.evidence.iter().map(Some))
                .chain(
                    letters
                        .into_iter()
                        .flatten()
                        .map(|d| d.document_sha256.as_ref()),
                ),
        )
    }

    fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool) {
        mark_steps(&mut self.timeline, [], uploaded);
        if let Some(suspension) = &mut self.suspension {
            suspension.letter.mark_uploaded(uploaded);
        }
        if let Some(closure) = &mut self.closure {
            closure.decision.mark_uploaded(uploaded);
            closure.recommendation.mark_uploaded(uploaded);
        }
    }

    /// Every letter and every evidence hash is also a document of a step, under its kind.
    fn names_as(&self, sha256: &str) -> Vec<String> {
        step_kinds(&self.timeline, [], sha256)
    }
}

impl Case {
    /// The telecom organisation at the end of the route, which executes the measures.
    pub fn executor(&self) -> Org {
        *self.route.hops.last().unwrap_or(&self.holder)
    }

    /// Whether `org` may read the case: national organisations read every case, provincial
    /// ones the cases whose route passes through them.
    pub fn visible_to(&self, org: Org) -> bool {
        org.province().is_none() || self.route.hops.contains(&org)
    }
}
