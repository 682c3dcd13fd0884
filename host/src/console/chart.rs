//! The API-usage chart: one bar per UTC day, drawn here as SVG (no script),
//! with the daily budget as a line and a table of the same numbers.

use maud::{Markup, html};

use crate::storage::console::UsageDay;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 200;
const LEFT: u32 = 48;
const BOTTOM: u32 = 24;

pub fn usage(days: &[UsageDay], daily_budget: u32) -> Markup {
    let top = days.iter().map(|d| d.api_calls).max().unwrap_or(0).max(1);
    // The budget line only when it is in sight (under 4 × the busiest day).
    let show_budget = daily_budget > 0 && daily_budget <= top.saturating_mul(4);
    let scale_top = if show_budget { top.max(daily_budget) } else { top };
    let plot = HEIGHT - BOTTOM;
    let y = |calls: u32| plot - (u64::from(calls) * u64::from(plot - 8) / u64::from(scale_top)) as u32;
    let step = (WIDTH - LEFT) / u32::try_from(days.len().max(1)).unwrap_or(1);
    let total: u64 = days.iter().map(|d| u64::from(d.api_calls)).sum();
    html! {
        figure {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title" {
                title id="chart-title" { "API calls per day over the last " (days.len()) " days: " (total) " in all" }
                line x1=(LEFT) y1=(plot) x2=(WIDTH) y2=(plot) class="axis" {}
                text x=(LEFT - 6) y=(y(scale_top) + 4) text-anchor="end" { (scale_top) }
                text x=(LEFT - 6) y=(plot) text-anchor="end" { "0" }
                @if show_budget {
                    line x1=(LEFT) y1=(y(daily_budget)) x2=(WIDTH) y2=(y(daily_budget)) class="budget" {}
                }
                @for (i, day) in days.iter().enumerate() {
                    @let x = LEFT + u32::try_from(i).unwrap_or(0) * step;
                    rect x=(x + 2) y=(y(day.api_calls)) width=(step.saturating_sub(4)) height=(plot - y(day.api_calls)) {
                        title { (day.day) ": " (day.api_calls) " API calls" }
                    }
                    text x=(x + step / 2) y=(HEIGHT - 6) text-anchor="middle" { (day.day.format("%d")) }
                }
            }
            figcaption {
                "API calls per UTC day (bars)"
                @if show_budget { "; the line is the daily budget of " (daily_budget) }
                "."
            }
            details {
                summary { "The numbers" }
                table {
                    thead { tr { th scope="col" { "Day" } th scope="col" { "API calls" } th scope="col" { "Token requests" } } }
                    tbody { @for day in days { tr { td { (day.day) } td { (day.api_calls) } td { (day.token_requests) } } } }
                }
            }
        }
    }
}
