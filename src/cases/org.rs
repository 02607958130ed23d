//! The organisations of the regulation, derived from a key's role and province: provincial
//! market regulators (`amr:<province>`), SAMR, provincial communications administrations
//! (`ca:<province>`) and MIIT. Which organisation may do what to a case is `workflow`'s.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::domain::{Province, Role};

/// One side's authority at one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Org {
    /// A provincial administration for market regulation (市场监督管理局).
    Amr(Province),
    /// The State Administration for Market Regulation.
    Samr,
    /// A provincial communications administration (通信管理局).
    Ca(Province),
    /// The Ministry of Industry and Information Technology.
    Miit,
}

impl Org {
    /// The organisation a key speaks for: `agency` keys are market regulators, `telecom` keys
    /// communications administrations; without a province the national one. Other roles speak
    /// for no organisation.
    pub fn of(role: Role, province: Option<Province>) -> Option<Org> {
        match (role, province) {
            (Role::Agency, Some(p)) => Some(Org::Amr(p)),
            (Role::Agency, None) => Some(Org::Samr),
            (Role::Telecom, Some(p)) => Some(Org::Ca(p)),
            (Role::Telecom, None) => Some(Org::Miit),
            _ => None,
        }
    }

    /// Market regulation (AMR, SAMR) rather than telecom (CA, MIIT).
    pub fn is_market(self) -> bool {
        matches!(self, Org::Amr(_) | Org::Samr)
    }

    pub fn is_telecom(self) -> bool {
        !self.is_market()
    }

    pub fn province(self) -> Option<Province> {
        match self {
            Org::Amr(p) | Org::Ca(p) => Some(p),
            Org::Samr | Org::Miit => None,
        }
    }

    pub fn parse(input: &str) -> Option<Org> {
        match input {
            "samr" => Some(Org::Samr),
            "miit" => Some(Org::Miit),
            _ => {
                let (side, code) = input.split_once(':')?;
                let province = Province::parse(code).ok()?;
                match side {
                    "amr" => Some(Org::Amr(province)),
                    "ca" => Some(Org::Ca(province)),
                    _ => None,
                }
            }
        }
    }
}

impl fmt::Display for Org {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Org::Amr(p) => write!(f, "amr:{}", p.code()),
            Org::Samr => f.write_str("samr"),
            Org::Ca(p) => write!(f, "ca:{}", p.code()),
            Org::Miit => f.write_str("miit"),
        }
    }
}

impl Serialize for Org {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Org {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Org::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown organisation {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_speak_for_their_organisation() {
        let bj = Province::parse("11").unwrap();
        assert_eq!(Org::of(Role::Agency, Some(bj)), Some(Org::Amr(bj)));
        assert_eq!(Org::of(Role::Agency, None), Some(Org::Samr));
        assert_eq!(Org::of(Role::Telecom, Some(bj)), Some(Org::Ca(bj)));
        assert_eq!(Org::of(Role::Telecom, None), Some(Org::Miit));
        for role in [
            Role::Admin,
            Role::Auditor,
            Role::AccessProvider,
            Role::DnsProvider,
        ] {
            assert_eq!(Org::of(role, Some(bj)), None);
            assert_eq!(Org::of(role, None), None);
        }
        assert!(Org::Amr(bj).is_market() && Org::Samr.is_market());
        assert!(Org::Ca(bj).is_telecom() && Org::Miit.is_telecom());
    }

    #[test]
    fn written_forms() {
        for (text, org) in [
            ("amr:11", Org::Amr(Province::parse("11").unwrap())),
            ("ca:44", Org::Ca(Province::parse("44").unwrap())),
            ("samr", Org::Samr),
            ("miit", Org::Miit),
        ] {
            assert_eq!(Org::parse(text), Some(org));
            assert_eq!(org.to_string(), text);
            assert_eq!(serde_json::to_string(&org).unwrap(), format!("\"{text}\""));
        }
        for bad in [
            "", "amr", "amr:", "amr:99", "ca:81", "SAMR", "isp:11", "amr:11:1",
        ] {
            assert_eq!(Org::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_round_trips(input in "[a-z:0-9]{0,8}") {
            if let Some(org) = Org::parse(&input) {
                prop_assert_eq!(org.to_string(), input);
            }
        }
    }
}
