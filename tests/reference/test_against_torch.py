"""The references against PyTorch in float64 (skipped when torch is not installed)."""

import numpy as np
import pytest
from numpy_backprop import optim
from numpy_backprop.losses import softmax_cross_entropy
from numpy_backprop.recurrent import lstm_backward, lstm_forward

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-9, "atol": 1e-12}


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def lstm_perm(hid):
    """Column order that turns our i, f, o, g blocks into PyTorch's i, f, g, o."""
    return np.r_[0 : 2 * hid, 3 * hid : 4 * hid, 2 * hid : 3 * hid]


@pytest.mark.parametrize(("n", "t", "d", "hid"), [(3, 7, 4, 5), (1, 1, 2, 3), (2, 12, 3, 2)])
def test_lstm_sequence_matches_torch(n, t, d, hid):
    rng = np.random.default_rng(n * 100 + t)
    x, h0, c0 = (
        rng.standard_normal((n, t, d)),
        rng.standard_normal((n, hid)),
        rng.standard_normal((n, hid)),
    )
    wx, wh = 0.5 * rng.standard_normal((d, 4 * hid)), 0.5 * rng.standard_normal((hid, 4 * hid))
    b = 0.5 * rng.standard_normal(4 * hid)
    dh = rng.standard_normal((n, t, hid))

    h, cache = lstm_forward(x, h0, c0, wx, wh, b)
    dx, dh0, dc0, dwx, dwh, db = lstm_backward(dh, cache)

    perm = lstm_perm(hid)
    lstm = torch.nn.LSTM(d, hid, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(t64(wx[:, perm].T))
        lstm.weight_hh_l0.copy_(t64(wh[:, perm].T))
        lstm.bias_ih_l0.copy_(t64(b[perm]))
        lstm.bias_hh_l0.zero_()
    xt, h0t, c0t = t64(x, True), t64(h0[None], True), t64(c0[None], True)
    out, (_, c_last) = lstm(xt, (h0t, c0t))
    (out * t64(dh)).sum().backward()

    np.testing.assert_allclose(h, out.detach().numpy(), **TOL)
    np.testing.assert_allclose(cache.c[:, -1], c_last.detach().numpy()[0], **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(dh0, h0t.grad.numpy()[0], **TOL)
    np.testing.assert_allclose(dc0, c0t.grad.numpy()[0], **TOL)
    np.testing.assert_allclose(dwx[:, perm].T, lstm.weight_ih_l0.grad.numpy(), **TOL)
    np.testing.assert_allclose(dwh[:, perm].T, lstm.weight_hh_l0.grad.numpy(), **TOL)
    np.testing.assert_allclose(db[perm], lstm.bias_ih_l0.grad.numpy(), **TOL)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_softmax_cross_entropy_matches_torch(scale):
    rng = np.random.default_rng(int(scale))
    scores = scale * rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    loss, dscores = softmax_cross_entropy(scores, y)
    st = t64(scores, True)
    ref = torch.nn.functional.cross_entropy(st, torch.tensor(y))
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), **TOL)
    np.testing.assert_allclose(dscores, st.grad.numpy(), **TOL)


@pytest.mark.slow  # the first torch.optim optimizer imports torch._dynamo: seconds, not the test
@pytest.mark.parametrize("steps", [1, 5])
def test_adam_matches_torch(steps):
    rng = np.random.default_rng(steps)
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(steps)]
    hyper = {"learning_rate": 1e-2, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}

    p = t64(w, True)
    opt = torch.optim.Adam([p], lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    config = dict(hyper)
    for g in grads:
        p.grad = t64(g)
        opt.step()
        w, config = optim.adam(w, g, config)
    assert config["t"] == steps
    np.testing.assert_allclose(w, p.detach().numpy(), **TOL)
    state = opt.state[p]
    np.testing.assert_allclose(config["m"], state["exp_avg"].numpy(), **TOL)
    np.testing.assert_allclose(config["v"], state["exp_avg_sq"].numpy(), **TOL)
