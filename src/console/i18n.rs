//! The console's languages: Simplified Chinese (the default) and English. Every text a page
//! shows comes from the Fluent message files under `src/console/locales/`, compiled into the
//! binary, the explanation of every API error code included (`error-<code>`). A request's
//! language is the `lang` cookie the switch sets, else the first of `Accept-Language` that
//! siteban speaks, else Chinese.

use std::borrow::Cow;
use std::collections::HashMap;

use actix_web::HttpRequest;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./src/console/locales",
        fallback_language: "zh-CN",
        // Fluent wraps arguments in Unicode isolation marks by default; the pages are
        // left-to-right only, and the marks would show up in copied text and in tests.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "siteban_lang";

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

static ZH: LanguageIdentifier = langid!("zh-CN");
static EN: LanguageIdentifier = langid!("en");

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Lang> {
        let primary = text.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::Zh)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language of a request: the switch's cookie, else `Accept-Language` by weight.
    pub fn of(req: &HttpRequest) -> Lang {
        if let Some(lang) = req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
            return lang;
        }
        req.headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::Zh)
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// The message `key`, with its arguments.
    pub fn text(self, key: &str, args: &[(&str, String)]) -> String {
        if args.is_empty() {
            return LOCALES.lookup(self.id(), key);
        }
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Owned(k.to_string()), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(self.id(), key, &args)
    }

    /// Whether the message files have `key` in this language.
    pub fn has(self, key: &str) -> bool {
        LOCALES.try_lookup(self.id(), key).is_some()
    }

    /// The explanation of an API error code, or the general one for a code without its own.
    pub fn error(self, code: &str) -> String {
        let key = format!("error-{}", code.replace('_', "-"));
        LOCALES
            .try_lookup(self.id(), &key)
            .unwrap_or_else(|| LOCALES.lookup(self.id(), "error-unexplained"))
    }
}

/// The first language of an `Accept-Language` header the console speaks, by weight.
fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',') {
        let mut fields = part.split(';');
        let Some(lang) = fields.next().and_then(Lang::parse) else {
            continue;
        };
        let weight = fields
            .find_map(|f| f.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_read_by_weight() {
        for (header, expected) in [
            ("en-US,en;q=0.9", Some(Lang::En)),
            ("zh-CN,zh;q=0.9,en;q=0.8", Some(Lang::Zh)),
            ("fr;q=1, en;q=0.5, zh;q=0.7", Some(Lang::Zh)),
            ("de, fr", None),
            ("en;q=0, zh-TW", Some(Lang::Zh)),
            ("", None),
        ] {
            assert_eq!(from_accept_language(header), expected, "{header}");
        }
    }

    /// Both languages hold the same messages: a page never falls back to the other
    /// language's text.
    #[test]
    fn both_languages_have_every_message() {
        let keys = |lang: &str| -> std::collections::BTreeSet<String> {
            let dir = format!("{}/src/console/locales/{lang}", env!("CARGO_MANIFEST_DIR"));
            let mut keys = std::collections::BTreeSet::new();
            for file in std::fs::read_dir(dir).unwrap() {
                let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
                for line in text.lines() {
                    if let Some((key, _)) = line.split_once(" =")
                        && !key.starts_with([' ', '#', '.'])
                        && !key.is_empty()
                    {
                        keys.insert(key.to_string());
                    }
                }
            }
            keys
        };
        let (zh, en) = (keys("zh-CN"), keys("en"));
        assert!(zh.len() > 50, "{} messages", zh.len());
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
        );
    }

    /// Every error code the contract names with its status (in its tables, as `**422**
    /// \`code\``, or as \`422 code\`) has its explanation in both languages.
    #[test]
    fn every_documented_error_code_is_explained() {
        let api =
            std::fs::read_to_string(format!("{}/docs/api.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let pattern = regex::Regex::new(
            r"(?:\b[45]\d\d\*{0,2}\s*\|?\s*`([a-z][a-z_]+)`)|(?:`[45]\d\d ([a-z][a-z_]+)`)",
        )
        .unwrap();
        let codes: std::collections::BTreeSet<&str> = pattern
            .captures_iter(&api)
            .filter_map(|c| c.get(1).or_else(|| c.get(2)))
            .map(|m| m.as_str())
            .collect();
        assert!(codes.len() > 60, "{} codes: {codes:?}", codes.len());
        for lang in Lang::ALL {
            let missing: Vec<_> = codes
                .iter()
                .filter(|code| !lang.has(&format!("error-{}", code.replace('_', "-"))))
                .collect();
            assert!(missing.is_empty(), "{lang:?} lacks {missing:?}");
        }
    }
}
