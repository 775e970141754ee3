#!/usr/bin/env python3
"""Held-out evaluation of the shipped VAEs: five folds of the MIT-BIH record (208), or with
`--eeg` three folds of the EEGMAT resting EEG.

    python3 scripts/heldout_cv.py [--seeds 1 2] [--minutes 10] [--out /tmp/biowave-cv]
                                  [--latent]   # also a latent transformer per fold
                                  [--frame]    # also a frame transformer per fold
                                  [--frame-args '--temperature 0.6']
                                  [--no-vae]   # skip the VAE (unless --latent needs it)
                                  [--eeg]      # the EEG record instead (60 s folds)
                                  [--ecg100]   # MIT-BIH 100 (lead MLII) instead (360 s folds)
                                  [--ecg208]   # the whole of MIT-BIH 208 (lead MLII, 360 s folds)
                                  [--vae-args '--beta 0.5'] [--latent-args '--mixture 3']
                                  [--folds 0 2] [--no-unseen]

Each fold's models are trained by the shipped checkpoints' own commands (`ecg-vae`,
`ecg-transformer`, `ecg-latent-transformer`; with `--eeg` `eeg-vae`, `eeg-transformer`,
`eeg-latent-transformer`, their `--shape` and `--envelope` included; with `--ecg100`
`ecg-sinus-vae`'s, `--fine-eq 4` included, and the frame and latent recipes above; the ECG
VAEs' `--beat-means` too, since 2026-12-06's second session); `--vae-args`,
`--frame-args` and `--latent-args` add flags or replace their values.

"Records not used for training" is a split in time of one record: MIT-BIH 208's 300 s
are cut into five 60 s folds (with `--ecg100`, MIT-BIH 100's lead MLII into five 360 s
folds; with `--ecg208`, the first 30 min of the whole record 208 likewise); for each fold a VAE is trained by
the shipped model's own command on the other 240 s (joined into one file), 10 min are
generated per seed, and `biowave eval` judges them against the held-out minute (privacy
against the 240 s). The same split of real data against itself (the held-out minute vs
the other four) is printed as the floor: the record is not stationary (the artefact at
207-215 s, PVC runs), so even real data is told apart from itself in some folds. That
floor judges the rest as one set of windows, a few dozen; the "training data" row judges
five copies of it cut at offsets a fifth of a window apart, about as many windows as
10 min of output: what a generator that reproduced its training data exactly would score.
The "surrogate (train)" row judges the training data with its phases randomised (each
window's FFT phases drawn afresh: its spectra kept, its waveforms lost), the generator one
could build without learning: the baseline a model has to beat on data it did not see
(the surrogate of the held-out minute itself keeps that minute's own spectrum, an oracle).
`eval` makes it as large as the set it is judged beside (here the five copies, about as
many windows as 10 min), each training window repeated with fresh phases.

With `--eeg` the same is done for `eeg-vae` on the 182 s EEGMAT resting EEG (its 19 EEG
channels at 250 Hz, as `eeg-vae` trains on them, made by `biowave convert --resample`):
three 60 s folds, the shipped command on the other 120 s, 2 s windows, and the relative
δ/θ/α/β band powers of the held-out minute, of the rest and of the synthetic data printed
beside each row (the check asks for differences ≤ 0.05; the floor rows show what the
record's own minutes give).

For the excerpt's folds (the default set) two more rows judge real data the models never
saw as if it were generated: 10 minutes of the same patient's same lead from elsewhere in the
whole record (`signals/mitdb208_full.edf`, 0-600 s and 570-1170 s; the excerpt is
1174.5-1474.5 s), against each held-out minute, privacy against its rest. They are what a
generator that drew new minutes of this patient, as real as the record's own, would score:
the checks' ceiling on this record (`--no-unseen` skips them).

The `spread` column is `biowave eval`'s: how much a set's windows differ from one another
beside the held-out minute's (1 alike, below 1 too alike). Each row ends with its most
telling feature (`biowave eval`'s first telltale: the feature whose AUC alone lies
furthest from 0.5).

Folds are written with pyedflib from the record's digital samples (exact). Needs the
release binary (`cargo build --release`; BIOWAVE_BIN=path judges another build), numpy and
pyedflib. About 2 min per ECG fold and 2 min per EEG fold on 2 cores. With `--ecg100`,
`ecg-sinus-vae`'s 40 epochs of 24 minutes of beats take about 6 min a fold (the runs of
2026-12-05 and 2026-12-06 trained `ecg-vae`'s 300-epoch recipe bounded by
`--vae-args '--max-minutes 6'`, the latter with `--fine-eq 4`). With `--ecg208` the
shipped recipes meet 24 minutes of training data: the runs of 2026-12-06's seventh session
bounded the VAE by `--vae-args '--max-minutes 6'` (the latent and frame transformers keep
their own 5- and 4-minute bounds).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pyedflib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BIOWAVE_BIN: another build to judge (e.g. one from a separate CARGO_TARGET_DIR).
BIN = os.environ.get("BIOWAVE_BIN", os.path.join(ROOT, "target", "release", "biowave"))
# `ecg-vae`'s (MIT-BIH 208): three kinds of beat, normal, ventricular and fusion (since
# 2026-12-07; its states fitted kind by kind).
VAE = ["--model", "vae", "--epochs", "300", "--seed", "1", "--beats", "--beat-means", "3"]
# `ecg-sinus-vae`'s (MIT-BIH 100): 40 epochs of its many beats, the fine low equaliser band,
# one kind of mean beat.
SINUS_VAE = ["--model", "vae", "--epochs", "40", "--seed", "1", "--beats", "--fine-eq", "4",
             "--beat-means", "1"]
EEG_VAE = ["--model", "vae", "--arch", "mlp", "--n-fft", "128", "--hop", "64", "--window-s", "2",
           "--hidden", "56", "--epochs", "300", "--seed", "1", "--stride-s", "0.1", "--shape"]
EEG_CHANNELS = ",".join("EEG " + c for c in "Fp1 Fp2 F3 F4 F7 F8 T3 T4 C3 C4 T5 T6 P3 P4 O1 O2 Fz Cz Pz".split())
# The shipped frame transformers' commands (`ecg-transformer`, `eeg-transformer`; their
# config.json's `command`).
TRANSFORMER = ["--model", "transformer", "--epochs", "600", "--seed", "1"]
# (`--wander` since 2026-12-07's second session: the record's baseline and noise replayed;
# `--clock-kinds 2` since its fourth: the kind of each beat in the clock; temperature 0.6
# since 2026-12-07's fifth, which read the record's beat labels too.)
FRAME = TRANSFORMER + ["--max-minutes", "4", "--n-fft", "64", "--hop", "16", "--codebook", "1024",
                       "--clock", "--clock-kinds", "2", "--temperature", "0.6", "--wander"]
EEG_FRAME = TRANSFORMER + ["--max-minutes", "10", "--n-fft", "128", "--window-s", "2", "--hidden",
                           "128", "--heads", "4", "--layers", "2", "--envelope", "--shape"]
# The whole of MIT-BIH record 208 (both leads, 30 min), of which the 208 excerpt is 5 min.
WHOLE_208 = os.path.join(ROOT, "signals", "mitdb208_full.edf")
# record, fold length (s), eval window (s), the shipped VAE's and frame transformer's commands
SETS = {
    "ecg": (os.path.join(ROOT, "signals", "mitdb208.edf"), 60, 5, VAE, FRAME),
    "eeg": (os.path.join(ROOT, "signals", "eegmat_s00_rest.edf"), 60, 2, EEG_VAE, EEG_FRAME),
    # MIT-BIH 100, lead MLII: 30 min, so five 6-minute folds (24 min to train on each).
    "ecg100": (os.path.join(ROOT, "signals", "mitdb100.edf"), 360, 5, SINUS_VAE, FRAME),
    # The whole of MIT-BIH 208 (the shipped models learn its 5-minute excerpt), lead MLII,
    # as MIT-BIH 100: five 6-minute folds.
    "ecg208": (WHOLE_208, 360, 5, VAE, FRAME),
}
# Real minutes of the excerpt's patient the models never saw, judged as if generated (the
# "unseen real" rows, seed column 1 and 2): the whole record, lead MLII, these spans (s).
UNSEEN_SPANS = [(0, 600), (570, 1170)]
# Shifted copies of the training data judged as if generated (the "training data" row).
COPIES = 5
LATENT = ["--model", "transformer", "--seed", "1", "--epochs", "300", "--max-minutes", "5",
          "--hidden", "64", "--heads", "4", "--layers", "2"]


def flags(args):
    """`--flag [value]` tokens as an ordered dict (a bare flag maps to None)."""
    out, i = {}, 0
    while i < len(args):
        has_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        out[args[i]] = args[i + 1] if has_value else None
        i += 2 if has_value else 1
    return out


def merge(base, extra):
    """`base`'s flags with those of `extra` replacing or adding to them."""
    merged = flags(base)
    merged.update(flags(extra))
    return [x for k, v in merged.items() for x in ([k] if v is None else [k, v])]


def write(path, headers, digital):
    w = pyedflib.EdfWriter(path, len(headers), file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders(headers)
    w.writeSamples([np.ascontiguousarray(c, dtype=np.int32) for c in digital], digital=True)
    w.close()


def folds(out, record, fold_s, window_s):
    """Writes f{k}.edf (held-out fold) and rest{k}.edf (the rest of the record) per fold, and
    rest{k}_{j}.edf: the rest cut at COPIES offsets a window apart / COPIES (the training
    data as a generator's output would be judged, about as many windows as 10 min)."""
    r = pyedflib.EdfReader(record)
    n_sig = r.signals_in_file
    x = np.array([r.readSignal(i, digital=True) for i in range(n_sig)])
    headers, fs = [r.getSignalHeader(i) for i in range(n_sig)], int(r.getSampleFrequency(0))
    r.close()
    n = fold_s * fs
    k_max = x.shape[1] // n
    for k in range(k_max):
        write(os.path.join(out, f"f{k}.edf"), headers, x[:, k * n:(k + 1) * n])
        rest = np.c_[x[:, :k * n], x[:, (k + 1) * n:]]
        write(os.path.join(out, f"rest{k}.edf"), headers, rest)
        for j in range(COPIES):
            cut = rest[:, round(j * window_s * fs / COPIES):]
            write(os.path.join(out, f"rest{k}_{j}.edf"), headers, cut[:, :cut.shape[1] // fs * fs])
    return k_max


def unseen_real(out):
    """UNSEEN_SPANS of the whole record 208's lead MLII, one EDF each (`biowave convert`)."""
    paths = []
    for start, end in UNSEEN_SPANS:
        path = os.path.join(out, f"unseen_{start}_{end}.edf")
        run("convert", WHOLE_208, path, "--channels", "MLII", "--start", str(start),
            "--end", str(end), "--overwrite")
        paths.append(path)
    return paths


def run(*args):
    subprocess.run([BIN, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def evaluate(real, synth, train, window_s):
    """`biowave eval --json` of `synth` against `real` (privacy against `train` if given)."""
    args = ["eval", "--real", real, "--synth", *synth, "--window-s", str(window_s), "--json"]
    if train:
        args += ["--train", train]
    return json.loads(subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout)


def judge(real, synth, train, window_s):
    return numbers(evaluate(real, synth, train, window_s))


def numbers(j, which="synthetic"):
    """The numbers of the comparison named `which` in an eval's JSON `j`."""
    c = next(c for c in j["comparisons"] if c["name"] == which)
    priv = j.get("privacy") or {}
    return (c["discriminative_auc"], c["psd_distance_db"], c.get("hr_mean"), c.get("template_corr"),
            priv.get("dcr_ratio"), priv.get("dcr_ratio_train"),
            j["real"].get("band_powers"), c.get("band_powers"), (c.get("telltales") or [None])[0],
            c.get("spread"))


def generate(model, out, seed, minutes):
    if not os.path.isdir(out):
        run("generate", "--model", model, "--duration", f"{minutes}m", "--count", "1",
            "--seed", str(seed), "--out", out, "--format", "edf")
    return [os.path.join(out, f) for f in sorted(os.listdir(out)) if f.endswith(".edf")]


def header():
    """The column names of `row`'s lines."""
    print(f"{'set':<22} {'fold':>4} {'seed':>4} {'AUC':>7} {'PSD dB':>7} {'HR':>7} {'tmpl r':>6} "
          f"{'priv':>6} {'priv/train':>10} {'spread':>6}")


def row(name, k, seed, m):
    auc, psd, hr, r, priv, priv_train, real_bands, bands, tell, spread = m
    fmt = lambda v, f: "–" if v is None else f % v
    line = (f"{name:<22} {k:>4} {seed:>4} {auc:7.3f} {psd:7.2f} {fmt(hr, '%7.1f')} "
            f"{fmt(r, '%6.3f')} {fmt(priv, '%6.2f')} {fmt(priv_train, '%10.2f')} {fmt(spread, '%6.2f')}")
    if bands:
        diff = max(abs(a - b) for a, b in zip(real_bands, bands))
        line += f"  bands {'/'.join(f'{b:.2f}' for b in bands)} vs {'/'.join(f'{b:.2f}' for b in real_bands)}, max diff {diff:.2f}"
    if tell:
        line += f"  telltale {tell['feature']} {tell['auc']:.2f}"
    print(line, flush=True)
    return auc, spread


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default="/tmp/biowave-cv")
    ap.add_argument("--latent", action="store_true", help="also a latent transformer per fold")
    ap.add_argument("--frame", action="store_true", help="also a frame transformer per fold")
    ap.add_argument("--eeg", action="store_true", help="the EEG record and eeg-vae's command")
    ap.add_argument("--ecg100", action="store_true", help="MIT-BIH 100's lead MLII in 360 s folds")
    ap.add_argument("--ecg208", action="store_true", help="the whole of MIT-BIH 208's lead MLII in 360 s folds")
    ap.add_argument("--vae-args", default="", help="flags added to the VAE's command, e.g. '--noise-share 1'")
    ap.add_argument("--latent-args", default="", help="flags added to the latent transformer's command")
    ap.add_argument("--frame-args", default="", help="flags added to the frame transformer's command, e.g. '--codebook 1024'")
    ap.add_argument("--no-vae", action="store_true", help="skip the VAE (with --latent it is still trained as the codec)")
    ap.add_argument("--folds", type=int, nargs="+", help="only these folds")
    ap.add_argument("--no-unseen", action="store_true",
                    help="skip the rows of unseen real minutes of the excerpt's patient")
    a = ap.parse_args()
    name = "eeg" if a.eeg else "ecg100" if a.ecg100 else "ecg208" if a.ecg208 else "ecg"
    record, fold_s, window_s, vae, frame = SETS[name]
    vae = merge(vae, a.vae_args.split())
    frame = merge(frame, a.frame_args.split())
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not found: run `cargo build --release` first")
    os.makedirs(a.out, exist_ok=True)
    if a.eeg:  # the 19 EEG channels at 250 Hz, as eeg-vae's command selects and resamples them
        prepared = os.path.join(a.out, "eeg250.edf")
        run("convert", record, prepared, "--channels", EEG_CHANNELS, "--resample", "250", "--overwrite")
        record = prepared
    if a.ecg100 or a.ecg208:  # lead MLII alone, as the 208 excerpt has it
        prepared = os.path.join(a.out, "mlii.edf")
        run("convert", record, prepared, "--channels", "MLII", "--overwrite")
        record = prepared
    n = folds(a.out, record, fold_s, window_s)
    p = lambda *parts: os.path.join(a.out, *parts)
    unseen = [] if a.no_unseen or name != "ecg" else unseen_real(a.out)
    header()
    means = {}
    for k in a.folds or range(n):
        real, rest = p(f"f{k}.edf"), p(f"rest{k}.edf")
        means.setdefault("real (floor)", []).append(row("real (floor)", k, 0, judge(real, [rest], None, window_s)))
        copies = [p(f"rest{k}_{j}.edf") for j in range(COPIES)]
        # One eval judges the copies and the generator that learned only the training data's
        # spectra (its windows with random phases): the baseline a model has to beat on data
        # it did not see. (Privacy would judge the copies against the rest: left blank.)
        j = evaluate(real, copies, rest, window_s)
        for name, which in [("training data", "synthetic"), ("surrogate (train)", "training-data surrogate")]:
            m = numbers(j, which)
            means.setdefault(name, []).append(row(name, k, 0, m[:4] + (None, None) + m[6:]))
        for span, path in enumerate(unseen, 1):
            m = judge(real, [path], rest, window_s)
            means.setdefault("unseen real", []).append(row("unseen real", k, span, m))
        models = [] if a.no_vae and not a.latent else [("vae", p(f"vae{k}"), vae)]
        if a.latent:
            # EEG tokens come every ~0.77 s: a 24 s piece of a 120 s fold holds ~29.
            context = ["--context", "16"] if a.eeg else []
            extra = context + a.latent_args.split() + ["--codec", p(f"vae{k}")]
            models.append(("latent transformer", p(f"lt{k}"), merge(LATENT, extra)))
        if a.frame:
            models.append(("frame transformer", p(f"ft{k}"), frame))
        for name, model, cmd in models:
            if not os.path.exists(os.path.join(model, "model.safetensors")):
                run("train", *cmd, "--data", rest, "--out", model)
            for s in a.seeds:
                synth = generate(model, p(f"gen_{name.split()[0]}{k}_{s}"), s, a.minutes)
                means.setdefault(name, []).append(row(name, k, s, judge(real, synth, rest, window_s)))
    for name, v in means.items():
        auc, spread = np.array(v, dtype=float).T
        print(f"mean AUC {name}: {np.mean(auc):.3f} over {len(v)} runs; spread {np.nanmin(spread):.2f}-{np.nanmax(spread):.2f}")


if __name__ == "__main__":
    main()
