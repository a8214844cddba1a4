"""The sealing gateway (`scanseal gateway`, spec/gateway.md) between DCMTK peers on loopback.

1. storescu -> gateway -> storescp: real corpus files in native, RLE, JPEG 2000 and JPEG-LS
   transfer syntaxes (single- and multi-frame) arrive at storescp in the transfer syntax they
   were sent in, and every received file verifies INTACT against the trust store and the
   ledger, one ledger entry per instance.
2. The PACS is down while 50 instances are sent: storescu is told A700 (Refused: Out of
   Resources) for each, the spool holds them sealed; storescp is started and all 50 arrive,
   verified, with exactly 50 ledger entries; sending them again adds no entry.
3. A data set scanseal cannot read (more frames declared than stored) fails with C000 and an
   unsupported transfer syntax (MPEG2) gets no presentation context; the gateway keeps
   serving (C-ECHO and a good instance afterwards).
4. --allow-calling: an unknown calling AE title is rejected at association (calling AE
   title not recognized).
5. The gateway is killed with SIGKILL mid-series and restarted; the modality sends the series
   again: every instance reaches the PACS and verifies INTACT, nothing is left in incoming/ or
   pending/, and at most the instance being sealed at the kill is recorded twice.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from ienv import corpus_file, require_tool, scanseal_bin

SERIES = [
    # (corpus file, storescu options proposing its transfer syntax)
    ("CT_small.dcm", []),
    ("MR_small.dcm", []),
    ("MR_small_implicit.dcm", ["-xi"]),
    ("MR_small_bigendian.dcm", ["-xb"]),
    ("SC_rgb_small_odd_big_endian.dcm", ["-xb"]),
    ("MR_small_RLE.dcm", ["-xr"]),
    ("SC_rgb_rle_2frame.dcm", ["-xr"]),
    ("MR_small_jp2klossless.dcm", ["-xv"]),
    ("JPEGLSNearLossless_16.dcm", ["-xu"]),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds: float, step: float = 0.05) -> None:
    """Polls `condition` until it holds or `seconds` pass; the caller asserts the outcome."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(step)


def wait_port(port: int, seconds: float = 10.0) -> None:
    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, seconds)
    if not listening():
        raise AssertionError(f"nothing listens on port {port}")


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.bin = str(scanseal_bin())
        self.pacs_dir = root / "pacs"
        self.pacs_dir.mkdir()
        self.spool = root / "spool"
        self.ledger = root / "ledger.db"
        self.gw_port = free_port()
        self.pacs_port = free_port()
        self.gateway_proc = None
        self.pacs_proc = None
        self.run([self.bin, "keygen", "--out", str(root / "keys"), "--name", "gw"])
        self.run([self.bin, "trust", "add", "--store", str(root / "trust.toml"), "--role",
                  "acquisition", "--not-before", "2020-01-01", str(root / "keys" / "gw.pub")])
        self.run([self.bin, "ledger", "init", str(self.ledger)])

    @staticmethod
    def run(args, check=True):
        out = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if check and out.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({out.returncode}): {out.stdout}{out.stderr}")
        return out

    def start_gateway(self, extra=()):
        log = open(self.root / "gateway.log", "a")
        self.gateway_proc = subprocess.Popen(
            [self.bin, "gateway", "--key", str(self.root / "keys" / "gw.key"), "--ledger",
             str(self.ledger), "--listen", f"127.0.0.1:{self.gw_port}", "--ae-title", "SCANSEAL",
             "--forward", f"PACS@127.0.0.1:{self.pacs_port}", "--spool", str(self.spool),
             "--retry-min", "1", "--retry-max", "2", "--timeout", "10", *extra],
            stdout=log, stderr=log)
        wait_port(self.gw_port)

    def start_pacs(self, accept_compressed=True):
        """storescp as the PACS; without `accept_compressed` it takes only uncompressed
        transfer syntaxes (its default)."""
        log = open(self.root / "pacs.log", "a")
        self.pacs_proc = subprocess.Popen(
            [require_tool("storescp"), "-v", "-aet", "PACS",
             *(["+xa"] if accept_compressed else []), "-od", str(self.pacs_dir),
             str(self.pacs_port)], stdout=log, stderr=log)
        wait_port(self.pacs_port)

    def stop_pacs(self):
        self.pacs_proc.kill()
        self.pacs_proc.wait()
        self.pacs_proc = None

    def pacs_associations(self) -> int:
        return len(re.findall(r"^I: Association Acknowledged", (self.root / "pacs.log").read_text(),
                              re.M))

    def storescu(self, files, options=(), calling="MODALITY"):
        """The storescu command sending `files` to the gateway on one association."""
        return [require_tool("storescu"), "-v", "-nh", "-aet", calling, "-aec", "SCANSEAL",
                *options, "127.0.0.1", str(self.gw_port), *map(str, files)]

    def store(self, files, options=(), calling="MODALITY"):
        return self.run(self.storescu(files, options, calling), check=False)

    def start_store(self, files):
        """storescu in the background, its output (text) on stdout."""
        return subprocess.Popen(self.storescu(files), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def verify(self, extra=()):
        out = self.run([self.bin, "verify", "--trust", str(self.root / "trust.toml"),
                        "--ledger", str(self.ledger), *extra, str(self.pacs_dir)], check=False)
        return out.stdout.splitlines()[:-1], out

    def ledger_entries(self) -> int:
        info = self.run([self.bin, "ledger", "info", str(self.ledger)]).stdout
        return int(re.search(r"^entries\s+(\d+)", info, re.M).group(1))

    def pending(self):
        return sorted((self.spool / "pending").glob("*.dcm"))

    def log(self) -> str:
        return (self.root / "gateway.log").read_text()

    def stop(self):
        for proc in (self.gateway_proc, self.pacs_proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def save_with_new_uid(ds, path: Path) -> Path:
    """Saves `ds` at `path` as a new instance (a fresh SOP Instance UID, meta included)."""
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def copy_with_new_uid(source: Path, path: Path) -> Path:
    return save_with_new_uid(pydicom.dcmread(source), path)


def make_copies(source: Path, out: Path, count: int) -> list[Path]:
    out.mkdir()
    files = []
    for i in range(count):
        ds = pydicom.dcmread(source)
        ds.InstanceNumber = i + 1
        files.append(save_with_new_uid(ds, out / f"{i:03}.dcm"))
    return files


def synthetic_multiframe(out: Path, frames: int) -> Path:
    """A multi-frame grayscale word secondary capture made from MR_small's pixels."""
    ds = pydicom.dcmread(corpus_file("MR_small.dcm"))
    one = ds.PixelData
    ds.PixelData = b"".join(bytes((b + i) % 256 for b in one) for i in range(frames))
    ds.NumberOfFrames = frames
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    return save_with_new_uid(ds, out)


def test_a_series_through_the_gateway_arrives_sealed_and_verifies(tmp_path):
    lab = Lab(tmp_path)
    try:
        lab.start_pacs()
        lab.start_gateway()
        sent = 0
        # Several corpus files are one instance in several encodings (same SOP Instance UID):
        # each gets its own UID, so that the gateway sees distinct instances.
        series = []
        for name, options in SERIES:
            series.append((copy_with_new_uid(corpus_file(name), tmp_path / name), options))
        series.append((synthetic_multiframe(tmp_path / "multiframe.dcm", 6), []))
        for path, options in series:
            out = lab.store([path], options)
            assert out.returncode == 0, f"{path.name}: {out.stdout}{out.stderr}\n{lab.log()}"
            sent += 1
        received = sorted(lab.pacs_dir.iterdir())
        assert len(received) == sent, lab.log()
        lines, out = lab.verify()
        assert out.returncode == 0, out.stdout + out.stderr
        assert len(lines) == sent
        for line in lines:
            assert line.startswith("INTACT ") and "recorded in the ledger" in line, line
        assert lab.ledger_entries() == sent
        # Transfer syntaxes are kept: each file at the PACS is in the one it was sent in.
        sent_ts = sorted(str(pydicom.dcmread(p).file_meta.TransferSyntaxUID)
                         for p, _ in series)
        got_ts = sorted(str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in received)
        assert got_ts == sent_ts
        assert lab.pending() == []
        stored = re.findall(r"^scanseal gateway: STORED [0-9a-f]{64} from MODALITY in \d+ ms: ",
                            lab.log(), re.M)
        assert len(stored) == sent
        # No UID in the log.
        for path, _ in series:
            uid = str(pydicom.dcmread(path).SOPInstanceUID)
            assert uid not in lab.log()
    finally:
        lab.stop()


def test_instances_sent_while_the_pacs_is_down_are_spooled_then_delivered_once(tmp_path):
    lab = Lab(tmp_path)
    try:
        files = make_copies(corpus_file("CT_small.dcm"), tmp_path / "series", 50)
        lab.start_gateway()
        out = lab.store(files)
        responses = re.findall(r"Received Store Response \(([^)]*)\)", out.stdout + out.stderr)
        assert len(responses) == 50, out.stdout + out.stderr
        assert all(r == "Refused: OutOfResources" for r in responses), responses[:3]
        assert len(lab.pending()) == 50
        assert lab.ledger_entries() == 50
        lab.start_pacs()
        wait_until(lambda: len(list(lab.pacs_dir.iterdir())) >= 50, 120, 0.5)
        assert len(list(lab.pacs_dir.iterdir())) == 50, lab.log()
        wait_until(lambda: not lab.pending(), 10, 0.2)
        assert lab.pending() == []
        lines, out = lab.verify()
        assert out.returncode == 0 and len(lines) == 50, out.stdout
        # The modality sends them again: no new seal, no new entry.
        again = lab.store(files)
        assert again.returncode == 0, again.stdout + again.stderr
        assert lab.ledger_entries() == 50
    finally:
        lab.stop()


def test_bad_input_fails_and_the_gateway_keeps_serving(tmp_path):
    lab = Lab(tmp_path)
    try:
        lab.start_pacs()
        lab.start_gateway()
        ds = pydicom.dcmread(corpus_file("CT_small.dcm"))
        ds.NumberOfFrames = 5  # one frame stored
        bad = tmp_path / "bad.dcm"
        ds.save_as(bad, enforce_file_format=True)
        out = lab.store([bad])
        assert re.search(r"Received Store Response \(.*(C000|Cannot ?understand)", out.stdout
                         + out.stderr, re.I), out.stdout + out.stderr
        mpeg = pydicom.dcmread(corpus_file("CT_small.dcm"))
        mpeg.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
        mpeg.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
        mpeg["PixelData"].VR = "OB"
        mpeg_path = tmp_path / "mpeg.dcm"
        mpeg.save_as(mpeg_path, enforce_file_format=True)
        out = lab.store([mpeg_path], ["-xm"])
        assert out.returncode != 0 and not list(lab.pacs_dir.iterdir())
        echo = lab.run([require_tool("echoscu"), "-aec", "SCANSEAL", "127.0.0.1",
                        str(lab.gw_port)], check=False)
        assert echo.returncode == 0, echo.stderr
        good = lab.store([corpus_file("MR_small.dcm")])
        assert good.returncode == 0 and len(list(lab.pacs_dir.iterdir())) == 1, lab.log()
        assert lab.gateway_proc.poll() is None
    finally:
        lab.stop()


def test_only_allowed_calling_ae_titles_are_accepted(tmp_path):
    lab = Lab(tmp_path)
    try:
        lab.start_pacs()
        lab.start_gateway(["--allow-calling", "CT1", "MR1"])
        refused = lab.store([corpus_file("CT_small.dcm")], calling="INTRUDER")
        assert refused.returncode != 0
        assert "Calling AE Title Not Recognized" in refused.stdout + refused.stderr
        accepted = lab.store([corpus_file("CT_small.dcm")], calling="CT1")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert "calling AE titles accepted: CT1, MR1" in lab.log()
    finally:
        lab.stop()


def test_a_gateway_killed_mid_transfer_loses_nothing_after_a_restart(tmp_path):
    lab = Lab(tmp_path)
    try:
        files = make_copies(corpus_file("CT_small.dcm"), tmp_path / "series", 30)
        lab.start_pacs()
        lab.start_gateway()
        modality = lab.start_store(files)
        wait_until(lambda: len(list(lab.pacs_dir.iterdir())) >= 5, 30, 0.02)
        lab.gateway_proc.send_signal(signal.SIGKILL)
        lab.gateway_proc.wait()
        modality.communicate(timeout=60)
        before = len(list(lab.pacs_dir.iterdir()))
        assert 5 <= before < 30, "the kill did not land mid-transfer"
        lab.start_gateway()
        # The modality sends the whole series again, as it was not told all were stored.
        again = lab.store(files)
        assert again.returncode == 0, again.stdout + again.stderr + lab.log()
        wait_until(lambda: not lab.pending(), 30, 0.2)
        assert lab.pending() == []
        assert not list((lab.spool / "incoming").iterdir())
        assert not [p for p in (lab.spool / "pending").iterdir()], "temporary files left"
        received = list(lab.pacs_dir.iterdir())
        uids = {str(pydicom.dcmread(p).SOPInstanceUID) for p in received}
        assert uids == {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}
        lines, out = lab.verify()
        assert out.returncode == 0, out.stdout
        assert all(line.startswith("INTACT ") for line in lines)
        # At most the one instance being sealed at the kill is recorded twice (spec/gateway.md §6).
        assert 30 <= lab.ledger_entries() <= 31
    finally:
        lab.stop()


def test_a_series_on_one_association_goes_to_the_pacs_on_one_association(tmp_path):
    lab = Lab(tmp_path)
    try:
        files = make_copies(corpus_file("CT_small.dcm"), tmp_path / "series", 12)
        lab.start_pacs()
        lab.start_gateway()
        out = lab.store(files)
        assert out.returncode == 0, out.stdout + out.stderr + lab.log()
        assert len(list(lab.pacs_dir.iterdir())) == 12
        assert lab.pacs_associations() == 1, (tmp_path / "pacs.log").read_text()
        # Another SOP class on the next association: a new PACS association, which also
        # carries what follows it.
        mr = make_copies(corpus_file("MR_small.dcm"), tmp_path / "mr", 3)
        out = lab.store([*mr, *make_copies(corpus_file("MR_small.dcm"), tmp_path / "mr2", 2)])
        assert out.returncode == 0, out.stdout + out.stderr + lab.log()
        assert len(list(lab.pacs_dir.iterdir())) == 17
        assert lab.pacs_associations() == 2
        # The PACS restarted between two instances of one modality association: the gateway
        # finds its association gone and sends on a new one.
        modality = lab.start_store(make_copies(corpus_file("CT_small.dcm"), tmp_path / "more",
                                               100))
        wait_until(lambda: len(list(lab.pacs_dir.iterdir())) >= 20, 30, 0.005)
        lab.stop_pacs()
        before = len(list(lab.pacs_dir.iterdir()))
        assert 20 <= before < 117, "the PACS restart did not land mid-transfer"
        lab.start_pacs()
        output, _ = modality.communicate(timeout=120)
        wait_until(lambda: not lab.pending(), 30, 0.2)
        assert lab.pending() == [], lab.log()
        assert len(list(lab.pacs_dir.iterdir())) == 117, output + lab.log()
        # Two before, the one the restart cut, and at least one after it.
        assert lab.pacs_associations() >= 4
        lines, out = lab.verify()
        assert out.returncode == 0 and len(lines) == 117, out.stdout
        assert all(line.startswith("INTACT ") for line in lines)
    finally:
        lab.stop()


def test_sidecar_mode_forwards_instances_unchanged_and_their_sidecars_verify(tmp_path):
    lab = Lab(tmp_path)
    sidecars = tmp_path / "sidecars"
    try:
        files = make_copies(corpus_file("CT_small.dcm"), tmp_path / "series", 4)
        copy_with_new_uid(corpus_file("MR_small_RLE.dcm"), tmp_path / "rle.dcm")
        lab.start_pacs()
        lab.start_gateway(["--sidecar-dir", str(sidecars)])
        assert lab.store(files).returncode == 0, lab.log()
        assert lab.store([tmp_path / "rle.dcm"], ["-xr"]).returncode == 0, lab.log()
        sent = [*files, tmp_path / "rle.dcm"]
        received = sorted(lab.pacs_dir.iterdir())
        assert len(received) == len(sent)
        # The PACS gets each instance as it was sent: no seal block, same elements.
        by_uid = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in sent}
        for path in received:
            got = pydicom.dcmread(path)
            original = pydicom.dcmread(by_uid[str(got.SOPInstanceUID)])
            assert not [e for e in got if e.tag.group == 0x7FF1]
            # Data Set Trailing Padding is dropped by storescu itself, before the gateway.
            if (0xFFFC, 0xFFFC) in original:
                del original[0xFFFC, 0xFFFC]
            assert got == original
            assert got.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        # One sidecar per instance, named by a hash, never by the UID.
        names = sorted(p.name for p in sidecars.iterdir())
        assert len(names) == len(sent)
        assert all(re.fullmatch(r"[0-9a-f]{64}\.seal", n) for n in names), names
        assert not any(uid in " ".join(names) for uid in by_uid)
        # Without the sidecars the PACS copies are unsigned; with them, intact and recorded.
        lines, out = lab.verify()
        assert out.returncode != 0 and all(l.startswith("UNSIGNED ") for l in lines), out.stdout
        lines, out = lab.verify(["--sidecar-dir", str(sidecars)])
        assert out.returncode == 0 and len(lines) == len(sent), out.stdout + out.stderr
        for line in lines:
            assert line.startswith("INTACT ") and "recorded in the ledger" in line, line
        # A changed PACS copy no longer matches its sidecar.
        tampered = pydicom.dcmread(received[0])
        tampered.PatientName = "Someone^Else"
        tampered.save_as(received[0], enforce_file_format=True)
        lines, out = lab.verify(["--sidecar-dir", str(sidecars)])
        assert out.returncode != 0
        assert sum(l.startswith("ALTERED ") for l in lines) == 1, out.stdout
        assert lab.ledger_entries() == len(sent)
    finally:
        lab.stop()


def test_a_transfer_syntax_the_pacs_refuses_stays_spooled_without_holding_up_others(tmp_path):
    lab = Lab(tmp_path)
    try:
        copy_with_new_uid(corpus_file("MR_small_jp2klossless.dcm"), tmp_path / "jp2k.dcm")
        plain = make_copies(corpus_file("CT_small.dcm"), tmp_path / "series", 3)
        lab.start_pacs(accept_compressed=False)
        lab.start_gateway()
        out = lab.store([tmp_path / "jp2k.dcm"], ["-xv"])
        assert re.search(r"Received Store Response \((Refused: SOPClassNotSupported|.*0122)",
                         out.stdout + out.stderr), out.stdout + out.stderr
        assert "not in transfer syntax 1.2.840.10008.1.2.4.90" in lab.log()
        assert len(lab.pending()) == 1
        # The refused instance is older, but the others are not held up behind it.
        assert lab.store(plain).returncode == 0, lab.log()
        time.sleep(3)  # a few retry rounds (--retry-max 2)
        assert len(list(lab.pacs_dir.iterdir())) == 3
        assert len(lab.pending()) == 1
        # Once the PACS takes JPEG 2000, the spool delivers it, sealed once.
        lab.stop_pacs()
        lab.start_pacs(accept_compressed=True)
        wait_until(lambda: not lab.pending(), 30, 0.2)
        assert lab.pending() == [], lab.log()
        lines, out = lab.verify()
        assert out.returncode == 0 and len(lines) == 4, out.stdout
        assert all(line.startswith("INTACT ") for line in lines)
        assert lab.ledger_entries() == 4
    finally:
        lab.stop()
