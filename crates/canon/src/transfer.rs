//! Which pixel mode a transfer syntax gets (spec §3, table C3.1).

/// How pixels enter the digest (spec C3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelMode {
    /// Decoded samples, tiled (native and lossless transfer syntaxes).
    DecodedSamples,
    /// The stored bytes of each frame (lossy transfer syntaxes, where decoding is not
    /// bit-exact across decoders).
    EncodedFrames,
    /// The instance has no pixel data: header only.
    None,
}

impl PixelMode {
    /// The name used in reports and JSON (`decoded-samples`, `encoded-frames`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            PixelMode::DecodedSamples => "decoded-samples",
            PixelMode::EncodedFrames => "encoded-frames",
            PixelMode::None => "none",
        }
    }

    /// The mode byte `M` of C4.6.1.
    /// The mode named `name` (the inverse of [`PixelMode::name`]).
    pub fn from_name(name: &str) -> Option<PixelMode> {
        [
            PixelMode::DecodedSamples,
            PixelMode::EncodedFrames,
            PixelMode::None,
        ]
        .into_iter()
        .find(|mode| mode.name() == name)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            PixelMode::DecodedSamples => 1,
            PixelMode::EncodedFrames => 2,
            PixelMode::None => 0,
        }
    }
}

/// How a transfer syntax stores pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PixelEncoding {
    /// Native pixel data, in the given byte order.
    Native { big_endian: bool },
    /// Encapsulated and lossless: decoded to samples.
    Lossless,
    /// Encapsulated still images, lossy (or possibly lossy): stored frames hashed.
    LossyFrames,
    /// Encapsulated video: the whole stream is one unit (C4.5.1).
    LossyStream,
}

/// Classifies a Transfer Syntax UID per table C3.1; `None` for transfer syntaxes canon-v1
/// does not define (C3.2).
pub(crate) fn classify(uid: &str) -> Option<PixelEncoding> {
    let uid = uid.trim_end_matches(['\0', ' ']);
    Some(match uid {
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.1.99" => {
            PixelEncoding::Native { big_endian: false }
        }
        "1.2.840.10008.1.2.2" => PixelEncoding::Native { big_endian: true },
        "1.2.840.10008.1.2.5"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70"
        | "1.2.840.10008.1.2.4.80"
        | "1.2.840.10008.1.2.4.90" => PixelEncoding::Lossless,
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.81"
        | "1.2.840.10008.1.2.4.91"
        | "1.2.840.10008.1.2.4.92"
        | "1.2.840.10008.1.2.4.93"
        | "1.2.840.10008.1.2.4.201"
        | "1.2.840.10008.1.2.4.202"
        | "1.2.840.10008.1.2.4.203"
        | "1.2.840.10008.1.2.4.110"
        | "1.2.840.10008.1.2.4.111"
        | "1.2.840.10008.1.2.4.112" => PixelEncoding::LossyFrames,
        "1.2.840.10008.1.2.4.100"
        | "1.2.840.10008.1.2.4.101"
        | "1.2.840.10008.1.2.4.102"
        | "1.2.840.10008.1.2.4.103"
        | "1.2.840.10008.1.2.4.104"
        | "1.2.840.10008.1.2.4.105"
        | "1.2.840.10008.1.2.4.106"
        | "1.2.840.10008.1.2.4.107"
        | "1.2.840.10008.1.2.4.108" => PixelEncoding::LossyStream,
        _ => return None,
    })
}
