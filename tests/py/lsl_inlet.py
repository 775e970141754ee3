#!/usr/bin/env python3
"""A real pylsl inlet for biowave's LSL outlet test.

    lsl_inlet.py NAME SECONDS

Resolves the stream NAME (10 s timeout), reads its description, pulls for SECONDS and
prints JSON: name, type, rate, channel_count, labels, units, n (samples), the max error of
channel 0 against sin(2π·10·k/rate) after aligning the phase on the first sample, the
timestamp step mean/std, and the median of (receipt local_clock - sample timestamp).
"""
import json
import math
import sys
import time

import numpy as np
import pylsl


def main():
    name, secs = sys.argv[1], float(sys.argv[2])
    found = pylsl.resolve_byprop("name", name, timeout=10)
    if not found:
        print(json.dumps({"error": f"stream {name} not found"}))
        sys.exit(1)
    inlet = pylsl.StreamInlet(found[0], max_buflen=30)
    info = inlet.info(timeout=5)
    ch = info.desc().child("channels").child("channel")
    labels, units = [], []
    while not ch.empty():
        labels.append(ch.child_value("label"))
        units.append(ch.child_value("unit"))
        ch = ch.next_sibling()
    xs, ts, lag = [], [], []
    end = time.time() + secs
    while time.time() < end:
        d, t = inlet.pull_chunk(timeout=0.2)
        now = pylsl.local_clock()
        if t:
            xs.extend(d)
            ts.extend(t)
            lag.append(now - t[-1])
    rate = info.nominal_srate()
    x = np.array([s[0] for s in xs])
    t = np.array(ts)
    # The first received sample k0 is unknown: find it from the phase of the first value.
    best = min(range(int(rate / 10)), key=lambda k0: float(np.max(np.abs(
        x[:50] - np.sin(2 * math.pi * 10 * (k0 + np.arange(min(50, x.size))) / rate)))) if x.size else 0)
    err = float(np.max(np.abs(x - np.sin(2 * math.pi * 10 * (best + np.arange(x.size)) / rate)))) if x.size else None
    dt = np.diff(t)
    print(json.dumps({
        "name": info.name(), "type": info.type(), "rate": rate,
        "channel_count": info.channel_count(), "labels": labels, "units": units,
        "n": int(x.size), "sine_err": err,
        "dt_mean": float(dt.mean()) if dt.size else None, "dt_std": float(dt.std()) if dt.size else None,
        "lag_median": float(np.median(lag)) if lag else None,
    }))


if __name__ == "__main__":
    main()
