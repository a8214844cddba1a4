//! The trust store file (`trust-store-v1`, spec/keys-and-trust.md §T2): reading with strict
//! validation, deterministic writing, atomic replacement.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use scanseal_keys::PublicKey;
use serde::Deserialize;
use toml::Spanned;

use crate::times::parse_stored_time;
use scanseal_keys::base64;

use crate::{format_time, Role, TrustError, TrustStore, TrustedKey, TRUST_STORE_VERSION};

/// The first line of every file scanseal writes.
pub(crate) const HEADER: &str = "# scanseal trust store (spec/keys-and-trust.md)\n";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    version: Spanned<i64>,
    #[serde(default)]
    key: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    role: Spanned<String>,
    key_id: Spanned<String>,
    public_key: Spanned<String>,
    not_before: Option<Spanned<String>>,
    not_after: Option<Spanned<String>>,
    revoked_at: Option<Spanned<String>>,
}

/// The 1-based (line, column in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

fn at(text: &str, span: Range<usize>, error: TrustError) -> TrustError {
    let (line, column) = line_column(text, span.start);
    TrustError::At {
        line,
        column,
        error: Box::new(error),
    }
}

fn toml_error(text: &str, e: &toml::de::Error) -> TrustError {
    let error = TrustError::Toml {
        message: e.message().trim().to_string(),
    };
    match e.span() {
        Some(span) => at(text, span, error),
        None => error,
    }
}

pub(crate) fn parse(text: &str) -> Result<TrustStore, TrustError> {
    // First the version, so that a file of another version is refused by name rather than
    // for a field this version does not know.
    let table: toml::Table = text.parse().map_err(|e| toml_error(text, &e))?;
    match table.get("version") {
        None => return Err(TrustError::MissingVersion),
        Some(toml::Value::Integer(TRUST_STORE_VERSION)) => {}
        Some(other) => {
            return Err(TrustError::UnsupportedVersion {
                found: other.to_string(),
            })
        }
    }
    let raw: RawStore = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if *raw.version.get_ref() != TRUST_STORE_VERSION {
        return Err(TrustError::UnsupportedVersion {
            found: raw.version.get_ref().to_string(),
        });
    }
    let mut store = TrustStore::new();
    for entry in raw.key {
        let name_span = entry.name.span();
        let key_id_span = entry.key_id.span();
        let window_span = entry
            .not_after
            .as_ref()
            .map_or_else(|| name_span.clone(), Spanned::span);
        let key = parse_key(text, entry)?;
        store.add(key).map_err(|error| {
            let span = match error {
                TrustError::DuplicateKeyId { .. } => key_id_span,
                TrustError::BadWindow { .. } => window_span,
                _ => name_span,
            };
            at(text, span, error)
        })?;
    }
    Ok(store)
}

fn parse_key(text: &str, entry: RawKey) -> Result<TrustedKey, TrustError> {
    let (name, name_span) = (entry.name.get_ref().clone(), entry.name.span());
    crate::check_name(&name).map_err(|e| at(text, name_span, e))?;
    let role = entry
        .role
        .get_ref()
        .parse::<Role>()
        .map_err(|e| at(text, entry.role.span(), e))?;
    let public_key = parse_public_key(entry.public_key.get_ref())
        .map_err(|e| at(text, entry.public_key.span(), e))?;
    let computed = public_key.key_id();
    if *entry.key_id.get_ref() != computed.to_hex() {
        return Err(at(
            text,
            entry.key_id.span(),
            TrustError::KeyIdMismatch {
                name,
                stated: entry.key_id.into_inner(),
                computed,
            },
        ));
    }
    let time = |field: Option<Spanned<String>>| {
        field
            .map(|t| parse_stored_time(t.get_ref()).map_err(|e| at(text, t.span(), e)))
            .transpose()
    };
    Ok(TrustedKey {
        name,
        role,
        public_key,
        not_before: time(entry.not_before)?,
        not_after: time(entry.not_after)?,
        revoked_at: time(entry.revoked_at)?,
    })
}

/// Base64 of a 44-byte Ed25519 SubjectPublicKeyInfo DER, in its only (DER) encoding.
fn parse_public_key(text: &str) -> Result<PublicKey, TrustError> {
    let bad = |reason: &str| TrustError::BadPublicKey {
        reason: reason.to_string(),
    };
    let der = base64::decode(text).map_err(|reason| bad(&format!("not base64: {reason}")))?;
    let key = PublicKey::from_spki_der(&der).map_err(|e| bad(&e.to_string()))?;
    if key.spki_der() != der {
        return Err(bad(
            "not the 44-byte DER SubjectPublicKeyInfo of an Ed25519 key",
        ));
    }
    Ok(key)
}

/// Public key as stored: base64 of its SubjectPublicKeyInfo DER.
pub(crate) fn public_key_text(key: &PublicKey) -> String {
    base64::encode(&key.spki_der())
}

pub(crate) fn write(store: &TrustStore) -> String {
    // Every value written is from a restricted alphabet (names, roles, hex, base64, RFC 3339),
    // so none needs TOML escaping.
    let mut out = String::from(HEADER);
    out.push_str(&format!("version = {TRUST_STORE_VERSION}\n"));
    for key in store.entries() {
        out.push_str("\n[[key]]\n");
        out.push_str(&format!("name = \"{}\"\n", key.name));
        out.push_str(&format!("role = \"{}\"\n", key.role));
        out.push_str(&format!("key_id = \"{}\"\n", key.key_id()));
        out.push_str(&format!(
            "public_key = \"{}\"\n",
            public_key_text(&key.public_key)
        ));
        for (field, time) in [
            ("not_before", key.not_before),
            ("not_after", key.not_after),
            ("revoked_at", key.revoked_at),
        ] {
            if let Some(time) = time {
                out.push_str(&format!("{field} = \"{}\"\n", format_time(time)));
            }
        }
    }
    out
}

/// Replaces `path` with `bytes`: temporary file in the same directory, write, fsync, rename,
/// fsync the directory. The temporary file is removed on failure.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name (ends in `..` or `/`)",
        )
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing_permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let (temp_path, mut file) = create_temp(&dir, file_name)?;
    let written = (|| {
        file.write_all(bytes)?;
        if let Some(permissions) = existing_permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp_path, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp_path);
        return Err(e);
    }
    // Make the rename durable.
    File::open(&dir)?.sync_all()
}

/// Creates `.NAME.tmp-PID-N` in `dir`, never reusing an existing file.
fn create_temp(dir: &Path, file_name: &std::ffi::OsStr) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".tmp-{pid}-{attempt}"));
        let temp_path = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
