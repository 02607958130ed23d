//! Providers and their compliance in the console: per provider, notices sent, acknowledged
//! and overdue (`Registry::compliance`), as a table and as a bar chart that the server draws
//! as inline SVG. The numbers come from the registry; this module only lays out the bars.

use actix_web::web;
use minijinja::context;
use serde::Serialize;

use super::{Shown, Staff, v};
use crate::auth::policy;
use crate::registry::ProviderCompliance;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/providers", web::get().to(compliance));
}

/// The chart's geometry, in SVG user units.
const LABEL_WIDTH: u32 = 180;
const BAR_SPACE: u32 = 360;
const BAR_HEIGHT: u32 = 14;
const GROUP_GAP: u32 = 14;
/// The measures drawn per provider, in order.
const MEASURES: [&str; 3] = ["sent", "acknowledged", "overdue"];

#[derive(Serialize)]
struct Bar {
    measure: &'static str,
    value: u64,
    y: u32,
    width: u32,
}

#[derive(Serialize)]
struct Group {
    name: String,
    /// The baseline of the provider's name, beside its first bar.
    y: u32,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Chart {
    width: u32,
    height: u32,
    label_width: u32,
    bar_height: u32,
    groups: Vec<Group>,
}

/// Lays the report out as horizontal bars, all on one scale (the largest count fills the
/// space), so that bars of different providers compare.
fn chart(report: &[ProviderCompliance]) -> Chart {
    let most = report
        .iter()
        .map(|r| r.sent.max(r.acknowledged).max(r.overdue))
        .max()
        .unwrap_or(0)
        .max(1);
    let group_height = BAR_HEIGHT * MEASURES.len() as u32 + GROUP_GAP;
    let groups = report
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let top = i as u32 * group_height;
            let bars = MEASURES
                .iter()
                .enumerate()
                .map(|(j, &measure)| {
                    let value = match measure {
                        "sent" => row.sent,
                        "acknowledged" => row.acknowledged,
                        _ => row.overdue,
                    };
                    Bar {
                        measure,
                        value,
                        y: top + j as u32 * BAR_HEIGHT,
                        width: (value * u64::from(BAR_SPACE) / most) as u32,
                    }
                })
                .collect();
            Group {
                name: row.name.clone(),
                y: top + BAR_HEIGHT - 3,
                bars,
            }
        })
        .collect::<Vec<_>>();
    Chart {
        // Room for the number after the longest bar.
        width: LABEL_WIDTH + BAR_SPACE + 60,
        height: (groups.len() as u32 * group_height).max(1),
        label_width: LABEL_WIDTH,
        bar_height: BAR_HEIGHT - 2,
        groups,
    }
}

async fn compliance(staff: Staff) -> Shown {
    staff.require(policy::COMPLIANCE)?;
    let report = staff.compliance().await?;
    staff.page(
        "providers.html",
        context! {
            report => v(&report),
            chart => v(&chart(&report)),
            measures => v(&MEASURES),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notices::model::ProviderKind;

    fn row(name: &str, sent: u64, acknowledged: u64, overdue: u64) -> ProviderCompliance {
        ProviderCompliance {
            provider_id: name.into(),
            name: name.into(),
            kind: ProviderKind::Access,
            province: None,
            sent,
            delivered: sent,
            acknowledged,
            overdue,
            overdue_open: 0,
            acknowledged_late: 0,
            median_seconds_to_acknowledge: None,
        }
    }

    #[test]
    fn every_bar_is_on_one_scale_and_groups_do_not_overlap() {
        let chart = chart(&[row("a", 10, 5, 0), row("b", 4, 4, 2)]);
        let widths: Vec<Vec<u32>> = chart
            .groups
            .iter()
            .map(|g| g.bars.iter().map(|b| b.width).collect())
            .collect();
        assert_eq!(widths, [[360, 180, 0], [144, 144, 72]]);
        let last_of_first = chart.groups[0].bars[2].y + BAR_HEIGHT;
        assert!(last_of_first < chart.groups[1].bars[0].y);
        assert!(chart.height >= chart.groups[1].bars[2].y + BAR_HEIGHT);
    }

    #[test]
    fn an_empty_report_draws_nothing_and_divides_by_nothing() {
        let drawn = chart(&[row("a", 0, 0, 0)]);
        assert_eq!(drawn.groups[0].bars[0].width, 0);
        assert!(chart(&[]).groups.is_empty());
    }
}
