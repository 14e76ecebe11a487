//! One field condition (`field|modifier|modifier: value(s)`) compiled: its [`Modifier`]s (read
//! with the rule) applied, the values put in the forms their encodings give, then compared.

use super::*;

/// A value modifier of the Sigma specification, as trailflow compiles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `all`: every value of the list must match, not any one.
    All,
    /// `cased`: compare case-sensitively (Sigma folds case by default).
    Cased,
    /// An encoding the value is searched in (applied before the comparison).
    Encoding(Encoding),
    /// How the value is compared (at most one per field).
    Op(Op),
    /// A flag of `re`: `i`, `m` or `s`.
    ReFlag(char),
}

/// The encodings a value may be searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Base64,
    Base64Offset,
    Windash,
}

/// The comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Contains,
    StartsWith,
    EndsWith,
    Re,
    Cidr,
    Exists,
    Gt,
    Gte,
    Lt,
    Lte,
    FieldRef,
}

impl Op {
    /// The comparison's name in the rule (and in `sigma_match`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Contains => "contains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Re => "re",
            Op::Cidr => "cidr",
            Op::Exists => "exists",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::FieldRef => "fieldref",
        }
    }
}

impl Modifier {
    /// The modifier a rule names, or why it is not compiled. `after` is the comparison named
    /// before it in the same key (a flag of `re` follows `re`).
    pub fn parse(name: &str, after: Option<Op>) -> Result<Modifier, NotCompiled> {
        Ok(match name {
            "all" => Modifier::All,
            "cased" => Modifier::Cased,
            "base64" => Modifier::Encoding(Encoding::Base64),
            "base64offset" => Modifier::Encoding(Encoding::Base64Offset),
            "windash" => Modifier::Encoding(Encoding::Windash),
            "i" | "m" | "s" if after == Some(Op::Re) => Modifier::ReFlag(name.chars().next().unwrap_or('i')),
            "contains" => Modifier::Op(Op::Contains),
            "startswith" => Modifier::Op(Op::StartsWith),
            "endswith" => Modifier::Op(Op::EndsWith),
            "re" => Modifier::Op(Op::Re),
            "cidr" => Modifier::Op(Op::Cidr),
            "exists" => Modifier::Op(Op::Exists),
            "gt" => Modifier::Op(Op::Gt),
            "gte" => Modifier::Op(Op::Gte),
            "lt" => Modifier::Op(Op::Lt),
            "lte" => Modifier::Op(Op::Lte),
            "fieldref" => Modifier::Op(Op::FieldRef),
            "wide" | "utf16" | "utf16le" | "utf16be" => {
                return Err(not_compiled!(
                    "the modifier `{name}` encodes binary text, which CloudTrail's JSON does not hold"
                ));
            }
            "expand" => {
                return Err(
                    "the modifier `expand` needs placeholder values from a Sigma pipeline, which trailflow does not \
                        have"
                        .into(),
                );
            }
            _ => return Err(not_compiled!("the modifier `{name}` is not compiled")),
        })
    }
}

/// One field condition (`field|mod|mod: value(s)`) as SQL.
pub(super) fn field_condition(m: &FieldMatch) -> Result<Expr, NotCompiled> {
    let mut all = false;
    let mut cased = false;
    let mut encodings: Vec<Encoding> = Vec::new();
    let mut op: Option<Op> = None;
    let mut re_flags = String::new();
    for modifier in &m.modifiers {
        match *modifier {
            Modifier::All => all = true,
            Modifier::Cased => cased = true,
            Modifier::Encoding(e) => encodings.push(e),
            Modifier::ReFlag(f) => re_flags.push(f),
            Modifier::Op(o) => {
                if let Some(first) = op {
                    return Err(not_compiled!(
                        "the modifiers `{}` and `{}` together are not compiled",
                        first.name(),
                        o.name()
                    ));
                }
                op = Some(o);
            }
        }
    }
    // Encodings first, each value becoming the forms it may take; `all` then still means every
    // one of the values given (any of the forms of each).
    let mut values: Vec<Vec<Option<String>>> = m.values.iter().map(|v| vec![v.clone()]).collect();
    for e in &encodings {
        use base64::Engine as _;
        for forms in values.iter_mut() {
            *forms = forms
                .iter()
                .flat_map(|v| -> Vec<Option<String>> {
                    let Some(v) = v else { return vec![None] };
                    match e {
                        Encoding::Base64 => vec![Some(base64::engine::general_purpose::STANDARD.encode(v.as_bytes()))],
                        Encoding::Base64Offset => base64_offsets(v).into_iter().map(Some).collect(),
                        Encoding::Windash => windash(v).into_iter().map(Some).collect(),
                    }
                })
                .collect();
        }
    }
    if encodings.iter().any(|e| matches!(e, Encoding::Base64 | Encoding::Base64Offset)) {
        // Encoded text is compared as it is: base64 is case-sensitive.
        cased = true;
    }
    let col = || Expr::Field(field(&m.field));
    let subject = || if cased { col() } else { col().lower() };
    let fold = |v: &str| if cased { v.to_string() } else { v.to_lowercase() };
    let path = json_path(&m.field);
    // A value in a JSON column, through lists: `sigma_match` compares every value the path reaches.
    let matches = |op: &str, value: &str| -> Option<Expr> {
        let (column, p) = path.as_ref()?;
        let op = if cased && matches!(op, "eq" | "like") { format!("{op}_cased") } else { op.to_string() };
        Some(Expr::SigmaMatch { column, path: p.clone(), op, value: value.to_string() })
    };
    let one = |v: &Option<String>| -> Result<Expr, NotCompiled> {
        let Some(v) = v else {
            return Ok(matches("null", "").unwrap_or_else(|| Expr::IsNull(Box::new(col()))));
        };
        let pattern = |p: String| matches("like", &p).unwrap_or_else(|| Expr::Like(Box::new(subject()), p));
        Ok(match op {
            None if has_wildcard(v) => pattern(like(&fold(v))),
            None => {
                let v = unescape(v);
                matches("eq", &v).unwrap_or_else(|| subject().eq(Expr::Text(fold(&v))))
            }
            Some(Op::Contains) => pattern(format!("%{}%", like(&fold(v)))),
            Some(Op::StartsWith) => pattern(format!("{}%", like(&fold(v)))),
            Some(Op::EndsWith) => pattern(format!("%{}", like(&fold(v)))),
            Some(Op::Re) => {
                regex::Regex::new(v)
                    .map_err(|e| format!("{v:?} is not a regular expression: {}", crate::output::one_line(&e)))?;
                let flags = if re_flags.is_empty() { String::new() } else { format!("(?{re_flags})") };
                let re = format!("{flags}{v}");
                matches("re", &re).unwrap_or_else(|| Expr::Regex(Box::new(col()), re))
            }
            Some(Op::Cidr) => {
                v.parse::<ipnet::IpNet>().map_err(|_| format!("{v:?} is not a CIDR"))?;
                matches("cidr", v).unwrap_or_else(|| Expr::InCidr(v.clone(), Box::new(col())))
            }
            Some(Op::Exists) => match v.to_ascii_lowercase().as_str() {
                "true" => matches("exists", "").unwrap_or_else(|| Expr::IsNotNull(Box::new(col()))),
                "false" => matches("null", "").unwrap_or_else(|| Expr::IsNull(Box::new(col()))),
                _ => return Err(not_compiled!("exists: {v:?} is not true or false")),
            },
            Some(cmp @ (Op::Gt | Op::Gte | Op::Lt | Op::Lte)) => {
                let n: f64 = v.parse().map_err(|_| not_compiled!("{}: {v:?} is not a number", cmp.name()))?;
                let sym = match cmp {
                    Op::Gt => Cmp::Gt,
                    Op::Gte => Cmp::Gte,
                    Op::Lt => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                matches(cmp.name(), &n.to_string()).unwrap_or_else(|| Expr::NumberCmp(Box::new(col()), sym, n))
            }
            Some(Op::FieldRef) => {
                let other = Expr::Field(field(v));
                if cased { col().eq(other) } else { col().lower().eq(other.lower()) }
            }
        })
    };
    let each: Vec<Expr> = values
        .iter()
        .map(|forms| forms.iter().map(&one).collect::<Result<Vec<_>, _>>().map(Expr::any))
        .collect::<Result<_, _>>()?;
    Ok(if all { Expr::And(each) } else { Expr::Or(each) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comparison_reads_back_under_its_name() {
        let ops = [
            Op::Contains,
            Op::StartsWith,
            Op::EndsWith,
            Op::Re,
            Op::Cidr,
            Op::Exists,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::FieldRef,
        ];
        for op in ops {
            assert_eq!(Modifier::parse(op.name(), None).unwrap(), Modifier::Op(op));
        }
        // A flag of `re` only after `re`; `i` alone is no modifier.
        assert_eq!(Modifier::parse("i", Some(Op::Re)).unwrap(), Modifier::ReFlag('i'));
        assert!(Modifier::parse("i", None).unwrap_err().0.contains("`i` is not compiled"));
        assert!(Modifier::parse("utf16le", None).unwrap_err().0.contains("binary text"));
    }
}
