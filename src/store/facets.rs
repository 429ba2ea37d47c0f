//! A result's interned (key, value) pairs packed as varints in its `results` row, so
//! grouping by data values (`_distinct_on`) reads one small row instead of a log body.

/// Packs `(key_id, value_id)` pairs: each number as an unsigned LEB128 varint.
pub(super) fn encode(pairs: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 4);
    for (k, v) in pairs {
        put(&mut out, *k);
        put(&mut out, *v);
    }
    out
}

fn put(out: &mut Vec<u8>, n: i64) {
    let mut n = n.max(0) as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Unpacks what [`encode`] packed; a truncated tail is ignored.
pub(super) fn decode(bytes: &[u8]) -> Vec<(i64, i64)> {
    let mut numbers = Vec::with_capacity(bytes.len());
    let mut n: u64 = 0;
    let mut shift = 0;
    for b in bytes {
        n |= u64::from(b & 0x7f) << shift.min(63);
        if b & 0x80 == 0 {
            numbers.push(n as i64);
            n = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    numbers.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs = vec![(1, 2), (3, 300_000), (127, 128), (0, i64::from(u32::MAX))];
        assert_eq!(decode(&encode(&pairs)), pairs);
        assert!(decode(&[0x80]).is_empty());
    }
}
