//! The roles an API key can carry; what each role may do is decided by `auth`.

use serde::{Deserialize, Serialize};

wire_enum! {
    /// The role of an API key, as in section 3 of the HTTP contract. `ALL` is in the order of
    /// the contract.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role {
        /// Manages keys and providers.
        Admin => "admin",
        /// A market regulator (AMR/SAMR): submits and lifts entries.
        Agency => "agency",
        /// A communications administration (CA/MIIT): submits and lifts entries.
        Telecom => "telecom",
        /// An access provider: checks, feed, snapshot and its own notices.
        AccessProvider => "access_provider",
        /// A DNS provider: as an access provider, plus the RPZ zone.
        DnsProvider => "dns_provider",
        /// Read-only access to entries, checks, feed, snapshot, RPZ and the audit log.
        Auditor => "auditor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::assert_written_as;

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
            // The serde form and `as_str` must never drift apart.
            assert_written_as(&role, text);
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

    wire_enum_properties!(Role);
}
