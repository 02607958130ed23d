//! ICP recordal numbers (备案号) and ICP licences (经营许可证): parsing the forms found in
//! real site footers into one canonical form, flagging what was rewritten, and the province
//! of the prefix; what a recordal holds is left to `records`.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Province, excerpt};

/// Inputs longer than this are refused before any work: a recordal number is about 20
/// characters, a licence with every category about 30.
const MAX_INPUT_CHARS: usize = 64;

/// A website recordal number in canonical form, `{prefix}ICP备{8 or 10 digits}号[-{n}]`,
/// e.g. `京ICP备13025326号-2`. The prefix is kept as given (`蜀` stays `蜀`): both
/// abbreviations of Sichuan and Gansu occur in real numbers.
///
/// Equality, ordering and hashing use the canonical text only; [`IcpNumber::normalisations`]
/// says what parsing rewrote and is not part of the value.
#[derive(Clone)]
pub struct IcpNumber {
    text: Box<str>,
    province: Province,
    /// Byte length of the subject part (`京ICP备13025326号`).
    subject_len: usize,
    site: Option<u32>,
    /// Bit set of [`IcpNormalisation`].
    flags: u8,
}

/// A rewrite that [`IcpNumber::parse`] applied to reach the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IcpNormalisation {
    /// Spaces (ASCII or ideographic) were removed.
    Whitespace,
    /// Full-width digits or letters were made ASCII.
    FullWidth,
    /// `icp` was upper-cased.
    LowerCase,
    /// A dash other than `-` (`－`, `—`, `–`, `‐`, `−`) before the site number.
    Hyphen,
    /// `号` was missing and was added.
    MissingHao,
    /// `号` stood after the site number (`-5号`) and was moved before the hyphen.
    HaoAfterSite,
    /// The site number had leading zeros (`-02`).
    SiteLeadingZero,
}

impl IcpNormalisation {
    /// Every rewrite, in flag order.
    pub const ALL: [IcpNormalisation; 7] = [
        IcpNormalisation::Whitespace,
        IcpNormalisation::FullWidth,
        IcpNormalisation::LowerCase,
        IcpNormalisation::Hyphen,
        IcpNormalisation::MissingHao,
        IcpNormalisation::HaoAfterSite,
        IcpNormalisation::SiteLeadingZero,
    ];

    /// The stable snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            IcpNormalisation::Whitespace => "whitespace",
            IcpNormalisation::FullWidth => "full_width",
            IcpNormalisation::LowerCase => "lower_case",
            IcpNormalisation::Hyphen => "hyphen",
            IcpNormalisation::MissingHao => "missing_hao",
            IcpNormalisation::HaoAfterSite => "hao_after_site",
            IcpNormalisation::SiteLeadingZero => "site_leading_zero",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Why an input is not an ICP recordal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcpError {
    /// Nothing but whitespace.
    #[error("ICP number is empty: give the recordal number, e.g. 京ICP备13025326号-2")]
    Empty,
    /// Far longer than any recordal number.
    #[error("ICP number \"{0}\" is too long: a recordal number looks like 京ICP备13025326号-2")]
    TooLong(String),
    /// The first character is no province abbreviation.
    #[error(
        "ICP number \"{0}\" does not start with a province abbreviation: it looks like 京ICP备13025326号-2"
    )]
    Prefix(String),
    /// An ICP licence was given where a recordal number belongs.
    #[error(
        "\"{0}\" is an ICP licence number, not a recordal number: give the ICP备 number, e.g. 京ICP备13025326号-2"
    )]
    Licence(String),
    /// `ICP备` does not follow the prefix.
    #[error(
        "ICP number \"{0}\" lacks ICP备 after the province abbreviation: it looks like 京ICP备13025326号-2"
    )]
    Marker(String),
    /// The serial is not 8 or 10 digits.
    #[error("ICP number \"{input}\" has {count} digits after ICP备: a recordal number has 8 or 10")]
    Digits {
        /// The input, shortened.
        input: String,
        /// The number of digits found.
        count: usize,
    },
    /// The site number after the hyphen is missing, zero or too large.
    #[error(
        "ICP number \"{0}\" has no valid site number after the hyphen: give a number from 1, as in 京ICP备13025326号-2"
    )]
    Site(String),
    /// Something follows the number.
    #[error(
        "ICP number \"{0}\" has unexpected text after the number: it looks like 京ICP备13025326号-2"
    )]
    Trailing(String),
}

impl IcpError {
    /// The stable snake_case error code of the HTTP contract.
    pub fn code(&self) -> &'static str {
        "invalid_icp_number"
    }
}

/// Characters after the first pass of normalisation, with the rewrites it applied.
struct Normalised {
    chars: Vec<char>,
    flags: u8,
}

/// Drops whitespace and maps full-width forms, `icp` and dashes to ASCII, recording each.
fn normalise_chars(input: &str) -> Normalised {
    let mut flags = 0u8;
    let mut chars = Vec::with_capacity(input.len());
    for c in input.chars() {
        let c = if c.is_whitespace() {
            flags |= IcpNormalisation::Whitespace.bit();
            continue;
        } else if ('\u{FF01}'..='\u{FF5E}').contains(&c) && c != '\u{FF0D}' {
            flags |= IcpNormalisation::FullWidth.bit();
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        } else if matches!(
            c,
            '\u{FF0D}'
                | '\u{2010}'
                | '\u{2011}'
                | '\u{2012}'
                | '\u{2013}'
                | '\u{2014}'
                | '\u{2212}'
        ) {
            flags |= IcpNormalisation::Hyphen.bit();
            '-'
        } else {
            c
        };
        if c.is_ascii_lowercase() {
            flags |= IcpNormalisation::LowerCase.bit();
            chars.push(c.to_ascii_uppercase());
        } else {
            chars.push(c);
        }
    }
    Normalised { chars, flags }
}

/// The province whose abbreviation is `c` (川 and 蜀 both give Sichuan, 甘 and 陇 Gansu).
fn province_of(c: char) -> Option<Province> {
    Province::ALL
        .into_iter()
        .find(|province| province.abbreviations().contains(&c))
}

/// Consumes a run of ASCII digits at `*at`, returning it.
fn digits(chars: &[char], at: &mut usize) -> String {
    let start = *at;
    while chars.get(*at).is_some_and(char::is_ascii_digit) {
        *at += 1;
    }
    chars[start..*at].iter().collect()
}

impl IcpNumber {
    /// Parses a recordal number, normalising the forms found in real footers: spaces,
    /// full-width digits and letters, lower-case `icp`, other dashes, a missing `号`, `-5号`
    /// for `号-5` and leading zeros of the site number. Each rewrite is recorded
    /// ([`IcpNumber::normalisations`]).
    pub fn parse(input: &str) -> Result<IcpNumber, IcpError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IcpError::Empty);
        }
        if trimmed.chars().count() > MAX_INPUT_CHARS {
            return Err(IcpError::TooLong(excerpt(trimmed)));
        }
        // Recordal numbers are longer than `excerpt` keeps, and the input is known to be short:
        // quote it whole, so the person sees what was read.
        let shown = || trimmed.to_owned();
        let Normalised { chars, mut flags } = normalise_chars(trimmed);
        let Some(&prefix) = chars.first() else {
            return Err(IcpError::Empty);
        };
        let province = province_of(prefix).ok_or_else(|| IcpError::Prefix(shown()))?;
        let mut at = 1;
        match chars.get(1..5) {
            Some(['I', 'C', 'P', '备']) => at += 4,
            Some(['I', 'C', 'P', '证']) => return Err(IcpError::Licence(shown())),
            _ if IcpLicence::parse(trimmed).is_ok() => return Err(IcpError::Licence(shown())),
            _ => return Err(IcpError::Marker(shown())),
        }
        let serial = digits(&chars, &mut at);
        if serial.len() != 8 && serial.len() != 10 {
            return Err(IcpError::Digits {
                input: shown(),
                count: serial.len(),
            });
        }
        let hao_before = chars.get(at) == Some(&'号');
        if hao_before {
            at += 1;
        }
        let mut site = None;
        let mut hao_after = false;
        if chars.get(at) == Some(&'-') {
            at += 1;
            let number = digits(&chars, &mut at);
            let value = number
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| IcpError::Site(shown()))?;
            if number.starts_with('0') {
                flags |= IcpNormalisation::SiteLeadingZero.bit();
            }
            site = Some(value);
            hao_after = chars.get(at) == Some(&'号');
            if hao_after {
                at += 1;
            }
        }
        if at != chars.len() {
            return Err(IcpError::Trailing(shown()));
        }
        if hao_after {
            flags |= IcpNormalisation::HaoAfterSite.bit();
        } else if !hao_before {
            flags |= IcpNormalisation::MissingHao.bit();
        }
        let subject = format!("{prefix}ICP备{serial}号");
        let subject_len = subject.len();
        let text = match site {
            Some(n) => format!("{subject}-{n}"),
            None => subject,
        };
        Ok(IcpNumber {
            text: text.into_boxed_str(),
            province,
            subject_len,
            site,
            flags,
        })
    }

    /// The canonical form, e.g. `京ICP备13025326号-2`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The province of the prefix (`川` and `蜀` give Sichuan, `甘` and `陇` Gansu).
    pub fn province(&self) -> Province {
        self.province
    }

    /// The recordal of the subject (the operator) without the site number, e.g.
    /// `京ICP备13025326号`.
    pub fn subject(&self) -> &str {
        &self.text[..self.subject_len]
    }

    /// The site number after the hyphen (`2` in `京ICP备13025326号-2`), if any.
    pub fn site(&self) -> Option<u32> {
        self.site
    }

    /// Whether parsing rewrote the input (beyond trimming it).
    pub fn normalised(&self) -> bool {
        self.flags != 0
    }

    /// The rewrites parsing applied, in [`IcpNormalisation::ALL`] order.
    pub fn normalisations(&self) -> Vec<IcpNormalisation> {
        IcpNormalisation::ALL
            .into_iter()
            .filter(|n| self.flags & n.bit() != 0)
            .collect()
    }
}

impl PartialEq for IcpNumber {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for IcpNumber {}

impl Hash for IcpNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for IcpNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IcpNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Debug for IcpNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcpNumber({})", self.text)
    }
}

text_form!(
    IcpNumber,
    as_str,
    "an ICP recordal number as a string, e.g. 京ICP备13025326号-2",
    FromStr<Err = IcpError>
);

/// An ICP licence (经营许可证) in canonical form: the old `京ICP证110507号`, the provincial
/// `京B2-20170489`, or the national (MIIT) `A2.B1.B2-20202637` without a province.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IcpLicence {
    text: Box<str>,
    province: Option<Province>,
}

/// Why an input is not an ICP licence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ICP licence \"{0}\" is not recognised: it looks like 京ICP证110507号, 京B2-20170489 or A2.B1.B2-20202637"
)]
pub struct IcpLicenceError(String);

impl IcpLicence {
    /// Parses a licence number, with the same normalisation of spaces, full-width forms
    /// and dashes as [`IcpNumber::parse`] (and a missing `号` in the old form).
    pub fn parse(input: &str) -> Result<IcpLicence, IcpLicenceError> {
        let trimmed = input.trim();
        let refuse = || IcpLicenceError(trimmed.chars().take(MAX_INPUT_CHARS).collect());
        if trimmed.is_empty() || trimmed.chars().count() > MAX_INPUT_CHARS {
            return Err(refuse());
        }
        let chars = normalise_chars(trimmed).chars;
        let province = chars.first().copied().and_then(province_of);
        let mut at = usize::from(province.is_some());
        // The old form: {prefix}ICP证{digits}号.
        if province.is_some() && chars.get(1..5) == Some(&['I', 'C', 'P', '证']) {
            at += 4;
            let serial = digits(&chars, &mut at);
            if chars.get(at) == Some(&'号') {
                at += 1;
            }
            if serial.len() < 4 || serial.len() > 10 || at != chars.len() {
                return Err(refuse());
            }
            return Ok(IcpLicence {
                text: format!("{}ICP证{serial}号", chars[0]).into_boxed_str(),
                province,
            });
        }
        // The category form: [{prefix}]{A|B}{1|2}[.{A|B}{1|2}...]-{8 digits}.
        let mut categories = Vec::new();
        loop {
            match (chars.get(at), chars.get(at + 1)) {
                (Some(&letter @ ('A' | 'B')), Some(&digit @ ('1' | '2'))) => {
                    categories.push(format!("{letter}{digit}"));
                    at += 2;
                }
                _ => return Err(refuse()),
            }
            match chars.get(at) {
                Some('.') => at += 1,
                Some('-') => break,
                _ => return Err(refuse()),
            }
        }
        at += 1;
        let serial = digits(&chars, &mut at);
        if serial.len() != 8 || at != chars.len() {
            return Err(refuse());
        }
        let prefix: String = province.map(|_| chars[0]).into_iter().collect();
        Ok(IcpLicence {
            text: format!("{prefix}{}-{serial}", categories.join(".")).into_boxed_str(),
            province,
        })
    }

    /// The canonical form, e.g. `京B2-20170489`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The province of the prefix; `None` for a national (MIIT) licence.
    pub fn province(&self) -> Option<Province> {
        self.province
    }
}

impl fmt::Debug for IcpLicence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcpLicence({})", self.text)
    }
}

impl fmt::Display for IcpLicence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for IcpLicence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for IcpLicence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        IcpLicence::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{assert_refusals, assert_written_as};
    use proptest::prelude::*;

    use IcpNormalisation::*;

    #[test]
    fn canonical_numbers_parse_unchanged() {
        let cases = [
            ("京ICP备13025326号-2", "11", "京ICP备13025326号", Some(2)),
            ("滇ICP备2020009854号", "53", "滇ICP备2020009854号", None),
            ("川ICP备12345678号", "51", "川ICP备12345678号", None),
            ("蜀ICP备12345678号-1", "51", "蜀ICP备12345678号", Some(1)),
            ("甘ICP备1234567890号", "62", "甘ICP备1234567890号", None),
            ("陇ICP备12345678号-12", "62", "陇ICP备12345678号", Some(12)),
            ("粤ICP备05063256号-1", "44", "粤ICP备05063256号", Some(1)),
            ("黔ICP备12345678号", "52", "黔ICP备12345678号", None),
            ("新ICP备12345678号", "65", "新ICP备12345678号", None),
        ];
        for (input, code, subject, site) in cases {
            let number = IcpNumber::parse(input).expect(input);
            assert_eq!(number.as_str(), input);
            assert_written_as(&number, input);
            assert_eq!(number.province(), Province::parse(code).unwrap(), "{input}");
            assert_eq!(number.subject(), subject);
            assert_eq!(number.site(), site);
            assert!(!number.normalised(), "{input}");
            assert_eq!(number.normalisations(), []);
        }
    }

    #[test]
    fn real_world_forms_are_normalised_and_flagged() {
        let cases: [(&str, &str, &[IcpNormalisation]); 14] = [
            ("京ICP备13025326", "京ICP备13025326号", &[MissingHao]),
            ("京ICP备13025326-2", "京ICP备13025326号-2", &[MissingHao]),
            (
                "京ICP备13025326-5号",
                "京ICP备13025326号-5",
                &[HaoAfterSite],
            ),
            (
                "京ICP备13025326号-5号",
                "京ICP备13025326号-5",
                &[HaoAfterSite],
            ),
            ("京ICP备 13025326号", "京ICP备13025326号", &[Whitespace]),
            (
                "京 ICP 备 13025326 号 - 2",
                "京ICP备13025326号-2",
                &[Whitespace],
            ),
            (
                "京ICP备13025326号\u{3000}-2",
                "京ICP备13025326号-2",
                &[Whitespace],
            ),
            ("  京ICP备13025326号  ", "京ICP备13025326号", &[]),
            (
                "京ICP备１３０２５３２６号",
                "京ICP备13025326号",
                &[FullWidth],
            ),
            ("京ＩＣＰ备13025326号", "京ICP备13025326号", &[FullWidth]),
            ("京icp备13025326号", "京ICP备13025326号", &[LowerCase]),
            ("京ICP备13025326号－2", "京ICP备13025326号-2", &[Hyphen]),
            ("京ICP备13025326号—2", "京ICP备13025326号-2", &[Hyphen]),
            (
                "京ICP备13025326号-02",
                "京ICP备13025326号-2",
                &[SiteLeadingZero],
            ),
        ];
        for (input, canonical, flags) in cases {
            let number = IcpNumber::parse(input).expect(input);
            assert_eq!(number.as_str(), canonical, "{input}");
            assert_eq!(number.normalisations(), flags, "{input}");
            assert_eq!(number.normalised(), !flags.is_empty());
            assert_eq!(number, IcpNumber::parse(canonical).unwrap());
        }
        let all = IcpNumber::parse("京 icp 备１３０２５３２６－０５号").unwrap();
        assert_eq!(all.as_str(), "京ICP备13025326号-5");
        assert_eq!(
            all.normalisations(),
            [
                Whitespace,
                FullWidth,
                LowerCase,
                Hyphen,
                HaoAfterSite,
                SiteLeadingZero
            ]
        );
        assert_eq!(
            serde_json::to_string(&all.normalisations()).unwrap(),
            r#"["whitespace","full_width","lower_case","hyphen","hao_after_site","site_leading_zero"]"#
        );
    }

    #[test]
    fn rejects_with_a_clear_message() {
        let cases = [
            (
                "",
                "ICP number is empty: give the recordal number, e.g. 京ICP备13025326号-2",
            ),
            (
                "ICP备13025326号",
                "ICP number \"ICP备13025326号\" does not start with a province abbreviation: it looks like 京ICP备13025326号-2",
            ),
            (
                "港ICP备13025326号",
                "ICP number \"港ICP备13025326号\" does not start with a province abbreviation: it looks like 京ICP备13025326号-2",
            ),
            (
                "京ICP证110507号",
                "\"京ICP证110507号\" is an ICP licence number, not a recordal number: give the ICP备 number, e.g. 京ICP备13025326号-2",
            ),
            (
                "京B2-20170489",
                "\"京B2-20170489\" is an ICP licence number, not a recordal number: give the ICP备 number, e.g. 京ICP备13025326号-2",
            ),
            (
                "京备13025326号",
                "ICP number \"京备13025326号\" lacks ICP备 after the province abbreviation: it looks like 京ICP备13025326号-2",
            ),
            (
                "京ICP备1302532号",
                "ICP number \"京ICP备1302532号\" has 7 digits after ICP备: a recordal number has 8 or 10",
            ),
            (
                "京ICP备130253261号",
                "ICP number \"京ICP备130253261号\" has 9 digits after ICP备: a recordal number has 8 or 10",
            ),
            (
                "京ICP备号",
                "ICP number \"京ICP备号\" has 0 digits after ICP备: a recordal number has 8 or 10",
            ),
            (
                "京ICP备13025326号-",
                "ICP number \"京ICP备13025326号-\" has no valid site number after the hyphen: give a number from 1, as in 京ICP备13025326号-2",
            ),
            (
                "京ICP备13025326号-0",
                "ICP number \"京ICP备13025326号-0\" has no valid site number after the hyphen: give a number from 1, as in 京ICP备13025326号-2",
            ),
            (
                "京ICP备13025326号-99999999999",
                "ICP number \"京ICP备13025326号-99999999999\" has no valid site number after the hyphen: give a number from 1, as in 京ICP备13025326号-2",
            ),
            (
                "京ICP备13025326号-2号号",
                "ICP number \"京ICP备13025326号-2号号\" has unexpected text after the number: it looks like 京ICP备13025326号-2",
            ),
            (
                "京ICP备13025326号 example.cn",
                "ICP number \"京ICP备13025326号 example.cn\" has unexpected text after the number: it looks like 京ICP备13025326号-2",
            ),
        ];
        for error in assert_refusals(IcpNumber::parse, &cases) {
            assert_eq!(error.code(), "invalid_icp_number");
        }
        let long = "京".repeat(100);
        assert!(matches!(IcpNumber::parse(&long), Err(IcpError::TooLong(_))));
        assert!(serde_json::from_str::<IcpNumber>("\"京ICP备1号\"").is_err());
    }

    #[test]
    fn licences() {
        let cases = [
            ("京ICP证110507号", "京ICP证110507号", Some("11")),
            ("京ICP证110507", "京ICP证110507号", Some("11")),
            ("京B2-20170489", "京B2-20170489", Some("11")),
            ("粤B2-20090059", "粤B2-20090059", Some("44")),
            ("A2.B1.B2-20202637", "A2.B1.B2-20202637", None),
            ("B1.B2-20100317", "B1.B2-20100317", None),
            ("京 B2－20170489", "京B2-20170489", Some("11")),
        ];
        for (input, canonical, code) in cases {
            let licence = IcpLicence::parse(input).expect(input);
            assert_eq!(licence.as_str(), canonical);
            assert_eq!(licence.province().map(Province::code), code);
            let json = serde_json::to_string(&licence).unwrap();
            assert_eq!(serde_json::from_str::<IcpLicence>(&json).unwrap(), licence);
        }
        for input in [
            "",
            "京ICP备13025326号",
            "B2",
            "京B2-2017048",
            "京B3-20170489",
            "A2.-20202637",
            "A2.B1.B2-20202637x",
            "京ICP证号",
        ] {
            let error = IcpLicence::parse(input).expect_err(input);
            assert!(error.to_string().starts_with("ICP licence"), "{input}");
        }
    }

    fn prefix() -> impl Strategy<Value = char> {
        prop::sample::select(
            Province::ALL
                .iter()
                .flat_map(|p| p.abbreviations().iter().copied())
                .collect::<Vec<_>>(),
        )
    }

    proptest! {
        #[test]
        fn canonical_numbers_round_trip(
            prefix in prefix(),
            serial in prop_oneof!["[0-9]{8}", "[0-9]{10}"],
            site in prop::option::of(1u32..1000),
        ) {
            let mut text = format!("{prefix}ICP备{serial}号");
            if let Some(n) = site {
                text.push_str(&format!("-{n}"));
            }
            let number = IcpNumber::parse(&text).unwrap();
            prop_assert_eq!(number.as_str(), text.as_str());
            prop_assert!(!number.normalised());
            prop_assert_eq!(number.site(), site);
            prop_assert!(number.province().abbreviations().contains(&prefix));
            prop_assert!(number.as_str().starts_with(number.subject()));
        }

        #[test]
        fn dropping_hao_or_moving_it_gives_the_same_number(
            prefix in prefix(),
            serial in "[0-9]{8}",
            site in 1u32..100,
        ) {
            let canonical = IcpNumber::parse(&format!("{prefix}ICP备{serial}号-{site}")).unwrap();
            for variant in [
                format!("{prefix}ICP备{serial}-{site}"),
                format!("{prefix}ICP备{serial}-{site}号"),
                format!(" {prefix} ICP备 {serial} 号 -{site}"),
            ] {
                let number = IcpNumber::parse(&variant).unwrap();
                prop_assert_eq!(&number, &canonical);
                prop_assert!(number.normalised());
            }
        }

        #[test]
        fn parse_never_panics_and_is_idempotent(input in any::<String>()) {
            let _ = IcpLicence::parse(&input);
            if let Ok(number) = IcpNumber::parse(&input) {
                let again = IcpNumber::parse(number.as_str()).unwrap();
                prop_assert_eq!(&again, &number);
                prop_assert!(!again.normalised());
            }
        }
    }
}
