#!/usr/bin/env python3
"""Rebuild signals/mitdb100.edf from MIT-BIH Arrhythmia Database record 100 in WFDB format.

The source is the record as PhysioNet distributes it (100.hea, 100.dat, 100.atr), as
shipped in the sample data of the WFDB Python package's repository
(github.com/MIT-LCP/wfdb-python, sample-data/, commit 08e75679 for 100.dat and 100.atr).
It is read with `wfdb` (PyPI) and written with pyedflib, tools independent of biowave.
The files' sha256 sums are checked before anything is written.

    pip install numpy pyedflib wfdb
    python3 signals/build_mitdb100.py DIR   # DIR holds 100.hea, 100.dat, 100.atr

Both leads (MLII, V5) keep their original 11-bit ADC values (gain 200 adu/mV, zero 1024).
The reference annotations (cardiologists' beat labels and rhythm changes) become EDF+
annotations: one per beat at its sample, text the MIT-BIH code ("N", "A", "V", ...), and
rhythm changes as their aux text ("(N"). The record is 1805.56 s; the EDF holds whole
1 s data records, the first 1805 s.
"""
import hashlib
import sys
from pathlib import Path

import numpy as np
import pyedflib
import wfdb

HERE = Path(__file__).resolve().parent
SHA256 = {
    "100.hea": "95fbdda0454fffae1a2dab1a5ac53e924ae97691c028cdd3ee82f2446b73c066",
    "100.dat": "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639",
    "100.atr": "8d8a5349fb16638ebbf649f1779d12e96d91b736b2aafe59db43719ae583d471",
}
FS = 360
SECONDS = 1805


def check(src: Path):
    """Refuse sources that are not the pinned files."""
    for name, want in SHA256.items():
        got = hashlib.sha256((src / name).read_bytes()).hexdigest()
        if got != want:
            sys.exit(f"{src / name}: sha256 {got}, expected {want}")


def annotations(src: Path, n: int):
    """(onset s, duration, text) of every reference annotation inside the first n samples."""
    a = wfdb.rdann(str(src / "100"), "atr")
    out = []
    for s, sym, aux in zip(a.sample, a.symbol, a.aux_note):
        if s >= n:
            continue
        text = aux.strip("\x00").strip() if sym == "+" else sym
        out.append((s / FS, -1, text))
    return out


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    check(src)
    rec = wfdb.rdrecord(str(src / "100"), physical=False)
    assert rec.fs == FS and list(rec.adc_gain) == [200.0, 200.0] and list(rec.baseline) == [1024, 1024]
    n = SECONDS * FS
    d = rec.d_signal[:n].astype(np.int64)
    notes = annotations(src, n)
    w = pyedflib.EdfWriter(str(HERE / "mitdb100.edf"), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.set_number_of_annotation_signals(3)  # 2273 beats in 1805 records
    w.setSignalHeaders([
        {"label": name, "dimension": "mV", "sample_frequency": FS,
         "physical_min": -1024 / 200.0, "physical_max": 1023 / 200.0,
         "digital_min": -1024, "digital_max": 1023, "transducer": "", "prefilter": ""}
        for name in rec.sig_name
    ])
    w.setDatarecordDuration(1.0)
    w.setStartdatetime(__import__("datetime").datetime(2000, 1, 1, 0, 0, 0))
    for onset, dur, text in notes:
        w.writeAnnotation(onset, dur, text)
    w.writeSamples([np.ascontiguousarray(d[:, i] - 1024, dtype=np.int32) for i in range(2)], digital=True)
    w.close()
    back = pyedflib.EdfReader(str(HERE / "mitdb100.edf"))
    try:
        for i in range(2):
            got = back.readSignal(i, digital=True).astype(np.int64) + 1024
            assert np.array_equal(got, d[:, i]), "ADC values not kept"
        assert len(back.readAnnotations()[0]) == len(notes), "annotations lost"
    finally:
        back.close()
    print(f"mitdb100.edf: {SECONDS} s, 2 leads, {len(notes)} annotations, "
          f"{(HERE / 'mitdb100.edf').stat().st_size} bytes")


if __name__ == "__main__":
    main()
