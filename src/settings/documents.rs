//! The `[documents]` section: the earliest date a document a request carries may bear
//! (penalty decisions, lifting documents, a case's letters), and the bounds of an upload of a
//! signed document (`POST /v1/documents`). Checking the dates is `domain::Decision::parse`'s,
//! checking an upload the API's and the registry's.

use serde::{Deserialize, Deserializer, de::Error};
use time::{Date, macros::date};

use super::{SettingsError, invalid, positive};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentSettings {
    /// Documents dated before this day are refused as typing errors (`0000-01-01`,
    /// `1900-01-01`). The default, 2000-01-01, comes before the rules on internet information
    /// services the recordal regime rests on, so no decision against a website under it is
    /// older; decisions older than the 2014 opinion itself (工商市字〔2014〕180号) may still
    /// ground a listing, which is why the floor is not 2014.
    #[serde(deserialize_with = "ymd")]
    pub earliest_date: Date,
    /// Largest document an upload may carry, in bytes. A document is held whole in memory
    /// while it is checked, hashed and written, and Redis keeps it in memory, hence the cap
    /// ([`MAX_DOCUMENT_BYTES`]).
    pub max_bytes: usize,
    /// Time a client gets to send a whole document.
    pub upload_timeout_ms: u64,
}

/// The most `max_bytes` may be set to: 100 MiB, far above any scan of a signed letter.
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;

impl Default for DocumentSettings {
    fn default() -> DocumentSettings {
        DocumentSettings {
            earliest_date: date!(2000 - 01 - 01),
            max_bytes: 10 * 1024 * 1024,
            upload_timeout_ms: 120_000,
        }
    }
}

impl DocumentSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([
            ("documents.max_bytes", self.max_bytes as u64),
            ("documents.upload_timeout_ms", self.upload_timeout_ms),
        ])?;
        if self.max_bytes > MAX_DOCUMENT_BYTES {
            return Err(invalid(
                "documents.max_bytes",
                format!("must be at most {MAX_DOCUMENT_BYTES} (100 MiB)"),
            ));
        }
        // A floor after today would refuse every document.
        if self.earliest_date > crate::domain::today_in_china() {
            return Err(invalid(
                "documents.earliest_date",
                "must not be later than today",
            ));
        }
        Ok(())
    }
}

/// A date written `YYYY-MM-DD`, read as strictly as documents' dates are.
fn ymd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    let text = String::deserialize(deserializer)?;
    crate::domain::parse_date(&text).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_a_date_no_later_than_today() {
        assert_eq!(
            DocumentSettings::default().earliest_date,
            date!(2000 - 01 - 01)
        );
        let tomorrow = crate::domain::today_in_china().next_day().unwrap();
        let error = DocumentSettings {
            earliest_date: tomorrow,
            ..DocumentSettings::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(error.contains("documents.earliest_date"), "{error}");
        let read = |text: &str| {
            ymd(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text))
        };
        assert_eq!(read("2014-09-29").unwrap(), date!(2014 - 09 - 29));
        for wrong in ["2014-9-29", "2014-02-30", "29.09.2014", ""] {
            assert!(read(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn uploads_are_bounded_by_positive_settings_with_a_cap() {
        let defaults = DocumentSettings::default();
        assert_eq!(defaults.max_bytes, 10 * 1024 * 1024);
        defaults.validate().unwrap();
        let cases = [
            (
                DocumentSettings {
                    max_bytes: 0,
                    ..DocumentSettings::default()
                },
                "documents.max_bytes",
            ),
            (
                DocumentSettings {
                    max_bytes: MAX_DOCUMENT_BYTES + 1,
                    ..DocumentSettings::default()
                },
                "documents.max_bytes",
            ),
            (
                DocumentSettings {
                    upload_timeout_ms: 0,
                    ..DocumentSettings::default()
                },
                "documents.upload_timeout_ms",
            ),
        ];
        for (settings, key) in cases {
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
        let most = DocumentSettings {
            max_bytes: MAX_DOCUMENT_BYTES,
            ..DocumentSettings::default()
        };
        most.validate().unwrap();
    }
}
