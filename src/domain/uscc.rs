//! Unified social credit codes (统一社会信用代码, GB 32100-2015): parsing, the check character
//! and the registering region; what a bad check character means for a record is left to
//! `records` and `api`.

use std::fmt;

use super::{Province, excerpt};

/// The code alphabet in value order: `0` is 0, `A` is 10, ..., `Y` is 30 (no I, O, Z, S, V).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1 to 17: 3^(i-1) mod 31.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The length of every code.
const LENGTH: usize = 18;

/// A unified social credit code: 18 characters of the code alphabet, upper case.
///
/// The check character (the 18th) is *not* enforced by [`Uscc::parse`]: registration data in
/// service keeps codes with a wrong one, and such a record must be kept and flagged, never
/// dropped. [`Uscc::checksum_ok`] tells; [`Uscc::parse_strict`] refuses them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc([u8; LENGTH]);

/// Why an input is not a unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Nothing but whitespace.
    #[error(
        "unified social credit code is empty: give the 18-character code, e.g. 91110108551385082Q"
    )]
    Empty,
    /// Not 18 characters after trimming.
    #[error(
        "unified social credit code \"{input}\" has {length} characters: a code has exactly 18"
    )]
    Length {
        /// The input, shortened.
        input: String,
        /// Its length in characters.
        length: usize,
    },
    /// A character outside the alphabet.
    #[error(
        "unified social credit code has {character:?} at position {position}: \
         only digits and the letters A-Y without I, O, S, V and Z occur"
    )]
    Character {
        /// One-based position in the trimmed input.
        position: usize,
        /// The character as given.
        character: char,
    },
    /// The check character does not match the first 17 (only from [`Uscc::parse_strict`]).
    #[error(
        "unified social credit code {code} fails its checksum: the check character is {found} but the first 17 characters give {expected}"
    )]
    Checksum {
        /// The code as parsed.
        code: String,
        /// The check character the first 17 characters give.
        expected: char,
        /// The check character the code carries.
        found: char,
    },
}

impl Uscc {
    /// Parses a code leniently: trims whitespace, upper-cases ASCII letters, and requires 18
    /// characters of the alphabet. A wrong check character is accepted (see
    /// [`Uscc::checksum_ok`]).
    pub fn parse(input: &str) -> Result<Uscc, UsccError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(UsccError::Empty);
        }
        let length = trimmed.chars().count();
        if length != LENGTH {
            return Err(UsccError::Length {
                input: excerpt(trimmed),
                length,
            });
        }
        let mut code = [0u8; LENGTH];
        for (index, character) in trimmed.chars().enumerate() {
            let upper = character.to_ascii_uppercase();
            if !upper.is_ascii() || value_of(upper as u8).is_none() {
                return Err(UsccError::Character {
                    position: index + 1,
                    character,
                });
            }
            code[index] = upper as u8;
        }
        Ok(Uscc(code))
    }

    /// Like [`Uscc::parse`], and also refuses a code whose check character is wrong.
    pub fn parse_strict(input: &str) -> Result<Uscc, UsccError> {
        let code = Uscc::parse(input)?;
        if code.checksum_ok() {
            Ok(code)
        } else {
            Err(UsccError::Checksum {
                code: code.as_str().to_owned(),
                expected: code.expected_check(),
                found: code.check(),
            })
        }
    }

    /// Completes a 17-character body with its check character; for generating codes (test
    /// data, examples). The body is parsed like [`Uscc::parse`] parses a whole code.
    pub fn with_check_character(body: &str) -> Result<Uscc, UsccError> {
        let body = body.trim();
        let length = body.chars().count();
        if length != LENGTH - 1 {
            // The length reported is that of the code the body would make, so the message
            // ("has 17 characters: a code has exactly 18") points at the same fix.
            return Err(UsccError::Length {
                input: excerpt(body),
                length: length + 1,
            });
        }
        let mut code = Uscc::parse(&format!("{body}0"))?;
        code.0[LENGTH - 1] = code.expected_check() as u8;
        Ok(code)
    }

    /// Whether the 18th character is the check character of the first 17.
    pub fn checksum_ok(&self) -> bool {
        self.check() == self.expected_check()
    }

    /// The check character the first 17 characters give.
    pub fn expected_check(&self) -> char {
        let sum: u32 = self.0[..LENGTH - 1]
            .iter()
            .zip(WEIGHTS)
            .map(|(&byte, weight)| {
                u32::from(value_of(byte).expect("a Uscc holds only alphabet characters")) * weight
            })
            .sum();
        ALPHABET[((31 - sum % 31) % 31) as usize] as char
    }

    /// The check character the code carries (the 18th).
    pub fn check(&self) -> char {
        self.0[LENGTH - 1] as char
    }

    /// The code, e.g. `91110108551385082Q`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a Uscc holds only ASCII characters")
    }

    /// Positions 3 to 8: the GB/T 2260 code of the registering authority's region, e.g.
    /// `110108` (Haidian, Beijing).
    pub fn region(&self) -> &str {
        &self.as_str()[2..8]
    }

    /// The province of the registering authority (the first two digits of
    /// [`Uscc::region`]), or `None` when they are no domestic province.
    pub fn province(&self) -> Option<Province> {
        Province::parse(&self.region()[..2]).ok()
    }
}

/// The value of an alphabet byte (`0` → 0 ... `Y` → 30).
fn value_of(byte: u8) -> Option<u8> {
    ALPHABET
        .iter()
        .position(|&c| c == byte)
        .map(|index| index as u8)
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.as_str())
    }
}

// Reading is lenient, like `Uscc::parse`: a stored or submitted code with a wrong check
// character still reads, so that the record carrying it can be flagged.
text_form!(
    Uscc,
    as_str,
    "an 18-character unified social credit code as a string",
    FromStr<Err = UsccError>
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{assert_refusals, assert_written_as};
    use proptest::prelude::*;

    #[test]
    fn valid_codes_of_the_domain_document() {
        let cases = [
            ("91110108551385082Q", "110108", Some("11")),
            ("91110000600037341L", "110000", Some("11")),
            ("91350200MA2YJ1XR9G", "350200", Some("35")),
            ("91440101MA5CJQ4N59", "440101", Some("44")),
        ];
        for (input, region, province) in cases {
            let code = Uscc::parse(input).expect(input);
            assert!(code.checksum_ok(), "{input}");
            assert_eq!(Uscc::parse_strict(input), Ok(code));
            assert_eq!(code.as_str(), input);
            assert_written_as(&code, input);
            assert_eq!(code.region(), region);
            assert_eq!(code.province().map(Province::code), province);
            assert_eq!(code.expected_check(), code.check());
        }
    }

    #[test]
    fn a_bad_check_character_is_kept_and_flagged() {
        let code = Uscc::parse("91350203M0001QAY9B").unwrap();
        assert!(!code.checksum_ok());
        assert_eq!(code.check(), 'B');
        assert_eq!(code.province(), Province::parse("35").ok());
        let error = Uscc::parse_strict("91350203M0001QAY9B").unwrap_err();
        let expected = code.expected_check();
        assert_eq!(
            error,
            UsccError::Checksum {
                code: "91350203M0001QAY9B".into(),
                expected,
                found: 'B',
            }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "unified social credit code 91350203M0001QAY9B fails its checksum: \
                 the check character is B but the first 17 characters give {expected}"
            )
        );
        // Serde is lenient too: the record that carries it is read and flagged.
        let read: Uscc = serde_json::from_str("\"91350203M0001QAY9B\"").unwrap();
        assert!(!read.checksum_ok());
    }

    #[test]
    fn trims_and_upper_cases() {
        let code = Uscc::parse("  91350200ma2yj1xr9g\t").unwrap();
        assert_eq!(code.as_str(), "91350200MA2YJ1XR9G");
        assert!(code.checksum_ok());
    }

    #[test]
    fn codes_may_start_with_a_letter() {
        for body in [
            "N2110108MA0000001",
            "A1110000MA0000002",
            "Y1440101MA0000003",
        ] {
            let code = Uscc::with_check_character(body).unwrap();
            assert!(code.checksum_ok());
            assert_eq!(&code.as_str()[..17], body);
            assert_eq!(Uscc::parse_strict(code.as_str()), Ok(code));
        }
        let code = Uscc::parse("N2110108MA0000001X").unwrap();
        assert_eq!(code.region(), "110108");
        assert_eq!(code.province().map(Province::code), Some("11"));
    }

    #[test]
    fn region_without_a_domestic_province() {
        let code = Uscc::with_check_character("91810000MA0000001").unwrap();
        assert_eq!(code.region(), "810000");
        assert_eq!(code.province(), None);
        let code = Uscc::with_check_character("9199AB00MA0000001").unwrap();
        assert_eq!(code.province(), None);
    }

    #[test]
    fn rejects_with_a_clear_message() {
        let cases = [
            (
                "",
                "unified social credit code is empty: give the 18-character code, e.g. 91110108551385082Q",
            ),
            (
                "   ",
                "unified social credit code is empty: give the 18-character code, e.g. 91110108551385082Q",
            ),
            (
                "91110108551385082",
                "unified social credit code \"9111010855138508…\" has 17 characters: a code has exactly 18",
            ),
            (
                "91110108551385082QQ",
                "unified social credit code \"9111010855138508…\" has 19 characters: a code has exactly 18",
            ),
            (
                "9111010855138508IQ",
                "unified social credit code has 'I' at position 17: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "O1110108551385082Q",
                "unified social credit code has 'O' at position 1: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "91110108551385082Z",
                "unified social credit code has 'Z' at position 18: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "91110108S51385082Q",
                "unified social credit code has 'S' at position 9: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "91110108V51385082Q",
                "unified social credit code has 'V' at position 9: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "9111 108551385082Q",
                "unified social credit code has ' ' at position 5: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "９1110108551385082Q",
                "unified social credit code has '９' at position 1: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
            (
                "91110108-51385082Q",
                "unified social credit code has '-' at position 9: only digits and the letters A-Y without I, O, S, V and Z occur",
            ),
        ];
        assert_refusals(Uscc::parse, &cases);
        assert!(serde_json::from_str::<Uscc>("\"91110108\"").is_err());
        assert!(serde_json::from_str::<Uscc>("91110108").is_err());
        assert!(Uscc::with_check_character("9111010855138508").is_err());
        assert!(Uscc::with_check_character("91110108551385082Q").is_err());
    }

    fn body() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 17)
            .prop_map(|bytes| String::from_utf8(bytes).unwrap())
    }

    proptest! {
        #[test]
        fn the_computed_check_character_validates(body in body()) {
            let code = Uscc::with_check_character(&body).unwrap();
            prop_assert!(code.checksum_ok());
            prop_assert_eq!(Uscc::parse_strict(code.as_str()), Ok(code));
            prop_assert_eq!(&code.as_str()[..17], body.as_str());
        }

        #[test]
        fn changing_one_character_breaks_the_checksum(
            body in body(),
            position in 0usize..18,
            shift in 1u8..31,
        ) {
            let code = Uscc::with_check_character(&body).unwrap();
            let mut bytes = code.as_str().as_bytes().to_vec();
            let value = value_of(bytes[position]).unwrap();
            bytes[position] = ALPHABET[usize::from((value + shift) % 31)];
            let changed = Uscc::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
            prop_assert!(!changed.checksum_ok());
            prop_assert!(Uscc::parse_strict(changed.as_str()).is_err());
        }

        #[test]
        fn parse_never_panics_and_round_trips(input in any::<String>()) {
            if let Ok(code) = Uscc::parse(&input) {
                prop_assert_eq!(Uscc::parse(code.as_str()), Ok(code));
                prop_assert_eq!(code.as_str(), input.trim().to_ascii_uppercase());
            }
        }
    }
}
