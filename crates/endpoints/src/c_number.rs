//! memcached reads numbers with C's `strtol` family and its own `safe_strto*`
//! wrappers; the configuration endpoint must accept exactly the tokens memcached
//! accepts (`+5`, `5\t`, a length that wraps around 2^32), or it would disagree
//! with the node about where a data block ends.

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtoull(token, &end, 10)` followed by memcached's check that the number ends
/// the token (or is followed by white space): the magnitude (wrapped as C
/// negates an unsigned value), whether a minus sign was read, or None where C
/// reports no digits or ERANGE, or the number is followed by anything else.
fn strtou64(token: &[u8]) -> Option<(u64, bool)> {
    let mut at = token.iter().take_while(|&&b| is_c_space(b)).count();
    let negative = match token.get(at) {
        Some(b'-') => {
            at += 1;
            true
        }
        Some(b'+') => {
            at += 1;
            false
        }
        _ => false,
    };
    let digits = token[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &d in &token[at..at + digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    match token.get(at + digits) {
        None => {}
        Some(&b) if is_c_space(b) => {}
        Some(_) => return None,
    }
    Some((value, negative))
}

/// memcached's `safe_strtol`: a C `long` (64-bit here) stored into an `int32_t`,
/// so 4294967298 reads as 2, as memcached 1.6 reads it.
pub(crate) fn safe_strtol(token: &[u8]) -> Option<i32> {
    let (magnitude, negative) = strtou64(token)?;
    let value: i64 = if negative {
        // strtol saturates (ERANGE) below i64::MIN.
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        (magnitude as i64).wrapping_neg()
    } else {
        i64::try_from(magnitude).ok()?
    };
    Some(value as i32)
}

/// memcached's `safe_strtoul` / `safe_strtoull`: refuses a negative number only
/// when, read as unsigned, it would be negative as a signed one.
pub(crate) fn safe_strtoull(token: &[u8]) -> Option<u64> {
    let (magnitude, negative) = strtou64(token)?;
    let value = if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if (value as i64) < 0 && token.contains(&b'-') {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_as_memcached_reads_them() {
        assert_eq!(safe_strtol(b"5"), Some(5));
        assert_eq!(safe_strtol(b"+5"), Some(5));
        assert_eq!(safe_strtol(b"\t5"), Some(5));
        assert_eq!(safe_strtol(b"5\tx"), Some(5));
        assert_eq!(safe_strtol(b"5x"), None);
        assert_eq!(safe_strtol(b""), None);
        assert_eq!(safe_strtol(b"-"), None);
        assert_eq!(safe_strtol(b"-1"), Some(-1));
        assert_eq!(safe_strtol(b"4294967298"), Some(2));
        assert_eq!(safe_strtol(b"99999999999999999999"), None);
    }

    #[test]
    fn unsigned_refuses_negative_only_when_it_shows() {
        assert_eq!(safe_strtoull(b"-0"), Some(0));
        assert_eq!(safe_strtoull(b"-1"), None);
        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"9223372036854775807"), Some(i64::MAX as u64));
    }
}
