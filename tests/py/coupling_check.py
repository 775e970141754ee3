#!/usr/bin/env python3
"""Independent recomputation of biowave eval's channel coupling with numpy.

    coupling_check.py DIR

DIR holds a.f32 and b.f32 (windows x channels x samples, float32) and shape.json
({"channels": C, "samples": N}). Prints JSON: mean |r| of the channel pairs of each set
(np.corrcoef per window, averaged over windows) and the rms difference of the pairs' r.
"""
import json
import os
import sys

import numpy as np


def pairs(path, c, n):
    x = np.fromfile(path, dtype="<f4").reshape(-1, c, n).astype(np.float64)
    iu = np.triu_indices(c, 1)
    return np.mean([np.corrcoef(w)[iu] for w in x], axis=0)


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "shape.json")) as f:
        s = json.load(f)
    ra, rb = (pairs(os.path.join(d, f"{k}.f32"), s["channels"], s["samples"]) for k in "ab")
    print(json.dumps({"a": float(np.abs(ra).mean()), "b": float(np.abs(rb).mean()),
                      "rmse": float(np.sqrt(np.mean((ra - rb) ** 2)))}))


if __name__ == "__main__":
    main()
