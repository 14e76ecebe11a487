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
//!
//! A small compiler in a folder. `rule` loads a file's YAML documents (bounded before they are
//! expanded) and compiles each; `doc` types them with serde (the rule, its detection with each
//! field's key read into its field and [`Modifier`]s, its correlation); `condition` compiles the
//! selections and the condition joining them, `modifier` each field condition, `values` maps the
//! CloudTrail taxonomy onto the lake (a table of columns and one of JSON roots) and encodes values,
//! `correlation` builds the correlation queries; all of them build the typed SQL of `sql`
//! ([`sql::Expr`], [`sql::Query`]), which alone writes text. This file loads a folder of rules and
//! runs them as hunts. Adding a modifier: a variant of [`Modifier`] (its name in
//! `Modifier::parse`), its SQL in `modifier::field_condition` (a new [`sql::Expr`] variant if no
//! existing one says it), a case in `tests/sigma_sql.rs` (golden SQL), and a probe rule in
//! `tests/data/sigma_probes/`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use yaml_rust2::{Event, Yaml, YamlLoader};

mod condition;
mod correlation;
mod doc;
mod modifier;
mod rule;
mod sql;
mod values;

use condition::*;
use correlation::*;
use doc::*;
use modifier::*;
use rule::*;
use sql::{Cmp, Expr, Field, Query, Select};
use values::*;

/// Why a rule is not compiled (said beside its file in `sigma_summary.csv` and on the screen): a
/// modifier or construct trailflow does not compile, a value that cannot be what its modifier
/// needs, or a file that is not a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotCompiled(pub String);

impl From<String> for NotCompiled {
    fn from(why: String) -> Self {
        NotCompiled(why)
    }
}

impl From<&str> for NotCompiled {
    fn from(why: &str) -> Self {
        NotCompiled(why.to_string())
    }
}

/// `NotCompiled(format!(...))`.
macro_rules! not_compiled {
    ($($arg:tt)*) => {
        NotCompiled(format!($($arg)*))
    };
}
use not_compiled;

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
    /// The condition as the compiler built it (for a correlation: none).
    filter: Option<Expr>,
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
                loaded.skipped.push((f, e.0));
                continue;
            }
        };
        let several = docs.len() > 1;
        let mut any_cloudtrail = false;
        let mut not_cloudtrail = 0;
        for (i, doc) in docs.iter().enumerate() {
            let place = |why: String| if several { format!("rule {}: {why}", i + 1) } else { why };
            match parse_doc(&f, doc) {
                Ok(Parsed::Foreign { key }) => {
                    not_cloudtrail += 1;
                    if key.is_some() {
                        parsed.push(Parsed::Foreign { key });
                    }
                }
                Ok(p) => {
                    any_cloudtrail = true;
                    parsed.push(p);
                }
                Err(why) => loaded.skipped.push((f.clone(), place(why.0))),
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
                    loaded.skipped.push((c.file.clone(), why.0));
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

/// The comparisons of a correlation's condition (`gte`, 10), and the field counted, if any.
type CountCondition = (Vec<(Cmp, f64)>, Option<String>);

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
pub fn compile(file: &Path, source: &str) -> Result<Option<SigmaRule>, NotCompiled> {
    let docs = bounded_yaml(source)?;
    let doc = docs.first().ok_or("empty file")?;
    match parse_doc(file, doc)? {
        Parsed::Rule(r) => Ok(Some(r)),
        Parsed::Correlation(_) => Err("a correlation rule: compile it with its rules (load_dir)".into()),
        Parsed::Foreign { .. } => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_compiles_to_a_where_clause() {
        let rule = compile(
            Path::new("r.yml"),
            "title: t\nid: 1\nlevel: high\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  \
                selection:\n    eventSource: iam.amazonaws.com\n    eventName|startswith: ['Create', 'Attach']\n  \
                filter:\n    userIdentity.arn|contains: automation\n  condition: selection and not filter\n",
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
            "title: b\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    a|wide|base64: b\n  \
                condition: s\n",
        );
        assert!(bad.unwrap_err().0.contains("`wide`"));
        assert_eq!(like("a*b?c%"), "a%b_c\\%");
        assert_eq!(
            field("requestParameters.ipPermissions.items").to_string(),
            "coalesce(json_get_str(request_parameters, 'ipPermissions', 'items'), json_as_text(request_parameters, \
                'ipPermissions', 'items'))"
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
            "  s:\n    userAgent|cased: Boto3*\n    requestParameters.maxResults|gte: 100\n    errorCode|exists: \
                false\n  condition: s\n",
        );
        assert!(r.condition.contains("user_agent LIKE 'Boto3%'"), "{}", r.condition);
        assert!(r.condition.contains("sigma_match(request_parameters, 'maxResults', 'gte', '100')"), "{}", r.condition);
        assert!(r.condition.contains("error_code IS NULL"), "{}", r.condition);
        let r = rule(
            "  s:\n    userIdentity.userName|fieldref: requestParameters.userName\n    eventName|re|i: '^create'\n  \
                condition: s\n",
        );
        assert!(
            r.condition.contains(
                "lower(coalesce(json_get_str(raw, 'userIdentity', 'userName'), json_as_text(raw, 'userIdentity', \
                    'userName'))) = lower(coalesce(json_get_str(request_parameters, 'userName')"
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
            "logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName|re: '('\n  condition: \
                s\n",
        );
        assert!(bad.unwrap_err().0.contains("is not a regular expression"));
        let bad = compile(
            Path::new("r.yml"),
            "logsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName|contains|startswith: \
                x\n  condition: s\n",
        );
        assert!(bad.unwrap_err().0.contains("together"));
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
                Err(e) => e.0,
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
        assert_eq!(c.condition, vec![(Cmp::Gt, 5.0)]);
        assert!(old_aggregation("near x", None).is_err());
    }
}
