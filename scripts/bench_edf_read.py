#!/usr/bin/env python3
"""Reading a 64-channel, 1-hour, 16-bit EDF: biowave vs pyedflib (and edfio) in one run.

    python3 scripts/bench_edf_read.py [--minutes 60] [--channels 64] [--rate 256]

Writes the file once with pyedflib (tests/py/edf_make.py big), then times each reader
decoding every sample to physical float values (best of 3), and prints the ratio.
"""
import argparse
import os
import subprocess
import sys
import tempfile

from benchlib import best

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--rate", type=int, default=256)
    a = ap.parse_args()
    import edfio
    import pyedflib

    subprocess.run(["cargo", "build", "-q", "--release", "--example", "read_bench"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.edf")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/py/edf_make.py"), "big", path,
                        "--channels", str(a.channels), "--minutes", str(a.minutes),
                        "--rate", str(a.rate)], check=True)
        mb = os.path.getsize(path) / 1e6
        print(f"file: {a.channels} channels x {a.minutes:g} min at {a.rate} Hz, 16-bit, {mb:.0f} MB")

        def py():
            with pyedflib.EdfReader(path) as f:
                for i in range(f.signals_in_file):
                    f.readSignal(i)

        def eio():
            e = edfio.read_edf(path)
            for s in e.signals:
                s.data

        t_py = best(py, 3)
        t_eio = best(eio, 3)
        out = subprocess.run([os.path.join(ROOT, "target/release/examples/read_bench"), path, "3"],
                             check=True, capture_output=True, text=True).stdout.split()
        t_bw = float(out[0])
        print(f"pyedflib: {t_py:.3f} s ({mb / t_py:.0f} MB/s)")
        print(f"edfio:    {t_eio:.3f} s ({mb / t_eio:.0f} MB/s)")
        print(f"biowave:  {t_bw:.3f} s ({mb / t_bw:.0f} MB/s), {out[1]} samples")
        print(f"ratio biowave vs pyedflib: {t_py / t_bw:.1f}x faster; vs edfio: {t_eio / t_bw:.1f}x")


if __name__ == "__main__":
    main()
