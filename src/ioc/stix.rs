//! STIX 2.1 patterns (`[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value ISSUBSET '10.0.0.0/8']`)
//! read into alternatives of conditions that must hold in one record. Comparisons with `=`,
//! `ISSUBSET` and `IN (...)`, joined by `AND` / `OR` (AND binds tighter) with brackets, in
//! observations joined by `OR`. Observations joined by `AND` or `FOLLOWEDBY` (several records in
//! an order), qualifiers (`WITHIN`, `REPEATS`, `START`) and other operators are said to be not
//! swept, never half-read.

use super::cond::{Cond, Side, addr_or_net, is_access_key};

/// Alternatives an indicator may be written as, at most; a pattern whose ANDs of ORs multiply
/// past it is refused.
const MAX_ALTERNATIVES: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    LParen,
    RParen,
    Comma,
    Str(String),
    Word(String),
    Op(String),
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => {
                out.push(Tok::Open);
                i += 1
            }
            ']' => {
                out.push(Tok::Close);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a string that is not closed".into()),
                        Some('\\') => {
                            v.push(*chars.get(i + 1).ok_or("a string that is not closed")?);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            v.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if matches!(two.as_str(), "!=" | "<=" | ">=") { two } else { c.to_string() };
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"[]()=!<>,'".contains(chars[i]) {
                    i += 1;
                    // `[*]` and `[0]` inside an object path belong to it, as does a quoted key
                    // after a dot (`file:hashes.'SHA-256'`).
                    if i < chars.len() && chars[i] == '[' && chars.get(i + 2) == Some(&']') {
                        i += 3;
                    } else if i < chars.len() && chars[i] == '\'' && chars[i - 1] == '.' {
                        let close =
                            chars[i + 1..].iter().position(|c| *c == '\'').ok_or("a string that is not closed")?;
                        i += close + 2;
                    }
                }
                if i == start {
                    return Err(format!("an unexpected {c:?}"));
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

type Dnf = Vec<Vec<Cond>>;

fn and(a: Dnf, b: Dnf) -> Result<Dnf, String> {
    if a.len().saturating_mul(b.len()) > MAX_ALTERNATIVES {
        return Err(format!("the pattern expands to more than {MAX_ALTERNATIVES} alternatives"));
    }
    Ok(a.iter().flat_map(|x| b.iter().map(move |y| x.iter().chain(y).cloned().collect())).collect())
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    /// Observations joined by OR.
    fn pattern(&mut self) -> Result<Dnf, String> {
        let mut out = self.observation()?;
        while let Some(Tok::Word(w)) = self.peek() {
            let w = w.to_ascii_uppercase();
            match w.as_str() {
                "OR" => {
                    self.next();
                    out.extend(self.observation()?);
                }
                "AND" | "FOLLOWEDBY" => {
                    return Err(format!("observations joined by {w} (several records) are not swept"));
                }
                "WITHIN" | "REPEATS" | "START" | "STOP" => {
                    return Err(format!("the qualifier {w} is not swept"));
                }
                other => return Err(format!("unexpected `{other}` between observations")),
            }
        }
        match self.peek() {
            None => Ok(out),
            Some(t) => Err(format!("unexpected {t:?} after the pattern")),
        }
    }

    fn observation(&mut self) -> Result<Dnf, String> {
        match self.next() {
            Some(Tok::Open) => {}
            Some(Tok::LParen) => {
                let inner = self.observation_or()?;
                return match self.next() {
                    Some(Tok::RParen) => Ok(inner),
                    _ => Err("a bracket is not closed".into()),
                };
            }
            other => return Err(format!("an observation starts with [, not {other:?}")),
        }
        let e = self.or()?;
        match self.next() {
            Some(Tok::Close) => Ok(e),
            other => Err(format!("an observation ends with ], not {other:?}")),
        }
    }

    fn observation_or(&mut self) -> Result<Dnf, String> {
        let mut out = self.observation()?;
        while self.keyword("OR") {
            self.next();
            out.extend(self.observation()?);
        }
        Ok(out)
    }

    fn or(&mut self) -> Result<Dnf, String> {
        let mut out = self.and()?;
        while self.keyword("OR") {
            self.next();
            out.extend(self.and()?);
        }
        Ok(out)
    }

    fn and(&mut self) -> Result<Dnf, String> {
        let mut out = self.atom()?;
        while self.keyword("AND") {
            self.next();
            out = and(out, self.atom()?)?;
        }
        Ok(out)
    }

    fn atom(&mut self) -> Result<Dnf, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.next();
            let e = self.or()?;
            return match self.next() {
                Some(Tok::RParen) => Ok(e),
                _ => Err("a bracket is not closed".into()),
            };
        }
        if self.keyword("NOT") {
            return Err("NOT is not swept".into());
        }
        let path = match self.next() {
            Some(Tok::Word(w)) => w,
            other => return Err(format!("a comparison starts with an object path, not {other:?}")),
        };
        let op = match self.next() {
            Some(Tok::Op(o)) => o,
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            other => return Err(format!("`{path}`: no operator ({other:?})")),
        };
        match op.as_str() {
            "=" | "ISSUBSET" => {
                let value = match self.next() {
                    Some(Tok::Str(s)) | Some(Tok::Word(s)) => s,
                    other => return Err(format!("`{path} {op}`: no value ({other:?})")),
                };
                Ok(vec![vec![stix_cond(&path, &op, &value)?]])
            }
            "IN" => {
                if self.next() != Some(Tok::LParen) {
                    return Err(format!("`{path} IN` needs a list in brackets"));
                }
                let mut out = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Str(s)) | Some(Tok::Word(s)) => out.push(vec![stix_cond(&path, "=", &s)?]),
                        Some(Tok::RParen) if !out.is_empty() => break,
                        other => return Err(format!("`{path} IN`: unexpected {other:?}")),
                    }
                    match self.next() {
                        Some(Tok::Comma) => continue,
                        Some(Tok::RParen) => break,
                        other => return Err(format!("`{path} IN`: unexpected {other:?}")),
                    }
                }
                Ok(out)
            }
            other => Err(format!("the operator {other} is not swept (=, ISSUBSET, IN)")),
        }
    }
}

/// A pattern's alternatives.
pub(super) fn pattern(p: &str) -> Result<Vec<Vec<Cond>>, String> {
    let toks = tokens(p).map_err(|e| format!("pattern {p:?}: {e}"))?;
    Parser { toks, at: 0 }.pattern().map_err(|e| format!("pattern {p:?}: {e}"))
}

/// A STIX comparison's object path and value, as a condition.
fn stix_cond(path: &str, op: &str, value: &str) -> Result<Cond, String> {
    let addr = |side: Side| -> Result<Cond, String> {
        let n = addr_or_net(value).ok_or_else(|| format!("{value:?} is not an address or a CIDR"))?;
        if op == "=" && n.prefix_len() != n.max_prefix_len() {
            return Err(format!("`{path} = '{value}'` compares an address with a network: use ISSUBSET"));
        }
        Ok(Cond::Addr(n, side))
    };
    let port = |side: Side| -> Result<Cond, String> {
        if op != "=" {
            return Err(format!("`{path} {op}` is not swept (ports compare with =)"));
        }
        value.parse().map(|p| Cond::Port(p, side)).map_err(|_| format!("{value:?} is not a port"))
    };
    let equal = |c: Cond| if op == "=" { Ok(c) } else { Err(format!("`{path} {op}` is not swept (only =)")) };
    match path {
        "ipv4-addr:value" | "ipv6-addr:value" => addr(Side::Any),
        "network-traffic:src_ref.value" => addr(Side::Source),
        "network-traffic:dst_ref.value" => addr(Side::Destination),
        "network-traffic:src_port" => port(Side::Source),
        "network-traffic:dst_port" => port(Side::Destination),
        "user-account:user_id" | "user-account:account_login" | "user-account:display_name" => {
            let v = value.to_string();
            equal(if is_access_key(&v) {
                Cond::AccessKey(v)
            } else if v.starts_with("arn:") {
                Cond::Arn(v)
            } else {
                Cond::User(v)
            })
        }
        other => {
            Err(format!("the object path `{other}` is not swept (ipv4-addr, ipv6-addr, network-traffic, user-account)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> ipnet::IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn patterns_become_alternatives_of_conditions() {
        let p = pattern("[ipv4-addr:value = '198.51.100.7' OR ipv6-addr:value ISSUBSET '2001:db8::/32']").unwrap();
        assert_eq!(
            p,
            vec![
                vec![Cond::Addr(net("198.51.100.7/32"), Side::Any)],
                vec![Cond::Addr(net("2001:db8::/32"), Side::Any)]
            ]
        );
        // AND binds tighter than OR; brackets group.
        let p = pattern(
            "[network-traffic:dst_ref.value = '203.0.113.5' AND (network-traffic:dst_port = 22 OR \
             network-traffic:dst_port = 3389)]",
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1],
            vec![Cond::Addr(net("203.0.113.5/32"), Side::Destination), Cond::Port(3389, Side::Destination)]
        );
        let p =
            pattern("[user-account:user_id = 'AKIAEXAMPLEKEY000001'] OR [ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')]")
                .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], vec![Cond::AccessKey("AKIAEXAMPLEKEY000001".into())]);
        for (bad, why) in [
            ("[file:hashes.MD5 = 'abc']", "`file:hashes.MD5` is not swept"),
            ("[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '5.6.7.8']", "observations joined by AND"),
            ("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS", "WITHIN is not swept"),
            ("[ipv4-addr:value MATCHES '^1']", "MATCHES is not swept"),
            ("[ipv4-addr:value = '1.2.3.0/24']", "use ISSUBSET"),
            ("[ipv4-addr:value = '1.2.3.4'", "ends with ]"),
            ("[ipv4-addr:value = 'x]", "not closed"),
        ] {
            let e = pattern(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
