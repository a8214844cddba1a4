//! Text decoding by Specific Character Set (spec C5.3.3).
//!
//! Decoding is strict: bytes that are invalid in the character set make the value
//! undecodable (class 2) rather than being replaced, so that no two different byte strings
//! decode to the same text by accident.

use dicom_core::Tag;
use encoding_rs::Encoding;

use crate::read::{DataSet, ElementValue};

/// The character set in effect for a data set (C5.1.2, C5.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// The default repertoire or ISO_IR 100: ISO-8859-1, every byte one character.
    Latin1,
    /// ISO_IR 13: JIS X 0201, single byte (ASCII and half-width katakana).
    JisX0201,
    /// ISO_IR 148: ISO-8859-9, Latin-1 with six Turkish letters.
    Latin5,
    /// ISO_IR 166: TIS 620-2533 (windows-874 without its 0x80–0xA0 additions).
    Tis620,
    /// ISO_IR 192.
    Utf8,
    /// A character set decoded by `encoding_rs` (ISO-8859-n, TIS-620, GB18030, GBK).
    Table(&'static Encoding),
    /// Code extensions (multi-valued Specific Character Set) or an unknown term: text of the
    /// charset-dependent VRs is undecodable (class 2).
    Undecodable,
}

impl Charset {
    /// The character set in effect in `dataset`: its own Specific Character Set (0008,0005),
    /// else `inherited` from the enclosing data set (C5.3.3).
    pub(crate) fn in_effect(dataset: &DataSet, inherited: Charset) -> Charset {
        match dataset.get(Tag(0x0008, 0x0005)).map(|e| &e.value) {
            Some(ElementValue::Primitive(octets)) => Charset::from_specific_character_set(octets),
            _ => inherited,
        }
    }

    /// Interprets the octets of a Specific Character Set (0008,0005) value.
    pub(crate) fn from_specific_character_set(octets: &[u8]) -> Charset {
        let text: String = octets.iter().map(|&b| char::from(b)).collect();
        let terms: Vec<&str> = text
            .split('\\')
            .map(|t| t.trim_matches([' ', '\0']))
            .collect();
        match terms.as_slice() {
            [single] => Charset::from_term(single),
            _ => Charset::Undecodable,
        }
    }

    fn from_term(term: &str) -> Charset {
        match term {
            "" | "ISO_IR 6" | "ISO_IR 100" => Charset::Latin1,
            "ISO_IR 13" => Charset::JisX0201,
            "ISO_IR 192" => Charset::Utf8,
            "ISO_IR 101" => Charset::Table(encoding_rs::ISO_8859_2),
            "ISO_IR 109" => Charset::Table(encoding_rs::ISO_8859_3),
            "ISO_IR 110" => Charset::Table(encoding_rs::ISO_8859_4),
            "ISO_IR 144" => Charset::Table(encoding_rs::ISO_8859_5),
            "ISO_IR 127" => Charset::Table(encoding_rs::ISO_8859_6),
            "ISO_IR 126" => Charset::Table(encoding_rs::ISO_8859_7),
            "ISO_IR 138" => Charset::Table(encoding_rs::ISO_8859_8),
            "ISO_IR 203" => Charset::Table(encoding_rs::ISO_8859_15),
            "ISO_IR 148" => Charset::Latin5,
            "ISO_IR 166" => Charset::Tis620,
            "GB18030" => Charset::Table(encoding_rs::GB18030),
            "GBK" => Charset::Table(encoding_rs::GBK),
            _ => Charset::Undecodable,
        }
    }

    /// Decodes `octets`, or `None` when they are not valid text in this character set.
    pub(crate) fn decode(self, octets: &[u8]) -> Option<String> {
        match self {
            Charset::Latin1 => Some(latin1(octets)),
            Charset::JisX0201 => octets
                .iter()
                .map(|&b| match b {
                    0x00..=0x7F => Some(char::from(b)),
                    0xA1..=0xDF => char::from_u32(0xFF61 + u32::from(b - 0xA1)),
                    _ => None,
                })
                .collect(),
            Charset::Latin5 => Some(
                octets
                    .iter()
                    .map(|&b| match b {
                        0xD0 => 'Ğ',
                        0xDD => 'İ',
                        0xDE => 'Ş',
                        0xF0 => 'ğ',
                        0xFD => 'ı',
                        0xFE => 'ş',
                        _ => char::from(b),
                    })
                    .collect(),
            ),
            Charset::Tis620 => {
                if octets.iter().any(|b| (0x80..=0xA0).contains(b)) {
                    return None;
                }
                encoding_rs::WINDOWS_874
                    .decode_without_bom_handling_and_without_replacement(octets)
                    .map(|text| text.into_owned())
            }
            Charset::Utf8 => std::str::from_utf8(octets).ok().map(str::to_owned),
            Charset::Table(encoding) => encoding
                .decode_without_bom_handling_and_without_replacement(octets)
                .map(|text| text.into_owned()),
            Charset::Undecodable => None,
        }
    }
}

/// ISO-8859-1: byte `b` is U+00bb.
pub(crate) fn latin1(octets: &[u8]) -> String {
    octets.iter().map(|&b| char::from(b)).collect()
}
