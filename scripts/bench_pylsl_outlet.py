#!/usr/bin/env python3
"""pylsl's own outlet, paced the same way as biowave's pacer, for comparison.

    python3 scripts/bench_pylsl_outlet.py [--seconds 60] [--block-ms 20]

A 12-channel 500 Hz float32 outlet pushes one chunk per block on absolute deadlines
(t0 + k·block, time.sleep until each); lateness = push time − deadline. Prints p50, p99 and
max lateness like examples/bench_stream does for biowave.
"""
import argparse
import time

import numpy as np
import pylsl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--block-ms", type=float, default=20)
    a = ap.parse_args()
    rate, ch = 500, 12
    n = int(rate * a.block_ms / 1000)
    info = pylsl.StreamInfo("bench-pylsl", "ECG", ch, rate, "float32", "bench-pylsl")
    outlet = pylsl.StreamOutlet(info)
    chunk = np.zeros((n, ch), dtype=np.float32)
    late = []
    t0 = time.perf_counter()
    blocks = int(a.seconds * 1000 / a.block_ms)
    for k in range(blocks):
        deadline = t0 + k * a.block_ms / 1000
        wait = deadline - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        late.append(time.perf_counter() - deadline)
        chunk[:, 0] = np.sin(np.arange(k * n, (k + 1) * n) * 0.1)
        outlet.push_chunk(chunk)
    late = np.array(late) * 1e6
    print(f"pylsl outlet, {blocks} blocks of {a.block_ms:g} ms over {a.seconds:g} s: lateness "
          f"p50 {np.percentile(late, 50):.0f} us, p99 {np.percentile(late, 99):.0f} us, max {late.max():.0f} us")


if __name__ == "__main__":
    main()
