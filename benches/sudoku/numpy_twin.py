"""A NumPy twin of examples/sudoku's dynamics, used to choose its settings and to try extras
before (or instead of) building them into the kernels. CPU only, float32.

The figures in benches/RESULTS.md ("Sudoku by energy", issue 13) came from, e.g.:
  python benches/sudoku/numpy_twin.py benches/sudoku/hard.txt R=32 K=2000 eta=0.04 T0=0.02 p_max=0.2
  python benches/sudoku/numpy_twin.py benches/sudoku/hard.txt R=32 K=2000 eta=0.04 T0=0.02 p_max=0.2 g=10 a_norm=1
  python benches/sudoku/numpy_twin.py benches/sudoku/hard.txt n=40 R=16 K=3000 eta=0.04 T0=0.02 p_max=0.3 ladder_max=10
(n=N: the first N puzzles; seed=S: the noise.)

Representation (fixed by the ebm library):
  y in R^729, y[81r+9c+d]; clue cells pinned to one-hot.
  f = A y - 1 (243 constraints: (row,d), (col,d), (box,d)), E = sum_m a_m f_m^2  (a_m = 1 unless growing weights)
  P = p(t) * sum_free_cells (1 - sum_d y_cd^2)       (vertex penalty, extra (a))
  step: y <- Proj_simplex_cell( y - eta (dE/dy + dP/dy) + sqrt(2 eta T) N )
Extras: (b) replica exchange over a temperature ladder, (c) growing constraint weights,
        (d) argmax decode, checked every `check_every` steps (and at the end).

Usage: python proto.py [puzzle_file] [key=value ...]
"""
import sys, time, math
import numpy as np

INKALA = "800000000003600000070090200050007000000045700000100030001000068008500010090000400"


# ---------------------------------------------------------------- constraints
def build_A():
    A = np.zeros((243, 729), np.float32)
    for r in range(9):
        for c in range(9):
            b = 3 * (r // 3) + c // 3
            for d in range(9):
                v = 81 * r + 9 * c + d
                A[9 * r + d, v] = 1
                A[81 + 9 * c + d, v] = 1
                A[162 + 9 * b + d, v] = 1
    return A


def residual(y):
    """y: (B,9,9,9) [r,c,d] -> f (B,243) = A y - 1, computed by reshapes (== A @ y)."""
    B = y.shape[0]
    fr = y.sum(2)                       # (B, r, d)
    fc = y.sum(1)                       # (B, c, d)
    fb = y.reshape(B, 3, 3, 3, 3, 9).sum((2, 4))  # (B, br, bc, d)
    return np.concatenate([fr.reshape(B, 81), fc.reshape(B, 81), fb.reshape(B, 81)], 1) - 1.0


def grad_from_w(w):
    """w = dE/df (B,243) -> dE/dy (B,9,9,9) = A^T w."""
    B = w.shape[0]
    wr = w[:, :81].reshape(B, 9, 1, 9)
    wc = w[:, 81:162].reshape(B, 1, 9, 9)
    wb = w[:, 162:].reshape(B, 3, 1, 3, 1, 9)
    gb = np.broadcast_to(wb, (B, 3, 3, 3, 3, 9)).reshape(B, 9, 9, 9)
    return wr + wc + gb


def proj_simplex(v):
    """Euclidean projection of each last-axis 9-vector onto the probability simplex."""
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, -1) - 1.0
    # threshold = max_k (sum of k largest - 1)/k  (standard identity for simplex projection)
    theta = (css / np.arange(1, 10, dtype=v.dtype)).max(-1, keepdims=True)
    return np.maximum(v - theta, 0)


def sched(kind, a, b, t):
    """t in [0,1]."""
    if kind == "const":
        return a
    if kind == "linear":
        return a + (b - a) * t
    if kind == "geom":
        return a * (b / a) ** t
    if kind == "cosine":
        return b + (a - b) * 0.5 * (1 + math.cos(math.pi * t))
    raise ValueError(kind)


def parse(line):
    return np.array([int(ch) for ch in line.strip()[:81]], np.int64)


def load(path, n=None):
    out = []
    for L in open(path):
        L = L.strip()
        if not L or L.startswith("#"):
            continue
        out.append(parse(L))
    return np.stack(out[:n] if n else out)


DEFAULT = dict(
    R=32, K=2000, eta=0.03, eta_end=None, eta_sched="const",
    T0=0.05, T1=1e-4, T_sched="geom",
    p_max=1.0, p_sched="linear", p_start=0.0,
    # (b) replica exchange
    ladder_max=1.0, swap_every=10,
    # (c) growing weights
    g=0.0, a_cap=None, a_norm=0,
    # (d) decode
    check_every=50,
    init="uniform", seed=0,
)


def run(puz, cfg, verbose=False):
    cfg = dict(DEFAULT, **cfg)
    rng = np.random.default_rng(cfg["seed"])
    Np, R, K = len(puz), cfg["R"], cfg["K"]
    B = Np * R
    g = puz.reshape(Np, 9, 9)
    fixed = np.repeat((g > 0), R, 0)[..., None]                   # (B,9,9,1)
    clue = np.zeros((Np, 9, 9, 9), np.float32)
    idx = np.nonzero(g > 0)
    clue[idx[0], idx[1], idx[2], g[idx] - 1] = 1
    clue = np.repeat(clue, R, 0)
    free = (~fixed).astype(np.float32)

    if cfg["init"] == "uniform":
        y = np.full((B, 9, 9, 9), 1 / 9, np.float32) + 0.01 * rng.standard_normal((B, 9, 9, 9)).astype(np.float32)
    else:
        y = rng.dirichlet(np.ones(9), (B, 9, 9)).astype(np.float32)
    y = np.where(fixed, clue, proj_simplex(y))

    a = np.ones((B, 243), np.float32)
    # temperature ladder: replica r has T * ladder[r]
    if R > 1 and cfg["ladder_max"] != 1.0:
        ladder = np.geomspace(1.0, cfg["ladder_max"], R).astype(np.float32)
    else:
        ladder = np.ones(R, np.float32)
    lad = np.tile(ladder, Np)                                      # (B,)
    solved_any = np.zeros(Np, bool)
    first_t = np.full(Np, -1)
    swaps_acc = swaps_tot = 0
    eta_end = cfg["eta_end"] if cfg["eta_end"] is not None else cfg["eta"]

    def decode_ok(y):
        # tie-break: keep the first max
        first = np.argmax(y, -1)
        oh = np.zeros_like(y); np.put_along_axis(oh, first[..., None], 1.0, -1)
        f = residual(oh)
        bad = (f ** 2).sum(1)
        return bad == 0, f

    for k in range(K):
        t = k / max(K - 1, 1)
        eta = sched(cfg["eta_sched"], cfg["eta"], eta_end, t)
        T = sched(cfg["T_sched"], cfg["T0"], cfg["T1"], t)
        p = sched(cfg["p_sched"], cfg["p_start"], cfg["p_max"], t)
        f = residual(y)
        gy = grad_from_w(2 * a * f)                                # dE/dy
        gy = gy - 2 * p * y                                        # dP/dy
        noise = rng.standard_normal(y.shape, dtype=np.float32)
        Tb = (T * lad).reshape(B, 1, 1, 1)
        y = y - eta * gy + np.sqrt(2 * eta * Tb) * noise
        y = proj_simplex(y)
        y = np.where(fixed, clue, y)
        if cfg["g"] > 0:
            f2 = residual(y) ** 2
            a = a * np.exp(cfg["g"] * eta * f2)
            if cfg["a_cap"]:
                a = np.minimum(a, cfg["a_cap"])
            if cfg["a_norm"]:   # keep mean weight 1 per chain (relative weights only)
                a = a / a.mean(1, keepdims=True)
        # replica exchange
        if R > 1 and cfg["ladder_max"] != 1.0 and (k + 1) % cfg["swap_every"] == 0:
            f = residual(y)
            U = (a * f * f).sum(1) + p * (free[..., 0] * (1 - (y * y).sum(-1))).sum((1, 2))
            U = U.reshape(Np, R); beta = 1.0 / (T * ladder)
            par = ((k + 1) // cfg["swap_every"]) % 2
            i = np.arange(par, R - 1, 2); j = i + 1
            delta = (beta[i] - beta[j])[None] * (U[:, i] - U[:, j])
            acc = np.log(rng.random(delta.shape)) < np.minimum(delta, 0)
            swaps_acc += acc.sum(); swaps_tot += acc.size
            yv = y.reshape(Np, R, 9, 9, 9); av = a.reshape(Np, R, 243)
            pi, pj = np.nonzero(acc)
            ii, jj = i[pj], j[pj]
            tmp = yv[pi, ii].copy(); yv[pi, ii] = yv[pi, jj]; yv[pi, jj] = tmp
            tmp = av[pi, ii].copy(); av[pi, ii] = av[pi, jj]; av[pi, jj] = tmp
        if cfg["check_every"] and ((k + 1) % cfg["check_every"] == 0):
            ok, _ = decode_ok(y)
            okp = ok.reshape(Np, R).any(1)
            first_t[okp & ~solved_any] = k + 1
            solved_any |= okp
            if verbose and (k + 1) % (cfg["check_every"] * 10) == 0:
                E = (residual(y) ** 2).sum(1)
                print(f"k={k+1} T={T:.2e} p={p:.2f} solved={solved_any.mean():.3f} "
                      f"E med={np.median(E):.3f} min={E.min():.3f} amax={a.max():.1f}", flush=True)
    ok, f = decode_ok(y)
    okp_end = ok.reshape(Np, R).any(1)
    # failure pattern: number of violated constraints / clashing cells in best chain of unsolved puzzles
    oh = np.zeros_like(y); np.put_along_axis(oh, np.argmax(y, -1)[..., None], 1.0, -1)
    viol = (np.abs(f) > 0.5).sum(1).reshape(Np, R)
    # clash cells: free cells whose digit appears again in row/col/box
    fr = oh.sum(2, keepdims=True); fc = oh.sum(1, keepdims=True)
    fb = oh.reshape(B, 3, 3, 3, 3, 9).sum((2, 4), keepdims=True)
    fbb = np.broadcast_to(fb, (B, 3, 3, 3, 3, 9)).reshape(B, 9, 9, 9)
    clash = ((oh * ((fr > 1) | (fc > 1) | (fbb > 1))).sum(-1) > 0).sum((1, 2)).reshape(Np, R)
    return dict(y=y, a=a, solved_end=okp_end, solved_any=solved_any | okp_end, first_t=first_t,
                viol_best=viol.min(1), clash_best=clash.min(1),
                swap_rate=swaps_acc / max(swaps_tot, 1))


def summarize(res, label=""):
    s_end = res["solved_end"].mean(); s_any = res["solved_any"].mean()
    uns = ~res["solved_any"]
    cl = res["clash_best"][uns]
    ft = res["first_t"][res["first_t"] > 0]
    return (f"{label} end={s_end:.3f} any={s_any:.3f} n={len(uns)} "
            f"unsolved_clash_cells(best chain)={sorted(cl.tolist())} "
            f"t_first_med={int(np.median(ft)) if len(ft) else -1} swap={res['swap_rate']:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    path = args[0] if args and "=" not in args[0] else None
    kv = {}
    for s in args:
        if "=" in s:
            k, v = s.split("=", 1)
            try:
                v = int(v)
            except ValueError:
                try:
                    v = float(v)
                except ValueError:
                    v = None if v == "None" else v
            kv[k] = v
    n = kv.pop("n", None)
    puz = load(path, n) if path else parse(INKALA)[None]
    verbose = kv.pop("verbose", 0)
    t0 = time.time()
    res = run(puz, kv, verbose=verbose)
    print(summarize(res, str(kv)), f"time={time.time()-t0:.1f}s")
