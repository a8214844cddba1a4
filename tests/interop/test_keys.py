"""Keys and trust store against OpenSSL (spec/keys-and-trust.md, part K and T7).

OpenSSL is the independent implementation here: it must read the key files
`scanseal keygen` writes, compute the same key id with the one-liner the spec gives,
produce the spec's vector files from the RFC 8032 seed, and write keys that
`scanseal trust add` accepts with the same id. A missing openssl fails (never skips).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import ienv

VECTORS = ienv.REPO_ROOT / "spec" / "vectors" / "keys"
ONE_LINER = "openssl pkey -pubin -in \"$1\" -outform DER | sha256sum | cut -c1-32"
PKCS8_V1_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise ienv.MissingPrerequisite("openssl not found on PATH: apt-get install openssl")
    return path


def run(argv: list[str], *, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, timeout=60)
    if ok and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {proc.returncode}:\n"
            f"{proc.stderr.decode('utf-8', 'replace')}"
        )
    return proc


def scanseal(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = run([str(ienv.scanseal_bin()), *args], ok=ok)
    if proc.returncode not in (0, 2):
        raise AssertionError(f"scanseal {' '.join(args)} crashed: exit {proc.returncode}")
    return proc


def keygen(out: Path, name: str) -> str:
    """`scanseal keygen`; returns the key id it printed."""
    lines = scanseal("keygen", "--out", str(out), "--name", name).stdout.decode().splitlines()
    assert lines[:2] == [str(out / f"{name}.key"), str(out / f"{name}.pub")], lines
    assert lines[2].startswith("key id "), lines
    key_id = lines[2].removeprefix("key id ")
    assert len(key_id) == 32 and all(c in "0123456789abcdef" for c in key_id), key_id
    return key_id


def openssl_key_id(pub: Path) -> str:
    """The spec's one-liner (K4), run by the shell exactly as written."""
    openssl()
    for tool in ("sha256sum", "cut"):
        if shutil.which(tool) is None:
            raise ienv.MissingPrerequisite(f"{tool} not found on PATH: apt-get install coreutils")
    out = run(["bash", "-o", "pipefail", "-c", ONE_LINER, "key-id", str(pub)]).stdout.decode()
    return out.strip()


def spki_der(pub: Path) -> bytes:
    return run([openssl(), "pkey", "-pubin", "-in", str(pub), "-outform", "DER"]).stdout


def trust_add(store: Path, role: str, pub: Path, *extra: str) -> str:
    return scanseal("trust", "add", "--store", str(store), "--role", role, *extra, str(pub)).stdout.decode()


def trust_list(store: Path) -> list[dict]:
    out = scanseal("trust", "list", "--json", "--store", str(store)).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]


def test_keygen_files_are_read_by_openssl_with_the_same_key_id(tmp_path):
    key_id = keygen(tmp_path, "ct-01")
    key, pub = tmp_path / "ct-01.key", tmp_path / "ct-01.pub"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600

    run([openssl(), "pkey", "-in", str(key), "-noout"])
    run([openssl(), "pkey", "-pubin", "-in", str(pub), "-noout"])
    # K2: PKCS#8 v1, the form openssl writes; K3: the 44-byte SPKI.
    der = run([openssl(), "pkey", "-in", str(key), "-outform", "DER"]).stdout
    assert len(der) == 48 and der.startswith(PKCS8_V1_ED25519_PREFIX), der.hex()
    assert run([openssl(), "pkey", "-in", str(key), "-pubout"]).stdout == pub.read_bytes()
    spki = spki_der(pub)
    assert len(spki) == 44 and spki.startswith(SPKI_ED25519_PREFIX), spki.hex()

    # K4: the one-liner, SHA-256 computed here, keygen's output and the trust store agree.
    assert openssl_key_id(pub) == key_id
    assert hashlib.sha256(spki).hexdigest()[:32] == key_id
    store = tmp_path / "trust.toml"
    out = trust_add(store, "acquisition", pub)
    assert f"key id {key_id}" in out, out
    (record,) = trust_list(store)
    assert record["name"] == "ct-01"
    assert record["key_id"] == key_id
    # public_key is base64 of the SPKI DER (T2.1).
    assert base64.b64decode(record["public_key"], validate=True) == spki


def test_openssl_generated_key_is_accepted_with_the_same_id(tmp_path):
    key, pub = tmp_path / "gw-7.key", tmp_path / "gw-7.pub"
    run([openssl(), "genpkey", "-algorithm", "ed25519", "-out", str(key)])
    run([openssl(), "pkey", "-in", str(key), "-pubout", "-out", str(pub)])
    key_id = openssl_key_id(pub)

    store = tmp_path / "trust.toml"
    out = trust_add(store, "ledger", pub, "--not-before", "2026-01-01")
    assert out.strip() == f"added gw-7 (ledger, key id {key_id}) to {store}", out
    (record,) = trust_list(store)
    assert record["key_id"] == key_id
    assert record["role"] == "ledger"
    assert record["not_before"] == "2026-01-01T00:00:00Z"
    # The store file carries the same id (T2.1), in canonical form.
    assert f'key_id = "{key_id}"\n' in store.read_text()

    # The same key again, under another name, is refused naming the first entry (T3.10).
    proc = scanseal("trust", "add", "--store", str(store), "--role", "ledger", "--name", "again",
                    str(pub), ok=False)
    assert proc.returncode == 2
    assert "already in the trust store as gw-7" in proc.stderr.decode(), proc.stderr


@pytest.mark.parametrize("algorithm,options", [
    ("ed448", []),
    ("EC", ["-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("RSA", ["-pkeyopt", "rsa_keygen_bits:1024"]),
])
def test_other_algorithms_are_refused(tmp_path, algorithm, options):
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    run([openssl(), "genpkey", "-algorithm", algorithm, *options, "-out", str(key)])
    run([openssl(), "pkey", "-in", str(key), "-pubout", "-out", str(pub)])
    store = tmp_path / "trust.toml"
    proc = scanseal("trust", "add", "--store", str(store), "--role", "acquisition", str(pub),
                    ok=False)
    assert proc.returncode == 2, proc.stdout
    err = proc.stderr.decode()
    assert err.startswith("scanseal: ") and "Ed25519" in err, err
    assert not store.exists()
    # A private key file is refused as such, whatever its algorithm.
    proc = scanseal("trust", "add", "--store", str(store), "--role", "acquisition", str(key),
                    ok=False)
    assert proc.returncode == 2 and "private key" in proc.stderr.decode(), proc.stderr


def test_spec_vectors_agree_with_openssl():
    vec = json.loads((VECTORS / "rfc8032-test1.json").read_text())
    key = VECTORS / vec["private_key_file"]
    pub = VECTORS / vec["public_key_file"]
    # The private key file is the PKCS#8 v1 DER of the seed ...
    der = run([openssl(), "pkey", "-in", str(key), "-outform", "DER"]).stdout
    assert der.hex() == vec["private_key_der"] == PKCS8_V1_ED25519_PREFIX.hex() + vec["seed"]
    # ... openssl derives the vector's public key file from it, byte for byte ...
    assert run([openssl(), "pkey", "-in", str(key), "-pubout"]).stdout == pub.read_bytes()
    assert spki_der(pub).hex() == vec["spki_der"] == SPKI_ED25519_PREFIX.hex() + vec["public_key"]
    # ... and the one-liner gives the vector's key id. (The vector's signature is RFC 8032's
    # own, checked by the Rust suite; OpenSSL 3.0's pkeyutl cannot sign an empty message.)
    assert openssl_key_id(pub) == vec["key_id"]


def test_example_keys_agree_with_openssl():
    examples = ienv.REPO_ROOT / "keys-example"
    records = {r["name"]: r for r in trust_list(examples / "trust.toml")}
    assert sorted(records) == ["example-ct-01", "example-deid-01", "example-ledger-01"]
    for name, record in records.items():
        assert openssl_key_id(examples / f"{name}.pub") == record["key_id"], name
        # The committed private key belongs to the committed public key. openssl does not
        # check file modes; a clone's .key files are 0644 (keys-example/README.md).
        derived = run([openssl(), "pkey", "-in", str(examples / f"{name}.key"), "-pubout"]).stdout
        assert derived == (examples / f"{name}.pub").read_bytes(), name
