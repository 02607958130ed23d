//! Pure domain values, parsed and normalised once at the edge: domain names, scopes,
//! categories, provinces, roles, decisions, unified social credit codes and ICP numbers. No I/O
//! happens here; storage and HTTP shapes are left to `store` and `api`.

/// Declares a fieldless enum in which every variant has one wire form, and derives `ALL`,
/// `parse`, `as_str` and `Display` from that one list, so that they cannot drift apart. When
/// every variant also carries its stored byte (`Fraud = 12 => "fraud"`), `to_u8` and `from_u8`
/// come from the same list. Serde stays derived on the enum itself, because its error messages
/// reach API clients; each enum's tests hold its spelling to `as_str`.
macro_rules! wire_enum {
    (@forms
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$doc:meta])* $variant:ident $(= $byte:literal)? => $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$doc])* $variant $(= $byte)?,)+
        }

        impl $name {
            /// Every variant, in the order declared (for a stored enum, the order of its bytes).
            pub const ALL: [$name; [$($wire),+].len()] = [$($name::$variant),+];

            /// Parses the wire form; any other spelling, in any other case, is `None`.
            pub fn parse(input: &str) -> Option<$name> {
                match input {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$doc:meta])* $variant:ident = $byte:literal => $wire:literal,)+
        }
    ) => {
        wire_enum! {
            @forms
            $(#[$meta])*
            pub enum $name {
                $($(#[$doc])* $variant = $byte => $wire,)+
            }
        }

        impl $name {
            /// The compact stored form.
            pub fn to_u8(self) -> u8 {
                self as u8
            }

            /// Reads the compact stored form; `None` for a byte no version ever wrote.
            pub fn from_u8(value: u8) -> Option<$name> {
                match value {
                    $($byte => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$doc:meta])* $variant:ident => $wire:literal,)+
        }
    ) => {
        wire_enum! {
            @forms
            $(#[$meta])*
            pub enum $name {
                $($(#[$doc])* $variant => $wire,)+
            }
        }
    };
}

/// Gives a value with one text form its `Display`, `Serialize` and `Deserialize`: written as
/// the text `$text` returns, read back through `parse`, so that a value read from JSON or from
/// the store is held to the same rules as one from a request. `$expecting` completes serde's
/// "invalid type: ..., expected ..." message for input that is no string at all. With
/// `FromStr<Err = ...>` last, `str::parse` goes through `parse` as well.
macro_rules! text_form {
    ($name:ident, $text:ident, $expecting:literal, FromStr<Err = $error:ty>) => {
        text_form!($name, $text, $expecting);

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                $name::parse(input)
            }
        }
    };
    ($name:ident, $text:ident, $expecting:literal) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.$text())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.$text())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> Result<Self, D::Error>
            where
                D: serde::Deserializer<'de>,
            {
                struct Visitor;

                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: serde::de::Error>(self, input: &str) -> Result<$name, E> {
                        $name::parse(input).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(Visitor)
            }
        }
    };
}

/// The property tests every wire enum owes: `parse` accepts only what `as_str` gives back and,
/// for a stored enum, `from_u8` only the bytes `to_u8` gives. They are generated into the
/// enum's own `tests` module, under the same names there.
#[cfg(test)]
macro_rules! wire_enum_properties {
    ($name:ident) => {
        proptest::proptest! {
            #[test]
            fn parse_accepts_only_the_wire_forms(input in proptest::prelude::any::<String>()) {
                if let Some(value) = $name::parse(&input) {
                    proptest::prop_assert_eq!(value.as_str(), input.as_str());
                }
            }
        }
    };
    ($name:ident, stored) => {
        wire_enum_properties!($name);

        proptest::proptest! {
            #[test]
            fn from_u8_inverts_to_u8(byte in proptest::prelude::any::<u8>()) {
                if let Some(value) = $name::from_u8(byte) {
                    proptest::prop_assert_eq!(value.to_u8(), byte);
                }
            }
        }
    };
}

mod category;
mod cidr;
mod decision;
mod icp;
mod name;
mod province;
mod role;
mod scope;
mod uscc;

pub use category::Category;
pub use cidr::{Cidr, CidrError};
pub use decision::{
    DateWindow, Decision, DecisionError, DecisionInput, DocumentType, MAX_DOCUMENT_TEXT,
    parse_date, sha256_digest, shown_only, today_in_china,
};
pub use icp::{IcpError, IcpLicence, IcpLicenceError, IcpNormalisation, IcpNumber};
pub use name::{DomainError, DomainName};
pub use province::{Province, ProvinceError};
pub use role::Role;
pub use scope::Scope;
pub use uscc::{Uscc, UsccError};

/// Shortens user input quoted in an error message: echoing a whole oversized value back
/// helps nobody and bloats logs.
fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 16;
    match input.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

/// Assertions the values' unit tests share.
#[cfg(test)]
mod test_support {
    use std::fmt::{Debug, Display};

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// `value` is written as `text` by `Display` and by serde (as a JSON string), and serde
    /// reads it back from that string.
    pub fn assert_written_as<T>(value: &T, text: &str)
    where
        T: Display + Serialize + DeserializeOwned + PartialEq + Debug,
    {
        assert_eq!(value.to_string(), text);
        assert_eq!(serde_json::to_string(value).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(),
            *value
        );
    }

    /// Neither `parse` nor serde accepts any of `inputs`.
    pub fn assert_refused<T>(parse: fn(&str) -> Option<T>, inputs: &[&str])
    where
        T: DeserializeOwned + PartialEq + Debug,
    {
        for input in inputs {
            assert_eq!(parse(input), None, "input {input:?}");
            assert!(serde_json::from_str::<T>(&format!("{input:?}")).is_err());
        }
    }

    /// Each input is refused with exactly the message next to it; the errors are returned for
    /// any further checks.
    pub fn assert_refusals<T, E>(parse: fn(&str) -> Result<T, E>, cases: &[(&str, &str)]) -> Vec<E>
    where
        T: Debug,
        E: Display,
    {
        let mut errors = Vec::new();
        for &(input, expected) in cases {
            let error = parse(input).expect_err(input);
            assert_eq!(error.to_string(), expected, "input {input:?}");
            errors.push(error);
        }
        errors
    }
}
