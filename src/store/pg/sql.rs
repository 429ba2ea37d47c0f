//! SQL text for the PostgreSQL reads: statements with numbered parameters ([`Sql`]), and the
//! conditions shared by result, list and insight reads (API patterns as `LIKE`, texts through
//! their `md5` or key indexes).

use super::conn::Conn;
use crate::store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// A statement repeating a clause more often than this (patterns, filters, waiver keys) is
/// run unprepared: the statement cache holds only texts from a bounded set of shapes.
const CACHED_REPEATS: usize = 2;

/// SQL text with its numbered parameters.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    params: Vec<Box<dyn ToSql + Sync>>,
    /// Whether the text varies with the input beyond a few shapes (see [`CACHED_REPEATS`]).
    pub varying: bool,
    /// Whether its best plan is the same for any values (see [`Conn::query_generic`]).
    pub generic: bool,
}

impl Sql {
    /// Adds a parameter and returns its placeholder.
    pub fn param(&mut self, v: impl ToSql + Sync + 'static) -> String {
        self.params.push(Box::new(v));
        format!("${}", self.params.len())
    }

    /// A membership test for `ids`: `= $n` for one (keeps an index's order), `= ANY($n)`.
    pub fn in_ints(&mut self, ids: &[i64]) -> String {
        match ids {
            [one] => format!("= {}", self.param(*one)),
            _ => format!("= ANY({})", self.param(ids.to_vec())),
        }
    }

    /// Like [`Sql::in_ints`] for texts (a text no row can hold is left out).
    pub fn in_texts(&mut self, items: &[String]) -> String {
        match storable_only(items).as_slice() {
            [one] => format!("= {}", self.param(one.clone())),
            items => format!("= ANY({})", self.param(items.to_vec())),
        }
    }

    /// Like [`Sql::in_ints`] for 16-byte text keys.
    pub fn in_keys(&mut self, keys: Vec<Vec<u8>>) -> String {
        match <[Vec<u8>; 1]>::try_from(keys) {
            Ok([one]) => format!("= {}", self.param(one)),
            Err(keys) => format!("= ANY({})", self.param(keys)),
        }
    }

    /// Notes that the text repeats a clause `n` times.
    pub fn repeats(&mut self, n: usize) {
        self.varying |= n > CACHED_REPEATS;
    }

    /// Its parameters, as a statement takes them.
    pub fn param_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }

    /// Runs the statement: prepared once per connection unless its text varies a lot.
    pub fn run(&self, conn: &Conn) -> Result<Vec<Row>, StoreError> {
        let params = self.param_refs();
        match (self.varying, self.generic) {
            (true, _) => conn.query_once(&self.text, &params),
            (false, true) => conn.query_generic(&self.text, &params),
            (false, false) => conn.query(&self.text, &params),
        }
    }
}

/// Whether a text can be stored: PostgreSQL refuses NUL characters in text (SQLite keeps
/// them), so no stored text holds one, and a parameter holding one would fail the whole
/// statement. Conditions on such a text are false instead, which is what they are.
pub(super) fn storable(text: &str) -> bool {
    !text.contains('\0')
}

fn storable_only(items: &[String]) -> Vec<String> {
    items.iter().filter(|s| storable(s)).cloned().collect()
}

/// An API `:like` pattern as a case-sensitive `LIKE` pattern (backslash escapes): `*` and
/// `%` match any run, `_` one character, everything else itself — what SQLite's GLOB
/// translation (`like_to_glob`) matches.
pub(super) fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for ch in pattern.chars() {
        match ch {
            '*' | '%' => out.push('%'),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// The literal text every match of an API pattern starts with, at most `max` characters.
fn literal_prefix(pattern: &str, max: usize) -> String {
    pattern.chars().take_while(|c| !matches!(c, '*' | '%' | '_')).take(max).collect()
}

/// A text above every text starting with `prefix` in byte order (UTF-8 orders as code
/// points), and below every other text above them: the prefix with its last character that
/// can grow grown by one. `None`: nothing bounds them.
fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// How many characters the `left(col, 256)` expression indexes hold.
const INDEXED_CHARS: usize = 256;

/// `col` matches the API pattern. With `indexed` (a `left(col, 256)` index exists), the
/// pattern's literal prefix also bounds `left(col, 256)`, so the index reads only that
/// range (as SQLite's GLOB does with its prefix); the `LIKE` still decides.
pub(super) fn like_cond(sql: &mut Sql, col: &str, pattern: &str, indexed: bool) -> String {
    if !storable(pattern) {
        return "FALSE".to_owned();
    }
    let like = format!("{col} LIKE {}", sql.param(like_pattern(pattern)));
    let prefix = literal_prefix(pattern, INDEXED_CHARS);
    if !indexed || prefix.is_empty() {
        return like;
    }
    let upper = successor(&prefix).map(|s| format!(" AND left({col}, 256) < {}", sql.param(s)));
    format!("(left({col}, 256) >= {}{} AND {like})", sql.param(prefix), upper.unwrap_or_default())
}

/// `col` is one of `items`, through an `md5(col)` index (texts too long for a B-tree).
pub(super) fn md5_in(sql: &mut Sql, col: &str, items: &[String]) -> String {
    match storable_only(items).as_slice() {
        [] => "FALSE".to_owned(),
        [one] => {
            let p = sql.param(one.clone());
            format!("(md5({col}) = md5({p}::text) AND {col} = {p})")
        }
        items => {
            let p = sql.param(items.to_vec());
            format!("(md5({col}) = ANY(ARRAY(SELECT md5(x) FROM unnest({p}::text[]) x)) AND {col} = ANY({p}))")
        }
    }
}

/// `(key in keys OR col LIKE p1 OR …)` for exact names (by their keys) plus patterns.
pub(super) fn names_cond(sql: &mut Sql, key_col: &str, col: &str, exact: &[String], like: &[String]) -> String {
    let mut parts = Vec::new();
    if !exact.is_empty() {
        let keys = exact.iter().map(|n| super::text_key(n)).collect();
        parts.push(format!("{key_col} {}", sql.in_keys(keys)));
    }
    for p in like {
        parts.push(like_cond(sql, col, p, true));
    }
    sql.repeats(like.len());
    if parts.is_empty() {
        return "FALSE".to_owned();
    }
    format!("({})", parts.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_translation() {
        assert_eq!(like_pattern("koschei*fc24%"), "koschei%fc24%");
        assert_eq!(like_pattern(r"a_b?[c]\d"), r"a_b?[c]\\d");
    }

    #[test]
    fn prefixes_and_their_successors() {
        assert_eq!(literal_prefix("dist.*", 256), "dist.");
        assert_eq!(literal_prefix("a_b", 256), "a");
        assert_eq!(literal_prefix("%x", 256), "");
        assert_eq!(literal_prefix("abcdef", 3), "abc");
        assert_eq!(successor("dist.").as_deref(), Some("dist/"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(successor("\u{10FFFF}"), None);
    }
}
