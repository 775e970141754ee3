#!/usr/bin/env python3
"""Independent recomputation of `biowave eval`'s beat-label statistics with pyedflib.

    beat_labels_check.py FILE.edf...

Reads each EDF+'s annotations with pyedflib, keeps those that are MIT-BIH beat codes, and
prints JSON: beats, seconds, the share of each code, each code's (at least 10 beats) share
followed by a beat of the same code, and the 10th percentile / median / 90th percentile of
V's share of each whole minute's beats (nearest rank, index round-half-up of q·(n-1)).
"""
import json
import math
import sys
from collections import Counter

import pyedflib

BEAT_CODES = set("N L R B A a J S V r F e j n E / f Q ?".split())


def main():
    counts, repeats, minutes, seconds = Counter(), Counter(), [], 0.0
    for path in sys.argv[1:]:
        with pyedflib.EdfReader(path) as f:
            onsets, _, texts = f.readAnnotations()
            duration = f.getFileDuration()
        beats = sorted((t, c.strip()) for t, c in zip(onsets, texts) if c.strip() in BEAT_CODES)
        seconds += duration
        for i, (_, c) in enumerate(beats):
            counts[c] += 1
            if i + 1 < len(beats) and beats[i + 1][1] == c:
                repeats[c] += 1
        whole = int(duration // 60)
        per = [[0, 0] for _ in range(whole)]
        for t, c in beats:
            m = int(t // 60)
            if 0 <= m < whole:
                per[m][0] += 1
                per[m][1] += c == "V"
        minutes += [v / n for n, v in per if n > 0]
    total = sum(counts.values())
    minutes.sort()
    at = lambda q: minutes[min(int(math.floor(q * (len(minutes) - 1) + 0.5)), len(minutes) - 1)]
    print(json.dumps({
        "beats": total,
        "seconds": seconds,
        "shares": {c: n / total for c, n in counts.items()},
        "repeat": {c: repeats[c] / n for c, n in counts.items() if n >= 10},
        "v_per_minute": [at(0.1), at(0.5), at(0.9)] if minutes else None,
    }))


if __name__ == "__main__":
    main()
