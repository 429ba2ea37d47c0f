//! Failure signatures: a fingerprint of a failure's text that stays the same across the
//! noise runs add (numbers, hashes, uuids, paths, times, durations), so "seen before"
//! can be counted.
//!
//! The text is `error_reason` when it has any non-blank text, else the note: the error
//! reason is the structured field meant for this, notes tend to carry links and prose.
//! [`mask`] replaces, in this order of preference at each position: uuids `<uuid>`,
//! ISO 8601 dates/times `<time>`, durations (`12.5s`, `300ms`, `2 min`) `<dur>`,
//! hex strings (`0x…`, or 7+ hex digits with a digit and a letter, word-bounded) `<hex>`,
//! paths (`/…`, `./…`, `../…`, `~/…` at a word start) `<path>`, and any other digit
//! run (decimals included, also inside words: `worker-12`, `python3`) `<n>`; then it
//! collapses whitespace. The signature is the blake3 hash of the masked text, first 16
//! bytes in hex (32 characters): ample against collisions among one server's failures.

use super::{Class, Run, class_of};

/// Duration units recognised right after a number (optionally after one space).
const UNITS: &[&str] = &[
    "ns", "us", "µs", "ms", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes", "h",
    "hr", "hrs", "hour", "hours",
];

/// The signature of a failing run's text; None for a pass (or ignored outcome) or when
/// there is no text.
pub fn signature(run: &Run) -> Option<String> {
    signature_of(&run.outcome, run.note.as_deref(), run.error_reason.as_deref())
}

/// [`signature`] from a result's fields (the store indexes it when a result is written).
pub fn signature_of(outcome: &str, note: Option<&str>, error_reason: Option<&str>) -> Option<String> {
    if class_of(outcome) != Class::Fail {
        return None;
    }
    let text = nonblank(error_reason).or_else(|| nonblank(note))?;
    let masked = mask(text);
    let hash = blake3::hash(masked.as_bytes());
    Some(hash.as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect())
}

fn nonblank(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// The text with run-specific noise replaced by placeholders (see the module doc).
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || !is_word(chars[i - 1]);
        let hit = if at_word_start { masked_token(&chars, i) } else { None };
        if let Some((placeholder, end)) = hit {
            out.push_str(placeholder);
            i = end;
        } else if chars[i].is_ascii_digit() {
            out.push_str("<n>");
            i = number_end(&chars, i);
        } else if chars[i].is_whitespace() {
            // One space for any whitespace run; none at either end.
            if !out.is_empty() {
                out.push(' ');
            }
            i = skip_while(&chars, i, |c| c.is_whitespace());
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn skip_while(chars: &[char], from: usize, f: impl Fn(char) -> bool) -> usize {
    chars[from..].iter().position(|&c| !f(c)).map_or(chars.len(), |n| from + n)
}

/// The placeholder and end of a maskable token starting at word start `i`, if any.
fn masked_token(chars: &[char], i: usize) -> Option<(&'static str, usize)> {
    let bounded = |end: usize| (end == chars.len() || !is_word(chars[end])).then_some(end);
    if let Some(end) = uuid_end(chars, i).and_then(bounded) {
        return Some(("<uuid>", end));
    }
    if let Some(end) = iso_end(chars, i) {
        return Some(("<time>", end));
    }
    if let Some(end) = duration_end(chars, i) {
        return Some(("<dur>", end));
    }
    if let Some(end) = hex_end(chars, i).and_then(bounded) {
        return Some(("<hex>", end));
    }
    path_end(chars, i).map(|end| ("<path>", end))
}

/// End of `n` hex digits from `i`.
fn hex_digits(chars: &[char], i: usize, n: usize) -> Option<usize> {
    (chars.get(i..i + n)?.iter().all(char::is_ascii_hexdigit)).then_some(i + n)
}

fn uuid_end(chars: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    for (k, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            (chars.get(at) == Some(&'-')).then_some(())?;
            at += 1;
        }
        at = hex_digits(chars, at, n)?;
    }
    Some(at)
}

/// End of exactly `n` ASCII digits from `i`.
fn digits(chars: &[char], i: usize, n: usize) -> Option<usize> {
    (chars.get(i..i + n)?.iter().all(char::is_ascii_digit)).then_some(i + n)
}

fn char_at(chars: &[char], i: usize, allowed: &[char]) -> Option<usize> {
    chars.get(i).filter(|c| allowed.contains(c)).map(|_| i + 1)
}

/// `YYYY-MM-DD`, then optionally `[T ]HH:MM[:SS[.frac]]` and a zone (`Z`, `±HH[:]MM`).
fn iso_end(chars: &[char], i: usize) -> Option<usize> {
    let date = digits(chars, i, 4).and_then(|a| char_at(chars, a, &['-'])).and_then(|a| digits(chars, a, 2));
    let mut end = date.and_then(|a| char_at(chars, a, &['-'])).and_then(|a| digits(chars, a, 2))?;
    let time = char_at(chars, end, &['T', ' '])
        .and_then(|a| digits(chars, a, 2))
        .and_then(|a| char_at(chars, a, &[':']))
        .and_then(|a| digits(chars, a, 2));
    if let Some(t) = time {
        end = t;
        if let Some(s) = char_at(chars, end, &[':']).and_then(|a| digits(chars, a, 2)) {
            end = s;
            if let Some(f) = char_at(chars, end, &['.', ',']).filter(|&a| digits(chars, a, 1).is_some()) {
                end = skip_while(chars, f, |c| c.is_ascii_digit());
            }
        }
        if let Some(z) = char_at(chars, end, &['Z']) {
            end = z;
        } else if let Some(h) = char_at(chars, end, &['+', '-']).and_then(|a| digits(chars, a, 2)) {
            let m = char_at(chars, h, &[':']).unwrap_or(h);
            end = digits(chars, m, 2).unwrap_or(h);
        }
    }
    Some(end)
}

/// End of a number (digits, optionally `.digits`) from `i`, which is a digit.
fn number_end(chars: &[char], i: usize) -> usize {
    let end = skip_while(chars, i, |c| c.is_ascii_digit());
    match chars.get(end) {
        Some('.') if chars.get(end + 1).is_some_and(char::is_ascii_digit) => {
            skip_while(chars, end + 1, |c| c.is_ascii_digit())
        }
        _ => end,
    }
}

/// A number followed by a duration unit (optionally after one space) ending a word.
fn duration_end(chars: &[char], i: usize) -> Option<usize> {
    if !chars[i].is_ascii_digit() {
        return None;
    }
    let num = number_end(chars, i);
    let unit_at = if chars.get(num) == Some(&' ') { num + 1 } else { num };
    let word_end = skip_while(chars, unit_at, char::is_alphabetic);
    let unit: String = chars[unit_at..word_end].iter().collect();
    let boundary = word_end == chars.len() || !is_word(chars[word_end]);
    (boundary && UNITS.contains(&unit.as_str())).then_some(word_end)
}

/// `0x` + hex digits, or a run of 7+ hex digits holding both a digit and a letter.
fn hex_end(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
        let end = skip_while(chars, i + 2, |c| c.is_ascii_hexdigit());
        return (end > i + 2).then_some(end);
    }
    let end = skip_while(chars, i, |c| c.is_ascii_hexdigit());
    let run = &chars[i..end];
    let mixed = run.iter().any(char::is_ascii_digit) && run.iter().any(char::is_ascii_alphabetic);
    (run.len() >= 7 && mixed).then_some(end)
}

/// A path at a word start: `/x`, `./x`, `../x`, `~/x`; trailing `.`/`,` (sentence
/// punctuation) stay outside it. A `/` right after a word character (`and/or`) is not one
/// (the caller only asks at word starts, and `/` is no word character, so check here).
fn path_end(chars: &[char], i: usize) -> Option<usize> {
    let starts = ["/", "./", "../", "~/"];
    let opens = starts.iter().any(|s| s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c)));
    let after_word = i > 0 && (is_word(chars[i - 1]) || matches!(chars[i - 1], '/' | '.'));
    if !opens || after_word {
        return None;
    }
    let is_path = |c: char| c.is_alphanumeric() || "/._-+~@%".contains(c);
    let mut end = skip_while(chars, i, is_path);
    while end > i + 1 && matches!(chars[end - 1], '.' | ',') {
        end -= 1;
    }
    // A lone "/" (as in "1 / 2") is punctuation, not a path.
    chars[i + 1..end].iter().any(|c| c.is_alphanumeric()).then_some(end)
}
