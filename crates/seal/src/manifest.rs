//! The signed manifest (spec `seal-format.md` §3): what a seal asserts about an instance.

use ciborium::value::Value;
use scanseal_canon::{pixel_digest, Digest, PixelDescriptor, PixelMode, SampleFormat};
use scanseal_keys::KeyId;
use time::OffsetDateTime;

use crate::cbor::{self, text, MapReader};
use crate::SealError;

/// The manifest format of acquisition and countersignature seals (spec §3).
pub const MANIFEST_FORMAT: &str = "scanseal-seal-v1";

/// The manifest format that adds the `deidentified` action and its `deidentification` map
/// (spec §3.1). Writers use it only for de-identification seals, so every other seal stays
/// readable by a v1-only reader.
pub const MANIFEST_FORMAT_V2: &str = "scanseal-seal-v2";

/// What a seal records about the instance's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Sealed as acquired: the first seal of a chain.
    Acquired,
    /// A further signer attests the same content; follows another seal.
    Countersigned,
    /// A de-identification service transformed the instance the previous seal covers and
    /// seals the result (manifest format v2, with [`Manifest::deidentification`]).
    Deidentified,
}

impl Action {
    /// The word in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acquired => "acquired",
            Action::Countersigned => "countersigned",
            Action::Deidentified => "deidentified",
        }
    }

    fn parse(text: &str) -> Result<Action, SealError> {
        match text {
            "acquired" => Ok(Action::Acquired),
            "countersigned" => Ok(Action::Countersigned),
            "deidentified" => Ok(Action::Deidentified),
            other => Err(SealError::Malformed {
                what: "manifest",
                reason: format!("unknown action {other:?}"),
            }),
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a de-identification step did to one attribute (spec §3.1, rule M7). The word is
/// signed; the attribute's old and new values are not in the manifest, only its canonical
/// `ID` and (for attributes still present) the new commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AttributeAction {
    /// Value unchanged: the commitment equals the previous seal's.
    Kept,
    /// Removed (PS3.15 action X).
    Removed,
    /// Replaced by an empty value (Z).
    Emptied,
    /// Replaced by a dummy value (D).
    Dummy,
    /// Cleaned (C): emptied, or removed content.
    Cleaned,
    /// UIDs replaced (U).
    UidReplaced,
    /// Dates shifted consistently (C under the modified-dates option).
    DatesShifted,
    /// A sequence whose items were de-identified.
    ItemsDeidentified,
    /// Added by the de-identification (e.g. Patient Identity Removed).
    Added,
}

impl AttributeAction {
    /// Every action, in the order above.
    pub const ALL: [AttributeAction; 9] = [
        AttributeAction::Kept,
        AttributeAction::Removed,
        AttributeAction::Emptied,
        AttributeAction::Dummy,
        AttributeAction::Cleaned,
        AttributeAction::UidReplaced,
        AttributeAction::DatesShifted,
        AttributeAction::ItemsDeidentified,
        AttributeAction::Added,
    ];

    /// The word in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeAction::Kept => "kept",
            AttributeAction::Removed => "removed",
            AttributeAction::Emptied => "emptied",
            AttributeAction::Dummy => "dummy",
            AttributeAction::Cleaned => "cleaned",
            AttributeAction::UidReplaced => "uid-replaced",
            AttributeAction::DatesShifted => "dates-shifted",
            AttributeAction::ItemsDeidentified => "items-deidentified",
            AttributeAction::Added => "added",
        }
    }

    /// The action named `word`.
    pub fn from_name(word: &str) -> Option<AttributeAction> {
        AttributeAction::ALL
            .into_iter()
            .find(|a| a.as_str() == word)
    }

    /// Whether the attribute is present before and after with a different value.
    pub fn is_replacement(self) -> bool {
        !matches!(
            self,
            AttributeAction::Kept | AttributeAction::Removed | AttributeAction::Added
        )
    }
}

impl std::fmt::Display for AttributeAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `deidentification` map of a de-identification seal (spec §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deidentification {
    /// The profile applied: `basic` (PS3.15 Basic Application Level Confidentiality Profile).
    pub profile: String,
    /// The Table E.1-1 options applied (`retain-uids`, ...), sorted, without duplicates.
    pub options: Vec<String>,
    /// Per attribute — every attribute of the previous seal's manifest and every attribute
    /// added — its canonical `ID` and what was done to it, in `ID` key order.
    pub actions: Vec<(Vec<u8>, AttributeAction)>,
}

impl Deidentification {
    /// A map with its options sorted and deduplicated and its actions in `ID` key order, as
    /// the manifest holds them (spec §3.1).
    pub fn new(
        profile: String,
        options: Vec<String>,
        actions: Vec<(Vec<u8>, AttributeAction)>,
    ) -> Deidentification {
        Deidentification {
            profile,
            options,
            actions,
        }
        .normalized()
    }

    /// The same map in manifest order (see [`Deidentification::new`]).
    pub(crate) fn normalized(mut self) -> Deidentification {
        self.options.sort();
        self.options.dedup();
        self.actions
            .sort_by(|a, b| crate::chain::cbor_key_order(&a.0, &b.0));
        self
    }

    /// How many attributes have an action for which `which` is true (e.g.
    /// [`AttributeAction::is_replacement`]).
    pub fn count(&self, which: impl Fn(AttributeAction) -> bool) -> usize {
        self.actions
            .iter()
            .filter(|(_, action)| which(*action))
            .count()
    }

    /// The action recorded for `id` (the actions must be in `ID` key order, as
    /// [`Deidentification::new`] and the manifest reader leave them).
    pub fn action(&self, id: &[u8]) -> Option<AttributeAction> {
        self.actions
            .binary_search_by(|(key, _)| crate::chain::cbor_key_order(key, id))
            .ok()
            .and_then(|index| self.actions.get(index))
            .map(|(_, action)| *action)
    }

    /// Checks this map against the manifest of the seal before (`previous`) and the
    /// de-identification seal's own manifest (`this`), rule M7: every attribute of either has
    /// exactly one action; `removed` exactly for those only `previous` has, `added` exactly
    /// for those only `this` has; a `kept` attribute has the same commitment in both; and the
    /// pixels are the same (`pixels` maps equal).
    ///
    /// # Errors
    /// `Malformed` naming the first attribute (by its canonical `ID`, hex) that breaks a rule.
    pub fn check(&self, previous: &Manifest, this: &Manifest) -> Result<(), SealError> {
        let malformed = |id: &[u8], reason: &str| SealError::Malformed {
            what: "deidentification",
            reason: format!("attribute {}: {reason}", hex::encode(id)),
        };
        let before: std::collections::BTreeMap<&[u8], &Digest> = previous
            .attributes
            .iter()
            .map(|(id, c)| (id.as_slice(), c))
            .collect();
        let after: std::collections::BTreeMap<&[u8], &Digest> = this
            .attributes
            .iter()
            .map(|(id, c)| (id.as_slice(), c))
            .collect();
        for (id, action) in &self.actions {
            let (old, new) = (before.get(id.as_slice()), after.get(id.as_slice()));
            match (action, old, new) {
                (_, None, None) => {
                    return Err(malformed(id, "has an action but is in neither manifest"))
                }
                (AttributeAction::Removed, Some(_), None) => {}
                (AttributeAction::Removed, _, Some(_)) => {
                    return Err(malformed(id, "is listed as removed but is still committed"))
                }
                (_, Some(_), None) => {
                    return Err(malformed(id, "is gone but is not listed as removed"))
                }
                (AttributeAction::Added, None, Some(_)) => {}
                (_, None, Some(_)) => {
                    return Err(malformed(id, "is new but is not listed as added"))
                }
                (AttributeAction::Added, Some(_), Some(_)) => {
                    return Err(malformed(id, "is listed as added but was there before"))
                }
                (AttributeAction::Kept, Some(old), Some(new)) if old != new => {
                    return Err(malformed(
                        id,
                        "is listed as kept but its commitment differs from the seal before",
                    ))
                }
                _ => {}
            }
        }
        for id in before.keys().chain(after.keys()) {
            if self.action(id).is_none() {
                return Err(malformed(id, "has no de-identification action"));
            }
        }
        if previous.pixels != this.pixels {
            return Err(SealError::Malformed {
                what: "deidentification",
                reason: "the pixels differ from the seal before (a de-identification seal \
                         asserts the pixels it received, unchanged)"
                    .into(),
            });
        }
        Ok(())
    }

    fn to_value(&self) -> Value {
        Value::Map(vec![
            (text("profile"), text(&self.profile)),
            (
                text("options"),
                Value::Array(self.options.iter().map(|o| text(o)).collect()),
            ),
            (
                text("actions"),
                Value::Map(
                    self.actions
                        .iter()
                        .map(|(id, action)| (Value::Bytes(id.clone()), text(action.as_str())))
                        .collect(),
                ),
            ),
        ])
    }

    fn from_value(value: &Value) -> Result<Deidentification, SealError> {
        const WHAT: &str = "manifest deidentification";
        let malformed = |reason: String| SealError::Malformed { what: WHAT, reason };
        let mut map = MapReader::new(value, WHAT)?;
        let profile = map.text("profile")?.to_string();
        if profile != "basic" {
            return Err(malformed(format!("unknown profile {profile:?}")));
        }
        let options = cbor::as_array(map.required("options")?, WHAT, "options")?
            .iter()
            .map(|o| cbor::as_text(o, WHAT, "option").map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        if options.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(malformed(
                "options are not sorted or repeat an option".into(),
            ));
        }
        let actions = match map.required("actions")? {
            Value::Map(entries) => entries
                .iter()
                .map(|(id, action)| {
                    let id = cbor::as_bytes(id, WHAT, "actions")?;
                    if id.is_empty() {
                        return Err(malformed("empty attribute id".into()));
                    }
                    let word = cbor::as_text(action, WHAT, "action")?;
                    let action = AttributeAction::from_name(word)
                        .ok_or_else(|| malformed(format!("unknown attribute action {word:?}")))?;
                    Ok((id.to_vec(), action))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(malformed("actions is not a map".into())),
        };
        map.finish()?;
        Ok(Deidentification {
            profile,
            options,
            actions,
        })
    }
}

/// Signer claims: identifiers of the device and operator, never patient data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// The acquiring device (e.g. a station name or serial).
    pub device_id: Option<String>,
    /// The operator (a staff identifier, not a name if the site treats names as PHI).
    pub operator_id: Option<String>,
}

impl Claims {
    fn is_empty(&self) -> bool {
        self.device_id.is_none() && self.operator_id.is_none()
    }
}

/// The pixel part of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelManifest {
    /// `PIXEL_DIGEST` (canon C4.6.1).
    pub digest: Digest,
    /// The pixel mode.
    pub mode: PixelMode,
    /// Tile size (0 in `encoded-frames` mode).
    pub tile_size: u32,
    /// The descriptor.
    pub descriptor: PixelDescriptor,
    /// Per-frame digests.
    pub frames: Vec<Digest>,
}

/// A manifest: everything a seal signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// What happened.
    pub action: Action,
    /// When the seal was made (UTC, whole seconds). Asserted by the signer.
    pub created: OffsetDateTime,
    /// The signing key's id.
    pub signer: KeyId,
    /// The pixels, or `None` for an instance without pixel data.
    pub pixels: Option<PixelManifest>,
    /// Attribute commitments: canonical attribute `ID` bytes → commitment, in `ID` byte order.
    pub attributes: Vec<(Vec<u8>, Digest)>,
    /// SHA-256 of the previous seal's envelope; `None` for the first seal.
    pub predecessor: Option<Digest>,
    /// Optional signer claims.
    pub claims: Claims,
    /// What de-identification did; present exactly when `action` is
    /// [`Action::Deidentified`].
    pub deidentification: Option<Deidentification>,
}

impl Manifest {
    /// The tile size to canonicalize with when comparing a file with this manifest: the
    /// manifest's own, or the canonicalizer's default when it has none (no pixels, or
    /// `encoded-frames` mode).
    pub fn tile_size_or_default(&self) -> u32 {
        self.pixels
            .as_ref()
            .map(|p| p.tile_size)
            .filter(|size| *size > 0)
            .unwrap_or(scanseal_canon::DEFAULT_TILE_SIZE)
    }

    /// The deterministic CBOR encoding (the COSE payload).
    ///
    /// # Errors
    /// Only for values CBOR cannot hold (none in practice).
    pub fn to_cbor(&self) -> Result<Vec<u8>, SealError> {
        let format = match self.action {
            Action::Deidentified => MANIFEST_FORMAT_V2,
            _ => MANIFEST_FORMAT,
        };
        let mut entries = vec![
            (text("format"), text(format)),
            (text("action"), text(self.action.as_str())),
            (text("created"), text(&format_time(self.created)?)),
            (text("signer"), Value::Bytes(self.signer.0.to_vec())),
            (text("canon"), text(scanseal_canon::CANON_VERSION)),
            (
                text("key_attributes"),
                text(scanseal_canon::KEY_ATTRIBUTES_VERSION),
            ),
            (
                text("pixels"),
                match &self.pixels {
                    None => Value::Null,
                    Some(pixels) => pixels_value(pixels),
                },
            ),
            (
                text("attributes"),
                Value::Map(
                    self.attributes
                        .iter()
                        .map(|(id, commitment)| {
                            (
                                Value::Bytes(id.clone()),
                                Value::Bytes(commitment.0.to_vec()),
                            )
                        })
                        .collect(),
                ),
            ),
            (
                text("predecessor"),
                Value::Bytes(self.predecessor.map(|d| d.0.to_vec()).unwrap_or_default()),
            ),
        ];
        if !self.claims.is_empty() {
            let mut claims = Vec::new();
            if let Some(device) = &self.claims.device_id {
                claims.push((text("device_id"), text(device)));
            }
            if let Some(operator) = &self.claims.operator_id {
                claims.push((text("operator_id"), text(operator)));
            }
            entries.push((text("claims"), Value::Map(claims)));
        }
        if let Some(deidentification) = &self.deidentification {
            entries.push((text("deidentification"), deidentification.to_value()));
        }
        // Deterministic order (RFC 8949 §4.2.1): the encoder sorts map keys.
        cbor::encode(&Value::Map(entries))
    }

    /// Parses and checks a manifest: deterministic CBOR, known version, every field well
    /// formed, and the pixel digest consistent with the descriptor, mode, tile size and
    /// frame digests it is computed from.
    ///
    /// # Errors
    /// `Malformed` naming the first problem; `UnsupportedVersion` for another format.
    pub fn from_cbor(bytes: &[u8]) -> Result<Manifest, SealError> {
        const WHAT: &str = "manifest";
        let value = cbor::decode(bytes, WHAT)?;
        let mut map = MapReader::new(&value, WHAT)?;
        let format = map.text("format")?;
        let version_2 = match format {
            MANIFEST_FORMAT => false,
            MANIFEST_FORMAT_V2 => true,
            _ => {
                return Err(SealError::UnsupportedVersion {
                    what: WHAT,
                    found: format.to_string(),
                    supported: "scanseal-seal-v1 and scanseal-seal-v2",
                })
            }
        };
        let canon = map.text("canon")?;
        if canon != scanseal_canon::CANON_VERSION {
            return Err(SealError::UnsupportedVersion {
                what: "canonical form",
                found: canon.to_string(),
                supported: scanseal_canon::CANON_VERSION,
            });
        }
        let key_attributes = map.text("key_attributes")?;
        if key_attributes != scanseal_canon::KEY_ATTRIBUTES_VERSION {
            return Err(SealError::UnsupportedVersion {
                what: "key-attribute list",
                found: key_attributes.to_string(),
                supported: scanseal_canon::KEY_ATTRIBUTES_VERSION,
            });
        }
        let action = Action::parse(map.text("action")?)?;
        let created = parse_time(map.text("created")?)?;
        let signer = KeyId::from_slice(map.bytes("signer")?).ok_or(SealError::Malformed {
            what: WHAT,
            reason: "signer is not a 16-byte key id".into(),
        })?;
        let pixels = match map.required("pixels")? {
            Value::Null => None,
            value => Some(parse_pixels(value)?),
        };
        let attributes = match map.required("attributes")? {
            Value::Map(entries) => entries
                .iter()
                .map(|(id, commitment)| {
                    let id = cbor::as_bytes(id, WHAT, "attributes")?;
                    if id.is_empty() {
                        return Err(SealError::Malformed {
                            what: WHAT,
                            reason: "empty attribute id".into(),
                        });
                    }
                    Ok((
                        id.to_vec(),
                        digest(commitment, WHAT, "attribute commitment")?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: "attributes is not a map".into(),
                })
            }
        };
        let predecessor = match map.bytes("predecessor")? {
            [] => None,
            bytes => Some(digest(&Value::Bytes(bytes.to_vec()), WHAT, "predecessor")?),
        };
        let claims = match map.optional("claims") {
            None => Claims::default(),
            Some(value) => {
                let mut claims = MapReader::new(value, "manifest claims")?;
                let device_id = claims
                    .optional("device_id")
                    .map(|v| cbor::as_text(v, WHAT, "device_id").map(str::to_string))
                    .transpose()?;
                let operator_id = claims
                    .optional("operator_id")
                    .map(|v| cbor::as_text(v, WHAT, "operator_id").map(str::to_string))
                    .transpose()?;
                claims.finish()?;
                let claims = Claims {
                    device_id,
                    operator_id,
                };
                if claims.is_empty() {
                    return Err(SealError::Malformed {
                        what: WHAT,
                        reason: "empty claims map (omit it instead)".into(),
                    });
                }
                claims
            }
        };
        let deidentification = map
            .optional("deidentification")
            .map(Deidentification::from_value)
            .transpose()?;
        map.finish()?;
        match (action, &deidentification, version_2) {
            (Action::Deidentified, _, false) => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: "the deidentified action needs manifest format scanseal-seal-v2".into(),
                })
            }
            (Action::Deidentified, None, true) => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: "a deidentified seal must carry its deidentification map".into(),
                })
            }
            (Action::Acquired | Action::Countersigned, Some(_), _) => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: format!("{action} seals carry no deidentification map"),
                })
            }
            (Action::Acquired | Action::Countersigned, None, true) => {
                // Writers use v1 for these; accepting v2 would give one seal two encodings.
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: format!("{action} seals use manifest format scanseal-seal-v1"),
                });
            }
            _ => {}
        }
        match (action, predecessor) {
            (Action::Acquired, Some(_)) => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: "an acquired seal has no predecessor".into(),
                })
            }
            (Action::Countersigned | Action::Deidentified, None) => {
                return Err(SealError::Malformed {
                    what: WHAT,
                    reason: format!("a {action} seal must name its predecessor"),
                })
            }
            _ => {}
        }
        Ok(Manifest {
            action,
            created,
            signer,
            pixels,
            attributes,
            predecessor,
            claims,
            deidentification,
        })
    }
}

fn pixels_value(pixels: &PixelManifest) -> Value {
    let d = &pixels.descriptor;
    let uint = |n: u32| Value::Integer(n.into());
    Value::Map(vec![
        (text("digest"), Value::Bytes(pixels.digest.0.to_vec())),
        (text("mode"), text(pixels.mode.name())),
        (text("tile_size"), uint(pixels.tile_size)),
        (
            text("descriptor"),
            Value::Map(vec![
                (text("rows"), uint(d.rows)),
                (text("columns"), uint(d.columns)),
                (text("samples_per_pixel"), uint(d.samples_per_pixel)),
                (text("bits_allocated"), uint(d.bits_allocated)),
                (text("bits_stored"), uint(d.bits_stored)),
                (text("high_bit"), uint(d.high_bit)),
                (text("pixel_representation"), uint(d.pixel_representation)),
                (
                    text("photometric_interpretation"),
                    text(&d.photometric_interpretation),
                ),
                (text("number_of_frames"), uint(d.number_of_frames)),
                (text("sample_format"), text(d.sample_format.name())),
            ]),
        ),
        (
            text("frames"),
            Value::Array(
                pixels
                    .frames
                    .iter()
                    .map(|f| Value::Bytes(f.0.to_vec()))
                    .collect(),
            ),
        ),
    ])
}

fn parse_pixels(value: &Value) -> Result<PixelManifest, SealError> {
    const WHAT: &str = "manifest pixels";
    let mut map = MapReader::new(value, WHAT)?;
    let pixel_digest_value = digest(map.required("digest")?, WHAT, "digest")?;
    let mode_name = map.text("mode")?;
    let mode = PixelMode::from_name(mode_name)
        .filter(|mode| *mode != PixelMode::None)
        .ok_or_else(|| SealError::Malformed {
            what: WHAT,
            reason: format!("unknown pixel mode {mode_name:?}"),
        })?;
    let tile_size = map.uint("tile_size")?;
    let descriptor = {
        let mut d = MapReader::new(map.required("descriptor")?, "manifest pixel descriptor")?;
        let format_name = d.text("sample_format")?;
        let descriptor = PixelDescriptor {
            rows: d.uint("rows")?,
            columns: d.uint("columns")?,
            samples_per_pixel: d.uint("samples_per_pixel")?,
            bits_allocated: d.uint("bits_allocated")?,
            bits_stored: d.uint("bits_stored")?,
            high_bit: d.uint("high_bit")?,
            pixel_representation: d.uint("pixel_representation")?,
            photometric_interpretation: d.text("photometric_interpretation")?.to_string(),
            number_of_frames: d.uint("number_of_frames")?,
            sample_format: SampleFormat::from_name(format_name).ok_or_else(|| {
                SealError::Malformed {
                    what: WHAT,
                    reason: format!("unknown sample format {format_name:?}"),
                }
            })?,
        };
        d.finish()?;
        descriptor
    };
    let frames = cbor::as_array(map.required("frames")?, WHAT, "frames")?
        .iter()
        .map(|f| digest(f, WHAT, "frame digest"))
        .collect::<Result<Vec<_>, _>>()?;
    map.finish()?;
    let (tile_size_ok, frames_ok) = match mode {
        PixelMode::DecodedSamples => (
            (1..=65535).contains(&tile_size),
            frames.len() == descriptor.number_of_frames as usize,
        ),
        _ => (tile_size == 0, !frames.is_empty()),
    };
    if !tile_size_ok {
        return Err(SealError::Malformed {
            what: WHAT,
            reason: format!("tile size {tile_size} is not valid in mode {}", mode.name()),
        });
    }
    if !frames_ok {
        return Err(SealError::Malformed {
            what: WHAT,
            reason: format!(
                "{} frame digests for {} frames",
                frames.len(),
                descriptor.number_of_frames
            ),
        });
    }
    let recomputed =
        pixel_digest(&descriptor, mode, tile_size, &frames).map_err(|e| SealError::Malformed {
            what: WHAT,
            reason: e.to_string(),
        })?;
    if recomputed != pixel_digest_value {
        return Err(SealError::Malformed {
            what: WHAT,
            reason: "the pixel digest does not match the descriptor and frame digests it \
                     is computed from"
                .into(),
        });
    }
    Ok(PixelManifest {
        digest: pixel_digest_value,
        mode,
        tile_size,
        descriptor,
        frames,
    })
}

fn digest(value: &Value, what: &'static str, field: &str) -> Result<Digest, SealError> {
    let bytes = cbor::as_bytes(value, what, field)?;
    <[u8; 32]>::try_from(bytes)
        .map(Digest)
        .map_err(|_| SealError::Malformed {
            what,
            reason: format!("{field} is not 32 bytes"),
        })
}

const TIME_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats a UTC time as the manifest writes it: `YYYY-MM-DDTHH:MM:SSZ`.
///
/// # Errors
/// `Malformed` for a year outside 0000–9999.
pub fn format_time(at: OffsetDateTime) -> Result<String, SealError> {
    let malformed = |reason: String| SealError::Malformed {
        what: "time",
        reason,
    };
    at.checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| malformed("not representable in UTC".into()))?
        .format(TIME_FORMAT)
        .map_err(|e| malformed(e.to_string()))
}

/// Parses the manifest's time form exactly (UTC, whole seconds, `Z`).
///
/// # Errors
/// `Malformed` for anything else.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, SealError> {
    time::PrimitiveDateTime::parse(text, TIME_FORMAT)
        .map(|t| t.assume_utc())
        .map_err(|e| SealError::Malformed {
            what: "manifest",
            reason: format!("created time {text:?} is not YYYY-MM-DDTHH:MM:SSZ ({e})"),
        })
}

/// Truncates to whole seconds in UTC, the precision a manifest records.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.checked_to_offset(time::UtcOffset::UTC)
        .unwrap_or(at)
        .truncate_to_second()
}
