//! The roles an API key can carry; what each role may do is decided by `auth`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The role of an API key, as in section 3 of the HTTP contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages keys and providers.
    Admin,
    /// A market regulator (AMR/SAMR): submits and lifts entries.
    Agency,
    /// A communications administration (CA/MIIT): submits and lifts entries.
    Telecom,
    /// An access provider: checks, feed, snapshot and its own notices.
    AccessProvider,
    /// A DNS provider: as an access provider, plus the RPZ zone.
    DnsProvider,
    /// Read-only access to entries, checks, feed, snapshot, RPZ and the audit log.
    Auditor,
}

impl Role {
    /// Every role, in the order of the contract.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Agency,
        Role::Telecom,
        Role::AccessProvider,
        Role::DnsProvider,
        Role::Auditor,
    ];

    /// Parses the wire form (`access_provider`); other spellings are `None`.
    pub fn parse(input: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == input)
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agency => "agency",
            Role::Telecom => "telecom",
            Role::AccessProvider => "access_provider",
            Role::DnsProvider => "dns_provider",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_forms() {
        let cases = [
            (Role::Admin, "admin"),
            (Role::Agency, "agency"),
            (Role::Telecom, "telecom"),
            (Role::AccessProvider, "access_provider"),
            (Role::DnsProvider, "dns_provider"),
            (Role::Auditor, "auditor"),
        ];
        assert_eq!(cases.len(), Role::ALL.len());
        for (role, text) in cases {
            assert_eq!(Role::parse(text), Some(role));
            assert_eq!(role.as_str(), text);
            assert_eq!(role.to_string(), text);
            // The serde form and `as_str` must never drift apart.
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<Role>(&format!("\"{text}\"")).unwrap(),
                role
            );
        }
    }

    #[test]
    fn rejects_other_spellings() {
        for input in [
            "",
            "Admin",
            "access-provider",
            "accessProvider",
            "root",
            "dns",
        ] {
            assert_eq!(Role::parse(input), None, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_accepts_only_the_wire_forms(input in any::<String>()) {
            if let Some(role) = Role::parse(&input) {
                prop_assert_eq!(role.as_str(), input.as_str());
            }
        }
    }
}
