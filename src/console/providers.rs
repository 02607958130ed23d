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
