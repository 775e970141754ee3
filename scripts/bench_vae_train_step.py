#!/usr/bin/env python3
"""The same VAE training step in PyTorch (CPU) and in candle, timed in one run; ratio printed.

    python3 scripts/bench_vae_train_step.py [--steps 200] [--batch 32]

Model: models/ecg-vae's shapes (input 258 x 11 frames flattened, two GELU layers of 256,
latent 32, mirrored decoder); loss = mean squared reconstruction + beta * KL / input_dim with
the reparameterisation trick; AdamW(lr 1e-3, weight decay 1e-4). Both use every core (torch's
default threads; candle's default). Needs `pip install torch`.
"""
import argparse
import os
import subprocess
import time

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F, T, H, Z = 258, 11, 256, 32
D = F * T


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
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "vae_train_step"], cwd=ROOT, check=True)
    torch.manual_seed(0)
    m = Vae()
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
    out = subprocess.run([os.path.join(ROOT, "target/release/examples/vae_train_step"), str(a.steps), str(a.batch)],
                         check=True, capture_output=True, text=True).stdout.split()
    cd = float(out[0])
    print(f"VAE training step, batch {a.batch}, input {D}, hidden {H}, latent {Z}, {torch.get_num_threads()} torch threads")
    print(f"pytorch {torch.__version__} CPU: {pt * 1e3:.2f} ms/step")
    print(f"candle: {cd * 1e3:.2f} ms/step")
    print(f"ratio candle vs pytorch (speed): {pt / cd:.2f}x")


if __name__ == "__main__":
    main()
