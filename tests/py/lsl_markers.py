#!/usr/bin/env python3
"""A real pylsl inlet pair for biowave's LSL marker test: the ECG stream and its markers.

    lsl_markers.py NAME SECONDS CHANNEL

Resolves NAME and NAME-markers (10 s timeout each), pulls both for SECONDS and prints
JSON: the marker stream's type, channel format and rate, the markers' labels, and for each
marker the distance in seconds from its timestamp to the largest sample of channel CHANNEL
within ±100 ms (on the data stream's timestamps): where the R peak it labels is.
"""
import json
import sys
import time

import numpy as np
import pylsl


def resolve(name):
    found = pylsl.resolve_byprop("name", name, timeout=10)
    if not found:
        print(json.dumps({"error": f"stream {name} not found"}))
        sys.exit(1)
    return pylsl.StreamInlet(found[0], max_buflen=30)


def main():
    name, secs, channel = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    data = resolve(name)
    markers = resolve(f"{name}-markers")
    info = markers.info(timeout=5)
    xs, ts, labels, mts = [], [], [], []
    end = time.time() + secs
    while time.time() < end:
        d, t = data.pull_chunk(timeout=0.1)
        xs.extend(s[channel] for s in d)
        ts.extend(t)
        m, mt = markers.pull_chunk(timeout=0.0)
        labels.extend(s[0] for s in m)
        mts.extend(mt)
    x, t = np.array(xs), np.array(ts)
    offsets = []
    for m in mts:
        near = np.flatnonzero(np.abs(t - m) <= 0.1)
        if near.size and near[0] > 0 and near[-1] < t.size - 1:
            offsets.append(float(t[near[np.argmax(x[near])]] - m))
    print(json.dumps({
        "type": info.type(), "channel_format": info.channel_format(),
        "rate": info.nominal_srate(), "labels": labels, "offsets": offsets,
    }))


if __name__ == "__main__":
    main()
