//! Python's `fnmatch.fnmatchcase` (case-sensitive, as `fnmatch` is on POSIX): `*`, `?`,
//! `[set]`, `[!set]`; an unclosed `[` is a literal. Used for product versions and packages.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    Star,
    /// A bracket set: negated?, inclusive ranges (a single char is `(c, c)`).
    Set(bool, Vec<(char, char)>),
}

/// Whether `name` matches the glob `pattern` in full.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let tokens = compile(pattern);
    let name: Vec<char> = name.chars().collect();
    matches(&name, &tokens)
}

/// A pattern compiled once and matched many times (quarantine rules), with the literal
/// text it starts with: a name lacking that prefix is refused without matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    prefix: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let tokens = compile(pattern);
        let prefix = tokens
            .iter()
            .map_while(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        Glob { tokens, prefix }
    }

    /// The literal text every matching name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the pattern is plain text (matches only itself).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Char(_)))
    }

    pub fn matches(&self, name: &str) -> bool {
        if !name.starts_with(&self.prefix) {
            return false;
        }
        let name: Vec<char> = name.chars().collect();
        matches(&name, &self.tokens)
    }
}

fn compile(pattern: &str) -> Vec<Token> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::Any),
            '[' => match set_end(&p, i) {
                Some(end) => {
                    out.push(parse_set(&p[i..end]));
                    i = end + 1;
                }
                None => out.push(Token::Char('[')),
            },
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// Index of the `]` closing a set whose body starts at `i`; a `]` first in the body (after
/// an optional `!`) belongs to the body.
fn set_end(p: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if p.get(j) == Some(&'!') {
        j += 1;
    }
    if p.get(j) == Some(&']') {
        j += 1;
    }
    (j..p.len()).find(|&k| p[k] == ']')
}

fn parse_set(body: &[char]) -> Token {
    let (negated, body) = match body.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, body),
    };
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < body.len() {
        let lo = body[k];
        if body.get(k + 1) == Some(&'-') && k + 2 < body.len() {
            let hi = body[k + 2];
            // Python drops reversed (empty) ranges instead of failing.
            if lo <= hi {
                ranges.push((lo, hi));
            }
            k += 3;
        } else {
            ranges.push((lo, lo));
            k += 1;
        }
    }
    Token::Set(negated, ranges)
}

fn token_matches(t: &Token, c: char) -> bool {
    match t {
        Token::Char(x) => *x == c,
        Token::Any => true,
        Token::Set(negated, ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
        Token::Star => false,
    }
}

/// Iterative wildcard matching with backtracking to the last `*` (linear in practice).
fn matches(name: &[char], tokens: &[Token]) -> bool {
    let (mut n, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(tok) if token_matches(tok, name[n]) => {
                n += 1;
                t += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    t = st + 1;
                    n = sn + 1;
                    star = Some((st, sn + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn literal_prefixes() {
        let g = super::Glob::new("dist.rpm*lint");
        assert_eq!((g.prefix(), g.is_literal()), ("dist.rpm", false));
        assert!(super::Glob::new("a.b").is_literal() && !super::Glob::new("a[bc]").is_literal());
    }

    #[test]
    fn python_semantics() {
        let cases = [
            ("fedora-32", "fedora-*", true),
            ("fedora-32", "fedora-3?", true),
            ("fedora-32", "fedora-3", false),
            ("fedora-32", "FEDORA-*", false),
            ("rhel-8", "rhel-[0-9]", true),
            ("rhel-x", "rhel-[!0-9]", true),
            ("rhel-8", "rhel-[!0-9]", false),
            ("a[b", "a[b", true),
            ("a]", "a[]]", true),
            ("a-", "a[a-]", true),
            ("ab", "a[z-a]", false),
            ("python2-foo", "python2-*", true),
            ("", "*", true),
            ("abc", "a*b*c", true),
            ("abcbc", "a*bc", true),
            ("ab", "a*bc", false),
            ("a\nb", "a*b", true),
        ];
        for (name, pat, want) in cases {
            assert_eq!(fnmatch(name, pat), want, "{name} ~ {pat}");
            assert_eq!(super::Glob::new(pat).matches(name), want, "compiled {name} ~ {pat}");
        }
    }
}
