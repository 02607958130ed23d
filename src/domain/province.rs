//! Provinces by their GB/T 2260 two-digit code, for keys scoped to one province; what a
//! provincial key may see is decided by `auth`.

use super::excerpt;

/// One of the 31 domestic provincial-level divisions, by GB/T 2260 code (`11` Beijing ...
/// `65` Xinjiang). 71 (Taiwan), 81 (Hong Kong) and 82 (Macao) are outside the domestic
/// system of recordals and telecom administrations, so they are not provinces here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Province(u8);

/// Why a province code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvinceError {
    /// Not exactly two ASCII digits.
    #[error("province code {0:?} is not two digits: use a two-digit GB/T 2260 code from 11 to 65")]
    Malformed(String),
    /// Two digits, but no domestic province has that code.
    #[error("unknown province code \"{0}\": use a two-digit GB/T 2260 code from 11 to 65")]
    Unknown(String),
    /// Taiwan, Hong Kong or Macao.
    #[error(
        "province code \"{0}\" is outside the domestic system: use a two-digit GB/T 2260 code from 11 to 65"
    )]
    NotDomestic(String),
}

struct Info {
    number: u8,
    code: &'static str,
    name_en: &'static str,
    abbreviations: &'static [char],
}

const fn info(
    number: u8,
    code: &'static str,
    name_en: &'static str,
    abbreviations: &'static [char],
) -> Info {
    Info {
        number,
        code,
        name_en,
        abbreviations,
    }
}

/// The table of DOMAIN.md, sorted by code so lookups can binary-search.
const PROVINCES: [Info; 31] = [
    info(11, "11", "Beijing", &['京']),
    info(12, "12", "Tianjin", &['津']),
    info(13, "13", "Hebei", &['冀']),
    info(14, "14", "Shanxi", &['晋']),
    info(15, "15", "Inner Mongolia", &['蒙']),
    info(21, "21", "Liaoning", &['辽']),
    info(22, "22", "Jilin", &['吉']),
    info(23, "23", "Heilongjiang", &['黑']),
    info(31, "31", "Shanghai", &['沪']),
    info(32, "32", "Jiangsu", &['苏']),
    info(33, "33", "Zhejiang", &['浙']),
    info(34, "34", "Anhui", &['皖']),
    info(35, "35", "Fujian", &['闽']),
    info(36, "36", "Jiangxi", &['赣']),
    info(37, "37", "Shandong", &['鲁']),
    info(41, "41", "Henan", &['豫']),
    info(42, "42", "Hubei", &['鄂']),
    info(43, "43", "Hunan", &['湘']),
    info(44, "44", "Guangdong", &['粤']),
    info(45, "45", "Guangxi", &['桂']),
    info(46, "46", "Hainan", &['琼']),
    info(50, "50", "Chongqing", &['渝']),
    info(51, "51", "Sichuan", &['川', '蜀']),
    info(52, "52", "Guizhou", &['黔']),
    info(53, "53", "Yunnan", &['滇']),
    info(54, "54", "Tibet", &['藏']),
    info(61, "61", "Shaanxi", &['陕']),
    info(62, "62", "Gansu", &['甘', '陇']),
    info(63, "63", "Qinghai", &['青']),
    info(64, "64", "Ningxia", &['宁']),
    info(65, "65", "Xinjiang", &['新']),
];

impl Province {
    /// Every province, in code order.
    pub const ALL: [Province; 31] = {
        let mut all = [Province(0); 31];
        let mut i = 0;
        while i < PROVINCES.len() {
            all[i] = Province(PROVINCES[i].number);
            i += 1;
        }
        all
    };

    /// Parses a two-digit GB/T 2260 code such as `"11"`. Nothing else is accepted: no
    /// whitespace, no single digit, no six-digit county code.
    pub fn parse(input: &str) -> Result<Province, ProvinceError> {
        let &[tens @ b'0'..=b'9', ones @ b'0'..=b'9'] = input.as_bytes() else {
            return Err(ProvinceError::Malformed(excerpt(input)));
        };
        let number = (tens - b'0') * 10 + (ones - b'0');
        match number {
            71 | 81 | 82 => Err(ProvinceError::NotDomestic(input.to_owned())),
            _ => Province::from_u8(number).ok_or_else(|| ProvinceError::Unknown(input.to_owned())),
        }
    }

    /// The two-digit code, e.g. `"11"`.
    pub fn code(self) -> &'static str {
        self.info().code
    }

    /// The English name, e.g. `"Beijing"`.
    pub fn name_en(self) -> &'static str {
        self.info().name_en
    }

    /// The one-character abbreviations used in ICP numbers and licence plates; Sichuan (川,
    /// 蜀) and Gansu (甘, 陇) have two, the first being the usual one.
    pub fn abbreviations(self) -> &'static [char] {
        self.info().abbreviations
    }

    /// The code as a number (`11`), the compact stored form.
    pub fn to_u8(self) -> u8 {
        self.0
    }

    /// Reads the compact stored form; `None` for a number that is not a domestic province.
    pub fn from_u8(number: u8) -> Option<Province> {
        PROVINCES
            .binary_search_by_key(&number, |info| info.number)
            .ok()
            .map(|_| Province(number))
    }

    fn info(self) -> &'static Info {
        let index = PROVINCES
            .binary_search_by_key(&self.0, |info| info.number)
            .expect("every Province is built from a row of PROVINCES");
        &PROVINCES[index]
    }
}

text_form!(
    Province,
    code,
    "a two-digit GB/T 2260 province code as a string"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{assert_refusals, assert_written_as};
    use proptest::prelude::*;

    #[test]
    fn the_thirty_one_domestic_provinces() {
        let cases: [(&str, &str, &[char]); 31] = [
            ("11", "Beijing", &['京']),
            ("12", "Tianjin", &['津']),
            ("13", "Hebei", &['冀']),
            ("14", "Shanxi", &['晋']),
            ("15", "Inner Mongolia", &['蒙']),
            ("21", "Liaoning", &['辽']),
            ("22", "Jilin", &['吉']),
            ("23", "Heilongjiang", &['黑']),
            ("31", "Shanghai", &['沪']),
            ("32", "Jiangsu", &['苏']),
            ("33", "Zhejiang", &['浙']),
            ("34", "Anhui", &['皖']),
            ("35", "Fujian", &['闽']),
            ("36", "Jiangxi", &['赣']),
            ("37", "Shandong", &['鲁']),
            ("41", "Henan", &['豫']),
            ("42", "Hubei", &['鄂']),
            ("43", "Hunan", &['湘']),
            ("44", "Guangdong", &['粤']),
            ("45", "Guangxi", &['桂']),
            ("46", "Hainan", &['琼']),
            ("50", "Chongqing", &['渝']),
            ("51", "Sichuan", &['川', '蜀']),
            ("52", "Guizhou", &['黔']),
            ("53", "Yunnan", &['滇']),
            ("54", "Tibet", &['藏']),
            ("61", "Shaanxi", &['陕']),
            ("62", "Gansu", &['甘', '陇']),
            ("63", "Qinghai", &['青']),
            ("64", "Ningxia", &['宁']),
            ("65", "Xinjiang", &['新']),
        ];
        for (index, (code, name_en, abbreviations)) in cases.into_iter().enumerate() {
            let province = Province::parse(code).expect(code);
            assert_eq!(province, Province::ALL[index]);
            assert_eq!(province.code(), code);
            assert_written_as(&province, code);
            assert_eq!(province.name_en(), name_en);
            assert_eq!(province.abbreviations(), abbreviations);
            assert_eq!(province.to_u8().to_string(), code);
            assert_eq!(Province::from_u8(province.to_u8()), Some(province));
        }
    }

    #[test]
    fn rejects_with_a_clear_message() {
        let cases = [
            (
                "99",
                "unknown province code \"99\": use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "00",
                "unknown province code \"00\": use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "10",
                "unknown province code \"10\": use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "66",
                "unknown province code \"66\": use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "71",
                "province code \"71\" is outside the domestic system: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "81",
                "province code \"81\" is outside the domestic system: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "82",
                "province code \"82\" is outside the domestic system: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "",
                "province code \"\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "1",
                "province code \"1\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "110000",
                "province code \"110000\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                " 11",
                "province code \" 11\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "１１",
                "province code \"１１\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "京",
                "province code \"京\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "Beijing",
                "province code \"Beijing\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
            (
                "12345678901234567890",
                "province code \"1234567890123456…\" is not two digits: use a two-digit GB/T 2260 code from 11 to 65",
            ),
        ];
        assert_refusals(Province::parse, &cases);
        assert!(serde_json::from_str::<Province>("\"81\"").is_err());
        assert!(serde_json::from_str::<Province>("11").is_err());
        assert_eq!(Province::from_u8(81), None);
    }

    proptest! {
        #[test]
        fn parse_round_trips_through_code(input in any::<String>()) {
            if let Ok(province) = Province::parse(&input) {
                prop_assert_eq!(province.code(), input.as_str());
            }
        }

        #[test]
        fn every_two_digit_code_is_decided(tens in 0u8..10, ones in 0u8..10) {
            let code = format!("{tens}{ones}");
            let listed = PROVINCES.iter().any(|info| info.code == code);
            prop_assert_eq!(Province::parse(&code).is_ok(), listed);
        }
    }
}
