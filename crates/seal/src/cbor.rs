//! Deterministically encoded CBOR (RFC 8949 §4.2.1) over `ciborium::Value`.
//!
//! Encoding sorts every map by the bytewise order of its encoded keys; ciborium already
//! writes shortest-form heads and definite lengths. Decoding is strict: one data item, no
//! trailing bytes, no duplicate keys, and the input must be exactly the deterministic encoding
//! of what it decodes to — so there is one byte string per manifest and a signature cannot be
//! carried over to a differently encoded equivalent.

use ciborium::value::Value;

use crate::SealError;

/// Maximum nesting of arrays and maps the seal formats use is 4; anything deeper is refused
/// before the decoder recurses far.
const MAX_DEPTH: usize = 16;

/// Encodes `value` deterministically.
pub(crate) fn encode(value: &Value) -> Result<Vec<u8>, SealError> {
    let sorted = canonical(value)?;
    let mut out = Vec::new();
    ciborium::ser::into_writer(&sorted, &mut out).map_err(|e| SealError::Malformed {
        what: "CBOR",
        reason: format!("cannot encode: {e}"),
    })?;
    Ok(out)
}

/// Returns a copy of `value` with every map sorted; refuses duplicate keys and floats.
fn canonical(value: &Value) -> Result<Value, SealError> {
    Ok(match value {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            let mut keyed = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                let key = canonical(key)?;
                let mut encoded = Vec::new();
                ciborium::ser::into_writer(&key, &mut encoded).map_err(|e| {
                    SealError::Malformed {
                        what: "CBOR",
                        reason: format!("cannot encode a map key: {e}"),
                    }
                })?;
                keyed.push((encoded, key, canonical(item)?));
            }
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            if keyed.windows(2).any(|pair| pair[0].0 == pair[1].0) {
                return Err(SealError::Malformed {
                    what: "CBOR",
                    reason: "duplicate map key".into(),
                });
            }
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Tag(tag, inner) => Value::Tag(*tag, Box::new(canonical(inner)?)),
        Value::Float(_) => {
            return Err(SealError::Malformed {
                what: "CBOR",
                reason: "floating-point values are not used by scanseal formats".into(),
            })
        }
        other => other.clone(),
    })
}

/// Whether every map's keys are in strictly ascending order of their encodings and no float
/// occurs: then [`canonical`] would return `value` unchanged.
fn maps_sorted(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(maps_sorted),
        Value::Map(entries) => {
            let mut previous: Option<Vec<u8>> = None;
            for (key, item) in entries {
                if !maps_sorted(key) || !maps_sorted(item) {
                    return false;
                }
                let mut encoded = Vec::new();
                if ciborium::ser::into_writer(key, &mut encoded).is_err() {
                    return false;
                }
                if previous
                    .as_ref()
                    .is_some_and(|previous| *previous >= encoded)
                {
                    return false;
                }
                previous = Some(encoded);
            }
            true
        }
        Value::Tag(_, inner) => maps_sorted(inner),
        Value::Float(_) => false,
        _ => true,
    }
}

/// Decodes exactly one deterministically encoded data item occupying all of `bytes`.
pub(crate) fn decode(bytes: &[u8], what: &'static str) -> Result<Value, SealError> {
    let (value, rest) = decode_prefix(bytes, what)?;
    if !rest.is_empty() {
        return Err(SealError::Malformed {
            what,
            reason: format!("{} trailing bytes after the CBOR item", rest.len()),
        });
    }
    Ok(value)
}

/// Decodes one deterministically encoded data item at the start of `bytes` and returns it
/// with the bytes that follow it.
pub(crate) fn decode_prefix<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(Value, &'a [u8]), SealError> {
    let malformed = |reason: String| SealError::Malformed { what, reason };
    check_depth(bytes).map_err(|reason| malformed(reason.into()))?;
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| malformed(format!("not valid CBOR: {e}")))?;
    let item = &bytes[..bytes.len() - rest.len()];
    // Deterministic means: re-encoding the decoded item with sorted maps gives the same
    // bytes. When the maps are already sorted (always, for well-formed input) that is the
    // item encoded as decoded, which needs no sorted copy of the whole tree.
    let again = if maps_sorted(&value) {
        let mut again = Vec::with_capacity(item.len());
        ciborium::ser::into_writer(&value, &mut again)
            .map_err(|e| malformed(format!("cannot encode: {e}")))?;
        again
    } else {
        encode(&value).map_err(|e| malformed(e.to_string()))?
    };
    if again != item {
        return Err(malformed(
            "not deterministically encoded CBOR (RFC 8949 §4.2.1: sorted keys, shortest forms, \
             definite lengths)"
                .into(),
        ));
    }
    Ok((value, rest))
}

/// Refuses input nested deeper than the seal formats ever are, before a recursive decoder
/// sees it.
pub(crate) fn check_nesting(bytes: &[u8], what: &'static str) -> Result<(), SealError> {
    check_depth(bytes).map_err(|reason| SealError::Malformed {
        what,
        reason: reason.into(),
    })
}

/// A cheap pre-scan bounding the nesting depth so a hostile input cannot drive the recursive
/// decoder deep. Only looks at heads; lengths are not trusted beyond the buffer.
fn check_depth(bytes: &[u8]) -> Result<(), &'static str> {
    // Each open container: items still expected (None for indefinite length).
    let mut open: Vec<Option<u64>> = Vec::new();
    let mut position = 0usize;
    loop {
        // Close finished containers.
        while let Some(Some(0)) = open.last() {
            open.pop();
            if let Some(Some(left)) = open.last_mut() {
                *left = left.saturating_sub(1);
            }
        }
        if open.is_empty() && position > 0 {
            return Ok(());
        }
        let Some(&initial) = bytes.get(position) else {
            return Ok(()); // Truncation is the decoder's error to report.
        };
        position += 1;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if initial == 0xff {
            // Break: closes an indefinite container.
            open.pop();
            if let Some(Some(left)) = open.last_mut() {
                *left = left.saturating_sub(1);
            }
            if open.is_empty() {
                return Ok(());
            }
            continue;
        }
        let argument = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let width = 1usize << (info - 24);
                let head = bytes.get(position..position + width).ok_or("truncated")?;
                position += width;
                Some(head.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            }
            31 => None,
            _ => return Err("reserved additional information"),
        };
        let mut finished_item = true;
        match major {
            2 | 3 => {
                if let Some(len) = argument {
                    let len = usize::try_from(len).map_err(|_| "length too large")?;
                    position = position.checked_add(len).ok_or("length too large")?;
                    if position > bytes.len() {
                        return Err("a byte or text string runs past the end");
                    }
                } else {
                    return Err("indefinite-length strings are not deterministic");
                }
            }
            4 | 5 => {
                let count = match argument {
                    Some(n) if major == 5 => Some(n.checked_mul(2).ok_or("length too large")?),
                    other => other,
                };
                if count != Some(0) {
                    open.push(count);
                    if open.len() > MAX_DEPTH {
                        return Err("nested too deeply");
                    }
                    finished_item = false;
                }
            }
            6 => finished_item = false, // A tag applies to the next item.
            _ => {}
        }
        if finished_item {
            if let Some(Some(left)) = open.last_mut() {
                *left = left.saturating_sub(1);
            }
        }
        if open.is_empty() && finished_item {
            return Ok(());
        }
    }
}

/// Field access on a decoded map with text keys, recording which keys were read so unknown
/// ones can be refused.
pub(crate) struct MapReader<'a> {
    what: &'static str,
    entries: &'a [(Value, Value)],
    used: Vec<bool>,
}

impl<'a> MapReader<'a> {
    pub(crate) fn new(value: &'a Value, what: &'static str) -> Result<MapReader<'a>, SealError> {
        match value {
            Value::Map(entries) => Ok(MapReader {
                what,
                entries,
                used: vec![false; entries.len()],
            }),
            _ => Err(SealError::Malformed {
                what,
                reason: "expected a map".into(),
            }),
        }
    }

    pub(crate) fn optional(&mut self, key: &str) -> Option<&'a Value> {
        let index = self
            .entries
            .iter()
            .position(|(k, _)| matches!(k, Value::Text(t) if t == key))?;
        self.used[index] = true;
        Some(&self.entries[index].1)
    }

    pub(crate) fn required(&mut self, key: &'static str) -> Result<&'a Value, SealError> {
        let what = self.what;
        self.optional(key).ok_or_else(|| SealError::Malformed {
            what,
            reason: format!("missing field {key:?}"),
        })
    }

    pub(crate) fn text(&mut self, key: &'static str) -> Result<&'a str, SealError> {
        let what = self.what;
        as_text(self.required(key)?, what, key)
    }

    pub(crate) fn bytes(&mut self, key: &'static str) -> Result<&'a [u8], SealError> {
        let what = self.what;
        as_bytes(self.required(key)?, what, key)
    }

    pub(crate) fn uint(&mut self, key: &'static str) -> Result<u32, SealError> {
        let what = self.what;
        as_u32(self.required(key)?, what, key)
    }

    /// Refuses keys that were never read.
    pub(crate) fn finish(self) -> Result<(), SealError> {
        if let Some(index) = self.used.iter().position(|used| !used) {
            let key = match &self.entries[index].0 {
                Value::Text(t) => format!("{t:?}"),
                other => format!("{other:?}"),
            };
            return Err(SealError::Malformed {
                what: self.what,
                reason: format!("unknown field {key}"),
            });
        }
        Ok(())
    }
}

pub(crate) fn as_text<'a>(
    value: &'a Value,
    what: &'static str,
    field: &str,
) -> Result<&'a str, SealError> {
    match value {
        Value::Text(text) => Ok(text),
        _ => Err(SealError::Malformed {
            what,
            reason: format!("field {field:?} is not a text string"),
        }),
    }
}

pub(crate) fn as_bytes<'a>(
    value: &'a Value,
    what: &'static str,
    field: &str,
) -> Result<&'a [u8], SealError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(SealError::Malformed {
            what,
            reason: format!("field {field:?} is not a byte string"),
        }),
    }
}

pub(crate) fn as_u32(value: &Value, what: &'static str, field: &str) -> Result<u32, SealError> {
    match value {
        Value::Integer(integer) => {
            u32::try_from(i128::from(*integer)).map_err(|_| SealError::Malformed {
                what,
                reason: format!("field {field:?} is out of range"),
            })
        }
        _ => Err(SealError::Malformed {
            what,
            reason: format!("field {field:?} is not an unsigned integer"),
        }),
    }
}

pub(crate) fn as_array<'a>(
    value: &'a Value,
    what: &'static str,
    field: &str,
) -> Result<&'a [Value], SealError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(SealError::Malformed {
            what,
            reason: format!("field {field:?} is not an array"),
        }),
    }
}

pub(crate) fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn maps_are_sorted_by_encoded_key() {
        let value = Value::Map(vec![
            (text("bb"), Value::Integer(1.into())),
            (text("a"), Value::Integer(2.into())),
            (text("c"), Value::Integer(3.into())),
        ]);
        let bytes = encode(&value).unwrap();
        // {"a": 2, "c": 3, "bb": 1}: shorter keys first.
        assert_eq!(hex::encode(&bytes), "a361610261630362626201");
    }

    #[test]
    fn strict_decoding_refuses_every_non_deterministic_form() {
        // Unsorted map.
        assert!(decode(&hex::decode("a2616302616101").unwrap(), "t").is_err());
        // Non-shortest integer.
        assert!(decode(&hex::decode("1801").unwrap(), "t").is_err());
        // Indefinite-length array.
        assert!(decode(&hex::decode("9f01ff").unwrap(), "t").is_err());
        // Trailing bytes.
        assert!(decode(&hex::decode("0100").unwrap(), "t").is_err());
        // Duplicate keys.
        assert!(decode(&hex::decode("a2616101616102").unwrap(), "t").is_err());
        // Float.
        assert!(decode(&hex::decode("f93c00").unwrap(), "t").is_err());
        // Byte string claiming 4 GiB.
        assert!(decode(&hex::decode("5affffffff00").unwrap(), "t").is_err());
        // Deep nesting.
        let deep = [vec![0x81u8; 100], vec![0x01]].concat();
        assert!(decode(&deep, "t").is_err());
        // And the good ones decode.
        assert_eq!(
            decode(&hex::decode("a2616101616302").unwrap(), "t").unwrap(),
            Value::Map(vec![
                (text("a"), Value::Integer(1.into())),
                (text("c"), Value::Integer(2.into()))
            ])
        );
        assert!(decode(&hex::decode("83010203").unwrap(), "t").is_ok());
    }
}
