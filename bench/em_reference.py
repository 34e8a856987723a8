#!/usr/bin/env python3
"""numpy EM trace extractor (Guarnera et al. 2020): the peer bench/em-bench.ts compares with.

Usage: em_reference.py MANIFEST.json [--formulation blocked|textbook] [--block PIXELS]
       em_reference.py --info
MANIFEST.json is written by bench/em-bench.ts:
  {"options": {...}, "images": [{"file", "width", "height", "channels", "init": [[...], ...]}]}
with each <file> (raw interleaved uint8 pixels, HWC) beside it. Prints one JSON object: ms per
image, wall clock and CPU time (EM only, file reads excluded), every channel's result, and what
ran (Python, numpy, the BLAS library loaded and its threads).

Both formulations mirror src/forensics/em-trace.ts step by step (same initial kernels, same
E-step/M-step order, same guards: ridge, sigma floor, uniform-weight fallback, constant channels)
in float64:
  textbook  X built like im2col (pixels x neighbours), every iteration X.T @ (X * w) and
            np.linalg.solve: the way the method is usually written;
  blocked   numpy's fastest way found on the bench machine (2.4x the textbook one there): the
            neighbours and the centre pixel as rows of one (m+1) x pixels array, and every
            iteration walks it in blocks of --block pixels that stay in the CPU cache: residuals
            by one matrix-vector product, weights by in-place ufuncs, and [X|y]^T W [X|y] (the
            normal equations and the right-hand side at once) by one small matrix product per
            block, accumulated in float64.
"""
import ctypes
import json
import math
import os
import platform
import sys
import time

import numpy as np


def kernel_offsets(n):
    lo = -(n // 2)
    return list(range(lo, lo + n))


def constant_result(m):
    return np.full(m, 1.0 / m), 0.0, 0, True


def solve(a, b, m, opts):
    trace = np.trace(a)
    a += np.eye(m) * (opts["relativeRidge"] * trace / m if trace > 0 else 1.0)
    return np.linalg.solve(a, b)


def em_textbook(channel, opts, init, _block):
    n = opts["kernelSize"]
    offs = kernel_offsets(n)
    lo = offs[0]
    h, w = channel.shape
    ph, pw = h - (n - 1), w - (n - 1)
    m = n * n - 1
    if channel.min() == channel.max():
        return constant_result(m)

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
        k_new = solve(a, b, m, opts)
        sigma = max(math.sqrt(float((wts * r * r).sum()) / sw), opts["sigmaFloor"])
        delta = np.max(np.abs(k_new - k))
        k = k_new
        if delta < opts["tolerance"]:
            return k, sigma, it, True
    return k, sigma, opts["maxIterations"], False


def em_blocked(channel, opts, init, block):
    n = opts["kernelSize"]
    offs = kernel_offsets(n)
    lo = offs[0]
    h, w = channel.shape
    ph, pw = h - (n - 1), w - (n - 1)
    m = n * n - 1
    if channel.min() == channel.max():
        return constant_result(m)

    count = ph * pw
    # Rows 0..m-1: the neighbours in kernel raster order; row m: the centre pixel y.
    xa = np.empty((m + 1, count))
    row = 0
    for dy in offs:
        for dx in offs:
            if dy or dx:
                xa[row].reshape(ph, pw)[:] = channel[-lo + dy:-lo + dy + ph, -lo + dx:-lo + dx + pw]
                row += 1
    xa[m].reshape(ph, pw)[:] = channel[-lo:-lo + ph, -lo:-lo + pw]
    blocks = [xa[:, s:s + block] for s in range(0, count, block)]

    k = np.asarray(init, dtype=np.float64)
    sigma = opts["sigma0"]
    p0 = opts["p0"]
    coef = np.empty(m + 1)
    r, r2, p1, wts = (np.empty(block) for _ in range(4))
    weighted = np.empty((m + 1, block))
    for it in range(1, opts["maxIterations"] + 1):
        coef[:m] = -k
        coef[m] = 1.0  # coef @ [X|y]^T = y - Xk
        scale = -0.5 / (sigma * sigma)
        density = 1.0 / (sigma * math.sqrt(2 * math.pi))
        g = np.zeros((m + 1, m + 1))
        sw = 0.0
        swr2 = 0.0
        for xb in blocks:
            size = xb.shape[1]
            rb, r2b, p1b, wb, xw = r[:size], r2[:size], p1[:size], wts[:size], weighted[:, :size]
            np.matmul(coef, xb, out=rb)
            np.multiply(rb, rb, out=r2b)
            np.multiply(r2b, scale, out=p1b)
            np.exp(p1b, out=p1b)
            p1b *= density
            np.add(p1b, p0, out=wb)
            np.divide(p1b, wb, out=wb)
            sw += float(wb.sum())
            swr2 += float(np.dot(wb, r2b))
            np.multiply(xb, wb, out=xw)
            g += xw @ xb.T
        if not sw >= opts["minWeightSum"]:
            g = xa @ xa.T
            sw = float(count)
            res = coef @ xa
            swr2 = float(np.dot(res, res))
        k_new = solve(g[:m, :m] / sw, g[:m, m] / sw, m, opts)
        sigma = max(math.sqrt(swr2 / sw), opts["sigmaFloor"])
        delta = np.max(np.abs(k_new - k))
        k = k_new
        if delta < opts["tolerance"]:
            return k, sigma, it, True
    return k, sigma, opts["maxIterations"], False


FORMULATIONS = {"textbook": em_textbook, "blocked": em_blocked}


def openblas_details(path):
    """Version/configuration, core kernel and thread count of a loaded OpenBLAS (plain or scipy-openblas64 names)."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return {}
    details = {}
    for key, names in (("config", ("openblas_get_config", "openblas_get_config64_", "scipy_openblas_get_config64_")),
                       ("core", ("openblas_get_corename", "openblas_get_corename64_", "scipy_openblas_get_corename64_")),
                       ("threads", ("openblas_get_num_threads", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads64_"))):
        for name in names:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            if key == "threads":
                fn.restype = ctypes.c_int
                details[key] = fn()
            else:
                fn.restype = ctypes.c_char_p
                details[key] = fn().decode().strip()
            break
    return details


def threadpoolctl_info():
    """threadpoolctl's report where it is importable (Debian's python3-threadpoolctl is plain Python)."""
    try:
        import threadpoolctl
    except ImportError:
        path = "/usr/lib/python3/dist-packages/threadpoolctl.py"
        if not os.path.exists(path):
            return None
        import importlib.util
        spec = importlib.util.spec_from_file_location("threadpoolctl", path)
        threadpoolctl = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(threadpoolctl)
        except Exception:  # noqa: BLE001 - an incompatible copy just means no report
            return None
    try:
        return threadpoolctl.threadpool_info()
    except Exception:  # noqa: BLE001
        return None


def runtime_info():
    """What runs: Python, numpy, and every BLAS/LAPACK library mapped into this process."""
    libraries = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if ("blas" in name or "lapack" in name or "mkl" in name) and path not in [lib["path"] for lib in libraries]:
                    libraries.append({"path": path})
    except OSError:
        pass
    for lib in libraries:
        if "openblas" in os.path.basename(lib["path"]).lower():
            lib.update(openblas_details(lib["path"]))
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "numpy": np.__version__,
        "blas": libraries,
        "threadpoolctl": threadpoolctl_info(),
        "threadsEnv": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                  "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def main():
    args = sys.argv[1:]
    if args == ["--info"]:
        json.dump(runtime_info(), sys.stdout)
        sys.stdout.write("\n")
        return
    manifest_path = args[0]
    formulation = "blocked"
    block = 8192
    rest = args[1:]
    while rest:
        flag, value, rest = rest[0], rest[1], rest[2:]
        if flag == "--formulation":
            formulation = value
        elif flag == "--block":
            block = int(value)
        else:
            raise SystemExit(f"em_reference.py: unknown option {flag}")
    em_channel = FORMULATIONS[formulation]
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
            k, sigma, its, conv = em_channel(px[:, :, c].astype(np.float64), opts, img["init"][c], block)
            chans.append({"kernel": k.tolist(), "sigma": sigma, "iterations": its, "converged": conv})
        results.append(chans)
    total_ms = (time.perf_counter() - start) * 1000
    cpu_ms = (time.process_time() - cpu_start) * 1000
    count = max(1, len(pixels))
    json.dump({"msPerImage": total_ms / count, "cpuMsPerImage": cpu_ms / count, "totalMs": total_ms,
               "formulation": formulation, "block": block, "info": runtime_info(), "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
