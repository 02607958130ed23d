//! The four routes of the regulation from a provincial market regulator to the telecom side,
//! computed from the facts of a case alone. What each hop may do is `workflow`'s.

use serde::{Deserialize, Serialize};

use super::org::Org;
use crate::domain::Province;

/// Which of the regulation's four situations a case is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Not recorded, accessed in the opener's province: to that province's CA.
    UnrecordedLocal,
    /// Not recorded, accessed in another province: to SAMR, which forwards to MIIT, which
    /// hands it to the CA of the province where the site is accessed.
    UnrecordedElsewhere,
    /// Recorded in the opener's province: to that province's CA.
    RecordedLocal,
    /// Recorded in another province: to the recordal province's AMR, which notifies its CA.
    RecordedElsewhere,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::UnrecordedLocal => "unrecorded_local",
            RouteKind::UnrecordedElsewhere => "unrecorded_elsewhere",
            RouteKind::RecordedLocal => "recorded_local",
            RouteKind::RecordedElsewhere => "recorded_elsewhere",
        }
    }
}

/// The organisations a case passes through, the opener first and the telecom organisation
/// that executes the measures last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Route {
    pub kind: RouteKind,
    #[schema(value_type = Vec<String>, example = json!(["amr:11", "samr", "miit", "ca:44"]))]
    pub hops: Vec<Org>,
}

/// The route of a case opened by the AMR of `opener` about a site accessed in `access`, and
/// recorded in `recordal` when it is recorded.
pub fn route(opener: Province, recordal: Option<Province>, access: Province) -> Route {
    let amr = Org::Amr(opener);
    let (kind, hops) = match recordal {
        None if access == opener => (RouteKind::UnrecordedLocal, vec![amr, Org::Ca(opener)]),
        None => (
            RouteKind::UnrecordedElsewhere,
            vec![amr, Org::Samr, Org::Miit, Org::Ca(access)],
        ),
        Some(recorded) if recorded == opener => {
            (RouteKind::RecordedLocal, vec![amr, Org::Ca(opener)])
        }
        Some(recorded) => (
            RouteKind::RecordedElsewhere,
            vec![amr, Org::Amr(recorded), Org::Ca(recorded)],
        ),
    };
    Route { kind, hops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(code: &str) -> Province {
        Province::parse(code).unwrap()
    }

    #[test]
    fn the_four_routes_of_the_regulation() {
        let (bj, gd) = (p("11"), p("44"));
        let cases = [
            (
                None,
                bj,
                RouteKind::UnrecordedLocal,
                vec![Org::Amr(bj), Org::Ca(bj)],
            ),
            (
                None,
                gd,
                RouteKind::UnrecordedElsewhere,
                vec![Org::Amr(bj), Org::Samr, Org::Miit, Org::Ca(gd)],
            ),
            (
                Some(bj),
                gd,
                RouteKind::RecordedLocal,
                vec![Org::Amr(bj), Org::Ca(bj)],
            ),
            (
                Some(gd),
                bj,
                RouteKind::RecordedElsewhere,
                vec![Org::Amr(bj), Org::Amr(gd), Org::Ca(gd)],
            ),
        ];
        for (recordal, access, kind, hops) in cases {
            assert_eq!(
                serde_json::to_value(kind).unwrap().as_str(),
                Some(kind.as_str())
            );
            assert_eq!(route(bj, recordal, access), Route { kind, hops });
        }
    }

    proptest! {
        #[test]
        fn every_route_starts_at_the_opener_and_ends_at_a_telecom_organisation(
            opener in 0usize..31, recordal in proptest::option::of(0usize..31), access in 0usize..31,
        ) {
            let opener = Province::ALL[opener];
            let route = route(opener, recordal.map(|i| Province::ALL[i]), Province::ALL[access]);
            prop_assert_eq!(route.hops[0], Org::Amr(opener));
            let last = *route.hops.last().unwrap();
            prop_assert!(matches!(last, Org::Ca(_)), "a provincial CA executes: {last}");
            // Market regulators hand on until the telecom side, whose national level
            // (MIIT, for a site accessed elsewhere) hands on to a provincial CA.
            let telecom = route.hops.iter().position(|o| o.is_telecom()).unwrap();
            prop_assert!(route.hops[..telecom].iter().all(|o| o.is_market()));
            prop_assert!(route.hops[telecom..].iter().all(|o| o.is_telecom()));
            prop_assert!((2..=4).contains(&route.hops.len()));
        }
    }
}
