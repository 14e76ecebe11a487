//! A rule file read: its YAML documents (bounded before they are loaded), each a detection rule,
//! a correlation rule or a rule of another log source.

use super::*;

/// Nodes a rule file may hold once its YAML aliases are expanded: a Sigma rule has tens; a file of
/// nested aliases (each expanding the one before) would hold billions and take the memory.
pub(super) const MAX_YAML_NODES: usize = 200_000;

/// A rule file's YAML documents, refused before loading when its aliases would expand past
/// [`MAX_YAML_NODES`] (counted from the parser's events, which do not expand them).
pub(super) fn bounded_yaml(source: &str) -> Result<Vec<Yaml>, NotCompiled> {
    use yaml_rust2::parser::Parser;
    let mut parser = Parser::new_from_str(source);
    let mut total: usize = 0;
    let mut size: HashMap<usize, usize> = HashMap::new();
    // Open collections with an anchor: (anchor, total at their start).
    let mut open: Vec<(usize, usize)> = Vec::new();
    loop {
        let (event, _) = parser.next_token().map_err(|e| format!("not YAML: {e}"))?;
        match event {
            Event::StreamEnd => break,
            Event::Alias(id) => total = total.saturating_add(size.get(&id).copied().unwrap_or(1)),
            Event::Scalar(_, _, anchor, _) => {
                total += 1;
                if anchor > 0 {
                    size.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                total += 1;
                open.push((anchor, total));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = open.pop()
                    && anchor > 0
                {
                    size.insert(anchor, total - start + 1);
                }
            }
            _ => {}
        }
        if total > MAX_YAML_NODES {
            return Err(not_compiled!("its YAML aliases expand to more than {MAX_YAML_NODES} nodes: not loaded"));
        }
    }
    YamlLoader::load_from_str(source).map_err(|e| not_compiled!("not YAML: {e}"))
}

pub(super) fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One YAML document of a rule file, read.
pub(super) enum Parsed {
    Rule(SigmaRule),
    Correlation(Correlation),
    /// A rule of another log source, kept so a correlation that names it can say so.
    Foreign {
        key: String,
    },
}

/// A correlation rule, before the rules it names are looked up.
pub(super) struct Correlation {
    pub(super) file: PathBuf,
    pub(super) id: String,
    pub(super) title: String,
    pub(super) level: String,
    pub(super) tags: Vec<String>,
    pub(super) kind: CorrelationType,
    pub(super) rules: Vec<String>,
    pub(super) group_by: Vec<String>,
    /// Seconds; `None`: the whole evidence (the older `| count()` form without a `timeframe`).
    pub(super) timespan: Option<u64>,
    /// `(operator, number)` pairs, all of which must hold.
    pub(super) condition: Vec<(&'static str, f64)>,
    /// The field whose distinct values `value_count` counts.
    pub(super) field: Option<String>,
    pub(super) generate: bool,
}

pub(super) fn header(doc: &Yaml) -> (String, String, String, Vec<String>) {
    (
        text(&doc["id"]).unwrap_or_default(),
        text(&doc["title"]).unwrap_or_default(),
        text(&doc["level"]).unwrap_or_else(|| "medium".into()),
        doc["tags"].as_vec().map(|v| v.iter().filter_map(text).collect()).unwrap_or_default(),
    )
}

/// One document: `Ok(None)` when it is a rule of another log source.
pub(super) fn parse_doc(file: &Path, doc: &Yaml) -> Result<Option<Parsed>, NotCompiled> {
    if let Some(action) = text(&doc["action"]) {
        return Err(not_compiled!("rule collections (`action: {action}`) are not compiled"));
    }
    let (id, title, level, tags) = header(doc);
    let corr = &doc["correlation"];
    if !corr.is_badvalue() {
        let kind_text = text(&corr["type"]).unwrap_or_default();
        let kind = CorrelationType::parse(&kind_text).ok_or_else(|| {
            format!("correlation type {kind_text:?} is not event_count, value_count, temporal or temporal_ordered")
        })?;
        if !corr["aliases"].is_badvalue() {
            return Err("correlation aliases are not compiled".into());
        }
        let list = |y: &Yaml| -> Vec<String> {
            match y {
                Yaml::Array(v) => v.iter().filter_map(text).collect(),
                y => text(y).into_iter().collect(),
            }
        };
        let rules = list(&corr["rules"]);
        if rules.is_empty() {
            return Err("the correlation names no rules".into());
        }
        let span =
            text(&corr["timespan"]).or_else(|| text(&corr["timeframe"])).ok_or("the correlation has no timespan")?;
        let (condition, field) = match kind {
            CorrelationType::EventCount | CorrelationType::ValueCount => count_condition(&corr["condition"])?,
            _ => (Vec::new(), None),
        };
        if kind == CorrelationType::ValueCount && field.is_none() {
            return Err("value_count needs `field` in its condition".into());
        }
        return Ok(Some(Parsed::Correlation(Correlation {
            file: file.to_path_buf(),
            id,
            title,
            level,
            tags,
            kind,
            rules,
            group_by: list(&corr["group-by"]),
            timespan: Some(timespan(&span)?),
            condition,
            field,
            generate: matches!(corr["generate"], Yaml::Boolean(true)) || matches!(doc["generate"], Yaml::Boolean(true)),
        })));
    }
    let logsource = &doc["logsource"];
    let product = text(&logsource["product"]).unwrap_or_default().to_lowercase();
    let service = text(&logsource["service"]).unwrap_or_default().to_lowercase();
    if product != "aws" || service != "cloudtrail" {
        return Ok(None);
    }
    let detection = &doc["detection"];
    let Yaml::Hash(map) = detection else { return Err("no detection".into()) };
    let condition_text = match &detection["condition"] {
        Yaml::Array(v) if v.len() == 1 => text(&v[0]),
        y => text(y),
    }
    .ok_or("no condition (or several conditions)")?;
    let mut selections: Vec<(String, String)> = Vec::new();
    for (k, v) in map {
        let Some(name) = text(k) else { continue };
        if name == "condition" || name == "timeframe" {
            continue;
        }
        selections.push((name.clone(), selection(v).map_err(|e| format!("{name}: {e}"))?));
    }
    let (expr, aggregation) = match condition_text.split_once('|') {
        Some((e, agg)) => (e, Some(agg)),
        None => (condition_text.as_str(), None),
    };
    let condition = Condition { tokens: tokenize(expr), at: 0, selections: &selections }.parse_all()?;
    let name = text(&doc["name"]);
    let mut rule = SigmaRule {
        file: file.to_path_buf(),
        id,
        name,
        title,
        level,
        tags,
        kind: Kind::Events,
        condition,
        stem: String::new(),
        sql: String::new(),
    };
    match aggregation {
        None => {
            rule.sql = format!(
                "SELECT event_time, event_source, event_name, user_arn AS actor_arn, source_ip, aws_region, error_code, user_agent, event_id \
                 FROM cloudtrail WHERE {} ORDER BY event_time, event_id",
                rule.condition
            );
            Ok(Some(Parsed::Rule(rule)))
        }
        // The older aggregation: `selection | count(field) by group > N`, over `timeframe`.
        Some(agg) => {
            let c = old_aggregation(agg, text(&detection["timeframe"]).map(|t| timespan(&t)).transpose()?)?;
            let sql = correlation_sql(&c, &[&rule]);
            rule.kind = Kind::Correlation(c.kind);
            rule.sql = sql;
            rule.condition = String::new();
            Ok(Some(Parsed::Rule(rule)))
        }
    }
}
