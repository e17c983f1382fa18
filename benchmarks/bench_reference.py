"""Benchmarks of the reference implementations, all measured in one run.

    python -m benchmarks.bench_reference          # from the repository root
    python benchmarks/bench_reference.py --quick  # smaller, for a smoke test

1. MLP training on the digits against sklearn's MLPClassifier with the same
   architecture, epochs, batch size, Adam settings and L2 penalty: time ratio
   ours/sklearn and both test accuracies.
2. LSTM forward + backward (batch 64, T 50, D 64, H 128, float64) against
   torch.nn.LSTM on the CPU: time ratio (skipped if torch is absent).
3. The directional gradient check against the full numerical check on a 784x256
   dense layer: forward passes, time, and which broken backward variants each flags.
Times are the best of a few rounds, the contenders taking turns (wall clock). BLAS and torch
run with the same number of threads (--threads, default 1: on a shared machine
oversubscribed BLAS threads can be ten times slower than one).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from numpy_backprop import data, gradcheck, layers, optim, recurrent, training
from numpy_backprop.modules import MLP


def best_times(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Smallest wall time of each function over ``repeats`` rounds, and its last result.

    The functions run in turns (a, b, a, b, ...), so that a change of machine load
    during the run hits all of them alike.
    """
    best = dict.fromkeys(fns, float("inf"))
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


# ----------------------------------------------------------------------------- 1. MLP vs sklearn


def bench_mlp(epochs: int, repeats: int) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, y_train, x_test, y_test = data.load_digits(test_fraction=0.2, rng=0)
    hidden, batch, lr, alpha = 64, 64, 1e-3, 1e-4

    def ours():
        model = MLP([64, hidden, 10], activation="relu", rng=0)
        training.train(
            model,
            x_train,
            y_train,
            rule=optim.adam,
            config={"learning_rate": lr, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
            epochs=epochs,
            batch_size=batch,
            reg=alpha / batch,  # sklearn divides its 0.5 * alpha * |W|^2 by the batch size
            val_fraction=0.0,
            patience=None,
        )
        return training.evaluate(model, x_test, y_test)[1]

    def theirs():
        clf = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            activation="relu",
            solver="adam",
            alpha=alpha,
            batch_size=batch,
            learning_rate_init=lr,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-8,
            max_iter=epochs,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            shuffle=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, y_train)
        return clf.score(x_test, y_test)

    times, acc = best_times({"ours": ours, "sklearn": theirs}, repeats)
    t_ours, t_sk, acc_ours, acc_sk = times["ours"], times["sklearn"], acc["ours"], acc["sklearn"]
    print(f"1. MLP 64-{hidden}-10 ReLU on digits ({len(x_train)} train / {len(x_test)} test),")
    print(f"   {epochs} epochs, batch {batch}, Adam lr {lr}, L2 alpha {alpha}")
    print(f"   ours    {t_ours:7.3f} s   test accuracy {acc_ours:.4f}")
    print(f"   sklearn {t_sk:7.3f} s   test accuracy {acc_sk:.4f}")
    print(f"   time ratio ours/sklearn = {t_ours / t_sk:.2f}")
    print("   (ours also measures the training accuracy once per epoch)")


# ----------------------------------------------------------------------------- 2. LSTM vs torch


def bench_lstm(n: int, t: int, d: int, hid: int, repeats: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    x, h0, c0 = rng.standard_normal((n, t, d)), np.zeros((n, hid)), np.zeros((n, hid))
    wx = rng.standard_normal((d, 4 * hid)) / np.sqrt(d)
    wh = rng.standard_normal((hid, 4 * hid)) / np.sqrt(hid)
    b = np.zeros(4 * hid)
    dh = rng.standard_normal((n, t, hid))

    def ours():
        _, cache = recurrent.lstm_forward(x, h0, c0, wx, wh, b)
        return recurrent.lstm_backward(dh, cache)

    print(f"2. LSTM forward+backward, batch {n}, T {t}, D {d}, H {hid}, float64")
    try:
        import torch
    except ImportError:
        ours()
        t_ours = best_times({"ours": ours}, repeats)[0]["ours"]
        print(f"   ours    {t_ours * 1e3:8.1f} ms")
        print("   torch is not installed: comparison skipped")
        return
    torch.set_num_threads(threads)
    lstm = torch.nn.LSTM(d, hid, batch_first=True, dtype=torch.float64)
    xt = torch.tensor(x, requires_grad=True)
    dht = torch.tensor(dh)

    def theirs():
        lstm.zero_grad()
        xt.grad = None
        out, _ = lstm(xt)
        out.backward(dht)

    ours(), theirs()  # warm up
    times, _ = best_times({"ours": ours, "torch": theirs}, repeats)
    t_ours, t_torch = times["ours"], times["torch"]
    print(f"   ours    {t_ours * 1e3:8.1f} ms")
    print(f"   torch   {t_torch * 1e3:8.1f} ms   ({torch.get_num_threads()} thread(s))")
    print(f"   time ratio ours/torch = {t_ours / t_torch:.2f}")


# ----------------------------------------------------------------------------- 3. gradient checks


def broken_variants(x, w, dout):
    """The correct dense backward and plausible mistakes: name -> (dx, dw, db)."""
    dx, dw, db = layers.dense_backward(dout, (x, w))
    n = x.shape[0]
    one_entry = dw.copy()
    one_entry[0, 0] += 1e-2 * np.abs(dw).max()
    no_last_column = dw.copy()
    no_last_column[:, -1] = 0.0
    return {
        "correct": (dx, dw, db),
        "dw averaged over the batch": (dx, dw / n, db),
        "db averaged over the batch": (dx, dw, db / n),
        "db with the wrong sign": (dx, dw, -db),
        "dw with the batch rows mismatched": (dx, x[::-1].T @ dout, db),
        "dx from dout @ w.T scaled by 2": (2 * dx, dw, db),
        "dw last column dropped": (dx, no_last_column, db),
        "dw[0, 0] off by 1% of max|dw|": (dx, one_entry, db),
    }


def bench_gradcheck(n: int, d: int, m: int, full: bool, flag_at: float) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)) / np.sqrt(d), np.zeros(m)
    dout = rng.standard_normal((n, m))
    calls = {"count": 0}

    def loss(xv, wv, bv):
        calls["count"] += 1
        return float(np.sum(layers.dense_forward(xv, wv, bv)[0] * dout))

    variants = broken_variants(x, w, dout)
    print(f"3. Gradient checks of a dense layer, x ({n}, {d}), w ({d}, {m}), b ({m},)")
    print(f"   a variant is flagged when its relative error exceeds {flag_at:g}")

    calls["count"] = 0
    start = time.perf_counter()
    directional = {
        name: gradcheck.directional_check(loss, [x, w, b], grads, num_directions=3, rng=1)
        for name, grads in variants.items()
    }
    t_dir = (time.perf_counter() - start) / len(variants)
    passes_dir = calls["count"] // len(variants)
    print(f"   directional (3 random unit directions per array): {passes_dir} forward passes,")
    print(f"      {t_dir * 1e3:.2f} ms per check")

    numeric = None
    if full:
        calls["count"] = 0
        start = time.perf_counter()
        numeric = [
            gradcheck.numerical_gradient(
                lambda v, j=j: loss(*[x, w, b][:j], v, *[x, w, b][j + 1 :]), p
            )
            for j, p in enumerate([x, w, b])
        ]
        t_full = time.perf_counter() - start
        print(f"   full numerical (centred, every entry): {calls['count']} forward passes,")
        print(f"      {t_full:.1f} s per check ({t_full / t_dir:.0f} x the directional check)")
    else:
        print("   full numerical check skipped (--quick)")

    print(f"   {'variant':36s} {'directional':>12s} {'full':>10s} {'full*':>10s}  same verdict")
    for name, grads in variants.items():
        e_dir = directional[name].max_error
        row = f"   {name:36s} {e_dir:12.2e}"
        if numeric is not None:
            e_full = max(
                gradcheck.relative_error(g, nm) for g, nm in zip(grads, numeric, strict=True)
            )
            e_scaled = max(
                gradcheck.scaled_relative_error(g, nm) for g, nm in zip(grads, numeric, strict=True)
            )
            same = (e_dir > flag_at) == (e_scaled > flag_at)
            row += f" {e_full:10.2e} {e_scaled:10.2e}  {'yes' if same else 'NO'}"
        print(row)
    print("   full: elementwise relative_error (floor 1e-8); full*: scaled_relative_error")
    print("   (floor 1e-3 x the largest entry, which ignores rounding noise in cancelled entries)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no full numerical check")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {args.threads} BLAS/torch thread(s)"
    )
    with threadpool_limits(limits=args.threads):
        if args.quick:
            bench_mlp(epochs=3, repeats=1)
            bench_lstm(8, 10, 16, 32, repeats=2, threads=args.threads)
            bench_gradcheck(4, 784, 256, full=False, flag_at=1e-6)
        else:
            bench_mlp(epochs=30, repeats=args.repeats + 2)
            bench_lstm(64, 50, 64, 128, repeats=args.repeats + 2, threads=args.threads)
            bench_gradcheck(4, 784, 256, full=True, flag_at=1e-6)


if __name__ == "__main__":
    main()
