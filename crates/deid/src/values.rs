//! Replacement values: padding, the dummy of each VR, UID lists, date shifting.
//!
//! Every value written here is ASCII, so it is valid in any Specific Character Set.

use dicom_core::VR;
use time::{Date, Duration, Month};

/// The dummy of the free-text, code-string and name VRs.
pub(crate) const DUMMY_TEXT: &[u8] = b"ANONYMIZED";
/// The dummy DA: the first day of 1900.
pub(crate) const DUMMY_DA: &[u8] = b"19000101";
/// The dummy TM: midnight.
pub(crate) const DUMMY_TM: &[u8] = b"000000";
/// The dummy DT: midnight of the dummy DA.
pub(crate) const DUMMY_DT: &[u8] = b"19000101000000";
/// The dummy AS: zero days.
pub(crate) const DUMMY_AS: &[u8] = b"000D";
/// The dummy DS and IS.
pub(crate) const DUMMY_NUMBER: &[u8] = b"0";
/// The dummy UR: the nil UUID as a URN (RFC 9562 §5.9 with the `urn:uuid:` namespace of
/// RFC 9562 §4). It is a valid absolute URI (RFC 3986) and a valid URN (RFC 8141) that names
/// nothing and cannot be resolved, unlike a made-up `http:` address or a URN without a
/// namespace-specific string.
pub(crate) const DUMMY_UR: &[u8] = b"urn:uuid:00000000-0000-0000-0000-000000000000";

/// VRs whose value is character data (padded with a space, or NUL for UI).
pub(crate) fn is_text(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS | CS | DA | DS | DT | IS | LO | LT | PN | SH | ST | TM | UC | UI | UR | UT
    )
}

/// `bytes` padded to even length with the VR's padding: NUL for UI, a space for other text,
/// a zero byte for binary values.
pub(crate) fn padded(vr: VR, mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() % 2 == 1 {
        bytes.push(if is_text(vr) && vr != VR::UI { b' ' } else { 0 });
    }
    bytes
}

/// The dummy value of `vr`, padded; `None` for UI (a UID is mapped, not replaced by a
/// constant) and SQ (a sequence's items are processed).
pub(crate) fn dummy(vr: VR) -> Option<Vec<u8>> {
    use VR::*;
    let bytes: &[u8] = match vr {
        AE | CS | LO | LT | PN | SH | ST | UC | UT => DUMMY_TEXT,
        DA => DUMMY_DA,
        TM => DUMMY_TM,
        DT => DUMMY_DT,
        AS => DUMMY_AS,
        DS | IS => DUMMY_NUMBER,
        UR => DUMMY_UR,
        US | SS | OB | OW | UN => &[0; 2],
        UL | SL | FL | AT | OF | OL => &[0; 4],
        FD | SV | UV | OD | OV => &[0; 8],
        UI | SQ => return None,
    };
    Some(padded(vr, bytes.to_vec()))
}

/// `bytes` without leading spaces and without trailing spaces and NULs (text padding).
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ' && *b != 0)
        .map_or(0, |i| i + 1);
    let bytes = bytes.get(..end).unwrap_or_default();
    let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Every UID of a (possibly multi-valued) UI value replaced by `map`, NUL-padded. `None` for
/// an empty value (nothing to replace).
pub(crate) fn map_uid_list(value: &[u8], map: impl Fn(&str) -> String) -> Option<Vec<u8>> {
    let value = trim(value);
    if value.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(value.len() + 8);
    for (index, part) in value.split(|b| *b == b'\\').enumerate() {
        if index > 0 {
            out.push(b'\\');
        }
        let part = trim(part);
        if !part.is_empty() {
            out.extend_from_slice(map(&String::from_utf8_lossy(part)).as_bytes());
        }
    }
    Some(padded(VR::UI, out))
}

/// A (possibly multi-valued) DA or DT value with every date moved `days` days back, padded.
/// `None` for an empty value. A value that is not one complete date (DA `YYYYMMDD`; DT
/// `YYYYMMDD` followed by an optional valid time and UTC offset) — a partial date (`YYYY`,
/// `YYYYMM`), a range (`-`), an ACR-NEMA `YYYY.MM.DD` — or one that would move before year 1,
/// is replaced by the VR's dummy.
pub(crate) fn shift_dates(vr: VR, value: &[u8], days: u32) -> Option<Vec<u8>> {
    let value = trim(value);
    if value.is_empty() {
        return None;
    }
    let dummy: &[u8] = if vr == VR::DT { DUMMY_DT } else { DUMMY_DA };
    let mut out = Vec::with_capacity(value.len());
    for (index, part) in value.split(|b| *b == b'\\').enumerate() {
        if index > 0 {
            out.push(b'\\');
        }
        let part = trim(part);
        let shifted = match vr {
            VR::DA => shift_da(part, days),
            VR::DT => shift_dt(part, days),
            _ => None,
        };
        match shifted {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => out.extend_from_slice(dummy),
        }
    }
    Some(padded(vr, out))
}

fn shift_da(value: &[u8], days: u32) -> Option<Vec<u8>> {
    format_date(shift(parse_date(value)?, days)?)
}

fn shift_dt(value: &[u8], days: u32) -> Option<Vec<u8>> {
    let date = value.get(..8)?;
    let rest = value.get(8..)?;
    if !is_dt_suffix(rest) {
        return None;
    }
    let mut out = format_date(shift(parse_date(date)?, days)?)?;
    out.extend_from_slice(rest);
    Some(out)
}

fn shift(date: Date, days: u32) -> Option<Date> {
    date.checked_sub(Duration::days(i64::from(days)))
}

/// A decimal number of ASCII digits.
fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u32, |n, d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// `YYYYMMDD`, a valid Gregorian date.
fn parse_date(value: &[u8]) -> Option<Date> {
    if value.len() != 8 {
        return None;
    }
    let year = i32::try_from(number(value.get(0..4)?)?).ok()?;
    let month = Month::try_from(u8::try_from(number(value.get(4..6)?)?).ok()?).ok()?;
    let day = u8::try_from(number(value.get(6..8)?)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn format_date(date: Date) -> Option<Vec<u8>> {
    if !(1..=9999).contains(&date.year()) {
        return None;
    }
    Some(
        format!(
            "{:04}{:02}{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
        .into_bytes(),
    )
}

/// What may follow the date of a DT (PS3.5 Table 6.2-1): `[HH[MM[SS[.F{1-6}]]]][&ZZXX]`.
fn is_dt_suffix(rest: &[u8]) -> bool {
    let (time, offset) = match rest.len().checked_sub(5).map(|i| rest.split_at(i)) {
        Some((time, offset @ [b'+' | b'-', ..])) => (time, Some(offset)),
        _ => (rest, None),
    };
    if let Some(offset) = offset {
        let hours = offset.get(1..3).and_then(number);
        let minutes = offset.get(3..5).and_then(number);
        match (hours, minutes) {
            (Some(h), Some(m)) if h <= 14 && m <= 59 => {}
            _ => return false,
        }
    }
    let (whole, fraction) = match time.iter().position(|b| *b == b'.') {
        Some(dot) => (
            time.get(..dot).unwrap_or_default(),
            Some(time.get(dot + 1..).unwrap_or_default()),
        ),
        None => (time, None),
    };
    let limits: &[u32] = &[23, 59, 60];
    if whole.len() % 2 == 1 || whole.len() > 6 {
        return false;
    }
    for (pair, limit) in whole.chunks(2).zip(limits) {
        match number(pair) {
            Some(n) if n <= *limit => {}
            _ => return false,
        }
    }
    match fraction {
        None => true,
        Some(f) => whole.len() == 6 && (1..=6).contains(&f.len()) && number(f).is_some(),
    }
}

/// Whether a DS or IS value holds only what a number can (digits, sign, point, exponent,
/// value separator, padding): PS3.15 E.3.10 Note 2's check before a private numeric string is
/// retained.
pub(crate) fn is_numeric_text(value: &[u8]) -> bool {
    value
        .iter()
        .all(|b| b.is_ascii_digit() || b" +-.eE\\\0".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummies_are_exact_and_even() {
        use VR::*;
        let text = b"ANONYMIZED".to_vec();
        for vr in [AE, CS, LO, LT, PN, SH, ST, UC, UT] {
            assert_eq!(dummy(vr), Some(text.clone()), "{vr:?}");
        }
        assert_eq!(dummy(DA), Some(b"19000101".to_vec()));
        assert_eq!(dummy(TM), Some(b"000000".to_vec()));
        assert_eq!(dummy(DT), Some(b"19000101000000".to_vec()));
        assert_eq!(dummy(AS), Some(b"000D".to_vec()));
        assert_eq!(dummy(DS), Some(b"0 ".to_vec()));
        assert_eq!(dummy(IS), Some(b"0 ".to_vec()));
        assert_eq!(
            dummy(UR),
            Some(b"urn:uuid:00000000-0000-0000-0000-000000000000 ".to_vec())
        );
        for vr in [US, SS, OB, OW, UN] {
            assert_eq!(dummy(vr), Some(vec![0; 2]), "{vr:?}");
        }
        for vr in [UL, SL, FL, AT, OF, OL] {
            assert_eq!(dummy(vr), Some(vec![0; 4]), "{vr:?}");
        }
        for vr in [FD, SV, UV, OD, OV] {
            assert_eq!(dummy(vr), Some(vec![0; 8]), "{vr:?}");
        }
        assert_eq!(dummy(UI), None);
        assert_eq!(dummy(SQ), None);
    }

    #[test]
    fn padding_per_vr() {
        assert_eq!(padded(VR::UI, b"1.2.3".to_vec()), b"1.2.3\0");
        assert_eq!(padded(VR::LO, b"abc".to_vec()), b"abc ");
        assert_eq!(padded(VR::OB, vec![1, 2, 3]), [1, 2, 3, 0]);
        assert_eq!(padded(VR::CS, b"AB".to_vec()), b"AB");
    }

    #[test]
    fn trim_removes_padding() {
        assert_eq!(trim(b" 1.2.3\0"), b"1.2.3");
        assert_eq!(trim(b"ABC  "), b"ABC");
        assert_eq!(trim(b"  \0"), b"");
        assert_eq!(trim(b""), b"");
    }

    #[test]
    fn uid_lists_map_every_value() {
        let map = |uid: &str| format!("<{uid}>");
        assert_eq!(
            map_uid_list(b"1.2\\3.4\0", map),
            Some(b"<1.2>\\<3.4>\0".to_vec())
        );
        assert_eq!(map_uid_list(b"1.2.3\0", map), Some(b"<1.2.3>\0".to_vec()));
        assert_eq!(
            map_uid_list(b"1.2\\\\3", map),
            Some(b"<1.2>\\\\<3>".to_vec())
        );
        assert_eq!(map_uid_list(b"", map), None);
        assert_eq!(map_uid_list(b"\0\0", map), None);
    }

    #[test]
    fn dates_shift_back_across_boundaries() {
        let shift = |value: &[u8], days| shift_dates(VR::DA, value, days);
        assert_eq!(shift(b"20240314", 1), Some(b"20240313".to_vec()));
        assert_eq!(shift(b"20240301", 1), Some(b"20240229".to_vec()));
        assert_eq!(shift(b"20230301", 1), Some(b"20230228".to_vec()));
        assert_eq!(shift(b"20240101", 1), Some(b"20231231".to_vec()));
        assert_eq!(shift(b"20240101", 3650), Some(b"20140103".to_vec()));
        assert_eq!(
            shift(b"20240101\\20240201", 31),
            Some(b"20231201\\20240101 ".to_vec())
        );
        assert_eq!(shift(b"", 10), None);
        // Not one complete valid date: the dummy.
        assert_eq!(shift(b"2024", 1), Some(b"19000101".to_vec()));
        assert_eq!(shift(b"202403", 1), Some(b"19000101".to_vec()));
        assert_eq!(shift(b"20240230", 1), Some(b"19000101".to_vec()));
        assert_eq!(shift(b"2024.03.14", 1), Some(b"19000101".to_vec()));
        assert_eq!(shift(b"20240101-20240201", 1), Some(b"19000101".to_vec()));
        assert_eq!(shift(b"00010105", 10), Some(b"19000101".to_vec()));
    }

    #[test]
    fn datetimes_keep_time_and_offset() {
        let shift = |value: &[u8], days| shift_dates(VR::DT, value, days);
        assert_eq!(
            shift(b"20240314101532.250000+0100", 14),
            Some(b"20240229101532.250000+0100".to_vec())
        );
        assert_eq!(shift(b"20240101", 1), Some(b"20231231".to_vec()));
        assert_eq!(shift(b"2024010112", 1), Some(b"2023123112".to_vec()));
        assert_eq!(shift(b"20240101-0500", 1), Some(b"20231231-0500 ".to_vec()));
        assert_eq!(shift(b"2024", 1), Some(b"19000101000000".to_vec()));
        assert_eq!(shift(b"202401", 1), Some(b"19000101000000".to_vec()));
        // A range's second date must not survive.
        assert_eq!(
            shift(b"20240101-20240201", 1),
            Some(b"19000101000000".to_vec())
        );
        assert_eq!(shift(b"2024010125", 1), Some(b"19000101000000".to_vec()));
        assert_eq!(shift(b"20240101101.5", 1), Some(b"19000101000000".to_vec()));
        assert_eq!(shift(b"20240101+2500", 1), Some(b"19000101000000".to_vec()));
    }

    #[test]
    fn numeric_text() {
        assert!(is_numeric_text(b"-1.5e3\\42 "));
        assert!(!is_numeric_text(b"12 Main St"));
    }
}
