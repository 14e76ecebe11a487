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

/// One YAML document of a rule file, read.
pub(super) enum Parsed {
    Rule(SigmaRule),
    Correlation(Correlation),
    /// A rule of another log source (or not a rule), kept under its name or id so that a
    /// correlation that names it can say so.
    Foreign {
        key: Option<String>,
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
    /// Comparisons of the count, all of which must hold.
    pub(super) condition: Vec<(Cmp, f64)>,
    /// The field whose distinct values `value_count` counts.
    pub(super) field: Option<String>,
    pub(super) generate: bool,
}

/// One document, typed then compiled.
pub(super) fn parse_doc(file: &Path, doc: &Yaml) -> Result<Parsed, NotCompiled> {
    if !matches!(doc, Yaml::Hash(_)) {
        return Ok(Parsed::Foreign { key: None });
    }
    // Only a CloudTrail rule or a correlation is read whole: a rule of another log source may use
    // modifiers and shapes trailflow does not compile, and is only named.
    let scalar = |key: &str| Scalar::deserialize(Node(&doc[key])).ok().map(|s| s.0);
    if let Some(action) = scalar("action") {
        return Err(not_compiled!("rule collections (`action: {action}`) are not compiled"));
    }
    let logsource = LogSource::deserialize(Node(&doc["logsource"])).unwrap_or_default();
    if doc["correlation"].is_badvalue() && !logsource.is_cloudtrail() {
        return Ok(Parsed::Foreign { key: scalar("name").or_else(|| scalar("id")) });
    }
    let rule = RuleDoc::read(doc)?;
    let (id, title, level) = rule.header();
    let tags = rule.tags();
    if let Some(corr) = &rule.correlation {
        let kind_text = corr.kind.as_ref().map(|k| k.0.clone()).unwrap_or_default();
        let kind = CorrelationType::parse(&kind_text).ok_or_else(|| {
            format!("correlation type {kind_text:?} is not event_count, value_count, temporal or temporal_ordered")
        })?;
        if corr.aliases.is_some() {
            return Err("correlation aliases are not compiled".into());
        }
        let rules = corr.rules();
        if rules.is_empty() {
            return Err("the correlation names no rules".into());
        }
        let span = corr.timespan.as_ref().or(corr.timeframe.as_ref()).ok_or("the correlation has no timespan")?;
        let (condition, field) = match kind {
            CorrelationType::EventCount | CorrelationType::ValueCount => {
                count_condition(corr.condition.as_ref().ok_or("the condition is not a map of gt/gte/lt/lte/eq")?)?
            }
            _ => (Vec::new(), None),
        };
        if kind == CorrelationType::ValueCount && field.is_none() {
            return Err("value_count needs `field` in its condition".into());
        }
        return Ok(Parsed::Correlation(Correlation {
            file: file.to_path_buf(),
            id,
            title,
            level,
            tags,
            kind,
            rules,
            group_by: corr.group_by(),
            timespan: Some(timespan(&span.0)?),
            condition,
            field,
            generate: corr.generate == Some(true) || rule.generate == Some(true),
        }));
    }
    let name = rule.name.as_ref().map(|n| n.0.clone());
    let detection = match &doc["detection"] {
        Yaml::BadValue | Yaml::Null => return Err("no detection".into()),
        d => Detection::deserialize(Node(d)).map_err(|e| not_compiled!("{e}"))?,
    };
    let [condition_text] = detection.conditions.as_slice() else {
        return Err("no condition (or several conditions)".into());
    };
    let selections: Vec<(String, Expr)> = detection
        .selections
        .iter()
        .map(|(name, s)| Ok((name.clone(), selection(s).map_err(|e| format!("{name}: {e}"))?)))
        .collect::<Result<_, NotCompiled>>()?;
    let (expr, aggregation) = match condition_text.split_once('|') {
        Some((e, agg)) => (e, Some(agg)),
        None => (condition_text.as_str(), None),
    };
    let condition = Condition { tokens: tokenize(expr), at: 0, selections: &selections }.parse_all()?;
    let mut rule = SigmaRule {
        file: file.to_path_buf(),
        id,
        name,
        title,
        level,
        tags,
        kind: Kind::Events,
        condition: condition.to_string(),
        filter: Some(condition),
        stem: String::new(),
        sql: String::new(),
    };
    match aggregation {
        None => {
            rule.sql = events_query(rule.filter.clone()).to_string();
            Ok(Parsed::Rule(rule))
        }
        // The older aggregation: `selection | count(field) by group > N`, over `timeframe`.
        Some(agg) => {
            let c = old_aggregation(agg, detection.timeframe.as_deref().map(timespan).transpose()?)?;
            let sql = correlation_sql(&c, &[&rule]);
            rule.kind = Kind::Correlation(c.kind);
            rule.sql = sql;
            rule.condition = String::new();
            Ok(Parsed::Rule(rule))
        }
    }
}

/// The events a rule matches, oldest first.
fn events_query(filter: Option<Expr>) -> Select {
    let mut select = Select::from(sql::From::table("cloudtrail"));
    for c in ["event_time", "event_source", "event_name"] {
        select = select.column(Expr::col(c));
    }
    select = select.named(Expr::col("user_arn"), "actor_arn");
    for c in ["source_ip", "aws_region", "error_code", "user_agent", "event_id"] {
        select = select.column(Expr::col(c));
    }
    select.filter = filter;
    select.order_by = vec![Expr::col("event_time"), Expr::col("event_id")];
    select
}
