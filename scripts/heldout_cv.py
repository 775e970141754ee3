#!/usr/bin/env python3
"""Five-fold held-out evaluation of the ECG VAE on the shipped MIT-BIH record (208).

    python3 scripts/heldout_cv.py [--seeds 1 2] [--minutes 10] [--out /tmp/biowave-cv]
                                  [--latent]   # also a latent transformer per fold

There is one long real ECG record in signals/, so "records not used for training" is a
split in time: the 300 s are cut into five 60 s folds; for each fold a VAE is trained by
the shipped model's own command on the other 240 s (joined into one file), 10 min are
generated per seed, and `biowave eval` judges them against the held-out minute (privacy
against the 240 s). The same split of real data against itself (the held-out minute vs
the other four) is printed as the floor: the record is not stationary (the artefact at
207-215 s, PVC runs), so even real data is told apart from itself in some folds.

Folds are written with pyedflib from the record's digital samples (exact). Needs the
release binary (`cargo build --release`), numpy and pyedflib. About 2 min per fold on
2 cores.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pyedflib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "biowave")
RECORD = os.path.join(ROOT, "signals", "mitdb208.edf")
FOLD_S = 60
VAE = ["--model", "vae", "--epochs", "300", "--seed", "1", "--beats"]
LATENT = ["--model", "transformer", "--seed", "1", "--epochs", "300", "--max-minutes", "5",
          "--hidden", "64", "--heads", "4", "--layers", "2"]


def write(path, header, digital):
    w = pyedflib.EdfWriter(path, 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeader(0, header)
    w.writeSamples([digital.astype(np.int32)], digital=True)
    w.close()


def folds(out):
    """Writes f{k}.edf (held-out minute) and rest{k}.edf (the other 240 s) for k in 0..4."""
    r = pyedflib.EdfReader(RECORD)
    x, header, fs = r.readSignal(0, digital=True), r.getSignalHeader(0), int(r.getSampleFrequency(0))
    r.close()
    n = FOLD_S * fs
    k_max = len(x) // n
    for k in range(k_max):
        write(os.path.join(out, f"f{k}.edf"), header, x[k * n:(k + 1) * n])
        write(os.path.join(out, f"rest{k}.edf"), header, np.r_[x[:k * n], x[(k + 1) * n:]])
    return k_max


def run(*args):
    subprocess.run([BIN, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def judge(real, synth, train):
    args = ["eval", "--real", real, "--synth", *synth, "--window-s", "5", "--json"]
    if train:
        args += ["--train", train]
    j = json.loads(subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout)
    c = j["comparisons"][0]
    priv = j.get("privacy") or {}
    return (c["discriminative_auc"], c["psd_distance_db"], c.get("hr_mean"), c.get("template_corr"),
            priv.get("dcr_ratio"), priv.get("dcr_ratio_train"))


def generate(model, out, seed, minutes):
    if not os.path.isdir(out):
        run("generate", "--model", model, "--duration", f"{minutes}m", "--count", "1",
            "--seed", str(seed), "--out", out, "--format", "edf")
    return [os.path.join(out, f) for f in sorted(os.listdir(out)) if f.endswith(".edf")]


def row(name, k, seed, m):
    auc, psd, hr, r, priv, priv_train = m
    fmt = lambda v, f: "–" if v is None else f % v
    print(f"{name:<18} {k:>4} {seed:>4} {auc:7.3f} {psd:7.2f} {fmt(hr, '%7.1f')} "
          f"{fmt(r, '%6.3f')} {fmt(priv, '%6.2f')} {fmt(priv_train, '%10.2f')}", flush=True)
    return auc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default="/tmp/biowave-cv")
    ap.add_argument("--latent", action="store_true", help="also a latent transformer per fold")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: run `cargo build --release` first")
    os.makedirs(a.out, exist_ok=True)
    n = folds(a.out)
    p = lambda *parts: os.path.join(a.out, *parts)
    print(f"{'set':<18} {'fold':>4} {'seed':>4} {'AUC':>7} {'PSD dB':>7} {'HR':>7} {'tmpl r':>6} {'priv':>6} {'priv/train':>10}")
    means = {}
    for k in range(n):
        real, rest = p(f"f{k}.edf"), p(f"rest{k}.edf")
        means.setdefault("real (floor)", []).append(row("real (floor)", k, 0, judge(real, [rest], None)))
        models = [("vae", p(f"vae{k}"), VAE)]
        if a.latent:
            models.append(("latent transformer", p(f"lt{k}"), LATENT + ["--codec", p(f"vae{k}")]))
        for name, model, cmd in models:
            if not os.path.exists(os.path.join(model, "model.safetensors")):
                run("train", *cmd, "--data", rest, "--out", model)
            for s in a.seeds:
                synth = generate(model, p(f"gen_{name.split()[0]}{k}_{s}"), s, a.minutes)
                means.setdefault(name, []).append(row(name, k, s, judge(real, synth, rest)))
    for name, v in means.items():
        print(f"mean AUC {name}: {np.mean(v):.3f} over {len(v)} runs")


if __name__ == "__main__":
    main()
