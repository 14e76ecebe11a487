//! Correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`) and the
//! older `| count() by X > N` aggregation, compiled to windows over the events their rules match.

use super::*;

/// Seconds in a Sigma time span: `30s`, `10m`, `1h`, `2d`, `1w`.
pub(super) fn timespan(s: &str) -> Result<u64, NotCompiled> {
    let s = s.trim();
    let unit = s.chars().last().ok_or("an empty timespan")?;
    let n: u64 = s[..s.len() - unit.len_utf8()]
        .trim()
        .parse()
        .map_err(|_| format!("timespan {s:?} is not a number and a unit (s, m, h, d, w)"))?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(not_compiled!("timespan {s:?}: the unit is not one of s, m, h, d, w")),
    };
    Ok(n * mult)
}

/// A correlation's condition: `gte: 10` and the like, all of which must hold, and the field
/// `value_count` counts.
pub(super) fn count_condition(doc: &CountConditionDoc) -> Result<CountCondition, NotCompiled> {
    let (mut ops, mut field) = (Vec::new(), None);
    for (k, v) in &doc.0 {
        if k == "field" {
            field = Some(v.0.clone());
            continue;
        }
        let op = match k.as_str() {
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            "eq" => Cmp::Eq,
            other => return Err(not_compiled!("condition: `{other}` is not one of gt, gte, lt, lte, eq, field")),
        };
        let n: f64 = v.0.parse().map_err(|_| format!("condition: `{k}` is not a number"))?;
        ops.push((op, n));
    }
    if ops.is_empty() {
        return Err("condition: no gt, gte, lt, lte or eq".into());
    }
    Ok((ops, field))
}

/// `count(FIELD) by GROUP, GROUP > N`.
pub(super) fn old_aggregation(agg: &str, span: Option<u64>) -> Result<Correlation, NotCompiled> {
    let agg = agg.trim();
    let rest = agg.strip_prefix("count(").ok_or_else(|| format!("aggregation `{agg}`: only count() is compiled"))?;
    let (field, rest) = rest.split_once(')').ok_or("aggregation: count( is not closed")?;
    let rest = rest.trim();
    let (groups, cmp) = match rest.strip_prefix("by ") {
        Some(r) => {
            let at = r.find(['<', '>', '=']).ok_or("aggregation: no comparison")?;
            (r[..at].split(',').map(|g| g.trim().to_string()).filter(|g| !g.is_empty()).collect(), &r[at..])
        }
        None => (Vec::new(), rest),
    };
    let (op, n) = [(">=", Cmp::Gte), ("<=", Cmp::Lte), (">", Cmp::Gt), ("<", Cmp::Lt), ("=", Cmp::Eq)]
        .iter()
        .find_map(|(p, op)| cmp.strip_prefix(p).map(|n| (*op, n.trim())))
        .ok_or("aggregation: no comparison")?;
    let n: f64 = n.parse().map_err(|_| format!("aggregation: {n:?} is not a number"))?;
    let field = field.trim();
    Ok(Correlation {
        file: PathBuf::new(),
        id: String::new(),
        title: String::new(),
        level: String::new(),
        tags: Vec::new(),
        kind: if field.is_empty() { CorrelationType::EventCount } else { CorrelationType::ValueCount },
        rules: Vec::new(),
        group_by: groups,
        timespan: span,
        condition: vec![(op, n)],
        field: (!field.is_empty()).then(|| field.to_string()),
        generate: false,
    })
}

/// Compile a correlation against the rules it names.
pub(super) fn correlate(c: &Correlation, parsed: &[Parsed]) -> Result<SigmaRule, NotCompiled> {
    let mut parts: Vec<&SigmaRule> = Vec::new();
    for key in &c.rules {
        let found = parsed.iter().find_map(|p| match p {
            Parsed::Rule(r) if r.name.as_deref() == Some(key) || r.id == *key => Some(Ok(r)),
            Parsed::Correlation(o) if o.id == *key => {
                Some(Err(not_compiled!("it names {key}, another correlation (chained correlations are not compiled)")))
            }
            Parsed::Foreign { key: k } if k.as_deref() == Some(key.as_str()) => {
                Some(Err(not_compiled!("it names {key}, which is not an AWS CloudTrail rule")))
            }
            _ => None,
        });
        match found {
            Some(Ok(r)) if r.kind == Kind::Events => parts.push(r),
            Some(Ok(_)) => return Err(not_compiled!("it names {key}, which aggregates itself")),
            Some(Err(why)) => return Err(why),
            None => {
                return Err(not_compiled!(
                    "it names {key}, which is not among the rules given (refer to a rule by its `name` or `id`)"
                ));
            }
        }
    }
    Ok(SigmaRule {
        file: c.file.clone(),
        id: c.id.clone(),
        name: None,
        title: c.title.clone(),
        level: c.level.clone(),
        tags: c.tags.clone(),
        kind: Kind::Correlation(c.kind),
        condition: String::new(),
        filter: None,
        stem: String::new(),
        sql: correlation_sql(c, &parts),
    })
}

/// The column a group-by field is reported under.
pub(super) fn alias(field_name: &str) -> String {
    match field(field_name) {
        Field::Column("user_arn") => "actor_arn".into(),
        Field::Column(c) => c.to_string(),
        _ => field_name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect(),
    }
}

/// The SQL of a correlation: the events of its rules (`base`), windows of `timespan` ending at
/// each of them, and one row per group whose windows met the condition, with the first and last
/// time they did.
pub(super) fn correlation_sql(c: &Correlation, parts: &[&SigmaRule]) -> String {
    let groups: Vec<(Field, String)> = c.group_by.iter().map(|g| (field(g), alias(g))).collect();
    let base: Vec<Select> = parts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut s = Select::from(sql::From::table("cloudtrail"))
                .column(Expr::col("event_time"))
                .column(Expr::col("event_id"));
            for (f, a) in &groups {
                s = s.quoted(Expr::Field(f.clone()), a);
            }
            s = s.named(Expr::Number((i + 1) as f64), "sigma_rule");
            if let Some(v) = &c.field {
                s = s.named(Expr::Field(field(v)), "sigma_value");
            }
            s.filter = r.filter.clone();
            s
        })
        .collect();
    // The groups' columns, of a named input or not.
    let g = |t: Option<&str>| -> Vec<Expr> {
        groups.iter().map(|(_, a)| Expr::Col { table: t.map(str::to_string), name: a.clone(), quoted: true }).collect()
    };
    let same_group = |a: &str, b: &str| -> Vec<Expr> {
        g(Some(a)).into_iter().zip(g(Some(b))).map(|(x, y)| Expr::NotDistinct(Box::new(x), Box::new(y))).collect()
    };
    let holds =
        |col: Expr| -> Vec<Expr> { c.condition.iter().map(|(op, n)| col.clone().cmp(*op, Expr::Number(*n))).collect() };
    let some = || Expr::count_star().cmp(Cmp::Gt, Expr::Number(0.0));
    let min = |e: Expr| Expr::call("min", vec![e]);
    let max = |e: Expr| Expr::call("max", vec![e]);
    // The final result: one row per group, first seen first.
    let report = |from: sql::From, first: Expr, last: Expr, measure: Expr, name: &'static str| {
        let mut s = Select::from(from);
        for e in g(None) {
            s = s.column(e);
        }
        s = s.named(min(first), "first_seen").named(max(last), "last_seen").named(measure, name);
        s.group_by = g(None);
        s.order_by = std::iter::once(Expr::col("first_seen")).chain(g(None)).collect();
        s
    };
    let query = |with: Vec<(&'static str, Vec<Select>)>, body: Select| Query { with, body }.to_string();
    let Some(span) = c.timespan else {
        // Over the whole evidence.
        let (measure, name) = match c.kind {
            CorrelationType::ValueCount => {
                (Expr::Call { name: "count", distinct: true, args: vec![Expr::col("sigma_value")] }, "distinct_values")
            }
            _ => (Expr::count_star(), "events"),
        };
        let mut body =
            report(sql::From::table("base"), Expr::col("event_time"), Expr::col("event_time"), measure.clone(), name);
        body.having = Some(Expr::All(std::iter::once(some()).chain(holds(measure)).collect()));
        return query(vec![("base", base)], body);
    };
    match c.kind {
        CorrelationType::EventCount => {
            let window = |call: Expr| Expr::Window {
                call: Box::new(call),
                partition: g(None),
                order: Box::new(Expr::col("event_time")),
                seconds: span,
            };
            let mut w = Select::from(sql::From::table("base"));
            for e in g(None) {
                w = w.column(e);
            }
            w = w
                .named(Expr::col("event_time"), "window_end")
                .named(window(Expr::count_star()), "events")
                .named(window(min(Expr::col("event_time"))), "window_start");
            let mut body = report(
                sql::From::table("w"),
                Expr::col("window_start"),
                Expr::col("window_end"),
                max(Expr::col("events")),
                "events",
            );
            body.filter = Some(Expr::All(holds(Expr::col("events"))));
            body.having = Some(some());
            query(vec![("base", base), ("w", vec![w])], body)
        }
        CorrelationType::ValueCount | CorrelationType::Temporal => {
            let (counted, name, cond) = if c.kind == CorrelationType::ValueCount {
                (Expr::of("b", "sigma_value"), "distinct_values", holds(Expr::col("n")))
            } else {
                (
                    Expr::of("b", "sigma_rule"),
                    "rules",
                    vec![Expr::col("n").cmp(Cmp::Eq, Expr::Number(parts.len() as f64))],
                )
            };
            // Every event's window: the events of its group in the span before it.
            let a_time = || Expr::of("a", "event_time");
            let within = Expr::Between(
                Box::new(Expr::of("b", "event_time")),
                Box::new(Expr::Minus(Box::new(a_time()), Box::new(Expr::Seconds(span)))),
                Box::new(a_time()),
            );
            let on = Expr::All(std::iter::once(within).chain(same_group("a", "b")).collect());
            let mut w = Select::from(sql::From::named("base", "a").join("base", "b", on));
            for e in g(Some("a")) {
                w = w.column(e);
            }
            w = w
                .named(a_time(), "window_end")
                .named(Expr::Call { name: "count", distinct: true, args: vec![counted] }, "n")
                .named(min(Expr::of("b", "event_time")), "window_start");
            w.group_by = g(Some("a"))
                .into_iter()
                .chain([a_time(), Expr::of("a", "event_id"), Expr::of("a", "sigma_rule")])
                .collect();
            let mut body = report(
                sql::From::table("w"),
                Expr::col("window_start"),
                Expr::col("window_end"),
                max(Expr::col("n")),
                name,
            );
            body.filter = Some(Expr::All(cond));
            body.having = Some(some());
            query(vec![("base", base), ("w", vec![w])], body)
        }
        CorrelationType::TemporalOrdered => {
            // Each rule's event at or after the one before, all within the span of the first.
            let n = parts.len();
            let time = |i: usize| Expr::of(&format!("r{i}"), "event_time");
            let mut from = sql::From::named("base", "r1");
            for i in 2..=n {
                let ri = format!("r{i}");
                let mut on = vec![
                    Expr::of(&ri, "sigma_rule").cmp(Cmp::Eq, Expr::Number(i as f64)),
                    time(i).cmp(Cmp::Gte, time(i - 1)),
                    time(i).cmp(Cmp::Lte, Expr::Plus(Box::new(time(1)), Box::new(Expr::Seconds(span)))),
                ];
                on.extend(same_group("r1", &ri));
                from = from.join("base", &ri, Expr::All(on));
            }
            let mut body = Select::from(from);
            for (e, (_, a)) in g(Some("r1")).into_iter().zip(&groups) {
                body = body.quoted(e, a);
            }
            body = body
                .named(min(time(1)), "first_seen")
                .named(max(time(n)), "last_seen")
                .named(Expr::count_star(), "sequences");
            body.filter = Some(Expr::of("r1", "sigma_rule").cmp(Cmp::Eq, Expr::Number(1.0)));
            body.group_by = g(Some("r1"));
            body.having = Some(some());
            body.order_by = std::iter::once(Expr::col("first_seen")).chain(g(None)).collect();
            query(vec![("base", base)], body)
        }
    }
}
