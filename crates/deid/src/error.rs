//! The crate's error type.

use std::path::PathBuf;

use dicom_core::Tag;

use crate::profile::ProfileOption;

/// Why a profile could not be built, a secret not made, or a data set not de-identified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeidError {
    /// Two chosen options exclude each other (PS3.15 E.3.6: dates are either kept or modified).
    #[error("the options {first} and {second} exclude each other")]
    ConflictingOptions {
        /// The option chosen first.
        first: ProfileOption,
        /// The option that conflicts with it.
        second: ProfileOption,
    },
    /// A name that is not one of [`ProfileOption::ALL`]'s.
    #[error(
        "unknown de-identification option {name:?} (the options are {list})",
        list = ProfileOption::name_list()
    )]
    UnknownOption {
        /// The name given.
        name: String,
    },
    /// A secret made from too few bytes.
    #[error("a de-identification secret needs at least {min} bytes, got {len}")]
    SecretTooShort {
        /// The number of bytes given.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A secret file that group or others can read.
    #[error(
        "{}: the de-identification secret is readable by group or others (mode {mode:04o}); \
         run `chmod 600` on it if it has not leaked, or make a new secret if it may have",
        path.display()
    )]
    InsecureSecretPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness {
        /// The generator's error.
        #[source]
        source: rand::Error,
    },
    /// Sequences nest deeper than the reader allows ([`scanseal_canon::MAX_NESTING`]).
    #[error("sequences nest deeper than {limit} levels (at {tag})")]
    NestingTooDeep {
        /// The sequence at which the limit was reached.
        tag: Tag,
        /// The limit.
        limit: usize,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input has no seal chain, embedded or in a sidecar.
    #[error(
        "not sealed: no seal block in the file and no sidecar (seal it with `scanseal sign` first)"
    )]
    NotSealed {
        /// The file.
        path: PathBuf,
    },
    /// The input's seal chain cannot be decoded.
    #[error("malformed seal chain: {reason}")]
    MalformedChain {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data set lacks an identity attribute the output's File Meta Information needs.
    #[error("the data set has no {attribute}, which the de-identified file's File Meta Information needs")]
    MissingIdentity {
        /// The file.
        path: PathBuf,
        /// The attribute, e.g. `SOP Class UID (0008,0016)`.
        attribute: &'static str,
    },
    /// The input differs from what its newest seal covers.
    #[error("does not match its seal, so it is not de-identified: {what}")]
    InputDoesNotMatchSeal {
        /// The file.
        path: PathBuf,
        /// What differs (attribute IDs, never values).
        what: String,
    },
    /// The output, read back, does not canonicalize to what was sealed.
    #[error("the de-identified output would not read back as sealed ({what}); nothing written")]
    RoundTrip {
        /// The input file.
        path: PathBuf,
        /// What differs (attribute IDs, never values).
        what: String,
    },
    /// An attribute changed although the engine kept or removed it.
    #[error("attribute {attribute} changed although the profile kept it")]
    UnexplainedChange {
        /// The attribute's canonical ID.
        attribute: String,
    },
    /// Reading, canonicalizing or writing an instance failed.
    #[error(transparent)]
    Canon(#[from] scanseal_canon::CanonError),
    /// Reading, making or embedding a seal failed.
    #[error(transparent)]
    Seal(#[from] scanseal_seal::SealError),
}
