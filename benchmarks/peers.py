"""The scripts a user would write without specgd: PyTorch autograd on a finite sample, and a NumPy
Python loop over the closed-form population gradient. Same problem, precision and step rules."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.ours import LRS, Case, make_problem

KELLER = (3.4445, -4.7750, 2.0315)


def _problem_numpy(d: int, m: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Teacher ``w*``, spike direction ``v`` and strength ``λ`` of the benchmark problem."""
    pa = make_problem(d, m).arrays
    return (np.asarray(pa.teacher), np.asarray(pa.cov.directions[0]), float(pa.cov.strengths[0]))


def _init(d: int, m: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, d)) * 1e-2 / np.sqrt(d)


# --- NumPy: closed-form population gradient in a Python loop ----------------------------------


def _np_polar(G: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    return U @ Vt


def _np_newton_schulz(G: np.ndarray, steps: int = 5, eps: float = 1e-7) -> np.ndarray:
    X = G / (np.linalg.norm(G) + eps)
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    a, b, c = KELLER
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X


def numpy_population(case: Case) -> Case:
    """``case.timer`` runs ``case.steps`` steps of the NumPy loop (GD, SpecGD via SVD, or Muon)."""
    d, m = case.d, case.m
    w_star, v, lam = _problem_numpy(d, m)

    def apply_sigma(X: np.ndarray) -> np.ndarray:
        return X + lam * np.outer(X @ v, v) if X.ndim == 2 else X + lam * (X @ v) * v

    sigma_w = apply_sigma(w_star)
    s_star = w_star @ sigma_w

    def grad(W: np.ndarray) -> np.ndarray:
        P = apply_sigma(W)
        K = P @ W.T
        q = P @ w_star
        t = np.trace(K) / m - s_star
        return (2.0 / m) * (4.0 * (K @ P / m - np.outer(q, sigma_w)) + 2.0 * t * P)

    lr = LRS[case.opt]

    def loop(steps: int) -> None:
        W = _init(d, m)
        B = np.zeros_like(W)
        for _ in range(steps):
            G = grad(W)
            if case.opt == "gd":
                W = W - lr * G
            elif case.opt == "specgd":
                W = W - lr * _np_polar(G)
            else:
                B = 0.95 * B + 0.05 * G
                W = W - lr * max(1.0, m / d) ** 0.5 * _np_newton_schulz(G + 0.95 * (B - G))

    return _timed(case, loop)


# --- PyTorch: autograd on a finite sample, torch.optim.SGD / torch.optim.Muon -----------------


def torch_finite(case: Case) -> Case:
    """``case.timer`` runs ``case.steps`` steps of the plain PyTorch script on ``n`` samples."""
    import torch

    d, m, n = case.d, case.m, int(case.n or 4 * case.d)
    w_star_np, v_np, lam = _problem_numpy(d, m)
    dt = torch.float64 if case.dtype == "float64" else torch.float32
    gen = torch.Generator().manual_seed(0)
    w_star, v = torch.tensor(w_star_np, dtype=dt), torch.tensor(v_np, dtype=dt)
    Z = torch.randn(n, d, generator=gen, dtype=dt)
    X = Z + ((1.0 + lam) ** 0.5 - 1.0) * torch.outer(Z @ v, v)  # rows Σ^{1/2} z
    y = (X @ w_star) ** 2
    lr = LRS[case.opt]

    def loop(steps: int) -> None:
        W = torch.nn.Parameter(torch.tensor(_init(d, m), dtype=dt))
        if case.opt == "gd":
            opt = torch.optim.SGD([W], lr=lr)
        elif case.opt == "muon":
            opt = torch.optim.Muon([W], lr=lr, weight_decay=0.0)
        else:
            opt = None
        for _ in range(steps):
            loss = (((X @ W.T) ** 2).mean(dim=1) - y).pow(2).mean()
            W.grad = None
            loss.backward()
            if opt is not None:
                opt.step()
            else:  # SpecGD by hand: W ← W − η U Vᵀ
                with torch.no_grad():
                    U, _, Vh = torch.linalg.svd(W.grad, full_matrices=False)
                    W -= lr * (U @ Vh)

    return _timed(case, loop)


def torch_finite_subprocess(case: Case) -> Case:
    """:func:`torch_finite` in a worker process of its own, sampled on request.

    torch and XLA each keep their own thread pools; run in one process, a later JAX computation
    was seen never to complete, so the peer lives apart and the two still alternate (A B A B).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_torch_worker, args=(child, case), daemon=True)
    proc.start()
    reply = parent.recv()
    if isinstance(reply, BaseException):
        proc.join()
        raise reply
    case.steps, case.first_call_s = reply

    def timer() -> tuple[float, float]:
        parent.send("sample")
        return parent.recv()

    case.timer = timer
    return case


def _torch_worker(conn, case: Case) -> None:
    try:
        torch_finite(case)
    except BaseException as err:  # noqa: BLE001 (reported to the parent, e.g. ImportError)
        conn.send(err)
        return
    conn.send((case.steps, case.first_call_s))
    while conn.recv() == "sample":
        conn.send(case.timer())


def _timed(case: Case, loop) -> Case:
    t = time.perf_counter()
    loop(1)
    case.first_call_s = time.perf_counter() - t
    if case.steps == 0:
        t = time.perf_counter()
        loop(3)
        per_step = max((time.perf_counter() - t) / 3, 1e-7)
        case.steps = int(max(2, min(0.3 / per_step, 100_000)))

    def timer() -> tuple[float, float]:
        t0 = time.perf_counter()
        loop(case.steps)
        seconds = time.perf_counter() - t0
        return case.steps / seconds, seconds

    case.timer = timer
    return case
