//! Reading a chrony.conf the way chronyd 4.3 reads it: lines of at most
//! 2047 bytes, cut at a NUL byte, white space as C's `isspace()` knows it,
//! words joined by single spaces, and numbers scanned as C's `sscanf()`
//! scans them (a number may be followed by anything: `maxdistance 1x` is
//! 1, `port 1.5` is 1). These rules were taken from the behaviour of the
//! chronyd 4.3 binary (`chronyd -p`), see `tests/data/chronyd-4.3-verdicts.tsv`.

use std::borrow::Cow;
use std::string::String;

/// chronyd reads a file with a 2048-byte `fgets()` buffer: a line that does
/// not fit (2047 bytes or more before its newline) is an error.
pub(super) const MAX_LINE: usize = 2047;

/// The white space of C's `isspace()` in the C locale.
pub(super) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// One physical line of a file.
pub(super) struct RawLine<'a> {
    /// From 1.
    pub number: usize,
    /// The bytes, without the newline, cut at the first NUL.
    pub bytes: &'a [u8],
    /// The line did not fit chronyd's buffer.
    pub too_long: bool,
    /// A newline ended it (all but maybe the last line of a file).
    pub ended: bool,
}

/// The lines of `text` as chronyd's `fgets()` loop sees them.
pub(super) fn lines(text: &[u8]) -> impl Iterator<Item = RawLine<'_>> {
    let mut rest = text;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        let window = &rest[..rest.len().min(MAX_LINE)];
        let (line, consumed, too_long, ended) = match window.iter().position(|&b| b == b'\n') {
            Some(end) => (&window[..end], end + 1, false, true),
            // A full buffer without a newline, with more to read.
            None if rest.len() > MAX_LINE => (window, window.len(), true, false),
            None => (window, window.len(), false, false),
        };
        rest = &rest[consumed..];
        let bytes = match line.iter().position(|&b| b == 0) {
            Some(nul) => &line[..nul],
            None => line,
        };
        Some(RawLine {
            number,
            bytes,
            too_long,
            ended,
        })
    })
}

/// A line as chronyd normalises it: its words joined by single spaces, or
/// `None` for a blank line and a comment (first non-blank byte `#`, `%`,
/// `!` or `;`). Bytes that are not UTF-8 become U+FFFD.
pub(super) fn normalize(bytes: &[u8]) -> Option<String> {
    let first = bytes.iter().position(|&b| !is_space(b))?;
    if matches!(bytes[first], b'#' | b'%' | b'!' | b';') {
        return None;
    }
    let text: Cow<'_, str> = String::from_utf8_lossy(&bytes[first..]);
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_ascii() && is_space(c as u8))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Some(out)
}

/// The words of a normalised string.
pub(super) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ').filter(|w| !w.is_empty())
}

/// How many words a normalised string has.
pub(super) fn count(text: &str) -> usize {
    words(text).count()
}

/// A position in a normalised string, read as `sscanf()` reads it: each
/// conversion skips leading white space, takes the longest prefix that
/// can be a number and fails only when there is none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Cursor { rest: text }
    }

    /// What is left.
    pub fn rest(&self) -> &'a str {
        self.rest
    }

    fn skip_space(&mut self) {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    }

    /// The next word (up to white space).
    pub fn word(&mut self) -> Option<&'a str> {
        self.skip_space();
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .find(|c: char| c.is_ascii() && is_space(c as u8))
            .unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }

    /// `%Ns`: up to `max` characters of the next word.
    pub fn chars(&mut self, max: usize) -> Option<&'a str> {
        self.skip_space();
        let end = self
            .rest
            .char_indices()
            .take_while(|&(_, c)| !(c.is_ascii() && is_space(c as u8)))
            .take(max)
            .map(|(i, c)| i + c.len_utf8())
            .last()?;
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(taken)
    }

    /// An optional sign and decimal digits: (negative, magnitude
    /// saturated at `u128::MAX`), or `None` without a digit.
    fn digits(&mut self, radix: u32) -> Option<(bool, u128)> {
        self.skip_space();
        let bytes = self.rest.as_bytes();
        let (mut at, negative) = sign(bytes);
        if radix == 16
            && bytes.get(at) == Some(&b'0')
            && matches!(bytes.get(at + 1), Some(b'x' | b'X'))
            && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            at += 2;
        }
        let start = at;
        let mut value: u128 = 0;
        while let Some(digit) = bytes.get(at).and_then(|&b| (b as char).to_digit(radix)) {
            value = value
                .saturating_mul(u128::from(radix))
                .saturating_add(u128::from(digit));
            at += 1;
        }
        if at == start {
            return None;
        }
        self.rest = &self.rest[at..];
        Some((negative, value))
    }

    /// `%d`: glibc's `strtol()` result (saturated at the 64-bit range),
    /// stored into a 32-bit `int` (the high bits dropped).
    pub fn int(&mut self) -> Option<i32> {
        let (negative, magnitude) = self.digits(10)?;
        let long = if negative {
            i64::try_from(magnitude).map_or(i64::MIN, |m| -m)
        } else {
            i64::try_from(magnitude).unwrap_or(i64::MAX)
        };
        Some(long as i32)
    }

    /// `%u`/`%x` into a `uint32_t`: glibc's `strtoul()` result (saturated
    /// at the 64-bit range, negated when a `-` leads), the high bits
    /// dropped.
    fn unsigned32(&mut self, radix: u32) -> Option<u32> {
        self.unsigned64(radix).map(|v| v as u32)
    }

    fn unsigned64(&mut self, radix: u32) -> Option<u64> {
        let (negative, magnitude) = self.digits(radix)?;
        Some(match u64::try_from(magnitude) {
            Err(_) => u64::MAX,
            Ok(m) if negative => m.wrapping_neg(),
            Ok(m) => m,
        })
    }

    /// `%u` into a `uint32_t`.
    pub fn uint32(&mut self) -> Option<u32> {
        self.unsigned32(10)
    }

    /// `%lu`.
    pub fn ulong(&mut self) -> Option<u64> {
        self.unsigned64(10)
    }

    /// `%x` into a `uint32_t` (an optional `0x`).
    pub fn hex(&mut self) -> Option<u32> {
        self.unsigned32(16)
    }

    /// `%lf`: glibc's scan of a floating-point number, which takes
    /// characters as long as they can continue one (so `1e` is 1, and
    /// `0x` alone fails), then converts them.
    pub fn double(&mut self) -> Option<f64> {
        self.skip_space();
        let (length, value) = scan_double(self.rest.as_bytes())?;
        self.rest = &self.rest[length..];
        Some(value)
    }
}

/// The length of a leading `+` or `-` in `bytes` (0 or 1), and whether it
/// is a minus, as `scanf` reads a sign.
fn sign(bytes: &[u8]) -> (usize, bool) {
    match bytes.first() {
        Some(b'-') => (1, true),
        Some(b'+') => (1, false),
        _ => (0, false),
    }
}

/// The length of the floating-point number at the start of `bytes` and
/// its value, as glibc's `scanf("%lf")` reads it.
fn scan_double(bytes: &[u8]) -> Option<(usize, f64)> {
    let (mut at, negative) = sign(bytes);
    let sign = if negative { -1.0 } else { 1.0 };
    let lower = |i: usize| bytes.get(i).map(u8::to_ascii_lowercase);
    let starts = |i: usize, word: &[u8]| {
        bytes.len() >= i + word.len()
            && bytes[i..i + word.len()]
                .iter()
                .zip(word)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    };
    if starts(at, b"nan") {
        at += 3;
        if bytes.get(at) == Some(&b'(') {
            if let Some(close) = bytes[at..].iter().position(|&b| b == b')') {
                if bytes[at + 1..at + close]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    at += close + 1;
                }
            }
        }
        return Some((at, f64::NAN));
    }
    if starts(at, b"inf") {
        at += 3;
        if starts(at, b"inity") {
            at += 5;
        }
        return Some((at, sign * f64::INFINITY));
    }
    if bytes.get(at) == Some(&b'0') && lower(at + 1) == Some(b'x') {
        return scan_hex_double(bytes, at + 2).map(|(end, v)| (end, sign * v));
    }
    let mantissa_start = at;
    let mut digits = 0;
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
        digits += 1;
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    let mantissa_end = at;
    let mut exponent_text = None;
    if lower(at) == Some(b'e') {
        at += 1;
        let exponent_start = at;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let digits_start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at > digits_start {
            exponent_text = Some(exponent_start..at);
        }
    }
    let mut text = String::from_utf8_lossy(&bytes[mantissa_start..mantissa_end]).into_owned();
    if let Some(range) = exponent_text {
        text.push('e');
        text.push_str(&String::from_utf8_lossy(&bytes[range]));
    }
    // Rust parses every decimal form C does once the sign and the
    // dangling exponent are dealt with ("1." and ".5" included).
    let value: f64 = text.parse().ok()?;
    Some((at, sign * value))
}

/// A hexadecimal floating-point number after its `0x`.
fn scan_hex_double(bytes: &[u8], mut at: usize) -> Option<(usize, f64)> {
    let mut mantissa = 0.0f64;
    let mut scale = 0i64;
    let mut digits = 0;
    while let Some(d) = bytes.get(at).and_then(|&b| (b as char).to_digit(16)) {
        mantissa = mantissa * 16.0 + f64::from(d);
        at += 1;
        digits += 1;
    }
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        while let Some(d) = bytes.get(at).and_then(|&b| (b as char).to_digit(16)) {
            mantissa = mantissa * 16.0 + f64::from(d);
            scale -= 4;
            at += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(bytes.get(at), Some(b'p' | b'P')) {
        at += 1;
        let negative = match bytes.get(at) {
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
        let mut exponent: i64 = 0;
        while let Some(d) = bytes.get(at).and_then(|&b| (b as char).to_digit(10)) {
            exponent = exponent.saturating_mul(10).saturating_add(i64::from(d));
            at += 1;
        }
        scale = scale.saturating_add(if negative { -exponent } else { exponent });
    }
    let power = scale.clamp(-2200, 2200) as i32;
    Some((at, mantissa * 2f64.powi(power)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    fn int(text: &str) -> Option<(i32, &str)> {
        let mut c = Cursor::new(text);
        c.int().map(|v| (v, c.rest()))
    }

    fn double(text: &str) -> Option<(f64, &str)> {
        let mut c = Cursor::new(text);
        c.double().map(|v| (v, c.rest()))
    }

    #[test]
    fn ints_as_sscanf_reads_them() {
        assert_eq!(int("12"), Some((12, "")));
        assert_eq!(int("+3iburst"), Some((3, "iburst")));
        assert_eq!(int("-3x"), Some((-3, "x")));
        assert_eq!(int("1.5"), Some((1, ".5")));
        assert_eq!(int("0x10"), Some((0, "x10")));
        assert_eq!(int("x"), None);
        assert_eq!(int("-"), None);
        assert_eq!(int(""), None);
        // glibc: strtol saturates at the long range, the int keeps the low
        // 32 bits.
        assert_eq!(int("99999999999"), Some((1_215_752_191, "")));
        assert_eq!(int("99999999999999999999999"), Some((-1, "")));
    }

    #[test]
    fn unsigned_as_strtoul_reads_them() {
        let u = |t: &str| Cursor::new(t).uint32();
        assert_eq!(u("4294967295"), Some(u32::MAX));
        assert_eq!(u("4294967296"), Some(0));
        assert_eq!(u("4294967297"), Some(1));
        assert_eq!(u("-1"), Some(u32::MAX));
        assert_eq!(u("99999999999999999999999"), Some(u32::MAX));
        let x = |t: &str| Cursor::new(t).hex();
        assert_eq!(x("F323"), Some(0xf323));
        assert_eq!(x("0xf323"), Some(0xf323));
        assert_eq!(x("zz"), None);
        assert_eq!(Cursor::new("1x").ulong(), Some(1));
    }

    #[test]
    fn doubles_as_glibc_scanf_reads_them() {
        assert_eq!(double("1.5"), Some((1.5, "")));
        assert_eq!(double("1x"), Some((1.0, "x")));
        assert_eq!(double(".5"), Some((0.5, "")));
        assert_eq!(double("+.5e-3"), Some((0.0005, "")));
        assert_eq!(double("1e"), Some((1.0, "")));
        assert_eq!(double("1e5e"), Some((1e5, "e")));
        assert_eq!(double("0x10"), Some((16.0, "")));
        assert_eq!(double("0x1p3"), Some((8.0, "")));
        assert_eq!(double("0x"), None);
        assert_eq!(double("."), None);
        assert_eq!(double("-"), None);
        assert_eq!(double("e5"), None);
        assert_eq!(double("+-1"), None);
        assert_eq!(double("INFINITY"), Some((f64::INFINITY, "")));
        assert_eq!(double("-inf"), Some((f64::NEG_INFINITY, "")));
        assert!(double("nan(123)").is_some_and(|(v, r)| v.is_nan() && r.is_empty()));
        assert_eq!(double("1e400"), Some((f64::INFINITY, "")));
        assert_eq!(double("1e-400"), Some((0.0, "")));
    }

    #[test]
    fn lines_and_normalisation() {
        let text = b"\t# c\nport\x0b2\r\nport 4\0rest\nlast";
        let got: Vec<_> = lines(text)
            .map(|l| (l.number, normalize(l.bytes), l.too_long))
            .collect();
        assert_eq!(
            got,
            [
                (1, None, false),
                (2, Some("port 2".to_string()), false),
                (3, Some("port 4".to_string()), false),
                (4, Some("last".to_string()), false),
            ]
        );
        // 2046 bytes and a newline fit chronyd's buffer, 2047 do not,
        // unless the file ends there.
        let fits = [vec![b'a'; 2046], b"\nb\n".to_vec()].concat();
        assert!(lines(&fits).all(|l| !l.too_long));
        let long = [vec![b'a'; 2047], b"\nb\n".to_vec()].concat();
        assert!(lines(&long).next().unwrap().too_long);
        assert!(!lines(&[b'a'; 2047]).next().unwrap().too_long);
        assert_eq!(Cursor::new("ABCnoselect").chars(4), Some("ABCn"));
    }
}
