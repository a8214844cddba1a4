"""Independent reference for the scanseal ledger (spec/ledger.md), for the interop tier.

Written from the texts only, not from scanseal's Rust code:

- RFC 9162 §2.1.1 (Merkle Tree Hash, leaf hash H(0x00 ‖ d), node hash H(0x01 ‖ l ‖ r)),
  §2.1.3.1/§2.1.4.1 (the recursive PATH and PROOF definitions) and the verification
  algorithms of §2.1.3.2 (inclusion) and §2.1.4.2 (consistency);
- C2SP signed-note (note text, `— name base64(key hash ‖ signature)` lines, Ed25519 key hash
  SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], verifier key strings), tlog-checkpoint
  (origin / size / root body) and tlog-proof v1 (`extra`, `index`, hashes, blank line,
  checkpoint);
- spec/ledger.md §3 (entry fields and deterministic CBOR encoding, instance key), §5 (C1–C4),
  §6 (P1–P2).

Every check raises `RefError` with a reason; nothing here calls scanseal. Ed25519 is
`cryptography`; CBOR decoding is cbor2, and the entry encoding is also produced by the small
deterministic encoder below (RFC 8949 §4.2.1: shortest heads, map keys sorted by their
encoded bytes), which must agree with `cbor2.dumps(..., canonical=True)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass, field

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_pem_public_key)

ENTRY_FORMAT = "scanseal-ledger-entry-v1"
KINDS = ("acquired", "countersigned", "deidentified")
PIXEL_MODES = ("decoded-samples", "encoded-frames")
ENTRY_KEYS = ("seq", "kind", "format", "pixels", "signer", "envelope", "instance", "recorded",
              "predecessor")
PIXEL_KEYS = ("mode", "digest", "tile_size")
INSTANCE_DOMAIN = b"scanseal-ledger-v1 sop-instance-uid"
PROOF_HEADER = b"c2sp.org/tlog-proof@v1"
EM_DASH = "\u2014"
MAX_PROOF_HASHES = 64  # P2
MAX_SIGNATURE_LINES = 16  # C4
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


class RefError(ValueError):
    """The input does not verify / parse under the reference reading of the specs."""


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ------------------------------------------------------------ RFC 9162 --

def leaf_hash(entry: bytes) -> bytes:
    return H(b"\x00" + entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth_of_leaf_hashes(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) given the leaf hashes (§2.1.1; MTH({}) = H(""))."""
    n = len(leaves)
    if n == 0:
        return H(b"")
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(mth_of_leaf_hashes(leaves[:k]), mth_of_leaf_hashes(leaves[k:]))


def inclusion_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1), leaf hashes given."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"PATH({m}, D[{n}]) undefined")
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return inclusion_path(m, leaves[:k]) + [mth_of_leaf_hashes(leaves[k:])]
    return inclusion_path(m - k, leaves[k:]) + [mth_of_leaf_hashes(leaves[:k])]


def consistency_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (§2.1.4.1), 0 < m <= n."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"PROOF({m}, D[{len(leaves)}]) undefined")

    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth_of_leaf_hashes(d)]
        k = _split(n)
        if m <= k:
            return subproof(m, d[:k], b) + [mth_of_leaf_hashes(d[k:])]
        return subproof(m - k, d[k:], False) + [mth_of_leaf_hashes(d[:k])]

    return subproof(m, leaves, True)


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= size:
        raise RefError(f"leaf index {index} >= tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise RefError("inclusion path longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise RefError("inclusion path shorter than the tree is deep")
    if r != root:
        raise RefError(f"inclusion path leads to {r.hex()}, not the root {root.hex()}")


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       proof: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2. Equal sizes: the proof is empty and the roots equal (§2.1.4.1)."""
    if not 0 < first <= second:
        raise RefError(f"no consistency proof from size {first} to {second}")
    if first == second:
        if proof:
            raise RefError("non-empty consistency proof between equal sizes")
        if first_hash != second_hash:
            raise RefError("equal sizes, different roots")
        return
    if not proof:
        raise RefError("empty consistency proof")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise RefError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != first_hash:
        raise RefError(f"consistency proof gives old root {fr.hex()}, checkpoint has {first_hash.hex()}")
    if sr != second_hash:
        raise RefError(f"consistency proof gives new root {sr.hex()}, expected {second_hash.hex()}")
    if sn != 0:
        raise RefError("consistency proof too short")


# ------------------------------------------------------------ entries --

def instance_key(uid: str | None) -> bytes:
    """§3.2: H("scanseal-ledger-v1 sop-instance-uid" ‖ 0x00 ‖ UTF-8(uid)), uid with trailing
    NULs and spaces removed; no UID: the empty string."""
    u = (uid or "").rstrip("\x00 ")
    return H(INSTANCE_DOMAIN + b"\x00" + u.encode("utf-8"))


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for ai, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | ai]) + n.to_bytes(width, "big")
    raise ValueError("integer too large")


def det_cbor(v) -> bytes:
    """Deterministic CBOR (RFC 8949 §4.2.1) for the types an entry uses."""
    if v is None:
        return b"\xf6"
    if isinstance(v, bool):
        raise TypeError("no booleans in an entry")
    if isinstance(v, int):
        if v < 0:
            raise TypeError("no negative integers in an entry")
        return _head(0, v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(v, dict):
        items = sorted((det_cbor(k), det_cbor(x)) for k, x in v.items())
        return _head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(f"cannot encode {type(v).__name__}")


def entry_value(seq: int, kind: str, pixels: dict | None, signer: bytes, envelope: bytes,
                instance: bytes, recorded: str, predecessor: bytes) -> dict:
    return {"seq": seq, "kind": kind, "format": ENTRY_FORMAT,
            "pixels": None if pixels is None else {"mode": pixels["mode"],
                                                   "digest": pixels["digest"],
                                                   "tile_size": pixels["tile_size"]},
            "signer": signer, "envelope": envelope, "instance": instance,
            "recorded": recorded, "predecessor": predecessor}


def encode_entry(value: dict) -> bytes:
    """ENTRY (§3.1), checked against cbor2's canonical encoder."""
    check_entry(value)
    mine = det_cbor(value)
    theirs = cbor2.dumps(value, canonical=True)
    if mine != theirs:
        raise AssertionError("reference encoder and cbor2 canonical disagree on an entry")
    return mine


def check_entry(e) -> None:
    """Field rules of §3.1 (types, sizes, enumerations, exact key sets)."""
    if not isinstance(e, dict):
        raise RefError(f"entry is a {type(e).__name__}, not a map")
    if set(e) != set(ENTRY_KEYS):
        raise RefError(f"entry keys {sorted(map(str, e))}, expected {sorted(ENTRY_KEYS)}")

    def uint(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    def bstr(x, n=None):
        return isinstance(x, bytes) and (n is None or len(x) == n)

    if not uint(e["seq"]):
        raise RefError(f"seq {e['seq']!r} is not an unsigned integer")
    if e["kind"] not in KINDS:
        raise RefError(f"kind {e['kind']!r}")
    if e["format"] != ENTRY_FORMAT:
        raise RefError(f"format {e['format']!r}")
    p = e["pixels"]
    if p is not None:
        if not isinstance(p, dict) or set(p) != set(PIXEL_KEYS):
            raise RefError(f"pixels {p!r:.200}")
        if p["mode"] not in PIXEL_MODES or not bstr(p["digest"], 32) or not uint(p["tile_size"]):
            raise RefError(f"pixels fields {p!r:.200}")
    if not bstr(e["signer"], 16):
        raise RefError("signer is not a 16-byte bstr")
    for k in ("envelope", "instance"):
        if not bstr(e[k], 32):
            raise RefError(f"{k} is not a 32-byte digest")
    if not isinstance(e["recorded"], str) or not TIME.match(e["recorded"]):
        raise RefError(f"recorded {e['recorded']!r}")
    if not bstr(e["predecessor"]) or len(e["predecessor"]) not in (0, 32):
        raise RefError(f"predecessor {e['predecessor']!r:.100}")


def decode_entry(data: bytes) -> dict:
    """Strict decoding (§2): one item spanning the input, deterministic, no unknown keys."""
    fp = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(fp).decode()
    except Exception as e:  # noqa: BLE001 - cbor2 raises several types
        raise RefError(f"entry is not CBOR: {e}") from e
    if fp.tell() != len(data):
        raise RefError(f"{len(data) - fp.tell()} bytes after the entry")
    check_entry(value)
    if det_cbor(value) != data or cbor2.dumps(value, canonical=True) != data:
        raise RefError("entry is not the deterministic encoding of what it decodes to")
    return value


# -------------------------------------------------------- signed notes --

def key_hash(name: str, public_key: bytes) -> bytes:
    return H(name.encode() + b"\x0a\x01" + public_key)[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    b64 = base64.b64encode(b"\x01" + public_key).decode()
    return f"{name}+{key_hash(name, public_key).hex()}+{b64}"


def public_key_from_pem(pem: bytes) -> bytes:
    """Raw 32-byte Ed25519 key of an SPKI PEM (.pub file)."""
    k = load_pem_public_key(pem)
    if not isinstance(k, Ed25519PublicKey):
        raise RefError("not an Ed25519 public key")
    return k.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_from_pem(pem: bytes) -> bytes:
    """keys-and-trust.md key id: SHA-256(SPKI DER)[:16]."""
    k = load_pem_public_key(pem)
    return H(k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))[:16]


def b64decode_strict(s: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RefError(f"{what}: bad base64 {s[:60]!r}") from e
    if base64.b64encode(raw).decode() != s:
        raise RefError(f"{what}: non-canonical base64")
    return raw


@dataclass
class Signature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass
class Note:
    text: bytes  # the signed text, ending in "\n"
    signatures: list[Signature] = field(default_factory=list)


def parse_note(data: bytes) -> Note:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RefError("note is not UTF-8") from e
    sep = s.rfind("\n\n")
    if sep < 0 or not s.endswith("\n"):
        raise RefError("note without blank line / final newline")
    text, sigs = s[:sep + 1], s[sep + 2:]
    out = Note(text.encode())
    for line in sigs[:-1].split("\n"):
        m = re.fullmatch(EM_DASH + r" (\S+) (\S+)", line)
        if not m:
            raise RefError(f"bad signature line {line!r:.120}")
        raw = b64decode_strict(m.group(2), "signature")
        if len(raw) < 5:
            raise RefError("signature line too short")
        out.signatures.append(Signature(m.group(1), raw[:4], raw[4:]))
    if not out.signatures:
        raise RefError("note has no signatures")
    if len(out.signatures) > MAX_SIGNATURE_LINES:
        raise RefError("too many signature lines")
    return out


def verify_note(note: Note, name: str, public_key: bytes) -> None:
    """C4: a line with this key's name and key hash must exist and verify (strict Ed25519)."""
    kh = key_hash(name, public_key)
    mine = [s for s in note.signatures if s.name == name and s.key_hash == kh]
    if not mine:
        raise RefError(f"no signature by {name}+{kh.hex()}")
    pk = Ed25519PublicKey.from_public_bytes(public_key)
    for s in mine:
        if len(s.signature) != 64:
            raise RefError("Ed25519 signature is not 64 bytes")
        try:
            pk.verify(s.signature, note.text)
        except InvalidSignature as e:
            raise RefError("checkpoint signature does not verify") from e


def sign_note(text: bytes, name: str, secret: bytes) -> bytes:
    """A signed note with one Ed25519 signature (deterministic: used for the vector check)."""
    sk = Ed25519PrivateKey.from_private_bytes(secret)
    pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = sk.sign(text)
    line = f"{EM_DASH} {name} {base64.b64encode(key_hash(name, pub) + sig).decode()}\n"
    return text + b"\n" + line.encode()


@dataclass
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: Note
    raw: bytes


def parse_checkpoint(data: bytes) -> Checkpoint:
    note = parse_note(data)
    lines = note.text.decode().split("\n")[:-1]
    if len(lines) != 3:
        raise RefError(f"checkpoint body has {len(lines)} lines; scanseal writes exactly 3 (C2)")
    origin, size, root = lines
    if not origin or not all(0x21 <= ord(c) <= 0x7E for c in origin) or "+" in origin \
            or len(origin) > 255:
        raise RefError(f"origin {origin!r} (C1)")
    if not DECIMAL.match(size):
        raise RefError(f"tree size {size!r}")
    r = b64decode_strict(root, "root")
    if len(r) != 32:
        raise RefError("root hash is not 32 bytes")
    return Checkpoint(origin, int(size), r, note, data)


def verify_checkpoint(data: bytes, public_key: bytes, origin: str | None = None) -> Checkpoint:
    cp = parse_checkpoint(data)
    if origin is not None and cp.origin != origin:
        raise RefError(f"origin {cp.origin!r}, expected {origin!r}")
    verify_note(cp.note, cp.origin, public_key)
    return cp


# --------------------------------------------------------------- proofs --

@dataclass
class Proof:
    extra: bytes | None
    index: int
    path: list[bytes]
    checkpoint_bytes: bytes


def parse_proof(data: bytes) -> Proof:
    """tlog-proof v1 (P2: exact first line, no leading zeros, ≤ 64 hashes of 32 bytes)."""
    head, sep, cp = data.partition(b"\n\n")
    if not sep:
        raise RefError("proof without blank line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as e:
        raise RefError("proof header is not ASCII") from e
    if lines[0] != PROOF_HEADER.decode():
        raise RefError(f"first line {lines[0]!r}")
    i = 1
    extra = None
    if i < len(lines) and lines[i].startswith("extra "):
        extra = b64decode_strict(lines[i][len("extra "):], "extra")
        i += 1
    if i >= len(lines) or not lines[i].startswith("index "):
        raise RefError("no index line")
    idx = lines[i][len("index "):]
    if not DECIMAL.match(idx):
        raise RefError(f"index {idx!r}")
    i += 1
    path = [b64decode_strict(h, "proof hash") for h in lines[i:]]
    if len(path) > MAX_PROOF_HASHES or any(len(h) != 32 for h in path):
        raise RefError("proof hashes: too many or not 32 bytes")
    return Proof(extra, int(idx), path, cp)


@dataclass
class Verified:
    entry: dict
    encoded: bytes
    checkpoint: Checkpoint
    proof: Proof


def verify_proof(data: bytes, public_key: bytes, origin: str | None = None) -> Verified:
    """P2, in order: parse, checkpoint (C4), entry, index < size, inclusion."""
    p = parse_proof(data)
    cp = verify_checkpoint(p.checkpoint_bytes, public_key, origin)
    if p.extra is None:
        raise RefError("scanseal proofs carry the entry in an extra line (P1)")
    entry = decode_entry(p.extra)
    if entry["seq"] != p.index:
        raise RefError(f"entry seq {entry['seq']} != index {p.index}")
    verify_inclusion(p.index, cp.size, leaf_hash(p.extra), p.path, cp.root)
    return Verified(entry, p.extra, cp, p)
