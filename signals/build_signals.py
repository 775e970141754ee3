#!/usr/bin/env python3
"""Rebuild the real recordings in signals/ from the PyPI wheels that ship them.

The sources are pinned wheels, downloaded (not installed) with pip and read with
numpy; the files are written with pyedflib and h5py, tools independent of biowave,
so that biowave's readers are tested against files it did not write.

    pip install numpy pyedflib h5py
    python3 signals/build_signals.py

See signals/SOURCES.md for what each recording is and its licence.
"""
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pyedflib

HERE = Path(__file__).resolve().parent
WHEELS = {"scipy": "scipy==1.9.3", "spkit": "spkit==0.0.9.7"}


def wheel(dist: str, tmp: Path) -> zipfile.ZipFile:
    """Download one pinned wheel (no dependencies, not installed) and open it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), WHEELS[dist]],
        check=True,
    )
    return zipfile.ZipFile(next(tmp.glob(f"{dist}-*.whl")))


def write_edf(path: Path, signals, labels, unit, fs, dmin, dmax, pmin, pmax, bdf=False, notes=(), record_s=1.0,
              digital=False):
    """Write channels with pyedflib as EDF+C (or BDF+C) in data records of `record_s` seconds.

    With `digital`, `signals` are the integer samples themselves, written unchanged
    (pyedflib's physical-to-digital conversion would move some ADC values by one unit)."""
    ftype = pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS
    w = pyedflib.EdfWriter(str(path), len(labels), file_type=ftype)
    heads = []
    for i, label in enumerate(labels):
        heads.append(
            {
                "label": label,
                "dimension": unit,
                "sample_frequency": fs,
                "physical_min": pmin[i],
                "physical_max": pmax[i],
                "digital_min": dmin,
                "digital_max": dmax,
                "transducer": "",
                "prefilter": "",
            }
        )
    w.setSignalHeaders(heads)
    w.setDatarecordDuration(record_s)
    w.setStartdatetime(__import__("datetime").datetime(2000, 1, 1, 0, 0, 0))
    for onset, dur, text in notes:
        w.writeAnnotation(onset, dur, text)
    dtype = np.int32 if digital else np.float64
    w.writeSamples([np.ascontiguousarray(s, dtype=dtype) for s in signals], digital=digital)
    w.close()


def mitdb208(tmp: Path):
    """MIT-BIH Arrhythmia Database record 208, lead MLII, 5 min at 360 Hz (via SciPy 1.9)."""
    z = wheel("scipy", tmp)
    raw = np.load(io.BytesIO(z.read("scipy/misc/ecg.dat")))["ecg"].astype(np.int64)
    # MIT-BIH: 11-bit ADC, zero 1024, gain 200 adu/mV. Keep the ADC values exactly.
    write_edf(
        HERE / "mitdb208.edf", [raw - 1024], ["MLII"], "mV", 360, digital=True,
        dmin=-1024, dmax=1023, pmin=[-1024 / 200.0], pmax=[1023 / 200.0],
        notes=[(16.0, -1, "first PVCs (SciPy docs)"), (207.0, 8.0, "artefact")],
    )
    back = pyedflib.EdfReader(str(HERE / "mitdb208.edf"))
    try:
        assert np.array_equal(back.readSignal(0, digital=True), raw - 1024), "ADC values not kept"
    finally:
        back.close()


def spkit_sets(tmp: Path):
    """14-channel EEG (PhyAAt, Emotiv, 128 Hz, 16 s) and 12-lead ECG (500 Hz) via spkit."""
    z = wheel("spkit", tmp)
    x, ch = pickle.loads(z.read("spkit/data/files/EEG16SecData.pkl"))
    x = np.asarray(x, dtype=np.float64).T
    lim = np.ceil(np.abs(x).max() * 1.05)
    write_edf(HERE / "phyaat_eeg14.edf", list(x), list(ch), "uV", 128,
              -32768, 32767, [-lim] * len(ch), [lim] * len(ch))
    write_edf(HERE / "phyaat_eeg14.bdf", list(x), list(ch), "uV", 128,
              -8388608, 8388607, [-lim] * len(ch), [lim] * len(ch), bdf=True)

    d = pickle.loads(z.read("spkit/data/files/ecg_3samples_12leads.pkl"))
    leads, fs = list(d["lead_names"]), int(d["fs"])
    tracings = np.stack([np.asarray(r, dtype=np.float32) for r in d["X"]])  # 3 x 4096 x 12
    with h5py.File(HERE / "ecg12_3x4096.h5", "w") as f:
        ds = f.create_dataset("tracings", data=tracings, chunks=(1, 1024, 12), compression="gzip")
        ds.attrs["sample_rate"] = fs
        ds.attrs["labels"] = leads
        ds.attrs["units"] = ["mV"] * len(leads)
    sig = tracings[0].T.astype(np.float64)
    lim = [float(np.ceil(np.abs(s).max() * 1.05 * 100) / 100) for s in sig]
    write_edf(HERE / "ecg12_sample1.edf", list(sig), leads, "mV", fs,
              -32768, 32767, [-v for v in lim], lim, record_s=0.512)


def main():
    with tempfile.TemporaryDirectory() as t:
        (Path(t) / "a").mkdir()
        (Path(t) / "b").mkdir()
        mitdb208(Path(t) / "a")
        spkit_sets(Path(t) / "b")
    for p in sorted(HERE.glob("*.*")):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
