//! The scope of a blacklist entry: the name and everything below it, or the name alone;
//! how a scope is matched is left to `index`.

use serde::{Deserialize, Serialize};

wire_enum! {
    /// What an entry covers. The discriminants are the stored form, so they never change.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[repr(u8)]
    pub enum Scope {
        /// The name and every name below it on a label boundary (the contract's default).
        #[default]
        Subtree = 0 => "subtree",
        /// The name alone.
        Exact = 1 => "exact",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{assert_refused, assert_written_as};

    #[test]
    fn wire_and_stored_forms() {
        for (scope, text, byte) in [(Scope::Subtree, "subtree", 0), (Scope::Exact, "exact", 1)] {
            assert_eq!(Scope::parse(text), Some(scope));
            assert_eq!(scope.as_str(), text);
            assert_written_as(&scope, text);
            assert_eq!(scope.to_u8(), byte);
            assert_eq!(Scope::from_u8(byte), Some(scope));
        }
        assert_eq!(Scope::default(), Scope::Subtree);
    }

    #[test]
    fn rejects_other_spellings() {
        assert_refused(
            Scope::parse,
            &["", "Subtree", "EXACT", " exact", "wildcard", "tree"],
        );
        assert_eq!(Scope::from_u8(2), None);
    }

    wire_enum_properties!(Scope, stored);
}
