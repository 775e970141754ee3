#!/usr/bin/env python3
"""Checks a stream resampled by biowave against scipy's resample_poly of the same stream.

    python3 tests/py/resample_check.py NATIVE.f32 NATIVE_HZ RESAMPLED.f32 RESAMPLED_HZ

Both files are one channel of little-endian f32. Prints the largest difference over the
samples the stream had complete (all but the filter's last few), the RMS of the signal,
and the counts, as JSON; exits 1 if the lengths are not those of the duration.
"""
import json
import sys
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly


def main():
    native, native_hz, resampled, resampled_hz = sys.argv[1:5]
    x = np.fromfile(native, dtype="<f4").astype(np.float64)
    y = np.fromfile(resampled, dtype="<f4").astype(np.float64)
    ratio = Fraction(float(resampled_hz)).limit_denominator(100000) / Fraction(
        float(native_hz)).limit_denominator(100000)
    want = resample_poly(x, ratio.numerator, ratio.denominator)
    # The stream stops where its duration ends; scipy pads past the end with zeros, so the
    # last max(up, down)·20 / up samples differ by design.
    tail = 20 * max(ratio.numerator, ratio.denominator) // ratio.numerator + 2
    n = min(len(y), len(want)) - tail
    print(json.dumps({
        "up": ratio.numerator,
        "down": ratio.denominator,
        "n_native": len(x),
        "n_resampled": len(y),
        "n_scipy": len(want),
        "max_diff": float(np.abs(y[:n] - want[:n]).max()),
        "rms": float(np.sqrt(np.mean(want[:n] ** 2))),
    }))


if __name__ == "__main__":
    main()
