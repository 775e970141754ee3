#!/usr/bin/env python3
"""Soak test: several real-time streams in one biowave process for a long time, sampled.

    python3 scripts/soak.py --minutes 60 [--interval 10] [--out soak/] [--scenario FILE]

Without --scenario it runs: 12-lead ECGSYN at 500 Hz to a TCP client (read by this script)
and to EDF files rolled every 10 minutes, a 19-channel EEG at 256 Hz to a BDF file, the shipped
learned models (models/ecg-vae to HDF5, models/eeg-vae to EDF, the frame transformers
models/ecg-transformer to EDF and models/eeg-transformer to BDF, models/ecg-latent-transformer
to a TCP client), and a 4-channel sine to another TCP client. Every interval it records,
into OUT/soak.csv: elapsed seconds, RSS (KiB), open file descriptors, threads, underruns,
frames emitted (from the Prometheus endpoint), TCP bytes read and the process's CPU seconds.
At the end it sends SIGTERM, checks the exit code, reads every file back (pyedflib for
EDF/BDF, h5py for HDF5: each must open and hold the run's length of signal), plots
OUT/soak.png (matplotlib) and prints RSS growth after the first minute, after the warm-up
(`--warmup-min`, default 10: the first EDF roll) and over the second half (goal < 1 MB),
and the CPU used per second of run in each half (constant cost: the halves alike).
"""
import argparse
import csv
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The shipped learned models streamed: name, seed, sink ({out}: the output directory,
# {latent_port}: a TCP client this script runs).
LEARNED = [
    ("ecg-vae", 7, "file:{out}/ecg-vae.h5"),
    ("eeg-vae", 8, "file:{out}/eeg-vae.edf"),
    ("ecg-transformer", 9, "file:{out}/ecg-transformer.edf"),
    ("ecg-latent-transformer", 10, "tcp://127.0.0.1:{latent_port}"),
    ("eeg-transformer", 11, "file:{out}/eeg-transformer.bdf"),
]


def scenario(out, ecg_port, sine_port, latent_port, metrics_port):
    learned = "".join(
        f'[[stream]]\nname = "{name}"\nmodel = "{name}"\nseed = {seed}\n'
        f'to = ["{to.format(out=out, latent_port=latent_port)}"]\n\n'
        for name, seed, to in LEARNED)
    return f"""realtime = true
metrics = "127.0.0.1:{metrics_port}"

[[stream]]
name = "ecg"
model = "ecgsyn"
to = ["tcp://127.0.0.1:{ecg_port}", "file:{out}/ecg.edf"]
roll = "10m"
on_error = "drop"

[[stream]]
name = "eeg"
model = "eeg"
to = ["file:{out}/eeg.bdf"]

{learned}[[stream]]
name = "sine"
model = "sine"
params = {{ rate = 1000, channels = 4 }}
to = ["tcp://127.0.0.1:{sine_port}"]
"""


def drain(port, stop, counts, key):
    """A TCP client that reads everything the stream sends."""
    deadline = time.time() + 30
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    with s:
        while not stop.is_set():
            b = s.recv(1 << 16)
            if not b:
                break
            counts[key] += len(b)


def proc_stats(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def metric_sum(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name))


def cpu_seconds(pid):
    """User + system CPU time of the process so far (seconds)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_lines(port, name):
    """Each labelled sample of a metric, as 'labels value'."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return [l[len(name):] for l in text.splitlines() if l.startswith(name)]


def read_back(out, seconds):
    """Opens every file the run wrote with an independent reader (pyedflib, h5py) and prints
    how much signal each holds; returns the problems (a file that does not open, or one that
    holds less than the run's length of signal, rolled EDF pieces summed)."""
    import pyedflib
    import h5py

    held, bad = {}, []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        try:
            if name.endswith((".edf", ".bdf")):
                with pyedflib.EdfReader(path) as f:
                    s = f.getNSamples()[0] / f.getSampleFrequency(0)
                    ch = f.signals_in_file
            elif name.endswith(".h5"):
                with h5py.File(path, "r") as f:
                    d = next(v for v in f.values() if isinstance(v, h5py.Dataset) and v.ndim == 2)
                    rate = float(d.attrs.get("sample_rate", f.attrs.get("sample_rate", 0)))
                    s, ch = d.shape[0] / rate, d.shape[1]  # samples × channels
            else:
                continue
        except Exception as e:  # noqa: BLE001: any reader error is what is reported
            bad.append(f"{name}: {e}")
            continue
        stem = re.sub(r"_\d{4}(\.\w+)$", r"\1", name)  # rolled pieces: ecg_0000.edf …
        held[stem] = held.get(stem, 0.0) + s
        print(f"  {name}: {ch} channels, {s:.1f} s")
    for stem, s in held.items():
        if s < seconds - 60:
            bad.append(f"{stem}: {s:.0f} s of signal after a {seconds:.0f} s run")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--out", default="soak")
    ap.add_argument("--scenario")
    ap.add_argument("--warmup-min", type=float, default=10,
                    help="minutes before RSS growth is counted (the first EDF roll is at 10)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    subprocess.run(["cargo", "build", "-q", "--release"], cwd=ROOT, check=True)
    ports = [free_port() for _ in range(4)]
    path = a.scenario
    if path is None:
        path = os.path.join(out, "scenario.toml")
        with open(path, "w") as f:
            f.write(scenario(out, *ports))
    # --overwrite: a rerun into the same --out replaces the last soak's files.
    proc = subprocess.Popen([os.path.join(ROOT, "target/release/biowave"), "stream", "--scenario", path,
                             "--overwrite"],
                            stderr=open(os.path.join(out, "stderr.log"), "w"))
    stop, counts = threading.Event(), {"ecg": 0, "sine": 0, "latent": 0}
    clients = [threading.Thread(target=drain, args=(port, stop, counts, key), daemon=True)
               for port, key in zip(ports, counts)]
    for c in clients:
        c.start()
    rows, t0 = [], time.time()
    with open(os.path.join(out, "soak.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["elapsed_s", "rss_kib", "fds", "threads", "underruns", "frames", "tcp_bytes", "cpu_s"])
        while time.time() - t0 < a.minutes * 60:
            time.sleep(a.interval)
            if proc.poll() is not None:
                raise SystemExit(f"biowave exited early with {proc.returncode}; see {out}/stderr.log")
            rss, fds, threads = proc_stats(proc.pid)
            und = metric_sum(ports[3], "biowave_underruns_total")
            frames = metric_sum(ports[3], "biowave_frames_emitted_total")
            row = [round(time.time() - t0, 1), rss, fds, threads, und, frames, sum(counts.values()),
                   round(cpu_seconds(proc.pid), 2)]
            w.writerow(row)
            f.flush()
            rows.append(row)
    per_stream = metric_lines(ports[3], "biowave_underruns_total")
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    stop.set()
    last = rows[-1]
    print(f"ran {last[0] / 60:.1f} min, exit code {code} after SIGTERM")
    print(f"RSS: {rows[0][1] / 1024:.1f} MiB at {rows[0][0]:.0f} s, {last[1] / 1024:.1f} MiB at the end")
    for label, since in (("1 min", 60), (f"warm-up ({a.warmup_min:g} min)", a.warmup_min * 60),
                         ("the first half", last[0] / 2)):
        warm = next((r for r in rows if r[0] >= since), rows[0])
        hours = max((last[0] - warm[0]) / 3600, 1e-9)
        print(f"  growth after {label}: {warm[1] / 1024:.2f} -> {last[1] / 1024:.2f} MiB, "
              f"{(last[1] - warm[1]) / 1024:+.2f} MiB ({(last[1] - warm[1]) / 1024 / hours:+.2f} MiB/h)")
    print(f"fds: {min(r[2] for r in rows)}..{max(r[2] for r in rows)}, threads: "
          f"{min(r[3] for r in rows)}..{max(r[3] for r in rows)}, underruns: {last[4]:.0f}, "
          f"frames emitted: {last[5]:.0f}, TCP bytes read: {last[6]}")
    print("underruns per stream: " + ", ".join(per_stream))
    half = next(r for r in rows if r[0] >= last[0] / 2)
    for label, (a_, b_) in (("first half", (rows[0], half)), ("second half", (half, last))):
        print(f"CPU in the {label}: {100 * (b_[7] - a_[7]) / max(b_[0] - a_[0], 1e-9):.1f} % of one core")
    bad = read_back(out, last[0])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
        t = [r[0] / 60 for r in rows]
        ax[0].plot(t, [r[1] / 1024 for r in rows])
        ax[0].set_ylabel("RSS (MiB)")
        ax[1].plot(t, [r[2] for r in rows])
        ax[1].set_ylabel("open fds")
        ax[2].plot(t, [r[4] for r in rows])
        ax[2].set_ylabel("underruns")
        ax[2].set_xlabel("minutes")
        fig.suptitle("biowave soak: ecgsyn, eeg, ecg-vae, eeg-vae, three transformers, sine")
        fig.savefig(os.path.join(out, "soak.png"), dpi=80)
    except ImportError:
        print("matplotlib not installed: no plot")
    if code != 0:
        raise SystemExit(f"biowave exited {code} after SIGTERM")
    if bad:
        raise SystemExit("files not readable to the end: " + "; ".join(bad))


if __name__ == "__main__":
    main()
