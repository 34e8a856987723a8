#!/usr/bin/env python3
"""Straightforward numpy EM trace extractor (Guarnera et al. 2020): the peer em-bench.ts compares with.

Usage: em_reference.py MANIFEST.json, a file written by bench/em-bench.ts:
  {"options": {...}, "images": [{"file", "width", "height", "channels", "init": [[...], ...]}]}
with each <file> (raw interleaved uint8 pixels, HWC) beside it. Prints one JSON object: ms per
image, wall clock and CPU time (EM only, file reads excluded), and every channel's result.

It mirrors src/forensics/em-trace.ts step by step (same initial kernels, same E-step/M-step order,
same guards: ridge, sigma floor, uniform-weight fallback, constant channels), but the textbook way:
X is built like im2col and every iteration solves the weighted normal equations with
np.linalg.solve.
"""
import json
import math
import os
import sys
import time

import numpy as np


def kernel_offsets(n):
    lo = -(n // 2)
    return list(range(lo, lo + n))


def em_channel(channel, opts, init):
    n = opts["kernelSize"]
    offs = kernel_offsets(n)
    lo, hi = offs[0], offs[-1]
    h, w = channel.shape
    ph, pw = h - (n - 1), w - (n - 1)
    if ph <= 0 or pw <= 0:
        raise ValueError(f"image {w}x{h} is smaller than the {n}x{n} kernel")
    m = n * n - 1
    if channel.min() == channel.max():
        return np.full(m, 1.0 / m), 0.0, 0, True

    y = channel[-lo:-lo + ph, -lo:-lo + pw].ravel()
    cols = [channel[-lo + dy:-lo + dy + ph, -lo + dx:-lo + dx + pw].ravel()
            for dy in offs for dx in offs if not (dy == 0 and dx == 0)]
    X = np.stack(cols, axis=1)

    k = np.asarray(init, dtype=np.float64)
    sigma = opts["sigma0"]
    p0 = opts["p0"]
    for it in range(1, opts["maxIterations"] + 1):
        # E-step
        r = y - X @ k
        p1 = np.exp(-(r * r) / (2 * sigma * sigma)) / (sigma * math.sqrt(2 * math.pi))
        wts = p1 / (p1 + p0)
        sw = wts.sum()
        if not sw >= opts["minWeightSum"]:
            wts = np.ones_like(wts)
            sw = float(len(wts))
        # M-step
        xw = X * wts[:, None]
        a = (X.T @ xw) / sw
        b = (xw.T @ y) / sw
        trace = np.trace(a)
        a += np.eye(m) * (opts["relativeRidge"] * trace / m if trace > 0 else 1.0)
        k_new = np.linalg.solve(a, b)
        sigma = max(math.sqrt(float((wts * r * r).sum()) / sw), opts["sigmaFloor"])
        delta = np.max(np.abs(k_new - k))
        k = k_new
        if delta < opts["tolerance"]:
            return k, sigma, it, True
    return k, sigma, opts["maxIterations"], False


def main():
    manifest_path = sys.argv[1]
    folder = os.path.dirname(os.path.abspath(manifest_path))
    with open(manifest_path) as f:
        manifest = json.load(f)
    opts = manifest["options"]
    pixels = []
    for img in manifest["images"]:
        raw = np.fromfile(os.path.join(folder, img["file"]), dtype=np.uint8)
        pixels.append(raw.reshape(img["height"], img["width"], img["channels"]))

    results = []
    cpu_start = time.process_time()
    start = time.perf_counter()
    for img, px in zip(manifest["images"], pixels):
        chans = []
        for c in range(img["channels"]):
            k, sigma, its, conv = em_channel(px[:, :, c].astype(np.float64), opts, img["init"][c])
            chans.append({"kernel": k.tolist(), "sigma": sigma, "iterations": its, "converged": conv})
        results.append(chans)
    total_ms = (time.perf_counter() - start) * 1000
    cpu_ms = (time.process_time() - cpu_start) * 1000
    count = max(1, len(pixels))
    json.dump({"msPerImage": total_ms / count, "cpuMsPerImage": cpu_ms / count, "totalMs": total_ms, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
