#!/usr/bin/env python3
"""The same VAE training step in PyTorch (CPU) and in candle, timed in one run; ratio printed.

    python3 scripts/bench_vae_train_step.py [--steps 200] [--batch 32] [--arch conv|mlp]

Model (--arch conv, the default and what models/ecg-vae is): 66 features (n_fft 64) x 45
frames, time-major; conv k5 to 128 channels, two pair merges (stride-2 kernel-2 convs),
latent 32 from the flattened 128 x 12, decoder: linear, twice (nearest x2, conv k5), conv k5
back to 66 features, cropped to 45 frames. --arch mlp: the earlier MLP VAE (input 258 x 11
flattened, two GELU layers of 256, latent 32, mirrored decoder). Loss = mean squared reconstruction + beta * KL / input_dim with
the reparameterisation trick; AdamW(lr 1e-3, weight decay 1e-4). Both use every core as each
normally trains: torch with its default intra-op threads, candle as `biowave train` runs it
(the batch split into data-parallel shards, one thread each: model::data_parallel).
Needs `pip install torch`.
"""
import argparse
import os
import subprocess
import time

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {"conv": (66, 45, 128, 32), "mlp": (258, 11, 256, 32)}
F, T, H, Z = SHAPES["conv"]
D = F * T


class ConvVae(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = (T + 3) // 4
        self.c1 = nn.Conv1d(F, H, 5, padding=2)
        self.m1, self.m2 = nn.Linear(2 * H, H), nn.Linear(2 * H, H)
        self.mu, self.logvar = nn.Linear(H * self.t, Z), nn.Linear(H * self.t, Z)
        self.inp = nn.Linear(Z, H * self.t)
        self.d1, self.d2 = nn.Conv1d(H, H, 5, padding=2), nn.Conv1d(H, H, 5, padding=2)
        self.out = nn.Conv1d(H, F, 5, padding=2)

    def forward(self, x):
        g, b = nn.functional.relu, x.shape[0]
        h = nn.functional.pad(x.reshape(b, T, F), (0, 0, 0, 4 * self.t - T))
        h = g(self.c1(h.transpose(1, 2))).transpose(1, 2)
        h = g(self.m1(h.reshape(b, 2 * self.t, 2 * H)))
        h = g(self.m2(h.reshape(b, self.t, 2 * H))).reshape(b, -1)
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        h = g(self.inp(z)).reshape(b, self.t, H).transpose(1, 2)
        h = g(self.d1(h.repeat_interleave(2, dim=2)))
        h = g(self.d2(h.repeat_interleave(2, dim=2)))
        recon = self.out(h)[:, :, :T].transpose(1, 2).reshape(b, D)
        rec = ((recon - x) ** 2).mean()
        kl = (0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum(-1)).mean()
        return rec + kl / D


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = nn.Linear(D, H), nn.Linear(H, H)
        self.mu, self.logvar = nn.Linear(H, Z), nn.Linear(H, Z)
        self.dec1, self.dec2, self.out = nn.Linear(Z, H), nn.Linear(H, H), nn.Linear(H, D)

    def forward(self, x):
        g = nn.functional.gelu
        h = g(self.enc2(g(self.enc1(x))))
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.out(g(self.dec2(g(self.dec1(z)))))
        rec = ((recon - x) ** 2).mean()
        kl = (0.5 * (logvar.exp() + mu ** 2 - 1 - logvar).sum(-1)).mean()
        return rec + kl / D


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--arch", choices=["conv", "mlp"], default="conv")
    a = ap.parse_args()
    global F, T, H, Z, D
    F, T, H, Z = SHAPES[a.arch]
    D = F * T
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "vae_train_step"], cwd=ROOT, check=True)
    torch.manual_seed(0)
    m = ConvVae() if a.arch == "conv" else Vae()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(a.batch, D)

    def step():
        opt.zero_grad(set_to_none=True)
        m(x).backward()
        opt.step()

    for _ in range(10):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    pt = (time.perf_counter() - t0) / a.steps
    out = subprocess.run([os.path.join(ROOT, "target/release/examples/vae_train_step"), str(a.steps), str(a.batch), a.arch],
                         check=True, capture_output=True, text=True).stdout.split()
    cd = float(out[0])
    print(f"{a.arch} VAE training step, batch {a.batch}, input {F} x {T}, hidden {H}, latent {Z}, {torch.get_num_threads()} torch threads")
    print(f"pytorch {torch.__version__} CPU: {pt * 1e3:.2f} ms/step")
    print(f"candle: {cd * 1e3:.2f} ms/step")
    print(f"ratio candle vs pytorch (speed): {pt / cd:.2f}x")


if __name__ == "__main__":
    main()
