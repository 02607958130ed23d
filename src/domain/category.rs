//! The violation categories of DOMAIN.md (the `category` field) with their Chinese labels;
//! which category applies to a case is the submitting authority's call.

use serde::{Deserialize, Serialize};

wire_enum! {
    /// Why a site is listed. The discriminants are the stored form: append new categories at the
    /// end, never reorder or reuse a value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[repr(u8)]
    pub enum Category {
        /// 销售侵犯注册商标专用权商品
        TrademarkInfringement = 0 => "trademark_infringement",
        /// 销售假冒伪劣商品
        CounterfeitGoods = 1 => "counterfeit_goods",
        /// 伪造或冒用合法市场主体名义设立网站
        ForgedIdentity = 2 => "forged_identity",
        /// 仿冒知名商品或知名网站的名称、域名、标识造成混淆
        BrandConfusion = 3 => "brand_confusion",
        /// 虚假或引人误解的宣传
        FalseAdvertising = 4 => "false_advertising",
        /// 虚构交易、编造用户评价
        FakeTransactions = 5 => "fake_transactions",
        /// 损害竞争对手商业信誉、商品声誉
        CommercialDefamation = 6 => "commercial_defamation",
        /// 擅自使用、伪造政府部门或社会团体电子标识
        ForgedGovernmentMark = 7 => "forged_government_mark",
        /// 违规有奖销售
        IllegalPrizePromotion = 8 => "illegal_prize_promotion",
        /// 无照经营或未取得许可经营
        UnlicensedOperation = 9 => "unlicensed_operation",
        /// 泄露、出售或违规收集消费者个人信息
        PersonalInfoViolation = 10 => "personal_info_violation",
        /// 利用格式条款作出不公平规定
        UnfairTerms = 11 => "unfair_terms",
        /// 恶意欺诈
        Fraud = 12 => "fraud",
        /// 未履行备案手续或未取得经营许可
        UnrecordedWebsite = 13 => "unrecorded_website",
        /// 备案信息虚假
        FalseRecordalInfo = 14 => "false_recordal_info",
        /// 其他违法行为
        Other = 15 => "other",
    }
}

impl Category {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{assert_refused, assert_written_as};

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
            assert_written_as(&category, code);
            assert_eq!(category.label_zh(), label);
            assert_eq!(usize::from(category.to_u8()), index);
            assert_eq!(Category::from_u8(category.to_u8()), Some(category));
        }
    }

    #[test]
    fn rejects_other_spellings() {
        let inputs = [
            "",
            "Fraud",
            "counterfeit-goods",
            "counterfeit",
            "销售假冒伪劣商品",
        ];
        assert_refused(Category::parse, &inputs);
        assert_eq!(Category::from_u8(16), None);
    }

    wire_enum_properties!(Category, stored);
}
