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

/// A correlation's condition: `gte: 10` and the like, all of which must hold.
pub(super) fn count_condition(y: &Yaml) -> Result<CountCondition, NotCompiled> {
    let Yaml::Hash(map) = y else { return Err("the condition is not a map of gt/gte/lt/lte/eq".into()) };
    let (mut ops, mut field) = (Vec::new(), None);
    for (k, v) in map {
        let k = text(k).unwrap_or_default();
        if k == "field" {
            field = Some(text(v).ok_or("condition: `field` is not text")?);
            continue;
        }
        let op = match k.as_str() {
            "gt" => ">",
            "gte" => ">=",
            "lt" => "<",
            "lte" => "<=",
            "eq" => "=",
            other => return Err(not_compiled!("condition: `{other}` is not one of gt, gte, lt, lte, eq, field")),
        };
        let n: f64 = text(v).and_then(|t| t.parse().ok()).ok_or_else(|| format!("condition: `{k}` is not a number"))?;
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
    let (op, n) = [(">=", ">="), ("<=", "<="), (">", ">"), ("<", "<"), ("=", "=")]
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
            Parsed::Foreign { key: k } if k == key => {
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
        stem: String::new(),
        sql: correlation_sql(c, &parts),
    })
}

/// The column a group-by field is reported under.
pub(super) fn alias(field_name: &str) -> String {
    match field(field_name).as_str() {
        "user_arn" => "actor_arn".into(),
        c if c.chars().all(|c| c.is_ascii_lowercase() || c == '_') => c.to_string(),
        _ => field_name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect(),
    }
}

/// The SQL of a correlation: the events of its rules (`base`), windows of `timespan` ending at
/// each of them, and one row per group whose windows met the condition, with the first and last
/// time they did.
pub(super) fn correlation_sql(c: &Correlation, parts: &[&SigmaRule]) -> String {
    let groups: Vec<(String, String)> = c.group_by.iter().map(|g| (field(g), format!("\"{}\"", alias(g)))).collect();
    let value = c.field.as_deref().map(field);
    let base = parts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cols = vec!["event_time".to_string(), "event_id".to_string()];
            cols.extend(groups.iter().map(|(e, a)| format!("{e} AS {a}")));
            cols.push(format!("{} AS sigma_rule", i + 1));
            if let Some(v) = &value {
                cols.push(format!("{v} AS sigma_value"));
            }
            format!("SELECT {} FROM cloudtrail WHERE {}", cols.join(", "), r.condition)
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let g = |t: &str| {
        groups.iter().map(|(_, a)| if t.is_empty() { a.clone() } else { format!("{t}.{a}") }).collect::<Vec<_>>()
    };
    let list = |v: Vec<String>, trailing: bool| {
        if v.is_empty() {
            String::new()
        } else if trailing {
            format!("{}, ", v.join(", "))
        } else {
            v.join(", ")
        }
    };
    let same_group =
        g("a").iter().zip(g("b")).map(|(a, b)| format!(" AND {a} IS NOT DISTINCT FROM {b}")).collect::<String>();
    let group_by = |t: &str| if groups.is_empty() { String::new() } else { format!(" GROUP BY {}", g(t).join(", ")) };
    let holds =
        |col: &str| c.condition.iter().map(|(op, n)| format!("{col} {op} {n}")).collect::<Vec<_>>().join(" AND ");
    let order = format!(" ORDER BY first_seen{}", g("").iter().map(|a| format!(", {a}")).collect::<String>());
    let Some(span) = c.timespan else {
        // Over the whole evidence.
        let (measure, name) = match c.kind {
            CorrelationType::ValueCount => ("count(DISTINCT sigma_value)", "distinct_values"),
            _ => ("count(*)", "events"),
        };
        return format!(
            "WITH base AS ({base}) SELECT {}min(event_time) AS first_seen, max(event_time) AS last_seen, {measure} AS \
                {name} FROM base{} HAVING count(*) > 0 AND {}{order}",
            list(g(""), true),
            group_by(""),
            holds(measure)
        );
    };
    let within = |a: &str, b: &str| {
        format!("{b}.event_time BETWEEN {a}.event_time - INTERVAL '{span} seconds' AND {a}.event_time")
    };
    match c.kind {
        CorrelationType::EventCount => {
            let window = format!(
                "OVER ({}ORDER BY event_time RANGE BETWEEN INTERVAL '{span} seconds' PRECEDING AND CURRENT ROW)",
                if groups.is_empty() { String::new() } else { format!("PARTITION BY {} ", g("").join(", ")) }
            );
            format!(
                "WITH base AS ({base}), w AS (SELECT {}event_time AS window_end, count(*) {window} AS events, min(event_time) {window} AS window_start FROM base) \
                 SELECT {}min(window_start) AS first_seen, max(window_end) AS last_seen, max(events) AS events FROM w WHERE {}{} HAVING count(*) > 0{order}",
                list(g(""), true),
                list(g(""), true),
                holds("events"),
                group_by("")
            )
        }
        CorrelationType::ValueCount | CorrelationType::Temporal => {
            let (counted, name, cond) = if c.kind == CorrelationType::ValueCount {
                ("b.sigma_value", "distinct_values", holds("n"))
            } else {
                ("b.sigma_rule", "rules", format!("n = {}", parts.len()))
            };
            format!(
                "WITH base AS ({base}), w AS (SELECT {}a.event_time AS window_end, count(DISTINCT {counted}) AS n, min(b.event_time) AS window_start \
                 FROM base a JOIN base b ON {}{same_group} GROUP BY {}a.event_time, a.event_id, a.sigma_rule) \
                 SELECT {}min(window_start) AS first_seen, max(window_end) AS last_seen, max(n) AS {name} FROM w WHERE {cond}{} HAVING count(*) > 0{order}",
                list(g("a"), true),
                within("a", "b"),
                list(g("a"), true),
                list(g(""), true),
                group_by("")
            )
        }
        CorrelationType::TemporalOrdered => {
            // Each rule's event at or after the one before, all within the span of the first.
            let n = parts.len();
            let mut from = "base r1".to_string();
            for i in 2..=n {
                let same = g("r1")
                    .iter()
                    .zip(g(&format!("r{i}")))
                    .map(|(a, b)| format!(" AND {a} IS NOT DISTINCT FROM {b}"))
                    .collect::<String>();
                from.push_str(&format!(
                    " JOIN base r{i} ON r{i}.sigma_rule = {i} AND r{i}.event_time >= r{p}.event_time AND \
                        r{i}.event_time <= r1.event_time + INTERVAL '{span} seconds'{same}",
                    p = i - 1
                ));
            }
            format!(
                "WITH base AS ({base}) SELECT {}min(r1.event_time) AS first_seen, max(r{n}.event_time) AS last_seen, \
                    count(*) AS sequences FROM {from} WHERE r1.sigma_rule = 1{} HAVING count(*) > 0{order}",
                list(g("r1").iter().zip(g("")).map(|(q, a)| format!("{q} AS {a}")).collect(), true),
                group_by("r1")
            )
        }
    }
}
