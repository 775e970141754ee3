#!/usr/bin/env python3
"""Per-minute loudness and spectrum of long ECG recordings, split by band.

    python3 scripts/minutes.py FILE.edf [FILE.edf ...] [--channel 0] [--split-hz 0.67] [--hours]

For each file, the ratio of every minute to the first minute (the issue's hour check) of:
the standard deviation of the raw signal, of its baseline (below --split-hz, zero-phase
Butterworth) and of the monitor band (--split-hz to 40 Hz, the AHA monitoring bandwidth),
the median R-wave height (99.5th percentile above the median of the band signal), and the
spectral centroid (Welch) of the raw signal and of the band. The range of ratios grows with
the number of minutes; the sd of the log per-minute values is a spread that does not, to
compare an hour with a short record. The last column says how
closely each measure follows the raw std from minute to minute (Pearson r): which part of
the signal makes its minutes differ. With --hours (for runs of a day or more) it also prints
each measure's hourly means as ratios to the first hour's, and its trend (a least-squares
line through the log per-minute values) as a change per day: drift that minutes' scatter
hides. Reads EDF/BDF with pyedflib.
"""
import argparse

import numpy as np
import pyedflib
from scipy.signal import butter, sosfiltfilt, welch


def load(path, channel):
    f = pyedflib.EdfReader(path)
    try:
        return f.readSignal(channel), f.getSampleFrequency(channel)
    finally:
        f.close()


def centroid(x, fs):
    f, p = welch(x, fs, nperseg=1024)
    return (f * p).sum() / p.sum()


def per_minute(x, fs, split_hz):
    """One row per whole minute: raw std, baseline std, band std, R height, centroids."""
    base = sosfiltfilt(butter(2, split_hz, "low", fs=fs, output="sos"), x)
    band = sosfiltfilt(butter(2, [split_hz, 40.0], "band", fs=fs, output="sos"), x)
    n = int(round(60 * fs))
    rows = []
    for i in range(len(x) // n):
        s = slice(i * n, (i + 1) * n)
        b = band[s]
        rows.append([x[s].std(), base[s].std(), b.std(),
                     np.percentile(b, 99.5) - np.median(b),
                     centroid(x[s], fs), centroid(b, fs)])
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--channel", type=int, default=0)
    ap.add_argument("--split-hz", type=float, default=0.67)
    ap.add_argument("--hours", action="store_true", help="hourly means and trend per day")
    a = ap.parse_args()
    names = ["raw std", "baseline std", "band std", "R height",
             "raw centroid", "band centroid"]
    for path in a.files:
        x, fs = load(path, a.channel)
        m = per_minute(x, fs, a.split_hz)
        if len(m) < 2:
            print(f"{path}: under two whole minutes")
            continue
        print(f"{path}: {len(m)} minutes at {fs:g} Hz, ratios to the first minute")
        for j, name in enumerate(names):
            rel = m[:, j] / m[0, j]
            r = np.corrcoef(m[:, j], m[:, 0])[0, 1]
            sd = np.log(m[:, j]).std(ddof=1)
            print(f"  {name:14s} first {m[0, j]:8.3f}  {rel.min():.2f}–{rel.max():.2f} "
                  f"(max/min {m[:, j].max() / m[:, j].min():.2f}, sd of log {sd:.3f})  "
                  f"r with raw std {r:+.2f}")
        if a.hours:
            hourly(m, names)


def hourly(m, names):
    """Each measure's hourly means over the first's, and its trend per day."""
    h = len(m) // 60
    if h < 2:
        print("  (--hours: under two whole hours)")
        return
    print(f"  {h} hours: hourly means / the first hour's, trend per day")
    for j, name in enumerate(names):
        means = m[: h * 60, j].reshape(h, 60).mean(axis=1)
        rel = means / means[0]
        per_day = np.polyfit(np.arange(len(m)), np.log(m[:, j]), 1)[0] * 60 * 24
        print(f"  {name:14s} {rel.min():.3f}–{rel.max():.3f} (last hour {rel[-1]:.3f})  "
              f"trend {100 * np.expm1(per_day):+.1f} %/day")


if __name__ == "__main__":
    main()
