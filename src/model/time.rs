//! Timestamps: naive-UTC microseconds, ResultsDB's output format and its input grammars.
//!
//! ResultsDB stores naive UTC datetimes with microsecond precision. We keep them as
//! microseconds since the Unix epoch (`Timestamp`) and reproduce Python's
//! `datetime.isoformat()` on output. Three input grammars exist upstream and all are here:
//! `strptime("%Y-%m-%dT%H:%M:%S.%f…")` for `submit_time`, the `iso8601` package's grammar
//! for ResultsDB's `since` query parameter, and Python's `datetime.fromisoformat` for
//! WaiverDB's `since` (and our waiver `expires_at`).

use super::pystr::py_str_repr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since 1970-01-01T00:00:00 UTC (naive UTC, as upstream stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Timestamp(micros)
    }

    /// From milliseconds since the epoch, as ResultsDB's numeric `submit_time`.
    /// Fails outside Python's datetime range (years 1..=9999).
    pub fn from_millis(ms: i64) -> Option<Timestamp> {
        let ts = Timestamp(ms.checked_mul(1000)?);
        in_python_range(ts).then_some(ts)
    }

    /// Builds a timestamp from civil date and time parts; `None` if any part is out of range.
    pub fn from_parts(date: (i64, u32, u32), time: (u32, u32, u32), micros: u32) -> Option<Self> {
        let (y, m, d) = date;
        let (hh, mm, ss) = time;
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        if hh > 23 || mm > 59 || ss > 59 || micros > 999_999 {
            return None;
        }
        let days = days_from_civil(y, m, d);
        let secs = days * SECS_PER_DAY + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss);
        Some(Timestamp(secs * MICROS_PER_SEC + i64::from(micros)))
    }

    /// Python `datetime.isoformat()` of the naive value: no zone, `.ffffff` only when non-zero.
    pub fn to_iso(self) -> String {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC);
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
        if micros == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}")
        }
    }
}

/// Strictly increasing timestamps from the wall clock: each [`MonotonicClock::next`] is
/// the current time, or one microsecond after the previous value when the clock has not
/// moved on (or stepped back). Orders that "newest wins" or `latest` go by (waivers, the
/// results of one file) then never tie or go backwards. Lock-free, so one clock can be
/// shared by threads and a single-threaded loop pays next to nothing for it.
#[derive(Debug)]
pub struct MonotonicClock(AtomicI64);

impl MonotonicClock {
    pub const fn new() -> MonotonicClock {
        MonotonicClock(AtomicI64::new(i64::MIN))
    }

    /// The next timestamp: after every one this clock gave before.
    pub fn next(&self) -> Timestamp {
        let now = Timestamp::now().0;
        let step = |last: i64| now.max(last.saturating_add(1));
        // The closure always returns Some, so both arms hold the previous value.
        let last = match self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(step(last))) {
            Ok(last) | Err(last) => last,
        };
        Timestamp(step(last))
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

fn in_python_range(ts: Timestamp) -> bool {
    const MIN: i64 = -62_135_596_800 * MICROS_PER_SEC; // 0001-01-01T00:00:00
    const MAX: i64 = 253_402_300_800 * MICROS_PER_SEC; // 10000-01-01T00:00:00
    ts.0 >= MIN && ts.0 < MAX
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A byte cursor for the small hand-written grammars below.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s: s.as_bytes(), pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Reads between `min` and `max` ASCII digits (greedy); returns value and count.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u32, usize)> {
        let start = self.pos;
        let mut v: u32 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    v = v * 10 + u32::from(c - b'0');
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let n = self.pos - start;
        if n < min {
            self.pos = start;
            None
        } else {
            Some((v, n))
        }
    }
    /// Digits of a fraction, any count; returns microseconds (truncated).
    fn fraction_micros(&mut self, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut micros: u32 = 0;
        let mut n = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if n >= max {
                break;
            }
            if n < 6 {
                micros = micros * 10 + u32::from(c - b'0');
            }
            n += 1;
            self.pos += 1;
        }
        if n == 0 {
            self.pos = start;
            return None;
        }
        for _ in n.min(6)..6 {
            micros *= 10;
        }
        Some(micros)
    }
}

/// A parsed UTC offset in seconds (positive east of Greenwich).
type Offset = i64;

/// Python `strptime` `%z`: `Z`, `±HH[:]MM[[:]SS[.ffffff]]`.
fn strptime_z(c: &mut Cursor) -> Option<Offset> {
    if c.eat(b'Z') {
        return Some(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let (hh, _) = c.digits(2, 2)?;
    let colon = c.eat(b':');
    let (mm, _) = c.digits(2, 2)?;
    let mut ss = 0;
    let save = c.pos;
    if (!colon || c.eat(b':')) && c.peek().is_some_and(|b| b.is_ascii_digit()) {
        match c.digits(2, 2) {
            Some((v, _)) => {
                ss = v;
                if c.eat(b'.') {
                    c.fraction_micros(6)?;
                }
            }
            None => c.pos = save,
        }
    } else {
        c.pos = save;
    }
    if mm > 59 || ss > 59 {
        return None;
    }
    Some(sign * (i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)))
}

/// ResultsDB `submit_time` string: `%Y-%m-%dT%H:%M:%S.%f` followed by nothing, `Z`, `+00`
/// or a `%z` offset. The fraction is mandatory (1–6 digits).
///
/// Upstream then stores the wall-clock value on SQLite but Postgres (production) converts an
/// aware value to UTC; we convert, so `12:00:00.0+02:00` is stored as `10:00:00`.
pub fn parse_submit_time(s: &str) -> Option<Timestamp> {
    let mut c = Cursor::new(s);
    let (y, _) = c.digits(4, 4)?;
    let date_time = parse_strptime_body(&mut c, y)?;
    let offset = if c.done() {
        0
    } else if c.s[c.pos..] == *b"+00" {
        c.pos = c.s.len();
        0
    } else {
        strptime_z(&mut c)?
    };
    if !c.done() {
        return None;
    }
    Some(Timestamp(date_time.0 - offset * MICROS_PER_SEC))
}

fn parse_strptime_body(c: &mut Cursor, y: u32) -> Option<Timestamp> {
    let field = |c: &mut Cursor, sep: u8| -> Option<u32> {
        if !c.eat(sep) {
            return None;
        }
        c.digits(1, 2).map(|(v, _)| v)
    };
    let m = field(c, b'-')?;
    let d = field(c, b'-')?;
    let hh = field(c, b'T')?;
    let mm = field(c, b':')?;
    let ss = field(c, b':')?;
    if !c.eat(b'.') {
        return None;
    }
    let micros = c.fraction_micros(6)?;
    Timestamp::from_parts((i64::from(y), m, d), (hh, mm, ss), micros)
}

/// The `iso8601` package's grammar (used for `since`): `YYYY[-MM[-DD]]`, `YYYYMMDD`, then an
/// optional `[T ]HH[[:]MM[[:]SS[[.,]fff…]]]` and zone (`Z`, `±HH[[:]MM]`). The zone is
/// parsed and discarded, as upstream does: the wall-clock value is compared as UTC.
pub fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let mut c = Cursor::new(s);
    let (y, _) = c.digits(4, 4)?;
    let (mut m, mut d) = (1, 1);
    let (mut hh, mut mm, mut ss, mut micros) = (0, 0, 0, 0);
    if !c.done() {
        m = if c.eat(b'-') {
            c.digits(1, 2)?.0
        } else {
            let (v, _) = c.digits(2, 2)?;
            if c.done() {
                return None; // YYYYMM is not allowed
            }
            v
        };
        if !c.done() {
            d = if c.eat(b'-') { c.digits(1, 2)?.0 } else { c.digits(2, 2)?.0 };
            if !c.done() {
                if !(c.eat(b'T') || c.eat(b' ')) {
                    return None;
                }
                hh = c.digits(2, 2)?.0;
                (mm, ss, micros) = parse_iso_time_tail(&mut c)?;
                parse_iso_zone(&mut c)?;
            }
        }
    }
    if !c.done() {
        return None;
    }
    Timestamp::from_parts((i64::from(y), m, d), (hh, mm, ss), micros)
}

/// Minutes, seconds and fraction after the hour; each part optional, colons optional.
fn parse_iso_time_tail(c: &mut Cursor) -> Option<(u32, u32, u32)> {
    let (mut mm, mut ss, mut micros) = (0, 0, 0);
    let save = c.pos;
    c.eat(b':');
    match c.digits(2, 2) {
        Some((v, _)) => mm = v,
        None => {
            c.pos = save;
            return Some((mm, ss, micros));
        }
    }
    let save = c.pos;
    c.eat(b':');
    match c.digits(1, 2) {
        Some((v, _)) => {
            ss = v;
            if c.eat(b'.') || c.eat(b',') {
                micros = c.fraction_micros(usize::MAX)?;
            }
        }
        None => c.pos = save,
    }
    Some((mm, ss, micros))
}

fn parse_iso_zone(c: &mut Cursor) -> Option<()> {
    if c.done() || c.eat(b'Z') {
        return Some(());
    }
    if !(c.eat(b'+') || c.eat(b'-')) {
        return None;
    }
    c.digits(2, 2)?;
    c.eat(b':');
    if !c.done() {
        c.digits(2, 2)?;
    }
    Some(())
}

/// Python 3.11+ `datetime.fromisoformat`: `YYYY-MM-DD` or `YYYYMMDD`, then optionally any
/// one separator character and `HH[:MM[:SS[.f…]]]` (or the basic `HHMMSS` form) and a zone
/// (`Z`, `±HH[:MM[:SS[.ffffff]]]`). An aware value is converted to UTC (Postgres compares
/// it with the naive column that way). Errors carry Python's message.
pub fn parse_fromisoformat(s: &str) -> Result<Timestamp, String> {
    let invalid = || format!("Invalid isoformat string: {}", py_str_repr(s));
    let b = s.as_bytes();
    let (date, rest) = split_date(b).ok_or_else(invalid)?;
    let (time, offset) =
        if rest.is_empty() { ((0, 0, 0, 0), 0) } else { parse_time_and_zone(&rest[1..]).ok_or_else(invalid)? };
    let (y, m, d) = date;
    let ts = checked_datetime(y, m, d, time)?;
    Ok(Timestamp(ts.0 - offset))
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// A civil date: year, month, day.
type Ymd = (u32, u32, u32);

/// The date part and what follows it (separator included).
fn split_date(b: &[u8]) -> Option<(Ymd, &[u8])> {
    let (date, rest) = if b.len() >= 10 && b.get(4) == Some(&b'-') {
        let (d, r) = b.split_at(10);
        if d[7] != b'-' {
            return None;
        }
        ((digits(&d[0..4])?, digits(&d[5..7])?, digits(&d[8..10])?), r)
    } else if b.len() >= 8 {
        let (d, r) = b.split_at(8);
        ((digits(&d[0..4])?, digits(&d[4..6])?, digits(&d[6..8])?), r)
    } else {
        return None;
    };
    // A separator needs a time after it.
    if rest.len() == 1 {
        return None;
    }
    // The separator is one character, possibly multi-byte.
    let rest = match rest.first() {
        Some(c) if *c >= 0x80 => {
            let text = std::str::from_utf8(rest).ok()?;
            let ch = text.chars().next()?;
            &rest[ch.len_utf8() - 1..]
        }
        _ => rest,
    };
    Some((date, rest))
}

type Clock = (u32, u32, u32, u32);

/// `HH[:MM[:SS[.f…]]]` or `HH[MM[SS[.f…]]]`, then an optional zone; returns the offset in µs.
fn parse_time_and_zone(b: &[u8]) -> Option<(Clock, i64)> {
    let zone_at = b.iter().position(|c| matches!(c, b'Z' | b'+' | b'-')).unwrap_or(b.len());
    let (time, zone) = b.split_at(zone_at);
    let clock = parse_clock(time)?;
    let offset = match zone.split_first() {
        None => 0,
        Some((b'Z', [])) => 0,
        Some((b'Z', _)) => return None,
        Some((sign, rest)) => {
            let (h, m, s, us) = parse_clock(rest)?;
            let secs = i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s);
            let micros = secs * 1_000_000 + i64::from(us);
            if h > 23 || m > 59 || s > 59 {
                return None;
            }
            if *sign == b'-' { -micros } else { micros }
        }
    };
    Some((clock, offset))
}

fn parse_clock(b: &[u8]) -> Option<Clock> {
    let (main, frac) = match b.iter().position(|c| *c == b'.' || *c == b',') {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let parts: Vec<&[u8]> =
        if main.contains(&b':') { main.split(|c| *c == b':').collect() } else { main.chunks(2).collect() };
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    if frac.is_some() && parts.len() != 3 {
        return None;
    }
    let h = digits(parts[0])?;
    let m = parts.get(1).map_or(Some(0), |p| digits(p))?;
    let s = parts.get(2).map_or(Some(0), |p| digits(p))?;
    let us = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let six: Vec<u8> = f.iter().copied().chain(std::iter::repeat(b'0')).take(6).collect();
            digits(&six)?
        }
    };
    Some((h, m, s, us))
}

/// Python's range checks, with its messages.
fn checked_datetime(y: u32, m: u32, d: u32, (hh, mm, ss, us): Clock) -> Result<Timestamp, String> {
    if y == 0 {
        return Err(format!("year {y} is out of range"));
    }
    if !(1..=12).contains(&m) {
        return Err("month must be in 1..12".to_owned());
    }
    if hh > 23 {
        return Err("hour must be in 0..23".to_owned());
    }
    if mm > 59 {
        return Err("minute must be in 0..59".to_owned());
    }
    if ss > 59 {
        return Err("second must be in 0..59".to_owned());
    }
    Timestamp::from_parts((i64::from(y), m, d), (hh, mm, ss), us)
        .ok_or_else(|| "day is out of range for month".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> String {
        parse_submit_time(s).map(|t| t.to_iso()).unwrap_or_else(|| "ERR".into())
    }
    fn iso(s: &str) -> String {
        parse_iso8601(s).map(|t| t.to_iso()).unwrap_or_else(|| "ERR".into())
    }

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(Timestamp(0).to_iso(), "1970-01-01T00:00:00");
        assert_eq!(Timestamp::from_millis(1_661_324_097_123).unwrap().to_iso(), "2022-08-24T06:54:57.123000");
        assert_eq!(Timestamp(-1).to_iso(), "1969-12-31T23:59:59.999999");
    }

    #[test]
    fn submit_time_grammar() {
        assert_eq!(ts("2024-05-01T12:34:56.123456"), "2024-05-01T12:34:56.123456");
        assert_eq!(ts("2024-05-01T12:34:56.1Z"), "2024-05-01T12:34:56.100000");
        assert_eq!(ts("2024-05-01T12:34:56.0+00"), "2024-05-01T12:34:56");
        assert_eq!(ts("2024-05-01T12:00:00.5+02:00"), "2024-05-01T10:00:00.500000");
        assert_eq!(ts("2024-05-01T12:00:00.5-0130"), "2024-05-01T13:30:00.500000");
        assert_eq!(ts("2024-5-1T2:3:4.5"), "2024-05-01T02:03:04.500000");
        for bad in ["2022-08-24T06:54:57", "now", "2022-08-24", "2024-02-30T00:00:00.0", "2024-05-01T12:34:56.1234567"]
        {
            assert_eq!(ts(bad), "ERR", "{bad}");
        }
    }

    #[test]
    fn iso8601_grammar() {
        assert_eq!(iso("2016-08-15"), "2016-08-15T00:00:00");
        assert_eq!(iso("2016"), "2016-01-01T00:00:00");
        assert_eq!(iso("2016-08"), "2016-08-01T00:00:00");
        assert_eq!(iso("20160815"), "2016-08-15T00:00:00");
        assert_eq!(iso("2016-08-15T13:29"), "2016-08-15T13:29:00");
        assert_eq!(iso("2016-08-15 13:29:06.5+02:00"), "2016-08-15T13:29:06.500000");
        assert_eq!(iso("2016-08-15T132906Z"), "2016-08-15T13:29:06");
        assert_eq!(iso("2016-08-15T13"), "2016-08-15T13:00:00");
        for bad in ["201608", "2016-13-01", "yesterday", "", "2016-08-15T13:29:06+2"] {
            assert_eq!(iso(bad), "ERR", "{bad}");
        }
    }

    #[test]
    fn fromisoformat_like_python() {
        let ok = |s: &str| parse_fromisoformat(s).map(|t| t.to_iso());
        assert_eq!(ok("2017-03-16"), Ok("2017-03-16T00:00:00".into()));
        assert_eq!(ok("20170316"), Ok("2017-03-16T00:00:00".into()));
        assert_eq!(ok("2017-03-16T17:42:04.209638"), Ok("2017-03-16T17:42:04.209638".into()));
        assert_eq!(ok("2017-03-16 17:42"), Ok("2017-03-16T17:42:00".into()));
        assert_eq!(ok("2017-03-16T17"), Ok("2017-03-16T17:00:00".into()));
        assert_eq!(ok("2017-03-16T174204,5"), Ok("2017-03-16T17:42:04.500000".into()));
        assert_eq!(ok("2017-03-16T17:42:04Z"), Ok("2017-03-16T17:42:04".into()));
        assert_eq!(ok("2017-03-16T17:42:04-02:30"), Ok("2017-03-16T20:12:04".into()));
        assert_eq!(ok("2017-03-16T17:42:04.1234567"), Ok("2017-03-16T17:42:04.123456".into()));
        assert_eq!(ok("2017-03-16é17:42"), Ok("2017-03-16T17:42:00".into()));
        assert_eq!(ok("123"), Err("Invalid isoformat string: '123'".into()));
        assert_eq!(ok("2017-03-16T"), Err("Invalid isoformat string: '2017-03-16T'".into()));
        assert_eq!(ok("2017-13-01"), Err("month must be in 1..12".into()));
        assert_eq!(ok("2017-02-30"), Err("day is out of range for month".into()));
        assert_eq!(ok("2017-02-03T25:00"), Err("hour must be in 0..23".into()));
        assert_eq!(ok("it's"), Err("Invalid isoformat string: \"it's\"".into()));
        for junk in
            ["", "2017-0a-01", "2017-03-16T17:4", "2017-03-16T17:42:04.", "2017-03-16T17:42Zx", "９９９９-01-01"]
        {
            assert!(ok(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn the_monotonic_clock_never_repeats_or_goes_back_even_across_threads() {
        let clock = MonotonicClock::new();
        let first = clock.next();
        assert!(first.0 > 0 && first <= Timestamp::now(), "starts at the wall clock");
        let mut seen: Vec<Timestamp> = std::thread::scope(|s| {
            let workers: Vec<_> =
                (0..4).map(|_| s.spawn(|| (0..1000).map(|_| clock.next()).collect::<Vec<_>>())).collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let mut one_thread: Vec<Timestamp> = (0..1000).map(|_| clock.next()).collect();
        assert!(one_thread.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        seen.append(&mut one_thread);
        seen.push(first);
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "no two calls give the same timestamp");
    }
}
