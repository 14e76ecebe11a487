//! The report's charts, drawn with plotters into SVG text (no fonts or files needed: the browser
//! renders the text elements).

use plotters::prelude::*;

/// Accepted bytes (bars, left axis) and rejected flows (line, right axis) per hour on the
/// interfaces a change governed, from `from` to `to` (µs), with the change at `change` marked.
/// `traffic` is (hour start µs, accepted bytes, rejected flows).
pub fn traffic_chart(traffic: &[(i64, i64, i64)], change: i64, from: i64, to: i64, interfaces: &[String]) -> String {
    let mut svg = String::new();
    let hours = |t: i64| (t - change) as f64 / 3_600_000_000.0;
    let (x0, x1) = (hours(from), hours(to));
    let max_bytes = traffic.iter().map(|t| t.1).max().unwrap_or(0).max(1) as f64;
    let max_rejects = traffic.iter().map(|t| t.2).max().unwrap_or(0).max(1) as f64;
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
                .x_desc("hours from the change")
                .y_desc(format!("accepted {unit}"))
                .x_label_formatter(&|x| format!("{:+.0}h", x))
                .y_label_formatter(&|y| format!("{y:.1}"))
                .draw()?;
            chart.configure_secondary_axes().y_desc("rejected flows").y_label_formatter(&|y| format!("{y:.0}")).draw()?;
            let bar = RGBColor(9, 105, 218);
            chart.draw_series(traffic.iter().map(|&(t, bytes, _)| {
                let x = hours(t);
                Rectangle::new([(x + 0.08, 0.0), (x + 0.92, bytes as f64 / scale)], bar.mix(0.75).filled())
            }))?;
            let mut line: Vec<(f64, f64)> = traffic.iter().map(|&(t, _, r)| (hours(t) + 0.5, r as f64)).collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let reject = RGBColor(154, 103, 0);
            chart.draw_secondary_series(LineSeries::new(line.iter().copied(), reject.stroke_width(2)))?;
            chart.draw_secondary_series(line.iter().map(|&p| Circle::new(p, 2, reject.filled())))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (0.0, (max_bytes / scale) * 1.1)],
                RED.stroke_width(3),
            )))?;
            chart.draw_series(std::iter::once(Text::new("change", (0.3, (max_bytes / scale) * 1.05), ("sans-serif", 13).into_font().color(&RED))))?;
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
        let svg = traffic_chart(&[(-2 * h, 5_000_000, 3), (0, 9_000_000_000, 0), (h, 100, 7)], 0, -24 * h, 24 * h, &["eni-1".into()]);
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("change"));
        assert!(svg.contains("eni-1"));
        assert!(svg.contains("accepted GB"));
        assert!(svg.matches("<rect").count() >= 4, "background plus three bars");
    }
}
