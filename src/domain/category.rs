//! The violation categories of DOMAIN.md (the `category` field) with their Chinese labels;
//! which category applies to a case is the submitting authority's call.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a site is listed. The discriminants are the stored form: append new categories at the
/// end, never reorder or reuse a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Category {
    /// 销售侵犯注册商标专用权商品
    TrademarkInfringement = 0,
    /// 销售假冒伪劣商品
    CounterfeitGoods = 1,
    /// 伪造或冒用合法市场主体名义设立网站
    ForgedIdentity = 2,
    /// 仿冒知名商品或知名网站的名称、域名、标识造成混淆
    BrandConfusion = 3,
    /// 虚假或引人误解的宣传
    FalseAdvertising = 4,
    /// 虚构交易、编造用户评价
    FakeTransactions = 5,
    /// 损害竞争对手商业信誉、商品声誉
    CommercialDefamation = 6,
    /// 擅自使用、伪造政府部门或社会团体电子标识
    ForgedGovernmentMark = 7,
    /// 违规有奖销售
    IllegalPrizePromotion = 8,
    /// 无照经营或未取得许可经营
    UnlicensedOperation = 9,
    /// 泄露、出售或违规收集消费者个人信息
    PersonalInfoViolation = 10,
    /// 利用格式条款作出不公平规定
    UnfairTerms = 11,
    /// 恶意欺诈
    Fraud = 12,
    /// 未履行备案手续或未取得经营许可
    UnrecordedWebsite = 13,
    /// 备案信息虚假
    FalseRecordalInfo = 14,
    /// 其他违法行为
    Other = 15,
}

impl Category {
    /// Every category, indexed by its stored value.
    pub const ALL: [Category; 16] = [
        Category::TrademarkInfringement,
        Category::CounterfeitGoods,
        Category::ForgedIdentity,
        Category::BrandConfusion,
        Category::FalseAdvertising,
        Category::FakeTransactions,
        Category::CommercialDefamation,
        Category::ForgedGovernmentMark,
        Category::IllegalPrizePromotion,
        Category::UnlicensedOperation,
        Category::PersonalInfoViolation,
        Category::UnfairTerms,
        Category::Fraud,
        Category::UnrecordedWebsite,
        Category::FalseRecordalInfo,
        Category::Other,
    ];

    /// Parses the wire form (`counterfeit_goods`); other spellings are `None`.
    pub fn parse(input: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str() == input)
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::TrademarkInfringement => "trademark_infringement",
            Category::CounterfeitGoods => "counterfeit_goods",
            Category::ForgedIdentity => "forged_identity",
            Category::BrandConfusion => "brand_confusion",
            Category::FalseAdvertising => "false_advertising",
            Category::FakeTransactions => "fake_transactions",
            Category::CommercialDefamation => "commercial_defamation",
            Category::ForgedGovernmentMark => "forged_government_mark",
            Category::IllegalPrizePromotion => "illegal_prize_promotion",
            Category::UnlicensedOperation => "unlicensed_operation",
            Category::PersonalInfoViolation => "personal_info_violation",
            Category::UnfairTerms => "unfair_terms",
            Category::Fraud => "fraud",
            Category::UnrecordedWebsite => "unrecorded_website",
            Category::FalseRecordalInfo => "false_recordal_info",
            Category::Other => "other",
        }
    }

    /// The Chinese description used in the regulators' documents.
    pub fn label_zh(self) -> &'static str {
        match self {
            Category::TrademarkInfringement => "销售侵犯注册商标专用权商品",
            Category::CounterfeitGoods => "销售假冒伪劣商品",
            Category::ForgedIdentity => "伪造或冒用合法市场主体名义设立网站",
            Category::BrandConfusion => "仿冒知名商品或知名网站的名称、域名、标识造成混淆",
            Category::FalseAdvertising => "虚假或引人误解的宣传",
            Category::FakeTransactions => "虚构交易、编造用户评价",
            Category::CommercialDefamation => "损害竞争对手商业信誉、商品声誉",
            Category::ForgedGovernmentMark => "擅自使用、伪造政府部门或社会团体电子标识",
            Category::IllegalPrizePromotion => "违规有奖销售",
            Category::UnlicensedOperation => "无照经营或未取得许可经营",
            Category::PersonalInfoViolation => "泄露、出售或违规收集消费者个人信息",
            Category::UnfairTerms => "利用格式条款作出不公平规定",
            Category::Fraud => "恶意欺诈",
            Category::UnrecordedWebsite => "未履行备案手续或未取得经营许可",
            Category::FalseRecordalInfo => "备案信息虚假",
            Category::Other => "其他违法行为",
        }
    }

    /// The compact stored form.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// Reads the compact stored form; `None` for a byte no version ever wrote.
    pub fn from_u8(value: u8) -> Option<Category> {
        Category::ALL.get(usize::from(value)).copied()
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_sixteen_codes_of_the_contract() {
        let cases = [
            ("trademark_infringement", "销售侵犯注册商标专用权商品"),
            ("counterfeit_goods", "销售假冒伪劣商品"),
            ("forged_identity", "伪造或冒用合法市场主体名义设立网站"),
            (
                "brand_confusion",
                "仿冒知名商品或知名网站的名称、域名、标识造成混淆",
            ),
            ("false_advertising", "虚假或引人误解的宣传"),
            ("fake_transactions", "虚构交易、编造用户评价"),
            ("commercial_defamation", "损害竞争对手商业信誉、商品声誉"),
            (
                "forged_government_mark",
                "擅自使用、伪造政府部门或社会团体电子标识",
            ),
            ("illegal_prize_promotion", "违规有奖销售"),
            ("unlicensed_operation", "无照经营或未取得许可经营"),
            (
                "personal_info_violation",
                "泄露、出售或违规收集消费者个人信息",
            ),
            ("unfair_terms", "利用格式条款作出不公平规定"),
            ("fraud", "恶意欺诈"),
            ("unrecorded_website", "未履行备案手续或未取得经营许可"),
            ("false_recordal_info", "备案信息虚假"),
            ("other", "其他违法行为"),
        ];
        for (index, (code, label)) in cases.into_iter().enumerate() {
            let category = Category::parse(code).expect(code);
            assert_eq!(category, Category::ALL[index]);
            assert_eq!(category.as_str(), code);
            assert_eq!(category.to_string(), code);
            assert_eq!(category.label_zh(), label);
            assert_eq!(usize::from(category.to_u8()), index);
            assert_eq!(Category::from_u8(category.to_u8()), Some(category));
            assert_eq!(
                serde_json::to_string(&category).unwrap(),
                format!("\"{code}\"")
            );
            assert_eq!(
                serde_json::from_str::<Category>(&format!("\"{code}\"")).unwrap(),
                category
            );
        }
    }

    #[test]
    fn rejects_other_spellings() {
        for input in [
            "",
            "Fraud",
            "counterfeit-goods",
            "counterfeit",
            "销售假冒伪劣商品",
        ] {
            assert_eq!(Category::parse(input), None, "input {input:?}");
            assert!(serde_json::from_str::<Category>(&format!("{input:?}")).is_err());
        }
        assert_eq!(Category::from_u8(16), None);
    }

    proptest! {
        #[test]
        fn parse_accepts_only_the_wire_forms(input in any::<String>()) {
            if let Some(category) = Category::parse(&input) {
                prop_assert_eq!(category.as_str(), input.as_str());
            }
        }

        #[test]
        fn from_u8_inverts_to_u8(byte in any::<u8>()) {
            if let Some(category) = Category::from_u8(byte) {
                prop_assert_eq!(category.to_u8(), byte);
            }
        }
    }
}
