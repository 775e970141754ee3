#!/usr/bin/env python3
"""Rebuild an MIT-BIH Arrhythmia Database record in signals/ from its WFDB files.

The source is the record as PhysioNet distributes it (NNN.hea, NNN.dat, NNN.atr): for
record 100 as shipped in the sample data of the WFDB Python package's repository
(github.com/MIT-LCP/wfdb-python, sample-data/, commit 08e75679), for record 208 as copied
whole, with PhysioNet's SHA256SUMS, into github.com/lxysl/mit-bih_ecg_recognition
(ecg_data/, commit 6a1964c0). The signal and annotation files must match the sha256 sums
PhysioNet publishes for the database (pinned below). The headers' sums differ between
copies (PhysioNet's list, the WFDB Python repository's 100.hea, the copy above), so their
fields are checked instead. They are read with `wfdb` (PyPI) and written with pyedflib,
tools independent of biowave.

    pip install numpy pyedflib wfdb 'pandas<3'   # wfdb 4.3 does not import under pandas 3
    python3 signals/build_mitdb.py 100 DIR        # -> signals/mitdb100.edf
    python3 signals/build_mitdb.py 208 DIR        # -> signals/mitdb208_full.edf

Both leads keep their original 11-bit ADC values (gain 200 adu/mV, zero 1024). The
reference annotations (cardiologists' beat labels and rhythm changes) become EDF+
annotations: one per beat at its sample, text the MIT-BIH code ("N", "A", "V", ...), and
rhythm changes as their aux text ("(N"). A record is 1805.56 s; the EDF holds whole 1 s
data records, the first 1805 s.
"""
import datetime
import hashlib
import sys
from pathlib import Path

import numpy as np
import pyedflib
import wfdb

HERE = Path(__file__).resolve().parent
# PhysioNet's SHA256SUMS of MIT-BIH Arrhythmia Database 1.0.0.
SHA256 = {
    "100": {
        "dat": "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639",
        "atr": "8d8a5349fb16638ebbf649f1779d12e96d91b736b2aafe59db43719ae583d471",
    },
    "208": {
        "dat": "22873623623c44ee413a5b60cacb15d4af2723734836fb3ae45d9ff96bdb36e7",
        "atr": "33878519ee34d00cb233fdb15b11c2b8da0b0aea2e643d31b07105cc3392edf4",
    },
}
OUT = {"100": "mitdb100.edf", "208": "mitdb208_full.edf"}
FS = 360
SECONDS = 1805


def check(src: Path, record: str):
    """Refuse sources that are not the pinned files."""
    for ext, want in SHA256[record].items():
        path = src / f"{record}.{ext}"
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            sys.exit(f"{path}: sha256 {got}, expected {want}")


def annotations(src: Path, record: str, n: int):
    """(onset s, duration, text) of every reference annotation inside the first n samples."""
    a = wfdb.rdann(str(src / record), "atr")
    out = []
    for s, sym, aux in zip(a.sample, a.symbol, a.aux_note):
        if s >= n:
            continue
        text = aux.strip("\x00").strip() if sym == "+" else sym
        out.append((s / FS, -1, text))
    return out


def write(path: Path, names, d, notes):
    """The ADC values `d` (samples × leads) and `notes` as EDF+ written by pyedflib."""
    w = pyedflib.EdfWriter(str(path), len(names), file_type=pyedflib.FILETYPE_EDFPLUS)
    # Enough annotation signals for the busiest 1 s record (208: ~2 beats a second).
    w.set_number_of_annotation_signals(3)
    w.setSignalHeaders([
        {"label": name, "dimension": "mV", "sample_frequency": FS,
         "physical_min": -1024 / 200.0, "physical_max": 1023 / 200.0,
         "digital_min": -1024, "digital_max": 1023, "transducer": "", "prefilter": ""}
        for name in names
    ])
    w.setDatarecordDuration(1.0)
    w.setStartdatetime(datetime.datetime(2000, 1, 1, 0, 0, 0))
    for onset, dur, text in notes:
        w.writeAnnotation(onset, dur, text)
    w.writeSamples([np.ascontiguousarray(d[:, i] - 1024, dtype=np.int32) for i in range(len(names))],
                   digital=True)
    w.close()


def verify(path: Path, d, notes):
    """Reads the file back with pyedflib: every ADC value and annotation kept."""
    back = pyedflib.EdfReader(str(path))
    try:
        for i in range(d.shape[1]):
            got = back.readSignal(i, digital=True).astype(np.int64) + 1024
            assert np.array_equal(got, d[:, i]), "ADC values not kept"
        assert len(back.readAnnotations()[0]) == len(notes), "annotations lost"
    finally:
        back.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SHA256:
        sys.exit(f"usage: build_mitdb.py {{{'|'.join(SHA256)}}} DIR")
    record, src = sys.argv[1], Path(sys.argv[2])
    check(src, record)
    rec = wfdb.rdrecord(str(src / record), physical=False)
    assert rec.fs == FS and rec.fmt == ["212", "212"], (rec.fs, rec.fmt)
    assert list(rec.adc_gain) == [200.0, 200.0] and list(rec.baseline) == [1024, 1024]
    n = SECONDS * FS
    d = rec.d_signal[:n].astype(np.int64)
    notes = annotations(src, record, n)
    path = HERE / OUT[record]
    write(path, rec.sig_name, d, notes)
    verify(path, d, notes)
    print(f"{path.name}: {SECONDS} s, leads {', '.join(rec.sig_name)}, {len(notes)} annotations, "
          f"{path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
