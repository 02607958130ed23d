//! The scope of a blacklist entry: the name and everything below it, or the name alone;
//! how a scope is matched is left to `index`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an entry covers. The discriminants are the stored form, so they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Scope {
    /// The name and every name below it on a label boundary (the contract's default).
    #[default]
    Subtree = 0,
    /// The name alone.
    Exact = 1,
}

impl Scope {
    /// Parses the wire form (`subtree`, `exact`); anything else, in any other case, is `None`.
    pub fn parse(input: &str) -> Option<Scope> {
        match input {
            "subtree" => Some(Scope::Subtree),
            "exact" => Some(Scope::Exact),
            _ => None,
        }
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Subtree => "subtree",
            Scope::Exact => "exact",
        }
    }

    /// The compact stored form.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// Reads the compact stored form; `None` for a byte no version ever wrote.
    pub fn from_u8(value: u8) -> Option<Scope> {
        match value {
            0 => Some(Scope::Subtree),
            1 => Some(Scope::Exact),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_and_stored_forms() {
        for (scope, text, byte) in [(Scope::Subtree, "subtree", 0), (Scope::Exact, "exact", 1)] {
            assert_eq!(Scope::parse(text), Some(scope));
            assert_eq!(scope.as_str(), text);
            assert_eq!(scope.to_string(), text);
            assert_eq!(scope.to_u8(), byte);
            assert_eq!(Scope::from_u8(byte), Some(scope));
            assert_eq!(
                serde_json::to_string(&scope).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<Scope>(&format!("\"{text}\"")).unwrap(),
                scope
            );
        }
        assert_eq!(Scope::default(), Scope::Subtree);
    }

    #[test]
    fn rejects_other_spellings() {
        for input in ["", "Subtree", "EXACT", " exact", "wildcard", "tree"] {
            assert_eq!(Scope::parse(input), None, "input {input:?}");
            assert!(serde_json::from_str::<Scope>(&format!("{input:?}")).is_err());
        }
        assert_eq!(Scope::from_u8(2), None);
    }

    proptest! {
        #[test]
        fn parse_accepts_only_the_wire_forms(input in any::<String>()) {
            if let Some(scope) = Scope::parse(&input) {
                prop_assert_eq!(scope.as_str(), input.as_str());
            }
        }

        #[test]
        fn from_u8_inverts_to_u8(byte in any::<u8>()) {
            if let Some(scope) = Scope::from_u8(byte) {
                prop_assert_eq!(scope.to_u8(), byte);
            }
        }
    }
}
