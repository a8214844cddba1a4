//! The bad-input corpus (issue 7), end to end through the `scanseal` binary: truncated files,
//! wrong and unknown VRs, lengths far beyond the file, odd lengths, 10,000 nested sequences,
//! pixel data of the wrong size, absurd Number of Frames, malformed seal CBOR and COSE, two
//! seal blocks, a seal block inside an item, bad private keys, bad trust stores and files that
//! are not ledgers.
//!
//! Each case checks the verdict or error (exact verdict word, a reason naming the problem, the
//! documented exit status, stdout/stderr as the CLI defines them), that nothing is written
//! (output directories stay empty, inputs byte for byte unchanged, no stray temporary files)
//! and that memory stays bounded: every run is made under an address-space cap
//! ([`MEMORY_CAP_KIB`]), so a reader that believed a 4 GiB length would fail here.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ciborium::value::Value as Cbor;
use scanseal_fixtures::{tags, EncodeOptions, Encoding, Fixture, SequenceLength, Tag, Value, VR};
use scanseal_keys::SigningKey;
use serde_json::Value as Json;

mod common;

// ---------------------------------------------------------------------------------------------
// Running scanseal under a memory cap
// ---------------------------------------------------------------------------------------------

/// The address-space limit (`ulimit -v`, KiB) of every `scanseal` run in this file.
///
/// Calibration (test profile, x86-64 Linux, glibc): the smallest cap under which each command
/// still succeeds on a good input, found by bisection, is 16–17 MiB for `digest`, `inspect`,
/// `sign` (with and without `--ledger`), `deidentify` and the `ledger` commands, and 23–25 MiB
/// for `verify --threads 2` (with `--ledger`: 25 MiB). Uncapped, VmPeak is larger only because
/// glibc reserves a 64 MiB malloc arena per thread, which it does without when the reservation
/// fails, and rayon sizes its pool by the cores: so every `verify` here runs with `--threads
/// 2`, and the cap is measured, not read off VmPeak. The largest legitimate buffer of any case
/// here is the seal chain (at most 64 MiB by seal-format B9; the chains here are a few KiB).
///
/// The cap is 192 MiB: about 170 MiB above the largest need (room for allocator and build
/// profile changes without flaking), above the 64 MiB chain limit, and a twentieth of the
/// 4 GiB a reader that believed a declared length of 0xFFFFFFF0 would reserve. Such a
/// reservation fails under the cap: as an abort (caught by [`capped`] and failing the test) or
/// as a fallible allocation error, which the reason checks of each case catch because the
/// message would then not name the declared length.
const MEMORY_CAP_KIB: u64 = 192 * 1024;

/// The outcome of one capped run.
struct Run {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts the exit status, showing both streams when it differs.
    fn status(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "{self}");
        self
    }

    /// The lines of stdout.
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that `text` holds every one of `parts`.
    fn contains(&self, text: &str, parts: &[&str]) {
        for part in parts {
            assert!(text.contains(part), "expected {part:?} in {text:?}\n{self}");
        }
    }

    /// Exit 2 and one `scanseal: MESSAGE` line on stderr holding `parts`, nothing on stdout.
    fn cannot_run(&self, parts: &[&str]) {
        self.status(2);
        assert!(self.stdout.is_empty(), "nothing on stdout\n{self}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one message line\n{self}");
        assert!(lines[0].starts_with("scanseal: "), "{self}");
        self.contains(lines[0], parts);
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scanseal {} -> exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `scanseal ARGS` under [`MEMORY_CAP_KIB`]. A run killed by a signal (an allocation
/// failure aborts), a panic or a crash fails the test here, naming the command.
fn capped<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let what = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_scanseal"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let Some(code) = output.status.code() else {
        panic!(
            "scanseal {what} was killed by signal {:?} — an abort here is an allocation beyond \
             the {} MiB cap (memory not bounded by the file's real size) or a stack overflow\n\
             --- stderr ---\n{stderr}",
            output.status.signal(),
            MEMORY_CAP_KIB / 1024
        );
    };
    assert!(
        !stderr.contains("memory allocation of") && code != 134,
        "scanseal {what} ran out of memory under the {} MiB cap\n{stderr}",
        MEMORY_CAP_KIB / 1024
    );
    assert!(
        !stderr.contains("panicked at") && code != 101,
        "scanseal {what} panicked\n{stderr}"
    );
    Run {
        what,
        code,
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------------------------
// The lab: keys, trust store, a good file and its seal block
// ---------------------------------------------------------------------------------------------

/// A temporary directory with copies of the example keys (mode 0600), a trust store trusting
/// them without a validity window, the good input and the seal block `scanseal sign` appends
/// to it.
struct Lab {
    dir: tempfile::TempDir,
    /// The unsealed CT slice.
    original: Vec<u8>,
    /// What sealing appends to it: the creator element and the chain element.
    block: Vec<u8>,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
        for name in ["example-ct-01", "example-deid-01", "example-ledger-01"] {
            for ext in ["key", "pub"] {
                let to = keys.join(format!("{name}.{ext}"));
                std::fs::copy(example.join(format!("{name}.{ext}")), &to).unwrap();
                let mode = if ext == "key" { 0o600 } else { 0o644 };
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        // The example store without its 2026–2036 window, so the verdicts do not depend on
        // the clock.
        let store: String = std::fs::read_to_string(example.join("trust.toml"))
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("not_"))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(dir.path().join("trust.toml"), store).unwrap();
        let mut lab = Lab {
            dir,
            original: encode(&Fixture::ct_slice(SEED)),
            block: Vec::new(),
        };
        let input = lab.path("good/ct.dcm");
        std::fs::create_dir_all(input.parent().unwrap()).unwrap();
        std::fs::write(&input, &lab.original).unwrap();
        let out = lab.path("good/sealed");
        let sealed = capped(&[
            "sign".as_ref(),
            "--key".as_ref(),
            lab.key().as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            input.as_os_str(),
        ]);
        sealed.status(0);
        let sealed = std::fs::read(out.join("ct.dcm")).unwrap();
        assert_eq!(
            &sealed[..lab.original.len()],
            &lab.original[..],
            "sealing appends"
        );
        lab.block = sealed[lab.original.len()..].to_vec();
        lab
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn key(&self) -> PathBuf {
        self.path("keys/example-ct-01.key")
    }

    fn deid_key(&self) -> PathBuf {
        self.path("keys/example-deid-01.key")
    }

    fn trust(&self) -> PathBuf {
        self.path("trust.toml")
    }

    /// `bytes` followed by the good seal block: a file sealed when it was the original.
    fn sealed(&self, bytes: &[u8]) -> Vec<u8> {
        [bytes, &self.block[..]].concat()
    }

    /// The good sealed file.
    fn good_sealed(&self) -> Vec<u8> {
        self.sealed(&self.original)
    }

    /// The chain stored in the good seal block (without its pad).
    fn chain(&self) -> Cbor {
        ciborium::de::from_reader(&self.block[CREATOR_LEN + 12..]).unwrap()
    }

    /// A new empty directory `cases/NAME` (each case works in its own).
    fn case_dir(&self, name: &str) -> PathBuf {
        let dir = self.path(&format!("cases/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

const SEED: u64 = 7;

/// The CT slice in Explicit VR Little Endian with defined sequence lengths, so that the top
/// level can be walked here without following items.
fn encode(fixture: &Fixture) -> Vec<u8> {
    fixture
        .encode(
            Encoding::ExplicitVrLittleEndian,
            &EncodeOptions {
                sequence_length: SequenceLength::Defined,
                ..EncodeOptions::default()
            },
        )
        .unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Asserts that `dir` exists and is empty (no output, no temporary file).
fn assert_empty(dir: &Path, run: &Run) {
    let left: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{} holds {left:?}\n{run}", dir.display());
}

// ---------------------------------------------------------------------------------------------
// Byte-level editing of Explicit VR Little Endian files
// ---------------------------------------------------------------------------------------------

/// VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1).
fn long_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
/// The declared length of the "4 GiB" cases.
const HUGE: u32 = 0xFFFF_FFF0;

/// A top-level element as found in the bytes.
#[derive(Debug, Clone, Copy)]
struct Top {
    tag: (u16, u16),
    /// Offset of the header.
    start: usize,
    /// Offset of the length field.
    length_at: usize,
    /// Offset of the value.
    value: usize,
    len: usize,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// One element header at `at`.
fn header_at(bytes: &[u8], at: usize) -> Top {
    let tag = (u16_at(bytes, at), u16_at(bytes, at + 2));
    let vr = &bytes[at + 4..at + 6];
    let (length_at, value) = if long_vr(vr) {
        (at + 8, at + 12)
    } else {
        (at + 6, at + 8)
    };
    let len = if long_vr(vr) {
        u32_at(bytes, length_at) as usize
    } else {
        usize::from(u16_at(bytes, length_at))
    };
    Top {
        tag,
        start: at,
        length_at,
        value,
        len,
    }
}

/// The File Meta elements (from byte 132) and the top-level data set elements, in order, up to
/// the end or the first undefined length.
fn walk(bytes: &[u8]) -> (Vec<Top>, Vec<Top>) {
    walk_from(bytes, 132)
}

/// [`walk`] from byte `at` (0 for a data set on its own).
fn walk_from(bytes: &[u8], mut at: usize) -> (Vec<Top>, Vec<Top>) {
    let mut meta = Vec::new();
    let mut top = Vec::new();
    while at + 8 <= bytes.len() {
        let element = header_at(bytes, at);
        if element.len == UNDEFINED as usize {
            break;
        }
        if element.tag.0 == 0x0002 {
            meta.push(element);
        } else {
            top.push(element);
        }
        at = element.value + element.len;
    }
    (meta, top)
}

/// The top-level element with `tag`.
fn find(bytes: &[u8], tag: Tag) -> Top {
    walk(bytes)
        .1
        .into_iter()
        .find(|e| e.tag == (tag.0, tag.1))
        .unwrap_or_else(|| panic!("no {tag} at the top level"))
}

/// An Explicit VR Little Endian element declaring `length` for `value`.
fn element_declaring(tag: Tag, vr: &[u8; 2], length: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    if long_vr(vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&length.to_le_bytes());
    } else {
        out.extend_from_slice(&u16::try_from(length).unwrap().to_le_bytes());
    }
    out.extend_from_slice(value);
    out
}

/// An Explicit VR Little Endian element.
fn element(tag: Tag, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    element_declaring(tag, vr, u32::try_from(value.len()).unwrap(), value)
}

/// An item or delimiter header.
fn item(element: u16, length: u32) -> Vec<u8> {
    let mut out = vec![0xFE, 0xFF];
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out
}

/// `bytes` with `inserted` placed before the first top-level element whose tag is greater
/// than `tag` (so the top level still ascends).
fn insert(bytes: &[u8], tag: Tag, inserted: &[u8]) -> Vec<u8> {
    let at = walk(bytes)
        .1
        .iter()
        .find(|e| e.tag > (tag.0, tag.1))
        .map(|e| e.start)
        .unwrap_or(bytes.len());
    [&bytes[..at], inserted, &bytes[at..]].concat()
}

/// `data` as a raw deflate stream (RFC 1951) of stored blocks, padded to even length.
fn deflate_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = data.chunks(0xFFFF).collect();
    for (index, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(index + 1 == chunks.len()));
        let len = u16::try_from(chunk.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// The length of the seal block's creator element `(7FF1,0010) LO "SCANSEAL 1"`.
const CREATOR_LEN: usize = 18;

/// A seal block in `group`, block `block`, holding `chain` (padded to even length).
fn seal_block(group: u16, block: u8, chain: &[u8]) -> Vec<u8> {
    let mut padded = chain.to_vec();
    if padded.len() % 2 == 1 {
        padded.push(0);
    }
    [
        element(Tag(group, u16::from(block)), b"LO", b"SCANSEAL 1"),
        element(Tag(group, u16::from(block) << 8 | 0x01), b"OB", &padded),
    ]
    .concat()
}

/// Deterministic noise.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The common check for a bad DICOM input
// ---------------------------------------------------------------------------------------------

/// What every command must do with one bad file.
struct Expect<'a> {
    /// The verdict of `verify`.
    verdict: &'a str,
    /// What the verify reason must say.
    reason: &'a [&'a str],
    /// `Some(parts)`: the file cannot be canonicalized, `digest` exits 2 and says `parts`;
    /// `None`: `digest` succeeds.
    digest: Option<&'a [&'a str]>,
    /// What `sign --out` must say when it refuses the file.
    sign: &'a [&'a str],
    /// The exit status of `inspect` (0 a seal shown, 1 no seal, 2 cannot read the seal).
    inspect: i32,
    /// Whether `sign --append` and `deidentify` must refuse the file too. They have no trust
    /// store, so a seal whose signature alone is wrong passes them (and verifies INVALID
    /// afterwards, whatever was added to its chain).
    refused_without_trust: bool,
}

/// Writes `bytes` as `cases/NAME/input.dcm` and runs every command on it under the cap:
/// `verify` (text and JSON), `digest`, `inspect`, `sign` (`--out`, `--in-place`, `--sidecar`,
/// `--append`) and `deidentify`, checking each verdict, exit status and message and that
/// nothing was written anywhere.
fn check_file(lab: &Lab, name: &str, bytes: &[u8], expect: &Expect<'_>) {
    let dir = lab.case_dir(name);
    let input = dir.join("input.dcm");
    std::fs::write(&input, bytes).unwrap();
    let before = snapshot(&dir);
    let input_text = input.display().to_string();
    let trust = lab.trust();
    let key = lab.key();

    // verify, text: one line, `VERDICT PATH: reason`, nothing on stderr.
    let run = capped(&[
        "verify".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
        "--trust".as_ref(),
        trust.as_os_str(),
        input.as_os_str(),
    ]);
    run.status(1);
    assert_eq!(run.lines().len(), 1, "{name}: one line\n{run}");
    let prefix = format!("{} {input_text}: ", expect.verdict);
    assert!(run.stdout.starts_with(&prefix), "{name}: {prefix:?}\n{run}");
    run.contains(&run.stdout, expect.reason);
    assert!(run.stderr.is_empty(), "{name}: nothing on stderr\n{run}");

    // verify --json: one file record and the summary.
    let run = capped(&[
        "verify".as_ref(),
        "--json".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
        "--trust".as_ref(),
        trust.as_os_str(),
        input.as_os_str(),
    ]);
    run.status(1);
    let (records, summary) = common::verify_records(run.stdout.as_bytes());
    assert_eq!(records.len(), 1, "{name}\n{run}");
    assert_eq!(records[0]["verdict"], expect.verdict, "{name}\n{run}");
    run.contains(records[0]["reason"].as_str().unwrap(), expect.reason);
    assert_eq!(summary["exit_status"], 1);

    // digest: exit 2 and an ERROR line when the file cannot be canonicalized.
    let run = capped(&["digest".as_ref(), input.as_os_str()]);
    match expect.digest {
        Some(parts) => {
            run.status(2);
            assert_eq!(run.lines().len(), 1, "{name}\n{run}");
            assert!(
                run.stdout.starts_with(&format!("{input_text}: ERROR ")),
                "{name}\n{run}"
            );
            run.contains(&run.stdout, parts);
            let run = capped(&["digest".as_ref(), "--json".as_ref(), input.as_os_str()]);
            run.status(2);
            let record: Json = serde_json::from_str(run.stdout.trim()).unwrap();
            assert_eq!(record["path"], input_text.as_str());
            assert!(
                record["error_kind"].as_str().is_some_and(|k| !k.is_empty()),
                "{name}: error_kind\n{run}"
            );
            run.contains(record["error"].as_str().unwrap(), parts);
        }
        None => {
            run.status(0);
        }
    }

    // inspect: its own statuses.
    let run = capped(&["inspect".as_ref(), input.as_os_str()]);
    run.status(expect.inspect);
    if expect.inspect == 2 {
        assert!(run.stderr.starts_with("scanseal: "), "{name}\n{run}");
        run.contains(&run.stderr, &[&input_text]);
    }

    // sign --out: a per-file failure (exit 1), an ERROR line naming the problem, nothing
    // written.
    let out = lab.path(&format!("cases/{name}.signed"));
    std::fs::create_dir_all(&out).unwrap();
    let run = capped(&[
        "sign".as_ref(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        input.as_os_str(),
    ]);
    run.status(1);
    assert_eq!(run.lines().len(), 1, "{name}\n{run}");
    assert!(
        run.stdout.starts_with(&format!("ERROR {input_text}: ")),
        "{name}\n{run}"
    );
    run.contains(&run.stdout, expect.sign);
    assert_eq!(
        run.stderr.trim_end(),
        "scanseal: 0 sealed, 1 not sealed",
        "{name}\n{run}"
    );
    assert_empty(&out, &run);

    // sign in place, as a sidecar, as a countersignature: refused, nothing written next to
    // the input.
    for placement in [
        &["--in-place"][..],
        &["--sidecar"],
        &["--in-place", "--append"],
    ] {
        if placement.contains(&"--append") && !expect.refused_without_trust {
            continue;
        }
        let mut args: Vec<&OsStr> = vec!["sign".as_ref(), "--key".as_ref(), key.as_os_str()];
        args.extend(placement.iter().map(OsStr::new));
        args.push(input.as_os_str());
        let run = capped(&args);
        run.status(1);
        assert!(run.stdout.starts_with("ERROR "), "{name}\n{run}");
        assert_eq!(snapshot(&dir), before, "{name}: {placement:?} wrote\n{run}");
    }

    // deidentify: refused (exit 1), nothing written.
    if !expect.refused_without_trust {
        assert_eq!(snapshot(&dir), before, "{name}: the input changed");
        return;
    }
    let out = lab.path(&format!("cases/{name}.deid"));
    std::fs::create_dir_all(&out).unwrap();
    let deid_key = lab.deid_key();
    let run = capped(&[
        "deidentify".as_ref(),
        "--key".as_ref(),
        deid_key.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        input.as_os_str(),
    ]);
    run.status(1);
    assert!(
        run.stdout.starts_with(&format!("ERROR {input_text}: ")),
        "{name}\n{run}"
    );
    assert_empty(&out, &run);

    assert_eq!(snapshot(&dir), before, "{name}: the input changed");
}

/// How a damaged DICOM file fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// The data set cannot be read at all (a length beyond the end, an unknown VR, nesting
    /// beyond the limit ...): `ERROR` whether sealed or not.
    Unreadable,
    /// The data set reads, but it has no canonical form (a pixel attribute out of range, a
    /// value length that is not a multiple of its VR's unit ...): without a seal the verdict
    /// is `UNSIGNED` (seal-format §7.1: the file is read, no seal is found; canonicalizing
    /// comes later), sealed it is `ERROR` ("cannot canonicalize the file"). `digest`, `sign`
    /// and `deidentify` refuse it either way.
    NoCanonicalForm,
}

/// Checks `bytes` as they are (no seal) and with the good seal block appended (a sealed file
/// damaged afterwards). `walkable`: whether the seal-format walk of the top level (B11–B14)
/// still gets through the file, so that `inspect` finds the seal block (or finds none).
fn check_damaged(
    lab: &Lab,
    name: &str,
    bytes: &[u8],
    damage: Damage,
    walkable: bool,
    reason: &[&str],
) {
    let unsealed = Expect {
        verdict: match damage {
            Damage::Unreadable => "ERROR",
            Damage::NoCanonicalForm => "UNSIGNED",
        },
        reason: match damage {
            Damage::Unreadable => reason,
            Damage::NoCanonicalForm => &["no seal"],
        },
        digest: Some(reason),
        sign: reason,
        inspect: if walkable { 1 } else { 2 },
        refused_without_trust: true,
    };
    check_file(lab, &format!("{name}-unsealed"), bytes, &unsealed);
    let sealed = Expect {
        verdict: "ERROR",
        reason,
        digest: Some(reason),
        sign: reason,
        inspect: if walkable { 0 } else { 2 },
        refused_without_trust: true,
    };
    check_file(lab, &format!("{name}-sealed"), &lab.sealed(bytes), &sealed);
}

// ---------------------------------------------------------------------------------------------
// 1. Truncation
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_sealed_files_are_error_or_invalid_never_intact() {
    let lab = Lab::new();
    let sealed = lab.good_sealed();
    let original_len = lab.original.len();
    let (meta, top) = walk(&sealed);
    let data_start = top[0].start;
    let creator_start = original_len;
    let chain_start = original_len + CREATOR_LEN;

    // Where to cut: the preamble and File Meta at a stride, inside every element header and
    // value, through the seal block, through the pixel data, and the last byte.
    let mut cuts: Vec<usize> = (0..400).step_by(9).collect();
    for e in meta.iter().chain(&top) {
        cuts.extend([e.start + 1, e.start + 5, e.length_at + 1, e.value]);
        if e.len > 1 {
            cuts.extend([e.value + 1, e.value + e.len / 2, e.value + e.len - 1]);
        }
    }
    let pixels = find(&sealed, tags::PIXEL_DATA);
    cuts.extend((pixels.value..pixels.value + pixels.len).step_by(997));
    cuts.extend((chain_start..sealed.len()).step_by(61));
    cuts.extend([chain_start + 3, chain_start + 11, sealed.len() - 1]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&cut| cut < sealed.len());
    assert!(cuts.len() > 150, "{} cuts", cuts.len());

    let dir = lab.case_dir("truncated");
    let out = lab.path("cases/truncated.signed");
    std::fs::create_dir_all(&out).unwrap();
    let boundaries: Vec<usize> = top.iter().map(|e| e.start).collect();
    let trust = lab.trust();
    let key = lab.key();
    for cut in cuts {
        let input = dir.join(format!("cut-{cut}.dcm"));
        std::fs::write(&input, &sealed[..cut]).unwrap();
        // A cut at an element boundary of the original leaves a well-formed shorter file
        // without the seal block: UNSIGNED is right there. A cut between the creator and the
        // chain element leaves a block without its chain: INVALID (B7). Anywhere else the file
        // cannot be read.
        let expected: &[&str] = if cut > data_start && cut <= creator_start {
            if boundaries.contains(&cut) || cut == creator_start {
                &["UNSIGNED"]
            } else {
                &["ERROR"]
            }
        } else if cut == chain_start {
            &["INVALID"]
        } else {
            &["ERROR"]
        };
        let run = capped(&[
            "verify".as_ref(),
            "--threads".as_ref(),
            "2".as_ref(),
            "--trust".as_ref(),
            trust.as_os_str(),
            input.as_os_str(),
        ]);
        run.status(1);
        assert_eq!(run.lines().len(), 1, "cut at {cut}\n{run}");
        let verdict = run.stdout.split(' ').next().unwrap();
        assert!(
            expected.contains(&verdict),
            "cut at {cut}: {verdict}, expected {expected:?}\n{run}"
        );
        if verdict == "ERROR" {
            // The reason says why: not DICOM, a length beyond the end, a data set that ends
            // inside something.
            assert!(
                run.stdout.contains("not a readable DICOM file")
                    || run.stdout.contains("cannot read the seal"),
                "cut at {cut}\n{run}"
            );
        }
        if verdict != "UNSIGNED" {
            let run = capped(&[
                "sign".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                input.as_os_str(),
            ]);
            run.status(1);
            assert!(run.stdout.starts_with("ERROR "), "cut at {cut}\n{run}");
            assert_empty(&out, &run);
        }
        assert_eq!(std::fs::read(&input).unwrap(), &sealed[..cut]);
        std::fs::remove_file(&input).unwrap();
    }
    assert_empty(&dir, &capped(&["--version"]));
}

// ---------------------------------------------------------------------------------------------
// 2.–4. VRs, lengths
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_and_unknown_vrs() {
    let lab = Lab::new();

    // Rows (US) with a 3-byte value.
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(tags::ROWS, VR::US, Value::Verbatim(vec![48, 0, 0]));
    check_damaged(
        &lab,
        "us-of-3-bytes",
        &encode(&fixture),
        Damage::NoCanonicalForm,
        true,
        &["(0028,0010)", "Rows"],
    );

    // A text element declared with a numeric VR whose unit does not divide its length:
    // Study Description as FD with 7 bytes. In a little-endian transfer syntax canon-v1 takes
    // such a value as octets, unchecked (C5.3), so the file is readable: unsealed it is
    // UNSIGNED, and in a sealed file it is a changed key attribute (text became octets).
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(
        tags::STUDY_DESCRIPTION,
        VR::FD,
        Value::Verbatim(b"CT HEAD".to_vec()),
    );
    let bytes = encode(&fixture);
    check_readable_unsealed_and_sealed(
        &lab,
        "text-as-fd",
        &bytes,
        "ALTERED",
        &["StudyDescription"],
    );
    // In Explicit VR Big Endian too: a standard text element is text whatever its written VR
    // (both implementations of canon-v1 swap only values of the octets class), so readable.
    let be = fixture
        .encode(Encoding::ExplicitVrBigEndian, &EncodeOptions::default())
        .unwrap();
    check_readable(&lab, "text-as-fd-be", &be, "UNSIGNED", &["no seal"]);
    // But a numeric value that must be byte-swapped per 8-byte unit cannot be when it has 7
    // bytes (BadValueLength): Water Equivalent Diameter (FD).
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(
        Tag(0x0018, 0x1271),
        VR::FD,
        Value::Verbatim(vec![1, 2, 3, 4, 5, 6, 7]),
    );
    check_big_endian_bad_length(
        &lab,
        "fd-of-7-bytes-be",
        &fixture,
        &["(0018,1271)", "length 7, not a multiple of 8"],
    );

    // Unknown VR bytes in place of a known VR (same length, so the rest of the file is as it
    // was): `ZZ` and two NULs, on a 2-byte-length element and on a 4-byte-length one.
    for (label, tag) in [("lo", tags::STUDY_DESCRIPTION), ("ob", Tag(0x0016, 0x002B))] {
        for vr in [*b"ZZ", [0, 0]] {
            let mut bytes = lab.original.clone();
            let at = find(&bytes, tag).start;
            bytes[at + 4..at + 6].copy_from_slice(&vr);
            let name = format!(
                "unknown-vr-{label}-{}",
                if vr[0] == 0 { "nul" } else { "zz" }
            );
            check_damaged(
                &lab,
                &name,
                &bytes,
                Damage::Unreadable,
                false,
                &["unknown VR", &tag.to_string()],
            );
        }
    }
}

#[test]
fn lengths_far_beyond_the_file_and_undefined_where_not_allowed() {
    let lab = Lab::new();
    let huge = HUGE.to_string();

    // 4 GiB declared on an OB (Maker Note), a UT and a UN element, and on the pixel data.
    let mut with_long = Fixture::ct_slice(SEED);
    with_long
        .add_private(0x0011, "BAD INPUT", 0x01, VR::UT, "some text")
        .unwrap();
    with_long
        .add_private(0x0011, "BAD INPUT", 0x02, VR::UN, vec![1u8, 2, 3, 4])
        .unwrap();
    let with_long = encode(&with_long);
    for (label, tag) in [
        ("ob", Tag(0x0016, 0x002B)),
        ("ut", Tag(0x0011, 0x1001)),
        ("un", Tag(0x0011, 0x1002)),
        ("pixels", tags::PIXEL_DATA),
    ] {
        let mut bytes = with_long.clone();
        let at = find(&bytes, tag).length_at;
        bytes[at..at + 4].copy_from_slice(&HUGE.to_le_bytes());
        check_damaged(
            &lab,
            &format!("huge-{label}"),
            &bytes,
            Damage::Unreadable,
            false,
            &[&tag.to_string(), &format!("declares {huge} bytes")],
        );
    }

    // 4 GiB declared on the Maker Note inside a deflated data set, where the length cannot be
    // checked against the file's length directly.
    let fixture = Fixture::ct_slice(SEED);
    let options = EncodeOptions {
        sequence_length: SequenceLength::Defined,
        ..EncodeOptions::default()
    };
    let deflated = fixture
        .encode(Encoding::DeflatedExplicitVrLittleEndian, &options)
        .unwrap();
    let mut data = fixture
        .encode_data_set(Encoding::DeflatedExplicitVrLittleEndian, &options)
        .unwrap();
    let maker_note = walk_from(&data, 0)
        .1
        .into_iter()
        .find(|e| e.tag == (0x0016, 0x002B))
        .unwrap();
    data[maker_note.length_at..maker_note.length_at + 4].copy_from_slice(&HUGE.to_le_bytes());
    let meta_end = walk(&deflated).0.last().map(|e| e.value + e.len).unwrap();
    let bytes = [&deflated[..meta_end], &deflate_stored(&data)[..]].concat();
    let reason = ["(0016,002B)", &format!("declares {huge} bytes")];
    let expect = Expect {
        verdict: "ERROR",
        reason: &reason,
        digest: Some(&reason),
        sign: &reason,
        inspect: 2,
        refused_without_trust: true,
    };
    check_file(&lab, "huge-deflated", &bytes, &expect);

    // 4 GiB declared on the seal's chain element of a sealed file.
    let mut sealed = lab.good_sealed();
    let at = lab.original.len() + CREATOR_LEN + 8;
    sealed[at..at + 4].copy_from_slice(&HUGE.to_le_bytes());
    let reason = ["(7FF1,1001)", &format!("declares {huge} bytes")];
    let expect = Expect {
        verdict: "ERROR",
        reason: &reason,
        digest: Some(&reason),
        sign: &reason,
        inspect: 2,
        refused_without_trust: true,
    };
    check_file(&lab, "huge-chain", &sealed, &expect);

    // 4 GiB declared in the File Meta Information: Media Storage SOP Instance UID re-encoded
    // as OB (a 4-byte length) declaring 0xFFFFFFF0 bytes.
    let original = &lab.original;
    let (meta, _) = walk(original);
    let uid = meta.iter().find(|e| e.tag == (0x0002, 0x0003)).unwrap();
    let forged = element_declaring(
        Tag(0x0002, 0x0003),
        b"OB",
        HUGE,
        &original[uid.value..uid.value + uid.len],
    );
    let bytes = [
        &original[..uid.start],
        &forged[..],
        &original[uid.value + uid.len..],
    ]
    .concat();
    check_damaged(
        &lab,
        "huge-meta",
        &bytes,
        Damage::Unreadable,
        false,
        &["(0002,0003)", &format!("declares {huge} bytes")],
    );

    // A 2-byte length beyond the end: Window Width (DS), one of the last elements before the
    // pixel data, declaring 65534 bytes in a file of a few KiB.
    let mut bytes = lab.original.clone();
    let at = find(&bytes, tags::WINDOW_WIDTH).length_at;
    bytes[at..at + 2].copy_from_slice(&0xFFFEu16.to_le_bytes());
    check_damaged(
        &lab,
        "short-length-beyond-end",
        &bytes,
        Damage::Unreadable,
        false,
        &["(0028,1051)", "declares 65534 bytes"],
    );

    // An undefined length on a VR that cannot have one (UT).
    let mut bytes = with_long.clone();
    let at = find(&bytes, Tag(0x0011, 0x1001)).length_at;
    bytes[at..at + 4].copy_from_slice(&UNDEFINED.to_le_bytes());
    check_damaged(
        &lab,
        "undefined-ut",
        &bytes,
        Damage::Unreadable,
        false,
        &["(0011,1001)"],
    );
}

#[test]
fn odd_lengths() {
    let lab = Lab::new();
    // US of length 3 on a private element: octets in a little-endian transfer syntax (C5.3),
    // so readable; in a sealed file a changed (non-key) attribute, MODIFIED. In Big Endian it
    // cannot be byte-swapped: BadValueLength.
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(Tag(0x0009, 0x1002), VR::US, Value::Verbatim(vec![1, 2, 3]));
    let bytes = encode(&fixture);
    check_readable_unsealed_and_sealed(&lab, "odd-us", &bytes, "MODIFIED", &["ACME 1.0"]);
    check_big_endian_bad_length(
        &lab,
        "odd-us-be",
        &fixture,
        &["(0009,1002)", "length 3, not a multiple of 2"],
    );

    // Pixel data one byte short of the descriptor (odd length).
    let mut fixture = Fixture::ct_slice(SEED);
    let size = 48 * 64 * 2;
    fixture.set_attribute(
        tags::PIXEL_DATA,
        VR::OW,
        Value::Verbatim(noise(1, size - 1)),
    );
    check_damaged(
        &lab,
        "odd-pixels",
        &encode(&fixture),
        Damage::NoCanonicalForm,
        true,
        &[&format!("pixel data holds {} bytes", size - 1)],
    );

    // A PN of odd length (5): text is readable, so this is the verdict on content: a sealed
    // file whose Patient Name became "Doe^J" is ALTERED naming it, and the unsealed file is
    // UNSIGNED.
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(
        tags::PATIENT_NAME,
        VR::PN,
        Value::Verbatim(b"Doe^J".to_vec()),
    );
    let bytes = encode(&fixture);
    check_readable_unsealed_and_sealed(&lab, "odd-pn", &bytes, "ALTERED", &["PatientName"]);
}

/// `fixture` in Explicit VR Big Endian, where a value of a swapped VR whose length is not a
/// multiple of its unit has no canonical form: UNSIGNED (no seal), and `digest`, `sign`,
/// `deidentify` refuse it naming the element.
fn check_big_endian_bad_length(lab: &Lab, name: &str, fixture: &Fixture, reason: &[&str]) {
    let bytes = fixture
        .encode(Encoding::ExplicitVrBigEndian, &EncodeOptions::default())
        .unwrap();
    let expect = Expect {
        verdict: "UNSIGNED",
        reason: &["no seal"],
        digest: Some(reason),
        sign: reason,
        inspect: 1,
        refused_without_trust: true,
    };
    check_file(lab, name, &bytes, &expect);
}

/// A file that is readable DICOM: `verify` gives `verdict` naming `reason`; `digest` works;
/// nothing is written by verify.
fn check_readable(lab: &Lab, name: &str, bytes: &[u8], verdict: &str, reason: &[&str]) {
    let dir = lab.case_dir(name);
    let input = dir.join("input.dcm");
    std::fs::write(&input, bytes).unwrap();
    let trust = lab.trust();
    let run = capped(&[
        "verify".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
        "--trust".as_ref(),
        trust.as_os_str(),
        input.as_os_str(),
    ]);
    let passes = verdict == "INTACT" || verdict == "MODIFIED";
    run.status(if passes { 0 } else { 1 });
    assert_eq!(run.lines().len(), 1, "{name}\n{run}");
    assert!(
        run.stdout
            .starts_with(&format!("{verdict} {}: ", input.display())),
        "{name}\n{run}"
    );
    run.contains(&run.stdout, reason);
    capped(&["digest".as_ref(), input.as_os_str()]).status(0);
    assert_eq!(std::fs::read(&input).unwrap(), bytes);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

/// A readable malformation: unsealed, `bytes` verifies `UNSIGNED`; sealed, it verifies
/// `sealed_verdict` with `sealed_reason` (`check_readable` for each).
fn check_readable_unsealed_and_sealed(
    lab: &Lab,
    name: &str,
    bytes: &[u8],
    sealed_verdict: &str,
    sealed_reason: &[&str],
) {
    check_readable(lab, name, bytes, "UNSIGNED", &["no seal"]);
    check_readable(
        lab,
        &format!("{name}-sealed"),
        &lab.sealed(bytes),
        sealed_verdict,
        sealed_reason,
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Nesting
// ---------------------------------------------------------------------------------------------

/// Content Sequence nested `depth` levels deep around one SH element, with undefined
/// lengths.
fn nested_undefined(depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(depth * 36 + 16);
    for _ in 0..depth {
        out.extend(element_declaring(
            tags::CONTENT_SEQUENCE,
            b"SQ",
            UNDEFINED,
            &[],
        ));
        out.extend(item(0xE000, UNDEFINED));
    }
    out.extend(element(Tag(0x0008, 0x0100), b"SH", b"LEAF"));
    for _ in 0..depth {
        out.extend(item(0xE00D, 0));
        out.extend(item(0xE0DD, 0));
    }
    out
}

/// The same with defined lengths.
fn nested_defined(depth: usize) -> Vec<u8> {
    let leaf = element(Tag(0x0008, 0x0100), b"SH", b"LEAF");
    let mut out = Vec::with_capacity(depth * 20 + leaf.len());
    for level in (0..depth).rev() {
        // The item at `level` (0 = innermost) holds `leaf` and 20 bytes per level inside it.
        let item_len = u32::try_from(leaf.len() + 20 * level).unwrap();
        out.extend(element_declaring(
            tags::CONTENT_SEQUENCE,
            b"SQ",
            item_len + 8,
            &[],
        ));
        out.extend(item(0xE000, item_len));
    }
    out.extend(leaf);
    out
}

#[test]
fn ten_thousand_nested_sequences() {
    let lab = Lab::new();
    for (label, nested) in [
        ("undefined", nested_undefined(10_000)),
        ("defined", nested_defined(10_000)),
    ] {
        let bytes = insert(&lab.original, tags::CONTENT_SEQUENCE, &nested);
        check_damaged(
            &lab,
            &format!("nested-{label}"),
            &bytes,
            Damage::Unreadable,
            false,
            &["nested deeper than 128 levels"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6.–7. Pixel data and Number of Frames
// ---------------------------------------------------------------------------------------------

#[test]
fn pixel_data_of_the_wrong_size() {
    let lab = Lab::new();
    let size = 48 * 64 * 2;
    // Shorter than Rows × Columns × Frames × BitsAllocated / 8.
    let mut fixture = Fixture::ct_slice(SEED);
    fixture.set_attribute(
        tags::PIXEL_DATA,
        VR::OW,
        Value::Verbatim(noise(2, size - 2)),
    );
    check_damaged(
        &lab,
        "pixels-short",
        &encode(&fixture),
        Damage::NoCanonicalForm,
        true,
        &[&format!(
            "pixel data holds {} bytes but the descriptor requires {size}",
            size - 2
        )],
    );

    // Longer: canon C4.2.4 ignores bytes after the last frame, so the file is readable, and
    // a sealed file whose pixel data gained two bytes of padding still has its sealed pixels.
    let mut fixture = Fixture::ct_slice(SEED);
    let mut pixels = lab.original[find(&lab.original, tags::PIXEL_DATA).value..].to_vec();
    assert_eq!(pixels.len(), size);
    pixels.extend([0, 0]);
    fixture.set_attribute(tags::PIXEL_DATA, VR::OW, Value::Verbatim(pixels));
    let bytes = encode(&fixture);
    check_readable_unsealed_and_sealed(&lab, "pixels-long", &bytes, "INTACT", &["pixels and all"]);

    // Encapsulated (RLE): three frames in three fragments, but Number of Frames says 2 or 4.
    for frames in ["2", "4"] {
        let mut fixture = Fixture::mr_multiframe(3, SEED);
        fixture.set_attribute(tags::NUMBER_OF_FRAMES, VR::IS, frames);
        let bytes = fixture
            .encode(Encoding::RleLossless, &EncodeOptions::default())
            .unwrap();
        check_damaged(
            &lab,
            &format!("rle-{frames}-frames"),
            &bytes,
            Damage::NoCanonicalForm,
            true,
            &[&format!("fragments to {frames} frames")],
        );
    }
}

#[test]
fn number_of_frames_zero_absurd_or_not_a_number() {
    let lab = Lab::new();
    for (label, value, reason) in [
        ("zero", "0", "NumberOfFrames"),
        ("u32-max", "4294967295", "descriptor requires"),
        ("twelve-digits", "999999999999", "NumberOfFrames"),
        ("text", "many", "NumberOfFrames"),
        ("negative", "-1", "NumberOfFrames"),
    ] {
        let mut fixture = Fixture::ct_slice(SEED);
        fixture.set_attribute(tags::NUMBER_OF_FRAMES, VR::IS, value);
        check_damaged(
            &lab,
            &format!("frames-{label}"),
            &encode(&fixture),
            Damage::NoCanonicalForm,
            true,
            &[reason],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Malformed seals
// ---------------------------------------------------------------------------------------------

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

/// The field `key` of a CBOR map.
fn field<'a>(map: &'a mut Cbor, key: &str) -> &'a mut Cbor {
    let Cbor::Map(entries) = map else {
        panic!("not a map")
    };
    &mut entries
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(key))
        .unwrap()
        .1
}

/// The first seal record of a chain.
fn record(chain: &mut Cbor) -> &mut Cbor {
    let Cbor::Array(seals) = field(chain, "seals") else {
        panic!("seals")
    };
    &mut seals[0]
}

/// The envelope bytes of the first seal.
fn envelope(chain: &mut Cbor) -> &mut Vec<u8> {
    let Cbor::Bytes(bytes) = field(record(chain), "envelope") else {
        panic!("envelope")
    };
    bytes
}

/// The parts of a COSE_Sign1: protected bytes, unprotected map, payload, signature.
/// A COSE_Sign1's protected header bytes, unprotected header, payload and signature.
type Sign1Parts = (Vec<u8>, Vec<(Cbor, Cbor)>, Vec<u8>, Vec<u8>);

fn sign1_parts(envelope: &[u8]) -> Sign1Parts {
    let value: Cbor = ciborium::de::from_reader(envelope).unwrap();
    let Cbor::Tag(18, inner) = value else {
        panic!("not tag 18")
    };
    let Cbor::Array(parts) = *inner else {
        panic!("not an array")
    };
    match &parts[..] {
        [Cbor::Bytes(protected), Cbor::Map(unprotected), Cbor::Bytes(payload), Cbor::Bytes(signature)] => {
            (
                protected.clone(),
                unprotected.clone(),
                payload.clone(),
                signature.clone(),
            )
        }
        other => panic!("{other:?}"),
    }
}

/// A COSE_Sign1 with these headers over `payload`, really signed by `key` (so only the
/// structure is wrong, never the signature).
fn forge(
    key: &SigningKey,
    protected: &[u8],
    unprotected: Vec<(Cbor, Cbor)>,
    payload: Option<&[u8]>,
) -> Vec<u8> {
    let tbs = cbor(&Cbor::Array(vec![
        text("Signature1"),
        Cbor::Bytes(protected.to_vec()),
        Cbor::Bytes(Vec::new()),
        Cbor::Bytes(payload.unwrap_or_default().to_vec()),
    ]));
    let signature = key.sign(&tbs).to_vec();
    cbor(&Cbor::Tag(
        18,
        Box::new(Cbor::Array(vec![
            Cbor::Bytes(protected.to_vec()),
            Cbor::Map(unprotected),
            payload.map_or(Cbor::Null, |p| Cbor::Bytes(p.to_vec())),
            Cbor::Bytes(signature),
        ])),
    ))
}

fn int(i: i64) -> Cbor {
    Cbor::Integer(i.into())
}

/// What a sealed file with a malformed seal gives: INVALID naming the problem; readable
/// (digest works); `sign` refuses it as already sealed; inspect cannot show it (or shows
/// what it claims, `inspect` = 0, when only the signature is wrong).
fn check_invalid_seal(lab: &Lab, name: &str, bytes: &[u8], reason: &[&str], inspect: i32) {
    let expect = Expect {
        verdict: "INVALID",
        reason,
        digest: None,
        sign: &["already sealed"],
        inspect,
        refused_without_trust: inspect != 0,
    };
    check_file(lab, name, bytes, &expect);
}

#[test]
fn malformed_seal_cbor_and_cose_are_invalid() {
    let lab = Lab::new();
    let key = SigningKey::load(&lab.key()).unwrap();
    let good = lab.chain();
    let with_chain =
        |chain: &[u8]| [&lab.original[..], &seal_block(0x7FF1, 0x10, chain)[..]].concat();
    let with_envelope = |envelope_bytes: Vec<u8>| {
        let mut chain = good.clone();
        *self::envelope(&mut chain) = envelope_bytes;
        with_chain(&cbor(&chain))
    };
    let mut good_chain = good.clone();
    let (protected, unprotected, payload, signature) = sign1_parts(envelope(&mut good_chain));
    assert!(unprotected.is_empty());
    let kid = protected[5..].to_vec();
    assert_eq!(protected[..5], [0xa2, 0x01, 0x27, 0x04, 0x50]);
    let header = |entries: Vec<(Cbor, Cbor)>| cbor(&Cbor::Map(entries));

    // Control: the block built here, and an envelope re-made here with the right headers,
    // verify INTACT.
    for bytes in [
        with_chain(&cbor(&good)),
        with_envelope(forge(&key, &protected, vec![], Some(&payload))),
    ] {
        check_readable(&lab, "control", &bytes, "INTACT", &["unchanged"]);
        std::fs::remove_dir_all(lab.path("cases/control")).unwrap();
    }

    // Chains that are not chains.
    let chain_bytes = cbor(&good);
    let mut unknown_key = good.clone();
    let Cbor::Map(entries) = &mut unknown_key else {
        panic!()
    };
    // Deterministic order: the shorter key first.
    entries.insert(0, (text("zzz"), int(1)));
    let mut other_version = good.clone();
    *field(&mut other_version, "format") = text("scanseal-chain-v9");
    let mut no_seals = good.clone();
    *field(&mut no_seals, "seals") = Cbor::Array(vec![]);
    let mut short_salt = good.clone();
    let Cbor::Map(salts) = field(record(&mut short_salt), "salts") else {
        panic!()
    };
    salts[0].1 = Cbor::Bytes(vec![0; 15]);
    let deep = [vec![0x81u8; 10_000], vec![0x00]].concat();
    let chains: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("chain-noise", noise(3, 200), &["malformed seal"]),
        (
            "chain-truncated",
            chain_bytes[..chain_bytes.len() - 7].to_vec(),
            &["malformed seal"],
        ),
        (
            "chain-array",
            cbor(&Cbor::Array(vec![text("scanseal-chain-v1")])),
            &["malformed seal"],
        ),
        (
            "chain-unknown-key",
            cbor(&unknown_key),
            &["unknown field", "zzz"],
        ),
        (
            "chain-other-version",
            cbor(&other_version),
            &["scanseal-chain-v9"],
        ),
        ("chain-no-seals", cbor(&no_seals), &["no seals"]),
        ("chain-short-salt", cbor(&short_salt), &["16 bytes"]),
        (
            "chain-trailing-bytes",
            [&chain_bytes[..], &[0x01, 0x02]].concat(),
            &["trailing bytes"],
        ),
        ("chain-10000-deep", deep, &["malformed seal"]),
    ];
    for (name, chain, reason) in chains {
        check_invalid_seal(&lab, name, &with_chain(&chain), reason, 2);
    }

    // Envelopes that are not v1 COSE_Sign1, each properly signed by the trusted key.
    let envelopes: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "cose-es256",
            forge(
                &key,
                &header(vec![(int(1), int(-7)), (int(4), Cbor::Bytes(kid.clone()))]),
                vec![],
                Some(&payload),
            ),
            &["algorithm", "ES256", "only EdDSA"],
        ),
        (
            "cose-no-kid",
            forge(
                &key,
                &header(vec![(int(1), int(-8))]),
                vec![],
                Some(&payload),
            ),
            &["kid"],
        ),
        (
            "cose-short-kid",
            forge(
                &key,
                &header(vec![
                    (int(1), int(-8)),
                    (int(4), Cbor::Bytes(kid[..8].to_vec())),
                ]),
                vec![],
                Some(&payload),
            ),
            &["kid"],
        ),
        (
            "cose-unprotected-alg",
            forge(
                &key,
                &header(vec![(int(4), Cbor::Bytes(kid.clone()))]),
                vec![(int(1), int(-8))],
                Some(&payload),
            ),
            &["unprotected header"],
        ),
        (
            "cose-unprotected-kid",
            forge(
                &key,
                &protected,
                vec![(int(4), Cbor::Bytes(kid.clone()))],
                Some(&payload),
            ),
            &["unprotected header must be empty"],
        ),
        (
            "cose-crit",
            forge(
                &key,
                &header(vec![
                    (int(1), int(-8)),
                    (int(2), Cbor::Array(vec![int(4)])),
                    (int(4), Cbor::Bytes(kid.clone())),
                ]),
                vec![],
                Some(&payload),
            ),
            &["exactly {1: -8, 4: kid}"],
        ),
        (
            "cose-header-order",
            forge(
                &key,
                &header(vec![(int(4), Cbor::Bytes(kid.clone())), (int(1), int(-8))]),
                vec![],
                Some(&payload),
            ),
            &["exactly {1: -8, 4: kid}"],
        ),
        (
            "cose-detached",
            forge(&key, &protected, vec![], None),
            &["detached"],
        ),
        (
            "cose-untagged",
            forge(&key, &protected, vec![], Some(&payload))[1..].to_vec(),
            &["tag 18"],
        ),
        (
            "cose-trailing-bytes",
            [forge(&key, &protected, vec![], Some(&payload)), vec![0x00]].concat(),
            &["seal 1", "envelope"],
        ),
        (
            "cose-not-a-manifest",
            forge(&key, &protected, vec![], Some(&cbor(&text("hello")))),
            &["manifest"],
        ),
        (
            "cose-short-signature",
            cbor(&Cbor::Tag(
                18,
                Box::new(Cbor::Array(vec![
                    Cbor::Bytes(protected.clone()),
                    Cbor::Map(vec![]),
                    Cbor::Bytes(payload.clone()),
                    Cbor::Bytes(signature[..63].to_vec()),
                ])),
            )),
            &["not 64"],
        ),
    ];
    for (name, envelope, reason) in envelopes {
        check_invalid_seal(&lab, name, &with_envelope(envelope), reason, 2);
    }

    // A valid envelope whose signature has one bit flipped: forged or damaged. Its claims can
    // still be shown by inspect (which says, with --trust, that they do not verify).
    let mut flipped = signature.clone();
    flipped[10] ^= 0x04;
    let bytes = with_envelope(cbor(&Cbor::Tag(
        18,
        Box::new(Cbor::Array(vec![
            Cbor::Bytes(protected.clone()),
            Cbor::Map(vec![]),
            Cbor::Bytes(payload.clone()),
            Cbor::Bytes(flipped),
        ])),
    )));
    check_invalid_seal(
        &lab,
        "cose-flipped-signature",
        &bytes,
        &["signature does not verify", "forged or damaged"],
        0,
    );
    let input = lab.path("cases/cose-flipped-signature/input.dcm");
    let trust = lab.trust();
    let run = capped(&[
        "inspect".as_ref(),
        "--trust".as_ref(),
        trust.as_os_str(),
        input.as_os_str(),
    ]);
    run.status(0);
    run.contains(&run.stdout, &["DOES NOT VERIFY"]);
}

// ---------------------------------------------------------------------------------------------
// 9.–10. Where seal blocks are
// ---------------------------------------------------------------------------------------------

#[test]
fn two_seal_blocks_are_invalid_and_refused() {
    let lab = Lab::new();
    let chain = cbor(&lab.chain());
    // The same chain in groups 7FF1 and 7FF3.
    let two_groups = [
        &lab.good_sealed()[..],
        &seal_block(0x7FF3, 0x10, &chain)[..],
    ]
    .concat();
    // Two blocks in group 7FF1: creators (7FF1,0010) and (7FF1,0011), then their chains.
    let mut padded = chain.clone();
    if padded.len() % 2 == 1 {
        padded.push(0);
    }
    let one_group = [
        &lab.original[..],
        &element(Tag(0x7FF1, 0x0010), b"LO", b"SCANSEAL 1"),
        &element(Tag(0x7FF1, 0x0011), b"LO", b"SCANSEAL 1"),
        &element(Tag(0x7FF1, 0x1001), b"OB", &padded),
        &element(Tag(0x7FF1, 0x1101), b"OB", &padded),
    ]
    .concat();
    for (name, bytes) in [("two-groups", two_groups), ("two-in-one-group", one_group)] {
        check_file(
            &lab,
            name,
            &bytes,
            &Expect {
                verdict: "INVALID",
                reason: &["2 seal blocks at the top level"],
                digest: None,
                sign: &["2 seal blocks at the top level"],
                inspect: 2,
                refused_without_trust: true,
            },
        );
    }
}

#[test]
fn a_seal_block_inside_an_item_is_not_a_seal() {
    let lab = Lab::new();
    let chain = cbor(&lab.chain());
    let mut padded = chain.clone();
    if padded.len() % 2 == 1 {
        padded.push(0);
    }
    // The top-level block moved into the item of a sequence: no top-level block is left.
    let item_content = [
        element(Tag(0x7FF1, 0x0010), b"LO", b"SCANSEAL 1"),
        element(Tag(0x7FF1, 0x1001), b"OB", &padded),
    ]
    .concat();
    let item_bytes = [
        item(0xE000, u32::try_from(item_content.len()).unwrap()),
        item_content,
    ]
    .concat();
    let sequence = element(tags::CONTENT_SEQUENCE, b"SQ", &item_bytes);
    let bytes = insert(&lab.original, tags::CONTENT_SEQUENCE, &sequence);
    check_readable(&lab, "block-in-item", &bytes, "UNSIGNED", &["no seal"]);
    let input = lab.path("cases/block-in-item/input.dcm");
    let run = capped(&["inspect".as_ref(), input.as_os_str()]);
    run.status(1);
    run.contains(&run.stdout, &["no seal"]);
}

// ---------------------------------------------------------------------------------------------
// 11. Keys
// ---------------------------------------------------------------------------------------------

/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512` (a throwaway key).
const RSA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEA6mpVf4z//sEeQc3I
fDkDPcvGD+JD2AOrwuefm5zeSbqrSz7ntf0sLXjlAhHgBQklKXEmztnoaRBl7Zvh
8YXcEwIDAQABAkEAlSESxXORRKPdOOXOnuCyZDToCyDaImmrcvJiAuCYNfRYqLIS
qcDC+w+sIQWYXHTRHYXemOoyqUsRu/c60tIJuQIhAP7A6LuGBzZ77RXyfR4O0D8r
grvJ9IhXTIAtirJamaVXAiEA64/zSKXax3DsapLT7MOmsUh1zpOLZPjq9fKbTyZC
LaUCIQDf7qKldAMTGYwmJqlkqpDTdmPMvpF854APi/jHHmzAsQIhAJYq/2m5qZ3p
BB3wmj9efr6XtdpKPtvQv2CpF48+kYOtAiB0KXaSsXdLCXS1QRGzxhMw/oAsFnYV
bQTT+5o+8jxHeQ==
-----END PRIVATE KEY-----
";

/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (a throwaway key).
const EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxXAp2T4A8kLx3XcP
MbYvQlt5XxD7Opaj75LB1gch1N+hRANCAATvx2WbVLZl7D35PBgaYVVmUk/fW3Jt
1EvQTgR2XnvJtoRfBxzMzZMIXyQ/Y4gjzgtJVqyTB4B01BpRJu0lLAzA
-----END PRIVATE KEY-----
";

/// `openssl genpkey -algorithm ed448` (a throwaway key).
const ED448_KEY: &str = "-----BEGIN PRIVATE KEY-----
MEcCAQAwBQYDK2VxBDsEOYzxQBm1uVKE0QfFTebOpb4YxcpA2eT5Ouk1XQEOSKB3
58uUATIYFfZyuK0/5Ac8P24a+rEtJs1bhA==
-----END PRIVATE KEY-----
";

#[test]
fn bad_private_keys_stop_the_command_before_anything_is_written() {
    let lab = Lab::new();
    let good = std::fs::read_to_string(lab.key()).unwrap();
    let public = std::fs::read(lab.path("keys/example-ct-01.pub")).unwrap();
    let dir = lab.case_dir("keys");
    let cases: Vec<(&str, Vec<u8>, u32, &[&str])> = vec![
        (
            "garbage",
            b"this is not a key\n".to_vec(),
            0o600,
            &["not a PEM file"],
        ),
        ("binary", noise(4, 300), 0o600, &["not text"]),
        ("empty", Vec::new(), 0o600, &["the file is empty"]),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            0o600,
            &["not an Ed25519 PKCS#8 PEM private key"],
        ),
        (
            "wrong-label",
            good.replace("PRIVATE KEY", "EC PRIVATE KEY").into_bytes(),
            0o600,
            &["not an Ed25519 PKCS#8 PEM private key", "PRIVATE KEY"],
        ),
        ("public", public, 0o600, &["public key", ".key"]),
        (
            "rsa",
            RSA_KEY.as_bytes().to_vec(),
            0o600,
            &["this is an RSA key", "1.2.840.113549.1.1.1"],
        ),
        (
            "ecdsa",
            EC_KEY.as_bytes().to_vec(),
            0o600,
            &["(ECDSA) key", "1.2.840.10045.2.1"],
        ),
        (
            "ed448",
            ED448_KEY.as_bytes().to_vec(),
            0o600,
            &["this is an Ed448 key", "1.3.101.113"],
        ),
        (
            "readable",
            good.as_bytes().to_vec(),
            0o644,
            &["readable by group or others", "chmod 600"],
        ),
    ];
    let input = lab.path("good/ct.dcm");
    let sealed = lab.path("good/sealed/ct.dcm");
    let before = snapshot(&lab.path("good"));
    for (name, content, mode, reason) in cases {
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&key, &content).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let key_text = key.display().to_string();
        let mut reason = reason.to_vec();
        reason.push(&key_text);
        let out = lab.path(&format!("cases/keys-{name}.out"));
        std::fs::create_dir_all(&out).unwrap();
        let runs = [
            capped(&[
                "sign".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                input.as_os_str(),
            ]),
            capped(&[
                "sign".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--in-place".as_ref(),
                input.as_os_str(),
            ]),
            capped(&[
                "sign".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--sidecar".as_ref(),
                input.as_os_str(),
            ]),
            capped(&[
                "deidentify".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                sealed.as_os_str(),
            ]),
        ];
        for run in &runs {
            if run.what.starts_with("deidentify") {
                // The run's note about its UID secret comes first on stderr.
                run.status(2);
                assert!(run.stdout.is_empty(), "{run}");
                let last = run.stderr.lines().last().unwrap();
                assert!(last.starts_with("scanseal: "), "{run}");
                run.contains(last, &reason);
            } else {
                run.cannot_run(&reason);
            }
            assert_empty(&out, run);
        }
        assert_eq!(
            std::fs::read(&key).unwrap(),
            content,
            "{name}: the key changed"
        );
        assert_eq!(
            snapshot(&lab.path("good")),
            before,
            "{name}: an input changed"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 12. Trust stores
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_trust_stores_stop_verify_and_are_left_unchanged() {
    let lab = Lab::new();
    let good = std::fs::read_to_string(lab.trust()).unwrap();
    // The example store's first entry, for duplicating.
    let first_entry: String = {
        let start = good.find("[[key]]").unwrap();
        let end = good[start + 1..].find("[[key]]").unwrap() + start + 1;
        good[start..end].to_string()
    };
    let same_key_twice = format!(
        "{good}\n{}",
        first_entry.replace("name = \"example-ct-01\"", "name = \"example-ct-02\"")
    );
    let deid_entry = {
        let start = good.find("name = \"example-deid-01\"").unwrap();
        let end = good[start..].find("[[key]]").unwrap() + start;
        format!("[[key]]\n{}", &good[start..end])
    };
    let same_name_twice = format!(
        "{good}\n{}",
        deid_entry.replace("example-deid-01", "example-ct-01")
    );
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "same-key-twice",
            same_key_twice.into_bytes(),
            &[
                "eec455f920a3508e0de64f52f3716c02",
                "already in the trust store as example-ct-01",
            ],
        ),
        (
            "same-name-twice",
            same_name_twice.into_bytes(),
            &["already has a key named example-ct-01"],
        ),
        ("garbage", b"this is [not toml\n".to_vec(), &["line 1"]),
        ("binary", noise(5, 200), &["not UTF-8 text"]),
        (
            "unknown-role",
            good.replacen("role = \"acquisition\"", "role = \"modality\"", 1)
                .into_bytes(),
            &["role \"modality\""],
        ),
        ("empty", Vec::new(), &["no `version = 1`"]),
        (
            "newer-version",
            good.replace("version = 1", "version = 2").into_bytes(),
            &["version 2"],
        ),
    ];
    let sealed = lab.path("good/sealed/ct.dcm");
    let ct_pub = lab.path("keys/example-ct-01.pub");
    for (name, content, reason) in cases {
        let dir = lab.case_dir(&format!("trust-{name}"));
        let store = dir.join("trust.toml");
        std::fs::write(&store, &content).unwrap();
        let store_text = store.display().to_string();
        let mut reason = reason.to_vec();
        reason.push(&store_text);
        let png = lab.path(&format!("cases/trust-{name}.png"));
        std::fs::create_dir_all(&png).unwrap();
        for json in [false, true] {
            let mut args: Vec<&OsStr> = vec![
                "verify".as_ref(),
                "--threads".as_ref(),
                "2".as_ref(),
                "--png".as_ref(),
                png.as_os_str(),
                "--trust".as_ref(),
                store.as_os_str(),
            ];
            if json {
                args.push("--json".as_ref());
            }
            args.push(sealed.as_os_str());
            let run = capped(&args);
            run.cannot_run(&reason);
            run.contains(&run.stderr, &["cannot use trust store"]);
            assert_empty(&png, &run);
        }
        capped(&[
            "inspect".as_ref(),
            "--trust".as_ref(),
            store.as_os_str(),
            sealed.as_os_str(),
        ])
        .cannot_run(&reason);
        for args in [
            vec![
                "trust".as_ref(),
                "add".as_ref(),
                "--store".as_ref(),
                store.as_os_str(),
                "--role".as_ref(),
                "acquisition".as_ref(),
                "--name".as_ref(),
                "another".as_ref(),
                ct_pub.as_os_str(),
            ],
            vec![
                "trust".as_ref(),
                "revoke".as_ref(),
                "--store".as_ref(),
                store.as_os_str(),
                "--at".as_ref(),
                "2030-01-01".as_ref(),
                "example-ct-01".as_ref(),
            ],
            vec![
                "trust".as_ref(),
                "list".as_ref(),
                "--store".as_ref(),
                store.as_os_str(),
            ],
        ] {
            let run = capped(&args);
            run.cannot_run(&reason);
            let left: Vec<_> = snapshot(&dir).into_keys().collect();
            assert_eq!(left, vec![store.clone()], "{name}: stray files\n{run}");
            assert_eq!(std::fs::read(&store).unwrap(), content, "{name}\n{run}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 13. Ledgers
// ---------------------------------------------------------------------------------------------

#[test]
fn files_that_are_not_current_ledgers_are_refused_and_left_unchanged() {
    let lab = Lab::new();
    // A fresh ledger, then one whose user_version is newer than this scanseal's.
    let fresh = lab.path("fresh.db");
    capped(&["ledger".as_ref(), "init".as_ref(), fresh.as_os_str()]).status(0);
    let newer = {
        let dir = lab.case_dir("newer-build");
        let path = dir.join("ledger.db");
        std::fs::copy(&fresh, &path).unwrap();
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.pragma_update(None, "user_version", 2).unwrap();
        connection.close().unwrap();
        std::fs::read(&path).unwrap()
    };
    let other_sqlite = {
        let dir = lab.case_dir("other-build");
        let path = dir.join("other.db");
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("CREATE TABLE patients (name TEXT); INSERT INTO patients VALUES ('x');")
            .unwrap();
        connection.close().unwrap();
        std::fs::read(&path).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "noise",
            noise(6, 8192),
            &["not a scanseal ledger", "not a SQLite database"],
        ),
        ("empty", Vec::new(), &["not a scanseal ledger"]),
        (
            "text",
            b"seq,envelope\n0,abc\n".repeat(200),
            &["not a scanseal ledger", "not a SQLite database"],
        ),
        (
            "other-sqlite",
            other_sqlite,
            &["not a scanseal ledger", "application id"],
        ),
        (
            "newer",
            newer,
            &["schema version 2 is newer", "upgrade scanseal"],
        ),
    ];
    let key = lab.key();
    let ledger_key = lab.path("keys/example-ledger-01.key");
    let trust = lab.trust();
    let input = lab.path("good/ct.dcm");
    let sealed = lab.path("good/sealed/ct.dcm");
    for (name, content, reason) in cases {
        let dir = lab.case_dir(&format!("ledger-{name}"));
        let db = dir.join("ledger.db");
        std::fs::write(&db, &content).unwrap();
        let db_text = db.display().to_string();
        let out = lab.path(&format!("cases/ledger-{name}.out"));
        std::fs::create_dir_all(&out).unwrap();
        let proof = out.join("proof");
        let commands: Vec<Vec<&OsStr>> = vec![
            vec![
                "verify".as_ref(),
                "--threads".as_ref(),
                "2".as_ref(),
                "--trust".as_ref(),
                trust.as_os_str(),
                "--ledger".as_ref(),
                db.as_os_str(),
                sealed.as_os_str(),
            ],
            vec!["ledger".as_ref(), "verify".as_ref(), db.as_os_str()],
            vec![
                "ledger".as_ref(),
                "verify".as_ref(),
                "--json".as_ref(),
                db.as_os_str(),
            ],
            vec!["ledger".as_ref(), "info".as_ref(), db.as_os_str()],
            vec![
                "ledger".as_ref(),
                "checkpoint".as_ref(),
                "--key".as_ref(),
                ledger_key.as_os_str(),
                db.as_os_str(),
            ],
            vec![
                "ledger".as_ref(),
                "prove".as_ref(),
                "--seq".as_ref(),
                "0".as_ref(),
                "--out".as_ref(),
                proof.as_os_str(),
                db.as_os_str(),
            ],
            vec![
                "sign".as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--ledger".as_ref(),
                db.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                input.as_os_str(),
            ],
        ];
        for args in &commands {
            let run = capped(args);
            let mut reason = reason.to_vec();
            reason.push(&db_text);
            run.cannot_run(&reason);
            assert_empty(&out, &run);
            let left: Vec<_> = snapshot(&dir).into_keys().collect();
            assert_eq!(
                left,
                vec![db.clone()],
                "{name}: files next to the ledger\n{run}"
            );
            assert_eq!(
                std::fs::read(&db).unwrap(),
                content,
                "{name}: changed\n{run}"
            );
        }
        // `ledger init` never overwrites, whatever is there.
        let run = capped(&["ledger".as_ref(), "init".as_ref(), db.as_os_str()]);
        run.cannot_run(&["already exists", &db_text]);
        assert_eq!(
            std::fs::read(&db).unwrap(),
            content,
            "{name}: init changed it"
        );
        assert_eq!(snapshot(&dir).len(), 1, "{name}\n{run}");
    }
}
