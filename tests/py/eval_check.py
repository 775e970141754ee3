#!/usr/bin/env python3
"""Independent recomputation of biowave's eval metrics with numpy/scipy/scikit-learn.

    eval_check.py DIR

DIR holds a.f32 and b.f32 (windows x samples, float32, channel 0), features_a.csv and
features_b.csv (biowave's z-normalised feature rows) and biowave.json (rate, nperseg,
band, psd_distance_db, mmd2, auc). Prints JSON with scipy's log-spectral distance,
numpy's MMD² on the same features, a cross-validated scikit-learn logistic AUC, and the
spread (b's interquartile range over a's per feature, the middle ratio; z-normalising
scales both sets alike, so the ratios are the raw features').
"""
import json
import os
import sys

import numpy as np
import scipy.signal as ss
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "biowave.json")) as f:
        b = json.load(f)
    n = b["window"]
    xa = np.fromfile(os.path.join(d, "a.f32"), dtype="<f4").reshape(-1, n).astype(np.float64)
    xb = np.fromfile(os.path.join(d, "b.f32"), dtype="<f4").reshape(-1, n).astype(np.float64)
    fs, nper = b["rate"], b["nperseg"]
    f, pa = ss.welch(xa, fs=fs, window="hann", nperseg=nper, noverlap=nper // 2, axis=-1)
    _, pb = ss.welch(xb, fs=fs, window="hann", nperseg=nper, noverlap=nper // 2, axis=-1)
    ma, mb = pa.mean(axis=0), pb.mean(axis=0)
    df = fs / nper
    k0, k1 = int(np.ceil(b["band"][0] / df)), min(int(np.floor(b["band"][1] / df)) + 1, ma.size)
    lsd = float(np.sqrt(np.mean((10 * np.log10((ma[k0:k1] + 1e-30) / (mb[k0:k1] + 1e-30))) ** 2)))
    za = np.loadtxt(os.path.join(d, "features_a.csv"), delimiter=",", ndmin=2)
    zb = np.loadtxt(os.path.join(d, "features_b.csv"), delimiter=",", ndmin=2)
    pooled = np.vstack([za, zb])
    dist = np.sqrt(((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1))
    sigma = np.sort(dist[np.triu_indices(len(pooled), 1)])[len(dist[np.triu_indices(len(pooled), 1)]) // 2]
    k = np.exp(-dist ** 2 / (2 * sigma ** 2))
    na = len(za)
    kaa, kbb, kab = k[:na, :na], k[na:, na:], k[:na, na:]
    nb = len(zb)
    mmd = (kaa.sum() - np.trace(kaa)) / (na * (na - 1)) + (kbb.sum() - np.trace(kbb)) / (nb * (nb - 1)) - 2 * kab.mean()
    y = np.r_[np.zeros(na), np.ones(nb)]
    p = cross_val_predict(LogisticRegression(C=10.0, max_iter=2000), pooled, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=0), method="decision_function")
    from sklearn.metrics import roc_auc_score
    iqr = lambda z: np.percentile(z, 75, axis=0) - np.percentile(z, 25, axis=0)
    ia, ib = iqr(za), iqr(zb)
    ratios = np.sort(ib[ia > 1e-12] / ia[ia > 1e-12])
    spread = float(ratios[len(ratios) // 2])  # biowave's median: the upper middle of an even count
    print(json.dumps({"lsd_db": lsd, "mmd2": float(mmd), "auc": float(roc_auc_score(y, p)),
                      "spread": spread}))


if __name__ == "__main__":
    main()
