#!/usr/bin/env python3
"""The shipped MIT-BIH 208 models against the 25 minutes of their record they never saw.

    python3 scripts/unseen_208.py [--seeds 1 2] [--minutes 10] [--out /tmp/biowave-unseen]
                                  [--models ecg-vae ecg-latent-transformer ecg-transformer]

The shipped ECG models learn `signals/mitdb208.edf`, SciPy's 5-minute excerpt of MIT-BIH
record 208: samples 422820..530820 of lead MLII of the whole record
(`signals/mitdb208_full.edf`, `tests/edf.rs`). The rest of the record's first 30 minutes,
25 minutes joined around the gap, is data no shipped model saw, from the same patient and
lead. Each model generates `--minutes` per seed, and `biowave eval` (5 s windows) judges it
against those 25 minutes, privacy against the excerpt. The floor row judges the excerpt
itself (five copies cut a fifth of a window apart, as `heldout_cv.py` does): what a model
that reproduced its training data exactly would score. Needs the release binary, numpy and
pyedflib; the models are looked up as `biowave` does (`./models`, `$BIOWAVE_MODELS`).
"""
import argparse
import os

import numpy as np
import pyedflib

from heldout_cv import COPIES, ROOT, WHOLE_208 as WHOLE, evaluate, generate, header, numbers, row, run, write

os.environ.setdefault("BIOWAVE_MODELS", os.path.join(ROOT, "models"))
EXCERPT = os.path.join(ROOT, "signals", "mitdb208.edf")
START, FS, WINDOW_S = 422_820, 360, 5


def digital(path, channel):
    """(digital samples, signal header) of one channel of an EDF."""
    r = pyedflib.EdfReader(path)
    try:
        return r.readSignal(channel, digital=True).astype(np.int32), r.getSignalHeader(channel)
    finally:
        r.close()


def prepare(out):
    """Writes unseen.edf (the whole record's first 30 min of MLII less the excerpt) and the
    excerpt's shifted copies; returns (unseen, copies)."""
    part, header = digital(EXCERPT, 0)
    whole, _ = digital(WHOLE, 0)
    whole = whole[:1800 * FS]
    assert np.array_equal(whole[START:START + len(part)], part), "the excerpt is not where it was"
    rest = np.r_[whole[:START], whole[START + len(part):]]
    unseen = os.path.join(out, "unseen.edf")
    write(unseen, [header], [rest[:len(rest) // FS * FS]])
    copies = []
    for j in range(COPIES):
        cut = part[round(j * WINDOW_S * FS / COPIES):]
        copies.append(os.path.join(out, f"excerpt_{j}.edf"))
        write(copies[-1], [header], [cut[:len(cut) // FS * FS]])
    return unseen, copies


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default="/tmp/biowave-unseen")
    ap.add_argument("--models", nargs="+", default=["ecg-vae", "ecg-latent-transformer", "ecg-transformer"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    run("info", WHOLE)  # a clear error if the binary or the file is missing
    unseen, copies = prepare(a.out)
    header()
    j = evaluate(unseen, copies, EXCERPT, WINDOW_S)
    m = numbers(j)
    row("excerpt (floor)", "-", 0, m[:4] + (None, None) + m[6:])
    for model in a.models:
        for s in a.seeds:
            synth = generate(model, os.path.join(a.out, f"gen_{model}_{s}"), s, a.minutes)
            row(model, "-", s, numbers(evaluate(unseen, synth, EXCERPT, WINDOW_S)))


if __name__ == "__main__":
    main()
