//! Text patterns: SQL's LIKE, matched outside the engine (Sigma values through JSON lists, search
//! wildcards).

/// SQL LIKE: `%` any run, `_` any one character, `\` makes the next character literal.
pub fn like_match(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // Backtracking on the last `%` only: linear in practice, quadratic at worst.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(P::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(P::One) => {
                t += 1;
                p += 1;
            }
            Some(P::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|x| *x == P::Any)
}

#[cfg(test)]
mod tests {
    use super::like_match;

    #[test]
    fn like_is_sql_like() {
        assert!(like_match("c:\\windows\\system32", "c:\\\\windows\\\\%"));
        assert!(like_match("abc", "a%c"));
        assert!(like_match("abc", "a_c"));
        assert!(!like_match("abc", "a_"));
        assert!(like_match("a%c", "a\\%c"));
        assert!(!like_match("abc", "a\\%c"));
        assert!(like_match("", "%"));
        assert!(like_match("aXbXc", "%b%c"));
        assert!(!like_match("ab", "%b%c"));
        assert!(like_match("mississippi", "%iss%ppi"));
    }
}
