//! The report's charts, drawn with plotters into SVG text (no fonts or files needed: the browser
//! renders the text elements).

use plotters::prelude::*;

/// One hour of traffic on the interfaces a change governed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Traffic {
    /// Start of the hour (µs).
    pub(crate) hour: i64,
    /// Accepted bytes of every other peer.
    pub(crate) accepted_bytes: i64,
    /// Accepted bytes, after the change, of the peers it let in.
    pub(crate) let_in_bytes: i64,
    pub(crate) rejected_flows: i64,
}

/// Accepted bytes (bars, left axis: the peers the change let in stacked in red on the rest in
/// blue) and rejected flows (line, right axis) per hour on the interfaces a change governed, from
/// `from` to `to` (µs, UTC clock times on the axis), with the change marked.
pub(crate) fn traffic_chart(traffic: &[Traffic], change: i64, from: i64, to: i64, interfaces: &[String]) -> String {
    let mut svg = String::new();
    let hours = |t: i64| (t - change) as f64 / 3_600_000_000.0;
    let (x0, x1) = (hours(from), hours(to));
    let max_bytes = traffic.iter().map(|t| t.accepted_bytes + t.let_in_bytes).max().unwrap_or(0).max(1) as f64;
    let max_rejects = traffic.iter().map(|t| t.rejected_flows).max().unwrap_or(0).max(1) as f64;
    let clock = |x: &f64| {
        let t = change + (x * 3_600_000_000.0) as i64;
        chrono::DateTime::from_timestamp_micros(t).map(|d| d.format("%d %H:%M").to_string()).unwrap_or_default()
    };
    let (scale, unit) = crate::time::byte_unit(max_bytes);
    {
        let root = SVGBackend::with_string(&mut svg, (900, 280)).into_drawing_area();
        let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
            root.fill(&WHITE)?;
            let caption = match interfaces.len() {
                0 => "no interfaces in scope".to_string(),
                1..=3 => interfaces.join(", "),
                n => format!("{}, … ({n} interfaces)", interfaces[..3].join(", ")),
            };
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(64)
                .right_y_label_area_size(56)
                .build_cartesian_2d(x0..x1, 0f64..(max_bytes / scale) * 1.1)?
                .set_secondary_coord(x0..x1, 0f64..max_rejects * 1.1);
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc("UTC (day hour:minute)")
                .y_desc(format!("accepted {unit}"))
                .x_label_formatter(&clock)
                .y_label_formatter(&|y| format!("{y:.1}"))
                .draw()?;
            chart
                .configure_secondary_axes()
                .y_desc("rejected flows")
                .y_label_formatter(&|y| format!("{y:.0}"))
                .draw()?;
            let bar = RGBColor(9, 105, 218);
            let let_in = RGBColor(207, 34, 46);
            chart.draw_series(traffic.iter().filter(|t| t.accepted_bytes > 0).map(|t| {
                let x = hours(t.hour);
                Rectangle::new([(x + 0.08, 0.0), (x + 0.92, t.accepted_bytes as f64 / scale)], bar.mix(0.75).filled())
            }))?;
            chart.draw_series(traffic.iter().filter(|t| t.let_in_bytes > 0).map(|t| {
                let x = hours(t.hour);
                let base = t.accepted_bytes as f64 / scale;
                Rectangle::new(
                    [(x + 0.08, base), (x + 0.92, base + t.let_in_bytes as f64 / scale)],
                    let_in.mix(0.85).filled(),
                )
            }))?;
            if traffic.iter().any(|t| t.let_in_bytes > 0) {
                let top = (max_bytes / scale) * 1.05;
                chart.draw_series(std::iter::once(Text::new(
                    "red: bytes of the peers the change let in",
                    (x0 + (x1 - x0) * 0.02, top),
                    ("sans-serif", 12).into_font().color(&let_in),
                )))?;
            }
            let mut line: Vec<(f64, f64)> =
                traffic.iter().map(|t| (hours(t.hour) + 0.5, t.rejected_flows as f64)).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let reject = RGBColor(154, 103, 0);
            chart.draw_secondary_series(LineSeries::new(line.iter().copied(), reject.stroke_width(2)))?;
            chart.draw_secondary_series(line.iter().map(|&p| Circle::new(p, 2, reject.filled())))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, (max_bytes / scale) * 1.1)],
                RED.stroke_width(3),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                "change",
                (0.3, (max_bytes / scale) * 1.05),
                ("sans-serif", 13).into_font().color(&RED),
            )))?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            drop(root);
            return format!("<p>chart not drawn: {}</p>", super::html::esc(&e.to_string()));
        }
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_marks_the_change_and_draws_the_bars() {
        let h = 3_600_000_000;
        let at = |hour, accepted_bytes, let_in_bytes, rejected_flows| Traffic {
            hour,
            accepted_bytes,
            let_in_bytes,
            rejected_flows,
        };
        // 2026-03-10T10:00:00Z.
        let change = 1_773_136_800_000_000;
        let svg = traffic_chart(
            &[at(change - 2 * h, 5_000_000, 0, 3), at(change, 9_000_000, 9_000_000_000, 0), at(change + h, 100, 0, 7)],
            change,
            change - 24 * h,
            change + 24 * h,
            &["eni-1".into()],
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("change"));
        assert!(svg.contains("eni-1"));
        assert!(svg.contains("accepted GB"));
        assert!(svg.contains("the peers the change let in"));
        // Clock times on the axis, not hours from the change.
        assert!(
            svg.contains("10 10:00") || svg.contains("10 12:00") || svg.contains("10 08:00"),
            "no clock time on the axis"
        );
        assert!(svg.matches("<rect").count() >= 5, "background, three bars and the let-in part");
    }
}
