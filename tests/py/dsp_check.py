#!/usr/bin/env python3
"""Cross-check biowave's dsp outputs against scipy.signal on the same inputs.

    python3 tests/py/dsp_check.py DIR

DIR/manifest.json lists cases written by tests/dsp.rs: each names a kind (stft, istft,
resample, sosfiltfilt), raw little-endian float32 input/output files and parameters.
scipy computes its own result from the input (designing filters itself), and one JSON
line per case is printed: name, max_abs difference, and scale (max |scipy output|).
"""
import json
import sys
from pathlib import Path

import numpy as np
import scipy.signal as ss


def load(d: Path, name: str) -> np.ndarray:
    return np.fromfile(d / name, dtype="<f4").astype(np.float64)


def window(p):
    w = p["window"]
    return ("kaiser", w["beta"]) if w["kind"] == "kaiser" else w["kind"]


def stft(x, p):
    n, hop = p["n_fft"], p["hop"]
    _, _, z = ss.stft(x, window=window(p), nperseg=n, noverlap=n - hop)
    return np.stack([z.T.real, z.T.imag], axis=-1).ravel()


def istft(spec, p):
    n, hop = p["n_fft"], p["hop"]
    z = spec.reshape(-1, n // 2 + 1, 2)
    z = (z[..., 0] + 1j * z[..., 1]).T
    _, x = ss.istft(z, window=window(p), nperseg=n, noverlap=n - hop)
    return x[: p["n_samples"]]


def resample(x, p):
    return ss.resample_poly(x, p["up"], p["down"])


def sosfiltfilt(x, p):
    fs, f = p["fs"], p["filter"]
    if f["type"] == "notch":
        b, a = ss.iirnotch(f["f0"], f["q"], fs=fs)
        sos = ss.tf2sos(b, a)
    else:
        sos = ss.butter(f["order"], f["cutoff"], btype=f["type"], fs=fs, output="sos")
    return ss.sosfiltfilt(sos, x)


KINDS = {"stft": stft, "istft": istft, "resample": resample, "sosfiltfilt": sosfiltfilt}


def main():
    d = Path(sys.argv[1])
    for case in json.loads((d / "manifest.json").read_text()):
        want = KINDS[case["kind"]](load(d, case["input"]), case["params"])
        got = load(d, case["output"])
        if got.shape != want.shape:
            print(json.dumps({"name": case["name"], "error": f"shape {got.shape} vs scipy {want.shape}"}))
            continue
        print(json.dumps({
            "name": case["name"],
            "max_abs": float(np.max(np.abs(got - want))),
            "scale": float(np.max(np.abs(want))),
        }))


if __name__ == "__main__":
    main()
