//! Domain names: parsing user input into the normalised A-label form, public-suffix checks and
//! the label-boundary relations the index relies on; matching against entries is left to `index`.

use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// The DNS limit on one label, in octets of its A-label form.
const MAX_LABEL_OCTETS: usize = 63;

/// The DNS limit on a whole name without its trailing dot, in octets.
const MAX_NAME_OCTETS: usize = 253;

/// Inputs longer than this are refused before any Unicode processing, so that a hostile
/// batch cannot spend time in the IDNA mapping of megabyte-sized strings. Every character
/// of a valid name except the ignorable ones (soft hyphens, variation selectors) yields at
/// least one output octet and takes at most four bytes, so no realistic name comes close.
const MAX_INPUT_BYTES: usize = 1024;

/// A domain name in normalised form: lower-case A-labels (`xn--fsqu00a.xn--fiqs8s`), LDH
/// characters only, no trailing dot, every label 1 to 63 octets, at most 253 octets in all.
///
/// The only way to get one is [`DomainName::parse`] (or deserialising, which calls it), so
/// code that holds a `DomainName` never validates again.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct DomainName(Box<str>);

/// Why an input is not an acceptable domain name. The message is meant for the person who
/// sent the input; [`DomainError::code`] is the stable code of the HTTP contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Not a syntactically valid domain name (`invalid_domain`).
    #[error("{0}")]
    Invalid(String),
    /// A valid name that is itself a public suffix, so it cannot be listed (`public_suffix`).
    #[error("{0}")]
    PublicSuffix(String),
}

impl DomainError {
    /// The stable snake_case error code of the HTTP contract.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(_) => "invalid_domain",
            DomainError::PublicSuffix(_) => "public_suffix",
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        DomainError::Invalid(message.into())
    }
}

impl DomainName {
    /// Parses and normalises a domain name given as Unicode or ASCII, in any case, with at
    /// most one trailing dot.
    pub fn parse(input: &str) -> Result<DomainName, DomainError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(DomainError::invalid(format!(
                "input is {} bytes long: a domain name has at most {MAX_NAME_OCTETS} octets",
                input.len()
            )));
        }
        // Most names arrive already normalised and valid; UTS #46 maps such input to itself,
        // so the IDNA machinery and the checks that name a fault can be skipped.
        // `plain_name` and a property test keep the two paths in agreement.
        match plain_name(input) {
            Some(name) => Ok(DomainName(Box::from(name))),
            None => parse_via_idna(input),
        }
    }

    /// Like [`DomainName::parse`], and also refuses names that are a public suffix (ICANN or
    /// private section of the Public Suffix List, or a lone unknown top-level label): those
    /// are shared by unrelated owners, so listing one would block all of them.
    pub fn parse_listable(input: &str) -> Result<DomainName, DomainError> {
        let name = DomainName::parse(input)?;
        if name.is_public_suffix() {
            return Err(DomainError::PublicSuffix(format!(
                "\"{name}\" is a public suffix shared by unrelated owners: \
                 name a registrable domain below it, such as example.{name}"
            )));
        }
        Ok(name)
    }

    /// The normalised A-label form, e.g. `xn--fsqu00a.xn--fiqs8s`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form (`例子.中国`), or `None` when it is the same as [`DomainName::as_str`]
    /// because no label is an A-label.
    pub fn to_unicode(&self) -> Option<String> {
        if !has_a_label(&self.0) {
            return None;
        }
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        // Every A-label was validated by `parse`, so decoding cannot fail; should it ever,
        // the A-label form is still correct and the Unicode form is merely cosmetic.
        match result {
            Ok(()) if unicode != *self.0 => Some(unicode),
            _ => None,
        }
    }

    /// Whether `self` is `ancestor` or a name below it, on a label boundary:
    /// `www.shop.example.cn` is within `shop.example.cn`, `notshop.example.cn` is not.
    pub fn is_within(&self, ancestor: &DomainName) -> bool {
        let (name, ancestor) = (self.0.as_bytes(), ancestor.0.as_bytes());
        match name.len().checked_sub(ancestor.len()) {
            Some(0) => name == ancestor,
            Some(prefix) => name.ends_with(ancestor) && name[prefix - 1] == b'.',
            None => false,
        }
    }

    /// The name itself, then each parent down to the top-level label
    /// (`a.b.c`, `b.c`, `c`), as slices of `self`.
    pub fn suffixes(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(Some(self.as_str()), |name| {
            name.split_once('.').map(|(_, parent)| parent)
        })
    }

    fn is_public_suffix(&self) -> bool {
        // `psl::domain` finds the registrable domain (one label more than the longest matching
        // rule, with the implicit `*` rule for unknown top-level labels); a name without one
        // is a public suffix itself.
        psl::domain(self.0.as_bytes()).is_none()
    }
}

/// The name without its trailing dot when the input is lower-case LDH ASCII, no label is an
/// A-label, and it passes every check of [`finish`]: UTS #46 would return it unchanged and
/// `finish` would accept it. One pass over the bytes; anything else (including every
/// invalid name) takes the general path, which says what is wrong.
fn plain_name(input: &str) -> Option<&str> {
    let name = input.strip_suffix('.').unwrap_or(input);
    let bytes = name.as_bytes();
    if bytes.len() > MAX_NAME_OCTETS {
        return None;
    }
    let mut label_start = 0;
    // Whether the current label has only digits so far: a numeric last label is refused.
    let mut digits_only = true;
    for (at, &byte) in bytes.iter().enumerate() {
        match byte {
            b'a'..=b'z' | b'-' => digits_only = false,
            b'0'..=b'9' => {}
            b'.' => {
                if !plain_label(&bytes[label_start..at]) {
                    return None;
                }
                label_start = at + 1;
                digits_only = true;
            }
            _ => return None,
        }
    }
    (plain_label(&bytes[label_start..]) && !digits_only).then_some(name)
}

/// A label of lower-case LDH bytes that [`check_label`] accepts and that is not an A-label.
fn plain_label(label: &[u8]) -> bool {
    match (label.first(), label.last()) {
        (Some(&first), Some(&last)) => {
            label.len() <= MAX_LABEL_OCTETS
                && first != b'-'
                && last != b'-'
                && !label.starts_with(b"xn--")
        }
        _ => false,
    }
}

/// Whether any label of a normalised name is an A-label.
fn has_a_label(name: &str) -> bool {
    name.starts_with("xn--") || name.contains(".xn--")
}

fn is_a_label(label: &str) -> bool {
    label.starts_with("xn--")
}

/// The general path: refuse what is plainly not a domain name with a message that names the
/// problem (IDNA would only say "invalid"), then normalise with UTS #46 and check the result.
fn parse_via_idna(input: &str) -> Result<DomainName, DomainError> {
    reject_non_names(input)?;
    // The empty ASCII deny list and `Hyphens::Allow` leave those rules to `finish`, which
    // checks the normalised output and can say which label and which character is wrong.
    // Together they enforce what `AsciiDenyList::STD3` with `Hyphens::CheckFirstLast` would
    // (a property test checks it): a disallowed ASCII character survives into the A-label,
    // because Punycode copies basic code points, and `finish` decodes A-labels to check
    // their hyphens. Length checks are ours too, to report the offending label.
    let ascii = Uts46::new()
        .to_ascii(
            input.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .map_err(|_| {
            DomainError::invalid(
                "not a valid internationalised domain name: check for disallowed \
                 characters or a malformed xn-- label",
            )
        })?;
    finish(&ascii)
}

/// Checks on the raw input for things that are not domain names at all: URLs, IP literals,
/// paths, ports and whitespace. They run before IDNA so that the message names the real
/// problem instead of an invalid character.
fn reject_non_names(input: &str) -> Result<(), DomainError> {
    if input.is_empty() {
        return Err(empty_name());
    }
    if input.chars().any(char::is_whitespace) {
        return Err(DomainError::invalid(
            "domain name contains whitespace: remove spaces and line breaks",
        ));
    }
    if input.contains("://") {
        return Err(DomainError::invalid(
            "expected a domain name, not a URL: remove the scheme (\"http://\") and any path",
        ));
    }
    if input.starts_with('[') || input.parse::<Ipv6Addr>().is_ok() {
        return Err(DomainError::invalid(
            "an IP address literal is not a domain name: give the host name",
        ));
    }
    if input.contains('/') {
        return Err(DomainError::invalid(
            "domain name contains a path ('/'): give the host name alone",
        ));
    }
    if input.contains(':') {
        return Err(DomainError::invalid(
            "domain name contains a port (':'): give the host name without a port",
        ));
    }
    Ok(())
}

fn empty_name() -> DomainError {
    DomainError::invalid("domain name is empty")
}

/// The checks shared by both paths, on ASCII that UTS #46 has already normalised (or that
/// needed no normalisation). Builds the final value.
fn finish(ascii: &str) -> Result<DomainName, DomainError> {
    let name = match ascii.strip_suffix('.') {
        Some(rest) if rest.ends_with('.') => {
            return Err(DomainError::invalid(
                "domain name ends with more than one dot: at most one trailing dot is allowed",
            ));
        }
        Some(rest) => rest,
        None => ascii,
    };
    if name.is_empty() {
        return Err(empty_name());
    }
    for (index, label) in name.split('.').enumerate() {
        check_label(index + 1, label)?;
    }
    if name.len() > MAX_NAME_OCTETS {
        return Err(DomainError::invalid(format!(
            "domain name is longer than {MAX_NAME_OCTETS} octets ({} in A-label form)",
            name.len()
        )));
    }
    reject_numeric(name)?;
    Ok(DomainName(Box::from(name)))
}

fn check_label(number: usize, label: &str) -> Result<(), DomainError> {
    if label.is_empty() {
        return Err(DomainError::invalid(format!(
            "label {number} is empty: remove the extra dot"
        )));
    }
    if label.len() > MAX_LABEL_OCTETS {
        let form = if is_a_label(label) {
            " in its A-label form"
        } else {
            ""
        };
        return Err(DomainError::invalid(format!(
            "label {number} is longer than {MAX_LABEL_OCTETS} octets{form}"
        )));
    }
    if label == "*" {
        return Err(DomainError::invalid(format!(
            "label {number} is a wildcard ('*'): give the name itself, \
             a subtree entry already covers every name below it"
        )));
    }
    // Lower case only: UTS #46 has mapped upper case already, and the fast path admits none,
    // so this also guards the "lower-case A-labels" invariant of `DomainName`.
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(DomainError::invalid(format!(
            "label {number} contains {bad:?}, which is not allowed: \
             use letters, digits and hyphens"
        )));
    }
    // An A-label never starts or ends with a hyphen itself, but the U-label it encodes may;
    // IDNA forbids that as well, so look at the decoded form.
    let decoded;
    let visible: &str = match label.strip_prefix("xn--") {
        Some(encoded) => {
            decoded = idna::punycode::decode_to_string(encoded).ok_or_else(|| {
                DomainError::invalid(format!(
                    "label {number} is not a valid A-label: \"xn--\" must be followed by Punycode"
                ))
            })?;
            &decoded
        }
        None => label,
    };
    if visible.starts_with('-') {
        return Err(DomainError::invalid(format!(
            "label {number} starts with a hyphen"
        )));
    }
    if visible.ends_with('-') {
        return Err(DomainError::invalid(format!(
            "label {number} ends with a hyphen"
        )));
    }
    Ok(())
}

/// Browsers (the WHATWG URL standard) read a name whose last label is a number as an IPv4
/// address (`1.2.3.4`, but also `10.1` or `3232235777`), and no top-level domain is numeric,
/// so such names are never domain names.
fn reject_numeric(name: &str) -> Result<(), DomainError> {
    let last = name.rsplit('.').next().unwrap_or(name);
    if !last.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return Err(DomainError::invalid(format!(
            "\"{name}\" is an IP address, not a domain name: give the host name"
        )));
    }
    Err(DomainError::invalid(format!(
        "\"{name}\" ends in a number and would be read as an IP address: \
         a domain name ends in a top-level domain such as cn"
    )))
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

text_form!(
    DomainName,
    as_str,
    "a domain name as a string",
    FromStr<Err = DomainError>
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::assert_refusals;
    use proptest::prelude::*;

    fn parsed(input: &str) -> Result<String, String> {
        DomainName::parse(input)
            .map(|name| name.as_str().to_owned())
            .map_err(|error| error.to_string())
    }

    fn name(input: &str) -> DomainName {
        DomainName::parse(input).expect("test name is valid")
    }

    #[test]
    fn accepts_and_normalises() {
        let label63 = "a".repeat(63);
        // Four labels of 61 octets and one of 5: 4 * 62 + 5 = 253 octets.
        let name253 = format!("{0}.{0}.{0}.{0}.abcde", "b".repeat(61));
        assert_eq!(name253.len(), 253);
        let cases: &[(&str, &str)] = &[
            ("example.cn", "example.cn"),
            ("Shop.EXAMPLE.cn", "shop.example.cn"),
            ("shop.example.cn.", "shop.example.cn"),
            ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
            ("例子.中国.", "xn--fsqu00a.xn--fiqs8s"),
            ("XN--FSQU00A.XN--FIQS8S", "xn--fsqu00a.xn--fiqs8s"),
            ("xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
            ("例子。中国", "xn--fsqu00a.xn--fiqs8s"),
            ("ＥＸＡＭＰＬＥ．ｃｎ", "example.cn"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("ß.de", "xn--zca.de"),
            ("ab--cd.example.cn", "ab--cd.example.cn"),
            ("163.com", "163.com"),
            ("a-b.c-d.cn", "a-b.c-d.cn"),
            ("localhost", "localhost"),
            ("1.2.3.4.example", "1.2.3.4.example"),
            (&label63, &label63),
            (&name253, &name253),
        ];
        for (input, expected) in cases {
            assert_eq!(parsed(input).as_deref(), Ok(*expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_with_a_clear_message() {
        let label64 = "a".repeat(64);
        let name254 = format!("{0}.{0}.{0}.{0}.abcdef", "b".repeat(61));
        assert_eq!(name254.len(), 254);
        let long_u_label = format!("{}例.cn", "a".repeat(60));
        let huge = "a".repeat(2000);
        let cases: &[(&str, &str)] = &[
            ("", "domain name is empty"),
            (".", "domain name is empty"),
            (
                "..",
                "domain name ends with more than one dot: at most one trailing dot is allowed",
            ),
            (
                "example.cn..",
                "domain name ends with more than one dot: at most one trailing dot is allowed",
            ),
            (
                "例子.中国..",
                "domain name ends with more than one dot: at most one trailing dot is allowed",
            ),
            ("a..b", "label 2 is empty: remove the extra dot"),
            (".example.cn", "label 1 is empty: remove the extra dot"),
            (
                &format!("x.{label64}.cn"),
                "label 2 is longer than 63 octets",
            ),
            (
                &long_u_label,
                "label 1 is longer than 63 octets in its A-label form",
            ),
            (
                &name254,
                "domain name is longer than 253 octets (254 in A-label form)",
            ),
            (
                &huge,
                "input is 2000 bytes long: a domain name has at most 253 octets",
            ),
            (
                "a_b.example.cn",
                "label 1 contains '_', which is not allowed: use letters, digits and hyphens",
            ),
            (
                "A_B.example.cn",
                "label 1 contains '_', which is not allowed: use letters, digits and hyphens",
            ),
            (
                "ex＿ample.cn",
                "label 1 contains '_', which is not allowed: use letters, digits and hyphens",
            ),
            (
                "例_子.cn",
                "label 1 contains '_', which is not allowed: use letters, digits and hyphens",
            ),
            (
                "shop@example.cn",
                "label 1 contains '@', which is not allowed: use letters, digits and hyphens",
            ),
            (
                "*.example.cn",
                "label 1 is a wildcard ('*'): give the name itself, a subtree entry already covers every name below it",
            ),
            ("-shop.example.cn", "label 1 starts with a hyphen"),
            ("shop-.example.cn", "label 1 ends with a hyphen"),
            ("shop.-Example.cn", "label 2 starts with a hyphen"),
            ("例子-.cn", "label 1 ends with a hyphen"),
            ("-例子.cn", "label 1 starts with a hyphen"),
            (
                "1.2.3.4",
                "\"1.2.3.4\" is an IP address, not a domain name: give the host name",
            ),
            (
                "１.２.３.４",
                "\"1.2.3.4\" is an IP address, not a domain name: give the host name",
            ),
            (
                "999.1.1.1",
                "\"999.1.1.1\" ends in a number and would be read as an IP address: a domain name ends in a top-level domain such as cn",
            ),
            (
                "example.123",
                "\"example.123\" ends in a number and would be read as an IP address: a domain name ends in a top-level domain such as cn",
            ),
            (
                "3232235777",
                "\"3232235777\" ends in a number and would be read as an IP address: a domain name ends in a top-level domain such as cn",
            ),
            (
                "::1",
                "an IP address literal is not a domain name: give the host name",
            ),
            (
                "2001:db8::1",
                "an IP address literal is not a domain name: give the host name",
            ),
            (
                "[::1]",
                "an IP address literal is not a domain name: give the host name",
            ),
            (
                "[2001:db8::1]:443",
                "an IP address literal is not a domain name: give the host name",
            ),
            (
                "http://example.cn",
                "expected a domain name, not a URL: remove the scheme (\"http://\") and any path",
            ),
            (
                "HTTPS://example.cn/path",
                "expected a domain name, not a URL: remove the scheme (\"http://\") and any path",
            ),
            (
                "example.cn/path",
                "domain name contains a path ('/'): give the host name alone",
            ),
            (
                "example.cn:8080",
                "domain name contains a port (':'): give the host name without a port",
            ),
            (
                "exa mple.cn",
                "domain name contains whitespace: remove spaces and line breaks",
            ),
            (
                " example.cn",
                "domain name contains whitespace: remove spaces and line breaks",
            ),
            (
                "example.cn\n",
                "domain name contains whitespace: remove spaces and line breaks",
            ),
            (
                "例子\u{3000}.中国",
                "domain name contains whitespace: remove spaces and line breaks",
            ),
            (
                "xn--a.cn",
                "not a valid internationalised domain name: check for disallowed characters or a malformed xn-- label",
            ),
            (
                "x\u{200d}.cn",
                "not a valid internationalised domain name: check for disallowed characters or a malformed xn-- label",
            ),
        ];
        for error in assert_refusals(DomainName::parse, cases) {
            assert_eq!(error.code(), "invalid_domain");
        }
    }

    #[test]
    fn unicode_form_only_when_it_differs() {
        let idn = name("例子.中国");
        assert_eq!(idn.as_str(), "xn--fsqu00a.xn--fiqs8s");
        assert_eq!(idn.to_unicode().as_deref(), Some("例子.中国"));
        assert_eq!(name("Bücher.de").to_unicode().as_deref(), Some("bücher.de"));
        assert_eq!(name("shop.example.cn").to_unicode(), None);
    }

    #[test]
    fn public_suffixes_are_not_listable() {
        for input in [
            "com",
            "com.cn",
            "github.io",
            "COM.CN.",
            "example",
            "中国",
            "公司.cn",
        ] {
            let error = DomainName::parse_listable(input).expect_err(input);
            assert_eq!(error.code(), "public_suffix", "input {input:?}");
            // Each of them is still a valid name for a check.
            assert!(DomainName::parse(input).is_ok(), "input {input:?}");
        }
        assert_eq!(
            DomainName::parse_listable("com.cn")
                .unwrap_err()
                .to_string(),
            "\"com.cn\" is a public suffix shared by unrelated owners: \
             name a registrable domain below it, such as example.com.cn"
        );
        for input in [
            "example.com.cn",
            "foo.github.io",
            "www.shop.example.cn",
            "例子.中国",
            "example.com",
        ] {
            assert!(DomainName::parse_listable(input).is_ok(), "input {input:?}");
        }
        // Syntax errors keep their own code.
        assert_eq!(
            DomainName::parse_listable("a..cn").unwrap_err().code(),
            "invalid_domain"
        );
    }

    #[test]
    fn within_respects_label_boundaries() {
        let shop = name("shop.example.cn");
        let cases = [
            ("shop.example.cn", true),
            ("www.shop.example.cn", true),
            ("a.b.shop.example.cn", true),
            ("notshop.example.cn", false),
            ("example.cn", false),
            ("shop.example.com", false),
            ("hop.example.cn", false),
        ];
        for (input, expected) in cases {
            assert_eq!(name(input).is_within(&shop), expected, "input {input:?}");
        }
    }

    #[test]
    fn suffixes_walk_up_to_the_top_level() {
        let abc = name("a.b.c");
        assert_eq!(abc.suffixes().collect::<Vec<_>>(), ["a.b.c", "b.c", "c"]);
        let localhost = name("localhost");
        assert_eq!(localhost.suffixes().collect::<Vec<_>>(), ["localhost"]);
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let idn = name("例子.中国");
        let json = serde_json::to_string(&idn).unwrap();
        assert_eq!(json, "\"xn--fsqu00a.xn--fiqs8s\"");
        assert_eq!(serde_json::from_str::<DomainName>(&json).unwrap(), idn);
        assert_eq!(
            serde_json::from_str::<DomainName>("\"\\u4f8b\\u5b50.\\u4e2d\\u56fd\"").unwrap(),
            idn
        );
        let error = serde_json::from_str::<DomainName>("\"a..b\"").unwrap_err();
        assert!(error.to_string().contains("label 2 is empty"), "{error}");
        assert!(serde_json::from_str::<DomainName>("12").is_err());
        assert_eq!("Example.CN".parse::<DomainName>(), Ok(name("example.cn")));
    }

    /// Lower-case LDH labels, sometimes empty or with hyphens at the edges, so that both
    /// paths see accepted and rejected names.
    fn ldh_input() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.-]{0,80}",
            prop::collection::vec("[a-z0-9-]{0,70}", 1..6).prop_map(|labels| labels.join(".")),
            prop::collection::vec("[a-z0-9]{1,63}", 1..8)
                .prop_map(|labels| format!("{}.", labels.join("."))),
        ]
    }

    /// Mixed Unicode and ASCII labels that often form valid internationalised names.
    fn mixed_input() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-zA-Z0-9\u{4e00}-\u{4e20}äöüßÉ-]{1,12}", 1..5)
            .prop_map(|labels| labels.join("."))
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = DomainName::parse(&input);
            let _ = DomainName::parse_listable(&input);
        }

        #[test]
        fn parse_never_panics_on_lossy_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let input = String::from_utf8_lossy(&bytes);
            let _ = DomainName::parse(&input);
        }

        #[test]
        fn fast_path_agrees_with_idna(input in ldh_input()) {
            // Every LDH input: the fast path must take exactly what the general path accepts
            // unchanged, and leave the rest (errors included) to it.
            let general = parse_via_idna(&input);
            match plain_name(&input) {
                Some(name) => prop_assert_eq!(Ok(name), general.as_ref().map(|n| n.as_str())),
                None => prop_assert!(
                    general.is_err() || has_a_label(&input),
                    "{:?} is a valid plain name but missed the fast path", input
                ),
            }
        }

        #[test]
        fn parse_is_idempotent(input in prop_oneof![ldh_input(), mixed_input(), any::<String>()]) {
            if let Ok(first) = DomainName::parse(&input) {
                prop_assert_eq!(DomainName::parse(first.as_str()), Ok(first.clone()));
                if let Some(unicode) = first.to_unicode() {
                    prop_assert_eq!(DomainName::parse(&unicode), Ok(first));
                }
            }
        }

        #[test]
        fn accepted_names_pass_strict_idna(input in prop_oneof![ldh_input(), mixed_input()]) {
            // Our own checks after a lenient UTS #46 pass must never accept more than the
            // strict settings (STD3 deny list, hyphen and length checks) would.
            if let Ok(name) = DomainName::parse(&input) {
                let strict = Uts46::new().to_ascii(
                    input.strip_suffix('.').unwrap_or(&input).as_bytes(),
                    AsciiDenyList::STD3,
                    Hyphens::CheckFirstLast,
                    DnsLength::Verify,
                ).ok();
                prop_assert_eq!(strict.as_deref(), Some(name.as_str()));
            }
        }

        #[test]
        fn within_agrees_with_string_definition(
            a in prop::collection::vec("[ab]{1,2}", 1..5),
            b in prop::collection::vec("[ab]{1,2}", 1..5),
        ) {
            let (a, b) = (a.join("."), b.join("."));
            let expected = a == b || a.ends_with(&format!(".{b}"));
            prop_assert_eq!(name(&a).is_within(&name(&b)), expected);
        }

        #[test]
        fn suffixes_are_the_names_it_is_within(labels in prop::collection::vec("[a-c]{1,3}", 1..6)) {
            let full = name(&labels.join("."));
            let suffixes: Vec<&str> = full.suffixes().collect();
            prop_assert_eq!(suffixes.len(), labels.len());
            for suffix in suffixes {
                prop_assert!(full.is_within(&name(suffix)));
            }
        }
    }
}
