//! Sigma rules for AWS CloudTrail, compiled to SQL over `cloudtrail`: a responder's own detection
//! content, run beside the built-in hunts. Field names are those of the Sigma AWS CloudTrail
//! taxonomy (CloudTrail's own: `eventSource`, `userIdentity.arn`, `requestParameters.x.y`);
//! modifiers `contains`, `startswith`, `endswith`, `re` (with `i`, `m`, `s`), `cidr`, `all`,
//! `cased`, `exists`, `gt`/`gte`/`lt`/`lte`, `fieldref`, `base64`, `base64offset`, `windash`; lists;
//! `1 of` / `all of` (`them` or a prefix with `*`); `and`, `or`, `not`, brackets; keyword lists
//! through the full-text index. Correlation rules (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`, with `group-by` and `timespan`) and the older `| count() by X > N`
//! aggregation are compiled to windows over the events their rules match. A rule that cannot be
//! compiled is listed with the reason, never run half-understood.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use yaml_rust2::{Event, Yaml, YamlLoader};

/// What a compiled rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The matching events.
    Events,
    /// A correlation: the groups (and time windows) where its condition held.
    Correlation(CorrelationType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationType {
    fn parse(s: &str) -> Option<CorrelationType> {
        Some(match s {
            "event_count" => CorrelationType::EventCount,
            "value_count" => CorrelationType::ValueCount,
            "temporal" => CorrelationType::Temporal,
            "temporal_ordered" => CorrelationType::TemporalOrdered,
            _ => return None,
        })
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub file: PathBuf,
    pub id: String,
    /// The rule's `name`, by which correlation rules refer to it (they may also use its id).
    pub name: Option<String>,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    pub kind: Kind,
    /// The WHERE condition over `cloudtrail` (for a correlation: empty).
    pub condition: String,
    /// The name results are written under: the rule file's name without its extension, or with
    /// the rule's name after it when one file holds several rules.
    pub stem: String,
    sql: String,
}

impl SigmaRule {
    /// The rule's query: the matching events, oldest first; for a correlation, one row per group
    /// with the first and last time its condition held.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The name results are written under.
    pub fn stem(&self) -> String {
        self.stem.clone()
    }

    /// The rule as a hunt, so it runs, is written and is reported as the built-in hunts are. Its
    /// `attack.tNNNN` tags become ATT&CK technique ids.
    pub fn to_hunt(&self) -> super::Hunt {
        let attack = self
            .tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack."))
            .filter(|t| t.len() >= 5 && t.starts_with(['t', 'T']) && t.as_bytes()[1..5].iter().all(u8::is_ascii_digit))
            .map(|t| t.to_uppercase())
            .collect();
        super::Hunt {
            name: self.stem.clone(),
            title: self.title.clone(),
            severity: super::Severity::parse(&self.level).unwrap_or(super::Severity::Medium),
            description: format!("Sigma rule {} ({})", self.id, self.file.display()),
            attack,
            attack_v19: Vec::new(),
            params: Vec::new(),
            time_column: Some(if self.kind == Kind::Events { "event_time" } else { "first_seen" }.into()),
            sees: Vec::new(),
            sql: self.sql.clone(),
            origin: self.file.display().to_string(),
        }
    }
}

/// The rules found under a folder.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The rules to run, in file order.
    pub rules: Vec<SigmaRule>,
    /// The files (or rules in them) not run, each with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Every `.yml` / `.yaml` file under `dir` (a rule file or a folder of them): the rules compiled,
/// and the files that are not (not a CloudTrail rule, or something this compiler does not do),
/// each with its reason. Rules that only serve a correlation (`generate: false`, the default) are
/// not run on their own.
pub fn load_dir(dir: &Path) -> crate::error::Result<Loaded> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        collect(dir, &mut files).map_err(|e| crate::error::Error::io(dir, e))?;
    }
    files.sort();
    let mut loaded = Loaded::default();
    let mut parsed: Vec<Parsed> = Vec::new();
    for f in files {
        let source = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                loaded.skipped.push((f, format!("cannot read: {e}")));
                continue;
            }
        };
        let docs = match bounded_yaml(&source) {
            Ok(d) => d,
            Err(e) => {
                loaded.skipped.push((f, e));
                continue;
            }
        };
        let several = docs.len() > 1;
        let mut any_cloudtrail = false;
        let mut not_cloudtrail = 0;
        for (i, doc) in docs.iter().enumerate() {
            let place = |why: String| if several { format!("rule {}: {why}", i + 1) } else { why };
            match parse_doc(&f, doc) {
                Ok(Some(p)) => {
                    any_cloudtrail = true;
                    parsed.push(p);
                }
                Ok(None) => {
                    not_cloudtrail += 1;
                    if let Some(key) = text(&doc["name"]).or_else(|| text(&doc["id"])) {
                        parsed.push(Parsed::Foreign { key });
                    }
                }
                Err(why) => loaded.skipped.push((f.clone(), place(why))),
            }
        }
        if !any_cloudtrail && not_cloudtrail > 0 {
            loaded.skipped.push((f, "not an AWS CloudTrail rule (logsource)".into()));
        }
    }
    // Correlations, now that every rule they may refer to is known.
    let mut referenced: HashMap<String, bool> = HashMap::new();
    let mut compiled: Vec<Option<SigmaRule>> = Vec::with_capacity(parsed.len());
    for p in &parsed {
        compiled.push(match p {
            Parsed::Correlation(c) => match correlate(c, &parsed) {
                Ok(rule) => {
                    for r in &c.rules {
                        *referenced.entry(r.clone()).or_default() |= c.generate;
                    }
                    Some(rule)
                }
                Err(why) => {
                    loaded.skipped.push((c.file.clone(), why));
                    None
                }
            },
            _ => None,
        });
    }
    let mut rules: Vec<SigmaRule> = Vec::new();
    for (p, correlation) in parsed.iter().zip(compiled) {
        match (p, correlation) {
            (Parsed::Rule(r), _) => {
                let keys = [r.name.clone(), Some(r.id.clone())];
                let used: Vec<bool> = keys.iter().flatten().filter_map(|k| referenced.get(k).copied()).collect();
                // Only a correlation's part (unless one of its correlations asks to generate it).
                if !used.is_empty() && !used.iter().any(|g| *g) {
                    continue;
                }
                rules.push(r.clone());
            }
            (_, Some(rule)) => rules.push(rule),
            _ => {}
        }
    }
    // One result file per rule: the file's name, with the rule's name when a file holds several.
    let mut per_file: HashMap<PathBuf, usize> = HashMap::new();
    for r in &rules {
        *per_file.entry(r.file.clone()).or_default() += 1;
    }
    let mut taken = HashSet::new();
    for r in rules.iter_mut() {
        let file_stem = r.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| r.id.clone());
        // A correlation keeps the file's name; the rules it is built from add their own.
        let mut stem = match &r.name {
            Some(name) if per_file[&r.file] > 1 => format!("{file_stem}_{name}"),
            _ => file_stem,
        };
        stem = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        let mut unique = stem.clone();
        let mut n = 2;
        while !taken.insert(unique.clone()) {
            unique = format!("{stem}_{n}");
            n += 1;
        }
        r.stem = unique;
    }
    loaded.rules = rules;
    Ok(loaded)
}

/// The rule files under a folder. A link to a folder is not followed (`rules -> .` would never
/// end); a link to a file is read like the file.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect(&p, out)?;
        } else if (ft.is_file() || (ft.is_symlink() && p.is_file()))
            && p.extension().is_some_and(|x| x == "yml" || x == "yaml")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Nodes a rule file may hold once its YAML aliases are expanded: a Sigma rule has tens; a file of
/// nested aliases (each expanding the one before) would hold billions and take the memory.
const MAX_YAML_NODES: usize = 200_000;

/// A rule file's YAML documents, refused before loading when its aliases would expand past
/// [`MAX_YAML_NODES`] (counted from the parser's events, which do not expand them).
fn bounded_yaml(source: &str) -> Result<Vec<Yaml>, String> {
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
            return Err(format!("its YAML aliases expand to more than {MAX_YAML_NODES} nodes: not loaded"));
        }
    }
    YamlLoader::load_from_str(source).map_err(|e| format!("not YAML: {e}"))
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One YAML document of a rule file, read.
enum Parsed {
    Rule(SigmaRule),
    Correlation(Correlation),
    /// A rule of another log source, kept so a correlation that names it can say so.
    Foreign {
        key: String,
    },
}

/// A correlation rule, before the rules it names are looked up.
struct Correlation {
    file: PathBuf,
    id: String,
    title: String,
    level: String,
    tags: Vec<String>,
    kind: CorrelationType,
    rules: Vec<String>,
    group_by: Vec<String>,
    /// Seconds; `None`: the whole evidence (the older `| count()` form without a `timeframe`).
    timespan: Option<u64>,
    /// `(operator, number)` pairs, all of which must hold.
    condition: Vec<(&'static str, f64)>,
    /// The field whose distinct values `value_count` counts.
    field: Option<String>,
    generate: bool,
}

fn header(doc: &Yaml) -> (String, String, String, Vec<String>) {
    (
        text(&doc["id"]).unwrap_or_default(),
        text(&doc["title"]).unwrap_or_default(),
        text(&doc["level"]).unwrap_or_else(|| "medium".into()),
        doc["tags"].as_vec().map(|v| v.iter().filter_map(text).collect()).unwrap_or_default(),
    )
}

/// Seconds in a Sigma time span: `30s`, `10m`, `1h`, `2d`, `1w`.
fn timespan(s: &str) -> Result<u64, String> {
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
        _ => return Err(format!("timespan {s:?}: the unit is not one of s, m, h, d, w")),
    };
    Ok(n * mult)
}

/// The comparisons of a correlation's condition (`gte`, 10), and the field counted, if any.
type CountCondition = (Vec<(&'static str, f64)>, Option<String>);

/// A correlation's condition: `gte: 10` and the like, all of which must hold.
fn count_condition(y: &Yaml) -> Result<CountCondition, String> {
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
            other => return Err(format!("condition: `{other}` is not one of gt, gte, lt, lte, eq, field")),
        };
        let n: f64 = text(v).and_then(|t| t.parse().ok()).ok_or_else(|| format!("condition: `{k}` is not a number"))?;
        ops.push((op, n));
    }
    if ops.is_empty() {
        return Err("condition: no gt, gte, lt, lte or eq".into());
    }
    Ok((ops, field))
}

/// One document: `Ok(None)` when it is a rule of another log source.
fn parse_doc(file: &Path, doc: &Yaml) -> Result<Option<Parsed>, String> {
    if let Some(action) = text(&doc["action"]) {
        return Err(format!("rule collections (`action: {action}`) are not compiled"));
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

/// `count(FIELD) by GROUP, GROUP > N`.
fn old_aggregation(agg: &str, span: Option<u64>) -> Result<Correlation, String> {
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
fn correlate(c: &Correlation, parsed: &[Parsed]) -> Result<SigmaRule, String> {
    let mut parts: Vec<&SigmaRule> = Vec::new();
    for key in &c.rules {
        let found = parsed.iter().find_map(|p| match p {
            Parsed::Rule(r) if r.name.as_deref() == Some(key) || r.id == *key => Some(Ok(r)),
            Parsed::Correlation(o) if o.id == *key => {
                Some(Err(format!("it names {key}, another correlation (chained correlations are not compiled)")))
            }
            Parsed::Foreign { key: k } if k == key => {
                Some(Err(format!("it names {key}, which is not an AWS CloudTrail rule")))
            }
            _ => None,
        });
        match found {
            Some(Ok(r)) if r.kind == Kind::Events => parts.push(r),
            Some(Ok(_)) => return Err(format!("it names {key}, which aggregates itself")),
            Some(Err(why)) => return Err(why),
            None => {
                return Err(format!(
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
fn alias(field_name: &str) -> String {
    match field(field_name).as_str() {
        "user_arn" => "actor_arn".into(),
        c if c.chars().all(|c| c.is_ascii_lowercase() || c == '_') => c.to_string(),
        _ => field_name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect(),
    }
}

/// The SQL of a correlation: the events of its rules (`base`), windows of `timespan` ending at
/// each of them, and one row per group whose windows met the condition, with the first and last
/// time they did.
fn correlation_sql(c: &Correlation, parts: &[&SigmaRule]) -> String {
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
            "WITH base AS ({base}) SELECT {}min(event_time) AS first_seen, max(event_time) AS last_seen, {measure} AS {name} FROM base{} HAVING count(*) > 0 AND {}{order}",
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
                    " JOIN base r{i} ON r{i}.sigma_rule = {i} AND r{i}.event_time >= r{p}.event_time AND r{i}.event_time <= r1.event_time + INTERVAL '{span} seconds'{same}",
                    p = i - 1
                ));
            }
            format!(
                "WITH base AS ({base}) SELECT {}min(r1.event_time) AS first_seen, max(r{n}.event_time) AS last_seen, count(*) AS sequences FROM {from} WHERE r1.sigma_rule = 1{} HAVING count(*) > 0{order}",
                list(g("r1").iter().zip(g("")).map(|(q, a)| format!("{q} AS {a}")).collect(), true),
                group_by("r1")
            )
        }
    }
}

/// Run the rules as hunts; with `dir`, write one CSV per rule there and `sigma_summary.csv`
/// (every rule, run or not, with its id, level, tags, hits and status).
pub async fn run(
    ctx: &datafusion::prelude::SessionContext,
    loaded: &Loaded,
    dir: Option<&Path>,
) -> crate::error::Result<Vec<super::HuntResult>> {
    let hunts: Vec<super::Hunt> = loaded.rules.iter().map(SigmaRule::to_hunt).collect();
    let refs: Vec<&super::Hunt> = hunts.iter().collect();
    let results = super::run_each(
        ctx,
        &refs,
        &HashMap::new(),
        super::TimeRange::default(),
        dir,
        crate::output::Format::Csv,
        None,
    )
    .await?;
    if let Some(dir) = dir {
        write_summary(&dir.join("sigma_summary.csv"), loaded, &results)?;
    }
    Ok(results)
}

/// `sigma_summary.csv`: one row per rule run (most severe first, then most hits) and one per rule
/// not run, with the reason.
fn write_summary(path: &Path, loaded: &Loaded, results: &[super::HuntResult]) -> crate::error::Result<()> {
    use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
    use std::sync::Arc;
    let by_stem: HashMap<&str, &SigmaRule> = loaded.rules.iter().map(|r| (r.stem.as_str(), r)).collect();
    let mut rows: Vec<[Option<String>; 9]> = Vec::new();
    let mut hits: Vec<Option<u64>> = Vec::new();
    for r in super::most_severe_first(results) {
        let rule = by_stem.get(r.name.as_str());
        rows.push([
            Some(r.name.clone()),
            rule.map(|x| x.level.clone()),
            Some(r.status()),
            Some(r.title.clone()),
            rule.map(|x| x.id.clone()),
            rule.map(|x| x.tags.join(" ")),
            rule.map(|x| kind_name(x.kind).to_string()),
            rule.map(|x| x.file.display().to_string()),
            r.file.clone(),
        ]);
        hits.push((r.not_run.is_none() && r.error.is_none()).then_some(r.hits as u64));
    }
    for (f, why) in &loaded.skipped {
        let stem = f.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        rows.push([
            Some(stem),
            None,
            Some(format!("not run: {why}")),
            None,
            None,
            None,
            None,
            Some(f.display().to_string()),
            None,
        ]);
        hits.push(None);
    }
    let column = |i: usize| -> ArrayRef { Arc::new(rows.iter().map(|r| r[i].clone()).collect::<StringArray>()) };
    let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("rule", column(0)),
        ("level", column(1)),
        ("hits", Arc::new(hits.into_iter().collect::<UInt64Array>()) as ArrayRef),
        ("status", column(2)),
        ("title", column(3)),
        ("id", column(4)),
        ("tags", column(5)),
        ("kind", column(6)),
        ("rule_file", column(7)),
        ("file", column(8)),
    ])?;
    let out = std::fs::File::create(path).map_err(|e| crate::error::Error::io(path, e))?;
    crate::output::write(crate::output::Format::Csv, &[batch], Box::new(std::io::BufWriter::new(out)))
}

/// What a rule reports, in words: `events`, or its correlation type.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Events => "events",
        Kind::Correlation(CorrelationType::EventCount) => "event_count",
        Kind::Correlation(CorrelationType::ValueCount) => "value_count",
        Kind::Correlation(CorrelationType::Temporal) => "temporal",
        Kind::Correlation(CorrelationType::TemporalOrdered) => "temporal_ordered",
    }
}

/// Compile one single-rule file's text: `Ok(None)` when it is not a CloudTrail rule.
pub fn compile(file: &Path, source: &str) -> Result<Option<SigmaRule>, String> {
    let docs = bounded_yaml(source)?;
    let doc = docs.first().ok_or("empty file")?;
    match parse_doc(file, doc)? {
        Some(Parsed::Rule(r)) => Ok(Some(r)),
        Some(Parsed::Correlation(_)) => Err("a correlation rule: compile it with its rules (load_dir)".into()),
        Some(Parsed::Foreign { .. }) | None => Ok(None),
    }
}

/// A SQL text literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL for a Sigma field of a CloudTrail event.
fn field(name: &str) -> String {
    if let Some((_, col)) = crate::schema::CLOUDTRAIL_FIELD_COLUMNS.iter().find(|(f, _)| *f == name) {
        return (*col).to_string();
    }
    // `userIdentity.userName` is the IAM user's name only (the lake's `user_name` falls back to
    // the role session issuer's): read from the record, through `json_path` below.
    let parts: Vec<&str> = name.split('.').collect();
    let (column, path) = match parts[0] {
        "requestParameters" => ("request_parameters", &parts[1..]),
        "responseElements" => ("response_elements", &parts[1..]),
        "additionalEventData" => ("additional_event_data", &parts[1..]),
        "resources" => ("resources", &parts[1..]),
        _ => ("raw", &parts[..]),
    };
    if path.is_empty() {
        return format!("CAST({column} AS VARCHAR)");
    }
    // Text values as they are; numbers and booleans as their JSON text.
    let keys: Vec<String> = path.iter().map(|p| lit(p)).collect();
    format!("coalesce(json_get_str({column}, {k}), json_as_text({column}, {k}))", k = keys.join(", "))
}

/// A Sigma value with wildcards as a LIKE pattern. As the specification says, a backslash
/// escapes only a wildcard or another backslash; any other backslash is itself (a Windows path's
/// `C:\Windows`), and is a literal backslash in the pattern.
fn like(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) => {
                let n = chars.next().unwrap_or('\\');
                if n == '\\' { out.push_str("\\\\") } else { out.push(n) }
            }
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Does a Sigma value hold a wildcard (a `*` or `?` no backslash escapes)?
fn has_wildcard(value: &str) -> bool {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// A Sigma value without wildcards as the text it stands for: `\*`, `\?` and `\\` unescaped,
/// any other backslash kept.
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('*' | '?' | '\\')) => out.push(chars.next().unwrap_or('\\')),
            (c, _) => out.push(c),
        }
    }
    out
}

/// The JSON column and dotted path a Sigma field reads from, when it is not one of the lake's
/// own columns (nor a whole JSON column): matched by `sigma_match`, which follows lists.
fn json_path(name: &str) -> Option<(&'static str, String)> {
    if !field(name).contains('(') {
        return None;
    }
    let (first, rest) = name.split_once('.').unwrap_or((name, ""));
    let column = match first {
        "requestParameters" => "request_parameters",
        "responseElements" => "response_elements",
        "additionalEventData" => "additional_event_data",
        "resources" => "resources",
        _ => return Some(("raw", name.to_string())),
    };
    (!rest.is_empty()).then(|| (column, rest.to_string()))
}

/// The three ways a value appears in base64 depending on where it starts in the encoded text,
/// each cut to the characters that depend only on the value (`base64offset`).
fn base64_offsets(value: &str) -> Vec<String> {
    use base64::Engine as _;
    let v = value.as_bytes();
    (0..3usize)
        .map(|shift| {
            let mut padded = vec![b' '; shift];
            padded.extend_from_slice(v);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&padded);
            // The leading characters carry the filler's bits; the trailing ones the next bytes'.
            let start = [0, 2, 3][shift];
            let end = encoded.len() - [0, 3, 2][(v.len() + shift) % 3];
            encoded.get(start..end.max(start)).unwrap_or_default().to_string()
        })
        .collect()
}

/// The ways a command-line flag may be written on Windows (`windash`): `-`, `/` and the dashes.
fn windash(value: &str) -> Vec<String> {
    let mut out: Vec<String> =
        ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"].iter().map(|d| value.replace('-', d)).collect();
    out.dedup();
    out
}

/// One field condition: `field|mod|mod: value(s)`.
fn field_condition(key: &str, value: &Yaml) -> Result<String, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("");
    let mods: Vec<&str> = parts.collect();
    let mut all = false;
    let mut cased = false;
    let mut transforms: Vec<&str> = Vec::new();
    let mut op: Option<&str> = None;
    let mut re_flags = String::new();
    for m in &mods {
        match *m {
            "all" => all = true,
            "cased" => cased = true,
            "base64" | "base64offset" | "windash" => transforms.push(m),
            "i" | "m" | "s" if op == Some("re") => re_flags.push_str(m),
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "exists" | "gt" | "gte" | "lt" | "lte"
            | "fieldref" => {
                if let Some(o) = op {
                    return Err(format!("the modifiers `{o}` and `{m}` together are not compiled"));
                }
                op = Some(m);
            }
            "wide" | "utf16" | "utf16le" | "utf16be" => {
                return Err(format!("the modifier `{m}` encodes binary text, which CloudTrail's JSON does not hold"));
            }
            "expand" => return Err(
                "the modifier `expand` needs placeholder values from a Sigma pipeline, which trailflow does not have"
                    .into(),
            ),
            m => return Err(format!("the modifier `{m}` is not compiled")),
        }
    }
    let raw: Vec<Option<String>> = match value {
        Yaml::Array(v) => v.iter().map(|x| if x.is_null() { None } else { text(x) }).collect(),
        Yaml::Null => vec![None],
        v => vec![Some(text(v).ok_or("a value that is neither text nor a number")?)],
    };
    // Encodings first, each value becoming the forms it may take; `all` then still means every
    // one of the values given (any of the forms of each).
    let mut values: Vec<Vec<Option<String>>> = raw.into_iter().map(|v| vec![v]).collect();
    for t in &transforms {
        use base64::Engine as _;
        for forms in values.iter_mut() {
            *forms = forms
                .iter()
                .flat_map(|v| -> Vec<Option<String>> {
                    let Some(v) = v else { return vec![None] };
                    match *t {
                        "base64" => vec![Some(base64::engine::general_purpose::STANDARD.encode(v.as_bytes()))],
                        "base64offset" => base64_offsets(v).into_iter().map(Some).collect(),
                        _ => windash(v).into_iter().map(Some).collect(),
                    }
                })
                .collect();
        }
    }
    if transforms.contains(&"base64") || transforms.contains(&"base64offset") {
        // Encoded text is compared as it is: base64 is case-sensitive.
        cased = true;
    }
    let col = field(name);
    let subject = if cased { col.clone() } else { format!("lower({col})") };
    let fold = |v: &str| if cased { v.to_string() } else { v.to_lowercase() };
    let path = json_path(name);
    // A value in a JSON column, through lists: `sigma_match` compares every value the path reaches.
    let matches = |op: &str, value: &str| -> Option<String> {
        let (column, p) = path.as_ref()?;
        let op = if cased && matches!(op, "eq" | "like") { format!("{op}_cased") } else { op.to_string() };
        Some(format!("sigma_match({column}, {}, {}, {})", lit(p), lit(&op), lit(value)))
    };
    let one = |v: &Option<String>| -> Result<String, String> {
        let Some(v) = v else {
            return Ok(matches("null", "").unwrap_or_else(|| format!("{col} IS NULL")));
        };
        let pattern = |p: String| matches("like", &p).unwrap_or_else(|| format!("{subject} LIKE {}", lit(&p)));
        Ok(match op {
            None if has_wildcard(v) => pattern(like(&fold(v))),
            None => {
                let v = unescape(v);
                matches("eq", &v).unwrap_or_else(|| format!("{subject} = {}", lit(&fold(&v))))
            }
            Some("contains") => pattern(format!("%{}%", like(&fold(v)))),
            Some("startswith") => pattern(format!("{}%", like(&fold(v)))),
            Some("endswith") => pattern(format!("%{}", like(&fold(v)))),
            Some("re") => {
                regex::Regex::new(v)
                    .map_err(|e| format!("{v:?} is not a regular expression: {}", crate::output::one_line(&e)))?;
                let flags = if re_flags.is_empty() { String::new() } else { format!("(?{re_flags})") };
                let re = format!("{flags}{v}");
                matches("re", &re).unwrap_or_else(|| format!("regexp_like({col}, {})", lit(&re)))
            }
            Some("cidr") => {
                v.parse::<ipnet::IpNet>().map_err(|_| format!("{v:?} is not a CIDR"))?;
                matches("cidr", v).unwrap_or_else(|| format!("coalesce(cidr_contains({}, {col}), false)", lit(v)))
            }
            Some("exists") => match v.to_ascii_lowercase().as_str() {
                "true" => matches("exists", "").unwrap_or_else(|| format!("{col} IS NOT NULL")),
                "false" => matches("null", "").unwrap_or_else(|| format!("{col} IS NULL")),
                _ => return Err(format!("exists: {v:?} is not true or false")),
            },
            Some(cmp @ ("gt" | "gte" | "lt" | "lte")) => {
                let n: f64 = v.parse().map_err(|_| format!("{cmp}: {v:?} is not a number"))?;
                let sym = match cmp {
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    _ => "<=",
                };
                matches(cmp, &n.to_string()).unwrap_or_else(|| format!("TRY_CAST({col} AS DOUBLE) {sym} {n}"))
            }
            Some("fieldref") => {
                let other = field(v);
                if cased { format!("{col} = {other}") } else { format!("lower({col}) = lower({other})") }
            }
            Some(m) => return Err(format!("the modifier `{m}` is not compiled")),
        })
    };
    let mut each = Vec::new();
    for forms in &values {
        let alternatives: Vec<String> = forms.iter().map(&one).collect::<Result<_, _>>()?;
        each.push(if alternatives.len() == 1 {
            alternatives.into_iter().next().unwrap_or_default()
        } else {
            format!("({})", alternatives.join(" OR "))
        });
    }
    Ok(format!("({})", each.join(if all { " AND " } else { " OR " })))
}

/// A selection: a map (every field), a list of maps (any of them), or a list of keywords.
fn selection(v: &Yaml) -> Result<String, String> {
    match v {
        Yaml::Hash(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| field_condition(&text(k).ok_or("a field name that is not text")?, v))
                .collect::<Result<_, _>>()?;
            if parts.is_empty() {
                return Err("an empty selection".into());
            }
            Ok(format!("({})", parts.join(" AND ")))
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) => {
            let parts: Vec<String> = items.iter().map(selection).collect::<Result<_, _>>()?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Yaml::Array(items) => {
            // Keywords: any of them anywhere in the event.
            let parts: Vec<String> = items
                .iter()
                .map(|i| text(i).map(|k| keyword(&k)))
                .collect::<Option<_>>()
                .ok_or("a keyword that is not text")?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Yaml::String(k) => Ok(format!("({})", keyword(k))),
        _ => Err("a selection that is neither a map nor a list".into()),
    }
}

/// A keyword: as the specification says, found anywhere in the event's text, case-insensitively,
/// as a part of a value or a whole one, with `*` and `?` as wildcards.
fn keyword(k: &str) -> String {
    format!("lower(raw) LIKE {}", lit(&format!("%{}%", like(&k.to_lowercase()))))
}

fn tokenize(s: &str) -> Vec<String> {
    s.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_string).collect()
}

/// The condition's grammar: or > and > not > (group | `1 of`/`all of` X | selection).
struct Condition<'a> {
    tokens: Vec<String>,
    at: usize,
    selections: &'a [(String, String)],
}

impl Condition<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn parse_all(mut self) -> Result<String, String> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(format!("condition: unexpected `{t}`")),
        }
    }
    fn or(&mut self) -> Result<String, String> {
        let mut e = self.and()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.next();
            e = format!("({e} OR {})", self.and()?);
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<String, String> {
        let mut e = self.not()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.next();
            e = format!("({e} AND {})", self.not()?);
        }
        Ok(e)
    }
    fn not(&mut self) -> Result<String, String> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.next();
            return Ok(format!("(NOT coalesce({}, false))", self.not()?));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<String, String> {
        let t = self.next().ok_or("condition: ends too early")?;
        if t == "(" {
            let e = self.or()?;
            return match self.next().as_deref() {
                Some(")") => Ok(e),
                _ => Err("condition: a bracket is not closed".into()),
            };
        }
        if t == "1" || t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("any") {
            if !self.next().is_some_and(|o| o.eq_ignore_ascii_case("of")) {
                return Err(format!("condition: `{t}` without `of`"));
            }
            let pattern = self.next().ok_or("condition: `of` what?")?;
            let chosen: Vec<&String> = self
                .selections
                .iter()
                .filter(|(n, _)| {
                    if pattern == "them" {
                        true
                    } else if let Some(p) = pattern.strip_suffix('*') {
                        n.starts_with(p)
                    } else {
                        *n == pattern
                    }
                })
                .map(|(_, sql)| sql)
                .collect();
            if chosen.is_empty() {
                return Err(format!("condition: no selection matches `{pattern}`"));
            }
            let join = if t == "1" || t.eq_ignore_ascii_case("any") { " OR " } else { " AND " };
            return Ok(format!("({})", chosen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(join)));
        }
        self.selections
            .iter()
            .find(|(n, _)| *n == t)
            .map(|(_, sql)| sql.clone())
            .ok_or_else(|| format!("condition: no selection named `{t}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_compiles_to_a_where_clause() {
        let rule = compile(
            Path::new("r.yml"),
            "title: t\nid: 1\nlevel: high\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventSource: iam.amazonaws.com\n    eventName|startswith: ['Create', 'Attach']\n  filter:\n    userIdentity.arn|contains: automation\n  condition: selection and not filter\n",
        )
        .unwrap()
        .unwrap();
        assert!(rule.condition.contains("lower(event_source) = 'iam.amazonaws.com'"), "{}", rule.condition);
        assert!(
            rule.condition.contains("lower(event_name) LIKE 'create%' OR lower(event_name) LIKE 'attach%'"),
            "{}",
            rule.condition
        );
        assert!(
            rule.condition.contains("NOT coalesce(((lower(user_arn) LIKE '%automation%')), false)"),
            "{}",
            rule.condition
        );
        let other = compile(
            Path::new("w.yml"),
            "title: w\nlogsource:\n  product: windows\ndetection:\n  s:\n    a: b\n  condition: s\n",
        )
        .unwrap();
        assert!(other.is_none());
        let bad = compile(
            Path::new("b.yml"),
            "title: b\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    a|wide|base64: b\n  condition: s\n",
        );
        assert!(bad.unwrap_err().contains("`wide`"));
        assert_eq!(like("a*b?c%"), "a%b_c\\%");
        assert_eq!(
            field("requestParameters.ipPermissions.items"),
            "coalesce(json_get_str(request_parameters, 'ipPermissions', 'items'), json_as_text(request_parameters, 'ipPermissions', 'items'))"
        );
    }

    fn rule(detection: &str) -> SigmaRule {
        let text = format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}");
        compile(Path::new("r.yml"), &text).unwrap().unwrap()
    }

    #[test]
    fn base64offset_finds_a_value_wherever_it_starts() {
        use base64::Engine as _;
        let forms = base64_offsets("curl http://x");
        assert_eq!(forms.len(), 3);
        // Whatever precedes and follows it, the encoding holds one of the three forms.
        for before in ["", "a", "ab", "abc", "#!/bin/sh\n"] {
            for after in ["", "z", " | sh"] {
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{before}curl http://x{after}"));
                assert!(
                    forms.iter().any(|f| encoded.contains(f.as_str())),
                    "{before:?} {after:?}: {encoded} has none of {forms:?}"
                );
            }
        }
        let r = rule("  s:\n    requestParameters.userData|base64offset|contains: curl\n  condition: s\n");
        assert!(r.condition.contains("'like_cased', '%Y3Vyb%'") && !r.condition.contains("lower("), "{}", r.condition);
    }

    #[test]
    fn the_corners_of_the_specification() {
        // A path through lists: matched by sigma_match, which follows them.
        let r =
            rule("  s:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n  condition: s\n");
        assert_eq!(
            r.condition,
            "((sigma_match(request_parameters, 'ipPermissions.items.ipRanges.items.cidrIp', 'eq', '0.0.0.0/0')))"
        );
        // A lone backslash is itself; an escaped wildcard is literal; an escaped backslash is one.
        assert_eq!(like(r"C:\Windows\\*"), r"C:\\Windows\\%");
        assert_eq!(like(r"C:\Windows\*"), r"C:\\Windows*");
        assert_eq!(like(r"a\*b"), "a*b");
        assert_eq!(like(r"a\\b*"), r"a\\b%");
        assert!(!has_wildcard(r"a\*b") && has_wildcard(r"a\\*") && has_wildcard("a?"));
        assert_eq!(unescape(r"C:\Windows\\x\*"), r"C:\Windows\x*");
        let r = rule("  s:\n    userAgent: 'C:\\Tools\\x.exe'\n  condition: s\n");
        assert!(r.condition.contains(r"lower(user_agent) = 'c:\tools\x.exe'"), "{}", r.condition);
        // userIdentity.userName is the IAM user's own, not the session issuer's.
        let r = rule("  s:\n    userIdentity.userName: alice\n  condition: s\n");
        assert_eq!(r.condition, "((sigma_match(raw, 'userIdentity.userName', 'eq', 'alice')))");
        // Keywords: anywhere in the event, wildcards kept.
        let r = rule("  keywords:\n    - 'AKIA*EXAMPLE'\n  condition: keywords\n");
        assert_eq!(r.condition, "(lower(raw) LIKE '%akia%example%')");
    }

    #[test]
    fn modifiers_compile_to_their_sql() {
        let r = rule(
            "  s:\n    userAgent|cased: Boto3*\n    requestParameters.maxResults|gte: 100\n    errorCode|exists: false\n  condition: s\n",
        );
        assert!(r.condition.contains("user_agent LIKE 'Boto3%'"), "{}", r.condition);
        assert!(r.condition.contains("sigma_match(request_parameters, 'maxResults', 'gte', '100')"), "{}", r.condition);
        assert!(r.condition.contains("error_code IS NULL"), "{}", r.condition);
        let r = rule(
            "  s:\n    userIdentity.userName|fieldref: requestParameters.userName\n    eventName|re|i: '^create'\n  condition: s\n",
        );
        assert!(
            r.condition.contains(
                "lower(coalesce(json_get_str(raw, 'userIdentity', 'userName'), json_as_text(raw, 'userIdentity', 'userName'))) = lower(coalesce(json_get_str(request_parameters, 'userName')"
            ),
            "{}",
            r.condition
        );
        assert!(r.condition.contains("regexp_like(event_name, '(?i)^create')"), "{}", r.condition);
        let r = rule("  s:\n    requestParameters.cmd|windash|contains: ' -enc '\n  condition: s\n");
        assert!(r.condition.contains("'% /enc %'") && r.condition.contains("'% -enc %'"), "{}", r.condition);
        // Tags become technique ids only when they are ones; anything else, whatever its letters, is left.
        let mut tagged = rule("  s:\n    eventName: x\n  condition: s\n");
        tagged.tags = vec!["attack.t1078.004".into(), "attack.t\u{e4}1234".into(), "attack.ta0001".into()];
        assert_eq!(tagged.to_hunt().attack, vec!["T1078.004"]);
        let bad = compile(
            Path::new("r.yml"),
            "logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName|re: '('\n  condition: s\n",
        );
        assert!(bad.unwrap_err().contains("is not a regular expression"));
        let bad = compile(
            Path::new("r.yml"),
            "logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName|contains|startswith: x\n  condition: s\n",
        );
        assert!(bad.unwrap_err().contains("together"));
    }

    #[test]
    fn correlation_headers_are_read_strictly() {
        assert_eq!(timespan("90s"), Ok(90));
        assert_eq!(timespan("2h"), Ok(7200));
        assert!(timespan("2y").is_err());
        let one = |corr: &str| {
            let docs = YamlLoader::load_from_str(&format!("title: c\ncorrelation:\n{corr}")).unwrap();
            match parse_doc(Path::new("c.yml"), &docs[0]) {
                Ok(_) => String::new(),
                Err(e) => e,
            }
        };
        assert!(
            one("  type: value_count\n  rules: [a]\n  timespan: 1h\n  condition:\n    gte: 3\n")
                .contains("needs `field`")
        );
        assert!(one("  type: sequence\n  rules: [a]\n  timespan: 1h\n").contains("not event_count"));
        assert!(one("  type: event_count\n  rules: [a]\n  condition:\n    gte: 3\n").contains("no timespan"));
        assert!(
            one("  type: event_count\n  rules: [a]\n  timespan: 1h\n  condition:\n    more: 3\n").contains("`more`")
        );
        // The older aggregation: a count, its groups and comparison.
        let c = old_aggregation(" count(eventName) by userIdentity.arn, sourceIPAddress > 5", Some(600)).unwrap();
        assert_eq!(c.kind, CorrelationType::ValueCount);
        assert_eq!(c.group_by, vec!["userIdentity.arn", "sourceIPAddress"]);
        assert_eq!(c.condition, vec![(">", 5.0)]);
        assert!(old_aggregation("near x", None).is_err());
    }
}
