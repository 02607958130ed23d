//! Penalty decisions and lifting documents: validating what arrives over JSON and normalising
//! decision numbers; whether a decision is required, and for what, is left to `api`. Also
//! the media types a signed document may be uploaded as, each told by its first bytes, and
//! the SHA-256 digest a document is named by; storing documents is `store`'s.

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use time::{Date, Month, OffsetDateTime, macros::offset};

use super::excerpt;

/// Number and authority are short references, not document bodies; the cap keeps stored
/// entries and feed events small.
pub const MAX_DOCUMENT_TEXT: usize = 200;

/// Opening brackets found around the year of a decision number, `〔` first. DOMAIN.md names
/// `[ ［ 【 （` and ASCII `(`; `﹝` and `〖` are look-alikes that input methods offer for `〔`.
const OPEN_BRACKETS: [char; 8] = ['〔', '[', '［', '【', '（', '(', '﹝', '〖'];

/// Closing brackets, matching [`OPEN_BRACKETS`].
const CLOSE_BRACKETS: [char; 8] = ['〕', ']', '］', '】', '）', ')', '﹞', '〗'];

/// A validated administrative penalty decision (行政处罚决定书), or the document that lifts
/// an entry. A decision number is unique only together with its authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The document number, normalised to `{prefix}〔YYYY〕{第}{serial}号` when it has that shape.
    pub number: String,
    /// The issuing authority, e.g. 北京市市场监督管理局.
    pub authority: String,
    /// The date of the document, never later than its day of submission in China.
    #[serde(with = "ymd")]
    pub date: Date,
    /// SHA-256 of the signed document, 64 lower-case hex characters.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub document_sha256: Option<String>,
    /// Whether the document named by `document_sha256` was uploaded (`POST /v1/documents`):
    /// set by the registry from the store when an answer is shaped, so never stored and never
    /// read back from JSON. Absent without a hash.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "shown_only"
    )]
    pub document_uploaded: Option<bool>,
}

/// A decision as it arrives over JSON, before validation. Every field is an optional string,
/// so deserialising fails only on wrong JSON types and unknown fields, and [`Decision::parse`]
/// can name the field that is missing or wrong. Only a JSON object is accepted: a derived implementation would
/// also take an array and read its items by position.
#[derive(Debug, Default, Clone)]
pub struct DecisionInput {
    /// The document number.
    pub number: Option<String>,
    /// The issuing authority.
    pub authority: Option<String>,
    /// The date as `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Optional SHA-256 of the signed document, in hex.
    pub document_sha256: Option<String>,
}

impl<'de> Deserialize<'de> for DecisionInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The same fields, with the derived field handling (`null` read as absent,
        /// duplicates and unknown keys refused: a misspelled `date` must not read as a
        /// missing one).
        #[derive(Default, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        struct Fields {
            number: Option<String>,
            authority: Option<String>,
            date: Option<String>,
            document_sha256: Option<String>,
        }

        struct ObjectOnly;

        impl<'de> Visitor<'de> for ObjectOnly {
            type Value = DecisionInput;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with number, authority, date and document_sha256")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DecisionInput, A::Error> {
                let fields = Fields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(DecisionInput {
                    number: fields.number,
                    authority: fields.authority,
                    date: fields.date,
                    document_sha256: fields.document_sha256,
                })
            }
        }

        deserializer.deserialize_map(ObjectOnly)
    }
}

/// The dates a document may bear: none before `earliest`, the floor an operator sets
/// (`documents.earliest_date`), and none after `today` in China Standard Time. A date outside
/// is a typing error (`0000-01-01`, `1900-01-01`), never a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    pub earliest: Date,
    pub today: Date,
}

impl DateWindow {
    /// From `earliest` to today in China ([`today_in_china`]).
    pub fn until_today(earliest: Date) -> DateWindow {
        DateWindow {
            earliest,
            today: today_in_china(),
        }
    }
}

/// Why a decision (or lifting document) was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecisionError(pub String);

impl Decision {
    /// Validates and normalises a decision, whose date must lie in `dates`. The window is a
    /// parameter, rather than read from the clock and the settings here, so that tests can
    /// fix it.
    pub fn parse(input: DecisionInput, dates: DateWindow) -> Result<Decision, DecisionError> {
        let number = required_text(
            "number",
            input.number.as_deref(),
            "give the document number, e.g. 京市监处罚〔2024〕123号",
        )?;
        let number = normalise_number(number).unwrap_or_else(|| number.to_owned());
        let authority = required_text(
            "authority",
            input.authority.as_deref(),
            "give the issuing authority, e.g. 北京市市场监督管理局",
        )?
        .to_owned();
        let date = date_in(input.date.as_deref(), dates)?;
        let document_sha256 = input
            .document_sha256
            .as_deref()
            .map(parse_sha256)
            .transpose()?;
        Ok(Decision {
            number,
            authority,
            date,
            document_sha256,
            document_uploaded: None,
        })
    }

    /// Sets `document_uploaded` when the decision names a document: whether `uploaded` says
    /// its hash was uploaded.
    pub fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool) {
        self.document_uploaded = self.document_sha256.as_deref().map(uploaded);
    }
}

wire_enum! {
    /// The media types a signed document (a decision, a letter, a scan of one) may be uploaded
    /// as; the wire form is the `Content-Type`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum DocumentType {
        #[serde(rename = "application/pdf")]
        Pdf => "application/pdf",
        #[serde(rename = "image/png")]
        Png => "image/png",
        #[serde(rename = "image/jpeg")]
        Jpeg => "image/jpeg",
    }
}

impl DocumentType {
    /// The type a `Content-Type` header names: its media type in any case, parameters
    /// (`; charset=…`) ignored; `None` for any other.
    pub fn of_content_type(header: &str) -> Option<DocumentType> {
        let media = header.split(';').next().unwrap_or_default().trim();
        DocumentType::parse(&media.to_ascii_lowercase())
    }

    /// The bytes every file of this type starts with: `%PDF-`, the PNG signature, and a
    /// JPEG's start-of-image marker followed by the first marker's `FF`.
    pub fn signature(self) -> &'static [u8] {
        match self {
            DocumentType::Pdf => b"%PDF-",
            DocumentType::Png => b"\x89PNG\r\n\x1a\n",
            DocumentType::Jpeg => b"\xff\xd8\xff",
        }
    }

    /// The signature as a message names it.
    pub fn signature_text(self) -> &'static str {
        match self {
            DocumentType::Pdf => "%PDF-",
            DocumentType::Png => "the PNG signature 89 50 4E 47 0D 0A 1A 0A",
            DocumentType::Jpeg => "a start of image, FF D8 FF",
        }
    }

    /// Whether `bytes` start as a file of this type does. Only the signature is checked: the
    /// registry keeps documents, it does not render them.
    pub fn matches(self, bytes: &[u8]) -> bool {
        bytes.starts_with(self.signature())
    }

    /// The file name extension a download is offered under.
    pub fn extension(self) -> &'static str {
        match self {
            DocumentType::Pdf => "pdf",
            DocumentType::Png => "png",
            DocumentType::Jpeg => "jpg",
        }
    }
}

/// Reads a flag that answers show but nothing stores (`document_uploaded`) as absent,
/// whatever the JSON holds: it is set afresh from the store each time an answer is made.
pub fn shown_only<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer)?;
    Ok(None)
}

/// A SHA-256 digest as a document is named by: 64 hexadecimal characters, answered in lower
/// case; `None` for anything else.
pub fn sha256_digest(value: &str) -> Option<String> {
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

/// Today's date in China Standard Time (UTC+8), the day against which the contract decides
/// whether a decision date lies in the future.
pub fn today_in_china() -> Date {
    OffsetDateTime::now_utc().to_offset(offset!(+8)).date()
}

fn invalid(message: String) -> DecisionError {
    DecisionError(message)
}

/// Trims a required free-text field and checks that it is present, short and printable.
fn required_text<'a>(
    field: &str,
    value: Option<&'a str>,
    hint: &str,
) -> Result<&'a str, DecisionError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(invalid(format!("{field} is missing or empty: {hint}")));
    }
    if value.chars().count() > MAX_DOCUMENT_TEXT {
        return Err(invalid(format!(
            "{field} is longer than {MAX_DOCUMENT_TEXT} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} contains a control character such as a line break: give it on one line"
        )));
    }
    Ok(value)
}

/// Rewrites a number of the shape `{prefix}〔YYYY〕{第}{serial}号` with the year in `〔 〕`
/// and without whitespace, so that the same decision typed in different ways is stored once.
/// Returns `None` when the shape is not recognised: the prefix is free text, and guessing
/// at an unfamiliar number would do more harm than keeping it as given.
fn normalise_number(number: &str) -> Option<String> {
    let chars: Vec<char> = number.chars().filter(|c| !c.is_whitespace()).collect();
    (0..chars.len()).find_map(|start| {
        let year = chars.get(start + 1..start + 5)?;
        let recognised = OPEN_BRACKETS.contains(&chars[start])
            && year.iter().all(char::is_ascii_digit)
            && chars
                .get(start + 5)
                .is_some_and(|c| CLOSE_BRACKETS.contains(c))
            && is_serial(&chars[start + 6..]);
        recognised.then(|| {
            let mut normalised: String = chars[..start].iter().collect();
            normalised.push('〔');
            normalised.extend(year);
            normalised.push('〕');
            normalised.extend(&chars[start + 6..]);
            normalised
        })
    })
}

/// `{第}{serial}号`, where the serial is letters, digits and hyphens (`123`, `A001`, `3-12`).
fn is_serial(rest: &[char]) -> bool {
    let rest = rest.strip_prefix(&['第']).unwrap_or(rest);
    match rest.split_last() {
        Some(('号', serial)) => {
            !serial.is_empty()
                && serial
                    .iter()
                    .all(|c| *c != '号' && (c.is_alphanumeric() || *c == '-'))
        }
        _ => false,
    }
}

fn date_in(value: Option<&str>, dates: DateWindow) -> Result<Date, DecisionError> {
    let value = value.ok_or_else(|| {
        invalid("date is missing: give the date of the document as YYYY-MM-DD".to_owned())
    })?;
    let date = parse_ymd(value)?;
    if date > dates.today {
        return Err(invalid(format!(
            "date {value} is in the future: today is {} in China Standard Time",
            Ymd(dates.today)
        )));
    }
    if date < dates.earliest {
        return Err(invalid(format!(
            "date {value} is before {}, the earliest date this registry accepts",
            Ymd(dates.earliest)
        )));
    }
    Ok(date)
}

/// A date written strictly `YYYY-MM-DD`, as documents carry it; for the settings that name a
/// date.
pub fn parse_date(value: &str) -> Result<Date, DecisionError> {
    parse_ymd(value)
}

/// Strictly `YYYY-MM-DD` with ASCII digits, and a day that exists in the calendar.
fn parse_ymd(value: &str) -> Result<Date, DecisionError> {
    let malformed = || {
        invalid(format!(
            "date {:?} is not written YYYY-MM-DD (e.g. 2024-05-01)",
            excerpt(value)
        ))
    };
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(malformed());
    }
    let number = |range: std::ops::Range<usize>| -> u16 {
        bytes[range]
            .iter()
            .fold(0, |acc, digit| acc * 10 + u16::from(digit - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let unreal = || invalid(format!("date {value:?} is not a real date"));
    let month = u8::try_from(month)
        .ok()
        .and_then(|month| Month::try_from(month).ok())
        .ok_or_else(unreal)?;
    let day = u8::try_from(day).map_err(|_| unreal())?;
    Date::from_calendar_date(i32::from(year), month, day).map_err(|_| unreal())
}

fn parse_sha256(value: &str) -> Result<String, DecisionError> {
    let length = value.chars().count();
    if length != 64 {
        return Err(invalid(format!(
            "document_sha256 must be 64 hexadecimal characters, not {length}"
        )));
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "document_sha256 contains {bad:?}: use the 64 hexadecimal characters of the SHA-256 digest"
        )));
    }
    Ok(value.to_ascii_lowercase())
}

/// Displays a date as `YYYY-MM-DD`, the only date format of the contract.
struct Ymd(Date);

impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let date = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    }
}

/// Serde for dates as `YYYY-MM-DD`, reading with the same strict rules as [`Decision::parse`]
/// (but no check against today: a stored decision stays valid).
mod ymd {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&super::Ymd(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::parse_ymd(&value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 05 - 01);
    const DATES: DateWindow = DateWindow {
        earliest: date!(2000 - 01 - 01),
        today: TODAY,
    };
    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn input(number: &str, authority: &str, date: &str) -> DecisionInput {
        DecisionInput {
            number: Some(number.to_owned()),
            authority: Some(authority.to_owned()),
            date: Some(date.to_owned()),
            document_sha256: None,
        }
    }

    fn valid() -> DecisionInput {
        input(
            "京市监处罚〔2024〕123号",
            "北京市市场监督管理局",
            "2024-05-01",
        )
    }

    fn number_of(number: &str) -> String {
        Decision::parse(input(number, "某市市场监督管理局", "2024-05-01"), DATES)
            .expect(number)
            .number
    }

    fn decision_of(input: DecisionInput) -> Decision {
        Decision::parse(input, DATES).unwrap()
    }

    fn error_of(input: DecisionInput) -> String {
        Decision::parse(input, DATES).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_complete_decision() {
        let decision = decision_of(DecisionInput {
            document_sha256: Some(HASH.to_uppercase()),
            ..valid()
        });
        assert_eq!(
            decision,
            Decision {
                number: "京市监处罚〔2024〕123号".to_owned(),
                authority: "北京市市场监督管理局".to_owned(),
                date: date!(2024 - 05 - 01),
                document_sha256: Some(HASH.to_owned()),
                document_uploaded: None,
            }
        );
    }

    #[test]
    fn normalises_decision_numbers() {
        let cases = [
            ("京市监处罚〔2024〕123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚[2024]123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚［2024］123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚【2024】123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚（2024）123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚(2024)123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚﹝2024﹞123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚〖2024〗123号", "京市监处罚〔2024〕123号"),
            ("京市监处罚[2024〕123号", "京市监处罚〔2024〕123号"),
            ("石市监处罚〔2022〕第120号", "石市监处罚〔2022〕第120号"),
            ("石市监处罚 [ 2022 ] 第 120 号", "石市监处罚〔2022〕第120号"),
            ("  国市监处罚〔2026〕10号\u{3000}", "国市监处罚〔2026〕10号"),
            ("北流工商处字〔2015〕240号", "北流工商处字〔2015〕240号"),
            (
                "京（朝）市监处罚（2024）A001号",
                "京（朝）市监处罚〔2024〕A001号",
            ),
            ("沪市监处〔2023〕3-12号", "沪市监处〔2023〕3-12号"),
            // Not the recognised shape: kept as given, only trimmed.
            (" 京市监处罚 2024 123号 ", "京市监处罚 2024 123号"),
            ("京市监处罚[24]123号", "京市监处罚[24]123号"),
            ("京市监处罚[2024]号", "京市监处罚[2024]号"),
            ("京市监处罚[2024]123", "京市监处罚[2024]123"),
            ("京市监处罚[2024]12 号 附件", "京市监处罚[2024]12 号 附件"),
            ("No. 2024/123", "No. 2024/123"),
        ];
        for (given, expected) in cases {
            assert_eq!(number_of(given), expected, "number {given:?}");
        }
    }

    #[test]
    fn rejects_with_a_message_naming_the_field() {
        let long = "京".repeat(201);
        let cases = [
            (
                DecisionInput {
                    number: None,
                    ..valid()
                },
                "number is missing or empty: give the document number, e.g. 京市监处罚〔2024〕123号",
            ),
            (
                DecisionInput {
                    number: Some(" \t ".to_owned()),
                    ..valid()
                },
                "number is missing or empty: give the document number, e.g. 京市监处罚〔2024〕123号",
            ),
            (
                DecisionInput {
                    number: Some(long.clone()),
                    ..valid()
                },
                "number is longer than 200 characters",
            ),
            (
                DecisionInput {
                    number: Some("京市监处罚\n〔2024〕1号".to_owned()),
                    ..valid()
                },
                "number contains a control character such as a line break: give it on one line",
            ),
            (
                DecisionInput {
                    authority: Some(String::new()),
                    ..valid()
                },
                "authority is missing or empty: give the issuing authority, e.g. 北京市市场监督管理局",
            ),
            (
                DecisionInput {
                    authority: Some(long),
                    ..valid()
                },
                "authority is longer than 200 characters",
            ),
            (
                DecisionInput {
                    authority: Some("北京\u{0}".to_owned()),
                    ..valid()
                },
                "authority contains a control character such as a line break: give it on one line",
            ),
            (
                DecisionInput {
                    date: None,
                    ..valid()
                },
                "date is missing: give the date of the document as YYYY-MM-DD",
            ),
            (
                DecisionInput {
                    date: Some("2024-5-1".to_owned()),
                    ..valid()
                },
                "date \"2024-5-1\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some("2024/05/01".to_owned()),
                    ..valid()
                },
                "date \"2024/05/01\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some(" 2024-05-01".to_owned()),
                    ..valid()
                },
                "date \" 2024-05-01\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some("2024-05-01T00:00:00Z".to_owned()),
                    ..valid()
                },
                "date \"2024-05-01T00:00…\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some("２０２４-05-01".to_owned()),
                    ..valid()
                },
                "date \"２０２４-05-01\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some("+024-05-01".to_owned()),
                    ..valid()
                },
                "date \"+024-05-01\" is not written YYYY-MM-DD (e.g. 2024-05-01)",
            ),
            (
                DecisionInput {
                    date: Some("2024-02-30".to_owned()),
                    ..valid()
                },
                "date \"2024-02-30\" is not a real date",
            ),
            (
                DecisionInput {
                    date: Some("2023-02-29".to_owned()),
                    ..valid()
                },
                "date \"2023-02-29\" is not a real date",
            ),
            (
                DecisionInput {
                    date: Some("2024-13-01".to_owned()),
                    ..valid()
                },
                "date \"2024-13-01\" is not a real date",
            ),
            (
                DecisionInput {
                    date: Some("2024-00-10".to_owned()),
                    ..valid()
                },
                "date \"2024-00-10\" is not a real date",
            ),
            (
                DecisionInput {
                    date: Some("2024-04-31".to_owned()),
                    ..valid()
                },
                "date \"2024-04-31\" is not a real date",
            ),
            (
                DecisionInput {
                    date: Some("2026-05-02".to_owned()),
                    ..valid()
                },
                "date 2026-05-02 is in the future: today is 2026-05-01 in China Standard Time",
            ),
            (
                DecisionInput {
                    date: Some("1999-12-31".to_owned()),
                    ..valid()
                },
                "date 1999-12-31 is before 2000-01-01, the earliest date this registry accepts",
            ),
            (
                DecisionInput {
                    date: Some("1900-01-01".to_owned()),
                    ..valid()
                },
                "date 1900-01-01 is before 2000-01-01, the earliest date this registry accepts",
            ),
            (
                DecisionInput {
                    date: Some("0000-01-01".to_owned()),
                    ..valid()
                },
                "date 0000-01-01 is before 2000-01-01, the earliest date this registry accepts",
            ),
            (
                DecisionInput {
                    document_sha256: Some(HASH[1..].to_owned()),
                    ..valid()
                },
                "document_sha256 must be 64 hexadecimal characters, not 63",
            ),
            (
                DecisionInput {
                    document_sha256: Some(format!("{HASH}0")),
                    ..valid()
                },
                "document_sha256 must be 64 hexadecimal characters, not 65",
            ),
            (
                DecisionInput {
                    document_sha256: Some(String::new()),
                    ..valid()
                },
                "document_sha256 must be 64 hexadecimal characters, not 0",
            ),
            (
                DecisionInput {
                    document_sha256: Some(format!("g{}", &HASH[1..])),
                    ..valid()
                },
                "document_sha256 contains 'g': use the 64 hexadecimal characters of the SHA-256 digest",
            ),
        ];
        for (input, expected) in cases {
            let description = format!("{input:?}");
            assert_eq!(error_of(input), expected, "input {description}");
        }
    }

    #[test]
    fn leap_day_the_floor_and_today_are_accepted() {
        let cases = [
            ("2024-02-29", date!(2024 - 02 - 29)),
            ("2000-01-01", DATES.earliest),
            ("2026-05-01", TODAY),
        ];
        for (date, expected) in cases {
            let decision = decision_of(DecisionInput {
                date: Some(date.to_owned()),
                ..valid()
            });
            assert_eq!(decision.date, expected);
        }
    }

    #[test]
    fn today_in_china_is_utc_plus_eight() {
        // Read the clock on both sides of the call so a midnight in between cannot fail the test.
        let before = OffsetDateTime::now_utc().to_offset(offset!(+8)).date();
        let today = today_in_china();
        let after = OffsetDateTime::now_utc().to_offset(offset!(+8)).date();
        assert!(before <= today && today <= after);
        // A decision dated today in China is accepted, tomorrow is in the future.
        let dated = |date: Date| DecisionInput {
            date: Some(Ymd(date).to_string()),
            ..valid()
        };
        let dates = DateWindow::until_today(date!(2000 - 01 - 01));
        assert!(dates.today == today || dates.today == today.next_day().unwrap());
        let dates = DateWindow { today, ..dates };
        assert!(Decision::parse(dated(today), dates).is_ok());
        let tomorrow = today.next_day().unwrap();
        let error = Decision::parse(dated(tomorrow), dates).unwrap_err();
        assert!(error.0.contains("is in the future"), "{error}");
    }

    #[test]
    fn serde_forms() {
        let decision = decision_of(valid());
        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "number": "京市监处罚〔2024〕123号",
                "authority": "北京市市场监督管理局",
                "date": "2024-05-01",
            })
        );
        assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), decision);
        let with_hash = Decision {
            document_sha256: Some(HASH.to_owned()),
            ..decision
        };
        let json = serde_json::to_string(&with_hash).unwrap();
        assert!(json.contains(HASH));
        assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), with_hash);
        let bad_date = r#"{"number":"1","authority":"a","date":"2024-5-1"}"#;
        assert!(serde_json::from_str::<Decision>(bad_date).is_err());
    }

    #[test]
    fn input_deserialises_its_fields_of_the_right_types_only() {
        let empty: DecisionInput = serde_json::from_str("{}").unwrap();
        assert!(empty.number.is_none() && empty.date.is_none());
        let nulls: DecisionInput =
            serde_json::from_str(r#"{"number": null, "date": null}"#).unwrap();
        assert!(nulls.number.is_none());
        let odd: DecisionInput =
            serde_json::from_str(r#"{"number": "", "date": "tomorrow"}"#).unwrap();
        assert_eq!(odd.date.as_deref(), Some("tomorrow"));
        for wrong in [
            r#"{"number": 5}"#,
            r#"{"date": ["2024-05-01"]}"#,
            r#"["京市监处罚〔2024〕123号", "北京市市场监督管理局", "2024-05-01"]"#,
            r#"{"number": "a", "number": "b"}"#,
            r#"{"number": "a", "extra": 1}"#,
            r#"{"dat": "2024-05-01"}"#,
            "[]",
            "\"x\"",
        ] {
            assert!(
                serde_json::from_str::<DecisionInput>(wrong).is_err(),
                "{wrong}"
            );
        }
    }

    #[test]
    fn document_types_are_told_by_content_type_and_first_bytes() {
        let cases = [
            ("application/pdf", Some(DocumentType::Pdf)),
            ("Application/PDF; name=x.pdf", Some(DocumentType::Pdf)),
            (" image/png ", Some(DocumentType::Png)),
            ("image/jpeg;q=1", Some(DocumentType::Jpeg)),
            ("image/jpg", None),
            ("image/gif", None),
            ("application/octet-stream", None),
            ("text/plain", None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(
                DocumentType::of_content_type(header),
                expected,
                "{header:?}"
            );
        }
        let files: [(&[u8], DocumentType); 3] = [
            (b"%PDF-1.7\n%\xe2\xe3", DocumentType::Pdf),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", DocumentType::Png),
            (b"\xff\xd8\xff\xe0\0\x10JFIF", DocumentType::Jpeg),
        ];
        for (bytes, kind) in files {
            for other in DocumentType::ALL {
                assert_eq!(other.matches(bytes), other == kind, "{other} of {bytes:?}");
            }
        }
        for kind in DocumentType::ALL {
            crate::domain::test_support::assert_written_as(&kind, kind.as_str());
            assert!(!kind.matches(b""));
            assert!(!kind.matches(&kind.signature()[1..]));
            assert_eq!(DocumentType::parse(kind.as_str()), Some(kind));
        }
    }

    wire_enum_properties!(DocumentType);

    #[test]
    fn digests_are_64_hex_characters_in_lower_case() {
        assert_eq!(sha256_digest(&HASH.to_uppercase()).as_deref(), Some(HASH));
        for wrong in [
            &HASH[1..],
            &format!("{HASH}0"),
            &format!("g{}", &HASH[1..]),
            "",
        ] {
            assert_eq!(sha256_digest(wrong), None, "{wrong}");
        }
        let multibyte = format!("é{}", &HASH[2..]);
        assert_eq!(sha256_digest(&multibyte), None);
    }

    #[test]
    fn the_upload_flag_is_shown_but_never_read_back() {
        let mut decision = decision_of(DecisionInput {
            document_sha256: Some(HASH.to_owned()),
            ..valid()
        });
        decision.mark_uploaded(&|hash| hash == HASH);
        assert_eq!(decision.document_uploaded, Some(true));
        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(json["document_uploaded"], true);
        let read: Decision = serde_json::from_value(json).unwrap();
        assert_eq!(read.document_uploaded, None);
        decision.mark_uploaded(&|_| false);
        assert_eq!(
            serde_json::to_value(&decision).unwrap()["document_uploaded"],
            false
        );
        let mut without = decision_of(valid());
        without.mark_uploaded(&|_| true);
        assert_eq!(without.document_uploaded, None);
        assert!(
            serde_json::to_value(&without)
                .unwrap()
                .get("document_uploaded")
                .is_none()
        );
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            any::<String>(),
            "[京沪粤a-z ]{0,6}[\\[［【（(〔﹝〖 ]{0,2}[0-9]{2,5}[\\]］】）)〕﹞〗 ]{0,2}第?[0-9A-Z-]{0,4}号?",
        ])
    }

    fn date_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            any::<String>(),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "[0-9+-]{1,5}-[0-9]{1,3}-[0-9]{1,3}",
        ])
    }

    fn hash_text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![any::<String>(), "[0-9a-fA-Fg]{62,66}"])
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_keeps_dates_in_the_window(
            number in text(),
            authority in text(),
            date in date_text(),
            document_sha256 in hash_text(),
            today in (-9999i32..=9999, 1u16..=365),
            earliest in (-9999i32..=9999, 1u16..=365),
        ) {
            let today = Date::from_ordinal_date(today.0, today.1).unwrap();
            let earliest = Date::from_ordinal_date(earliest.0, earliest.1).unwrap();
            let input = DecisionInput { number, authority, date, document_sha256 };
            if let Ok(decision) = Decision::parse(input, DateWindow { earliest, today }) {
                prop_assert!(earliest <= decision.date && decision.date <= today);
            }
        }

        #[test]
        fn normalising_a_number_is_idempotent(number in text()) {
            let first = Decision::parse(DecisionInput { number, ..valid() }, DATES);
            if let Ok(first) = first {
                let again = DecisionInput { number: Some(first.number.clone()), ..valid() };
                prop_assert_eq!(Decision::parse(again, DATES).map(|d| d.number), Ok(first.number));
            }
        }

        #[test]
        fn accepted_dates_print_as_given(date in date_text()) {
            let given = date.clone();
            if let Ok(decision) = Decision::parse(DecisionInput { date, ..valid() }, DATES) {
                prop_assert_eq!(Some(Ymd(decision.date).to_string()), given);
            }
        }
    }
}
