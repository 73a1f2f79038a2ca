//! Segment-id ranges reserved for applications in `/etc/rsm/rsm.segmentid`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Default location of the range file.
pub const DEFAULT_PATH: &str = "/etc/rsm/rsm.segmentid";

/// The range file: `RSM_SEGMENTID_FILE`, else [`DEFAULT_PATH`].
pub fn default_path() -> PathBuf {
    std::env::var_os("RSM_SEGMENTID_FILE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Looks up the id range of `appid`: returns `(baseid, length)`; the application may use
/// `baseid .. baseid+length`.
///
/// # Errors
///
/// [`Error::BadConf`] (file missing or unreadable, a line with fewer than four fields
/// before the match, a matching line whose keyword is not `reserved`/`reserve` or whose
/// numbers overflow), [`Error::BadAppid`] (no such appid).
#[doc(alias = "rsm_get_segmentid_range")]
pub fn segmentid_range(appid: &str) -> Result<(u32, u32)> {
    segmentid_range_in(&default_path(), appid)
}

/// As [`segmentid_range`], reading `path`.
///
/// # Errors
///
/// As for [`segmentid_range`].
pub fn segmentid_range_in(path: &Path, appid: &str) -> Result<(u32, u32)> {
    let bytes = std::fs::read(path).map_err(|_| Error::BadConf)?;
    parse(&String::from_utf8_lossy(&bytes), appid)
}

/// `strtol(s, NULL, base)` for our needs: leading blanks, optional sign, optional `0x` for
/// base 16, digits until the first non-digit (trailing garbage ignored); `None` on overflow
/// of a C `long` or of the 32-bit result.
fn strtol(s: &str, base: u32) -> Option<u32> {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = if base == 16 { s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s) } else { s };
    let digits: String = s.chars().take_while(|c| c.is_digit(base)).collect();
    if digits.is_empty() {
        return Some(0);
    }
    let v = i64::from_str_radix(&digits, base).ok()?;
    let v = if neg { -v } else { v };
    // The C library stores into 32-bit outputs; out-of-range values are a configuration error.
    u32::try_from(v).ok()
}

/// Splits off the first whitespace-delimited word: `(word, rest)`.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// The four fields of a line: keyword, appid, baseid, and the rest of the line (length).
fn fields(line: &str) -> Option<(&str, &str, &str, &str)> {
    let (kw, r) = word(line)?;
    let (app, r) = word(r)?;
    let (base, r) = word(r)?;
    let rest = r.trim_start();
    if rest.trim_end().is_empty() {
        return None;
    }
    Some((kw, app, base, rest))
}

/// The lines as `fgets` with a 256-byte buffer sees them: at most 255 bytes each.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let all: Vec<&str> = if text.is_empty() { Vec::new() } else { body.split('\n').collect() };
    all.into_iter().flat_map(|mut line| {
        let mut pieces = Vec::new();
        while line.len() > 255 {
            let mut cut = 255;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            pieces.push(&line[..cut]);
            line = &line[cut..];
        }
        pieces.push(line);
        pieces
    })
}

/// The grammar of RSMAPI section 5, on the file's text.
pub(crate) fn parse(text: &str, appid: &str) -> Result<(u32, u32)> {
    for line in lines(text) {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let (kw, app, base, rest) = fields(line).ok_or(Error::BadConf)?;
        if !app.eq_ignore_ascii_case(appid) {
            continue;
        }
        if !(kw.eq_ignore_ascii_case("reserved") || kw.eq_ignore_ascii_case("reserve")) {
            return Err(Error::BadConf);
        }
        let base = strtol(base, 16).ok_or(Error::BadConf)?;
        let len = strtol(rest, 10).ok_or(Error::BadConf)?;
        return Ok((base, len));
    }
    Err(Error::BadAppid)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::Error;

    #[test]
    fn grammar() {
        let f = "#keyword   appid     baseid    length\nreserved   SUNWfoo   0x600000  1000\n";
        assert_eq!(parse(f, "SUNWfoo"), Ok((0x600000, 1000)));
        assert_eq!(parse(f, "sunwFOO"), Ok((0x600000, 1000)));
        assert_eq!(parse(f, "other"), Err(Error::BadAppid));
        assert_eq!(parse("reserve APP 600000 100\n", "app"), Ok((0x600000, 100)));
        assert_eq!(parse("  # indented comment\nreserved APP 0X10 7xyz\n", "APP"), Ok((0x10, 7)));
        // Blank line before the match stops the scan.
        assert_eq!(parse("\nreserved APP 0x600000 100\n", "APP"), Err(Error::BadConf));
        assert_eq!(parse("reserved APP 0x600000 100\n\n", "APP"), Ok((0x600000, 100)));
        // Keyword checked only on the matching line.
        assert_eq!(parse("foo X 1 1\nreserved APP 0x20 3\n", "APP"), Ok((0x20, 3)));
        assert_eq!(parse("foo APP 0x20 3\n", "APP"), Err(Error::BadConf));
        // Fewer than four fields.
        assert_eq!(parse("reserved APP 0x20\n", "APP"), Err(Error::BadConf));
        // Overflow.
        assert_eq!(parse("reserved APP 0x1ffffffff 3\n", "APP"), Err(Error::BadConf));
        assert_eq!(parse("reserved APP 0x20 99999999999999999999\n", "APP"), Err(Error::BadConf));
        // First match wins.
        assert_eq!(parse("reserved APP 0x20 3\nreserved APP 0x40 4\n", "app"), Ok((0x20, 3)));
        // Empty file: no match.
        assert_eq!(parse("", "APP"), Err(Error::BadAppid));
    }
}
