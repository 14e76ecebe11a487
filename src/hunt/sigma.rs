//! Sigma rules for AWS CloudTrail, compiled to SQL over `cloudtrail`: a responder's own detection
//! content, run beside the built-in hunts. Field names are those of the Sigma AWS CloudTrail
//! taxonomy (CloudTrail's own: `eventSource`, `userIdentity.arn`, `requestParameters.x.y`);
//! modifiers `contains`, `startswith`, `endswith`, `re`, `cidr`, `all`; lists; `1 of` / `all of`
//! (`them` or a prefix with `*`); `and`, `or`, `not`, brackets; keyword lists through the full-text
//! index. A rule that cannot be compiled is listed with the reason, never run half-understood.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub file: PathBuf,
    pub id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    /// The WHERE condition over `cloudtrail`.
    pub condition: String,
}

impl SigmaRule {
    /// The rule's query: the matching events, oldest first.
    pub fn sql(&self) -> String {
        format!(
            "SELECT event_time, event_source, event_name, user_arn AS actor_arn, source_ip, aws_region, error_code, user_agent, event_id \
             FROM cloudtrail WHERE {} ORDER BY event_time, event_id",
            self.condition
        )
    }

    /// The name results are written under: the rule's file name without its extension.
    pub fn stem(&self) -> String {
        self.file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| self.id.clone())
    }
}

/// Every `.yml` / `.yaml` file under `dir`: the rules compiled, and the files that are not (not a
/// CloudTrail rule, or something this compiler does not do), each with its reason.
pub fn load_dir(dir: &Path) -> crate::error::Result<(Vec<SigmaRule>, Vec<(PathBuf, String)>)> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| crate::error::Error::io(dir, e))?;
    files.sort();
    let (mut rules, mut skipped) = (Vec::new(), Vec::new());
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                skipped.push((f, format!("cannot read: {e}")));
                continue;
            }
        };
        match compile(&f, &text) {
            Ok(Some(r)) => rules.push(r),
            Ok(None) => skipped.push((f, "not an AWS CloudTrail rule (logsource)".into())),
            Err(why) => skipped.push((f, why)),
        }
    }
    Ok((rules, skipped))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
    Ok(())
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Compile one rule file: `Ok(None)` when it is not a CloudTrail rule.
pub fn compile(file: &Path, source: &str) -> Result<Option<SigmaRule>, String> {
    let docs = YamlLoader::load_from_str(source).map_err(|e| format!("not YAML: {e}"))?;
    let doc = docs.first().ok_or("empty file")?;
    let logsource = &doc["logsource"];
    let product = text(&logsource["product"]).unwrap_or_default().to_lowercase();
    let service = text(&logsource["service"]).unwrap_or_default().to_lowercase();
    if !doc["correlation"].is_badvalue() {
        return Err("correlation rules (event_count, value_count, temporal) are not compiled yet".into());
    }
    if product != "aws" || service != "cloudtrail" {
        return Ok(None);
    }
    let detection = &doc["detection"];
    let Yaml::Hash(map) = detection else { return Err("no detection".into()) };
    let condition = text(&detection["condition"]).ok_or("no condition (or a list of conditions)")?;
    if condition.contains('|') {
        return Err("aggregation in the condition (`| count() ...`) is not compiled".into());
    }
    let mut selections: Vec<(String, String)> = Vec::new();
    for (k, v) in map {
        let Some(name) = text(k) else { continue };
        if name == "condition" || name == "timeframe" {
            continue;
        }
        selections.push((name.clone(), selection(v).map_err(|e| format!("{name}: {e}"))?));
    }
    let condition = Condition { tokens: tokenize(&condition), at: 0, selections: &selections }.parse_all()?;
    Ok(Some(SigmaRule {
        file: file.to_path_buf(),
        id: text(&doc["id"]).unwrap_or_default(),
        title: text(&doc["title"]).unwrap_or_default(),
        level: text(&doc["level"]).unwrap_or_else(|| "medium".into()),
        tags: doc["tags"].as_vec().map(|v| v.iter().filter_map(text).collect()).unwrap_or_default(),
        condition,
    }))
}

/// A SQL text literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL for a Sigma field of a CloudTrail event.
fn field(name: &str) -> String {
    let direct = [
        ("eventSource", "event_source"),
        ("eventName", "event_name"),
        ("awsRegion", "aws_region"),
        ("sourceIPAddress", "source_ip"),
        ("userAgent", "user_agent"),
        ("errorCode", "error_code"),
        ("errorMessage", "error_message"),
        ("eventType", "event_type"),
        ("eventCategory", "event_category"),
        ("recipientAccountId", "recipient_account_id"),
        ("eventID", "event_id"),
        ("requestID", "request_id"),
        ("userIdentity.type", "user_type"),
        ("userIdentity.arn", "user_arn"),
        ("userIdentity.userName", "user_name"),
        ("userIdentity.principalId", "principal_id"),
        ("userIdentity.accountId", "account_id"),
        ("userIdentity.accessKeyId", "access_key_id"),
        ("userIdentity.invokedBy", "invoked_by"),
        ("userIdentity.sessionContext.sessionIssuer.arn", "session_issuer_arn"),
        ("userIdentity.sessionContext.sessionIssuer.userName", "session_issuer_user_name"),
    ];
    if let Some((_, col)) = direct.iter().find(|(f, _)| *f == name) {
        return (*col).to_string();
    }
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

/// A Sigma value with wildcards as a LIKE pattern.
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
            '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// One field condition: `field|mod|mod: value(s)`.
fn field_condition(key: &str, value: &Yaml) -> Result<String, String> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or("");
    let mods: Vec<&str> = parts.collect();
    let all = mods.contains(&"all");
    let op = mods.iter().find(|m| **m != "all").copied();
    let values: Vec<Option<String>> = match value {
        Yaml::Array(v) => v.iter().map(|x| if x.is_null() { None } else { text(x) }).collect(),
        Yaml::Null => vec![None],
        v => vec![Some(text(v).ok_or("a value that is neither text nor a number")?)],
    };
    let col = field(name);
    let one = |v: &Option<String>| -> Result<String, String> {
        let Some(v) = v else { return Ok(format!("{col} IS NULL")) };
        let lowered = format!("lower({col})");
        Ok(match op {
            None => {
                if v.contains('*') || v.contains('?') {
                    format!("{lowered} LIKE {}", lit(&like(&v.to_lowercase())))
                } else {
                    format!("{lowered} = {}", lit(&v.to_lowercase()))
                }
            }
            Some("contains") => format!("{lowered} LIKE {}", lit(&format!("%{}%", like(&v.to_lowercase())))),
            Some("startswith") => format!("{lowered} LIKE {}", lit(&format!("{}%", like(&v.to_lowercase())))),
            Some("endswith") => format!("{lowered} LIKE {}", lit(&format!("%{}", like(&v.to_lowercase())))),
            Some("re") => format!("regexp_like({col}, {})", lit(v)),
            Some("cidr") => {
                v.parse::<ipnet::IpNet>().map_err(|_| format!("{v:?} is not a CIDR"))?;
                format!("coalesce(cidr_contains({}, {col}), false)", lit(v))
            }
            Some(m) => return Err(format!("the modifier `{m}` is not compiled")),
        })
    };
    let parts: Vec<String> = values.iter().map(one).collect::<Result<_, _>>()?;
    Ok(format!("({})", parts.join(if all { " AND " } else { " OR " })))
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
            // Keywords: any of them anywhere in the event, through the full-text index.
            let parts: Vec<String> = items
                .iter()
                .map(|i| text(i).map(|k| format!("event_id IN (SELECT event_id FROM search({}))", lit(&format!("\"{}\"", k.replace('"', ""))))))
                .collect::<Option<_>>()
                .ok_or("a keyword that is not text")?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Yaml::String(k) => Ok(format!("(event_id IN (SELECT event_id FROM search({})))", lit(&format!("\"{}\"", k.replace('"', ""))))),
        _ => Err("a selection that is neither a map nor a list".into()),
    }
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
                .filter(|(n, _)| if pattern == "them" { true } else if let Some(p) = pattern.strip_suffix('*') { n.starts_with(p) } else { *n == pattern })
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
        assert!(rule.condition.contains("lower(event_name) LIKE 'create%' OR lower(event_name) LIKE 'attach%'"), "{}", rule.condition);
        assert!(rule.condition.contains("NOT coalesce(((lower(user_arn) LIKE '%automation%')), false)"), "{}", rule.condition);
        let other = compile(Path::new("w.yml"), "title: w\nlogsource:\n  product: windows\ndetection:\n  s:\n    a: b\n  condition: s\n").unwrap();
        assert!(other.is_none());
        let bad = compile(Path::new("b.yml"), "title: b\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    a|base64: b\n  condition: s\n");
        assert!(bad.unwrap_err().contains("base64"));
        assert_eq!(like("a*b?c%"), "a%b_c\\%");
        assert_eq!(field("requestParameters.ipPermissions.items"), "coalesce(json_get_str(request_parameters, 'ipPermissions', 'items'), json_as_text(request_parameters, 'ipPermissions', 'items'))");
    }
}
