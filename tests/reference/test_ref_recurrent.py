"""Reference RNN/LSTM: gradient checks, fixtures, truncated BPTT (Q9, Q12, Q14), clipping."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy_backprop import recurrent as rec
from numpy_backprop.gradcheck import numerical_gradient_array, scaled_relative_error

from tests.strategies import dims, modest, off_kink_arrays, seeds

SMOOTH = 1e-7
# Every recurrent gradient entry mixes many steps and examples, so a centred difference
# carries rounding noise proportional to the outputs: entries below a tenth of the
# largest entry are judged against that tenth (scaled_relative_error's rel_floor).
REL_FLOOR = 0.1


def float_arrays(shape, bound=1.5):
    """Well-conditioned entries: nonzero multiples of 1/32 in [-bound, bound].

    Bounded away from 0 and from saturation: a centred difference cannot resolve a
    gradient that is tiny next to the outputs (e.g. dWh when h0 is 1e-5, or when every
    gate saturates), so such draws would test rounding noise, not the backward pass.
    """
    return off_kink_arrays(shape, bound=bound, step=1 / 32)


def draw_sizes(data):
    """(N, T, D, H), all small."""
    return data.draw(dims(1, 3)), data.draw(dims(1, 4)), data.draw(dims(1, 3)), data.draw(dims())


def check(analytic, fn, arr, dout, tol=SMOOTH):
    assert analytic.shape == arr.shape
    num = numerical_gradient_array(fn, arr, dout)
    assert scaled_relative_error(analytic, num, REL_FLOOR) < tol


def lstm_params(rng, n, t, d, h, scale=0.5):
    """x, h0, c0, Wx, Wh, b drawn from a seeded normal distribution."""
    return (
        rng.standard_normal((n, t, d)),
        rng.standard_normal((n, h)),
        rng.standard_normal((n, h)),
        scale * rng.standard_normal((d, 4 * h)),
        scale * rng.standard_normal((h, 4 * h)),
        scale * rng.standard_normal(4 * h),
    )


# ----------------------------------------------------------------------------- gradient checks


@modest
@given(st.data())
def test_rnn_step_gradients(data):
    n, _, d, h = draw_sizes(data)
    x, prev_h = data.draw(float_arrays((n, d))), data.draw(float_arrays((n, h)))
    wx, wh = data.draw(float_arrays((d, h), bound=1.0)), data.draw(float_arrays((h, h), bound=1.0))
    b = data.draw(float_arrays((h,), bound=1.0))
    dnext = data.draw(float_arrays((n, h)))
    args = [x, prev_h, wx, wh, b]
    _, cache = rec.rnn_step_forward(*args)
    grads = rec.rnn_step_backward(dnext, cache)
    for j, g in enumerate(grads):

        def f(v, j=j):
            return rec.rnn_step_forward(*args[:j], v, *args[j + 1 :])[0]

        check(g, f, args[j].copy(), dnext)


@modest
@given(st.data())
def test_rnn_sequence_gradients(data):
    n, t, d, h = draw_sizes(data)
    x, h0 = data.draw(float_arrays((n, t, d))), data.draw(float_arrays((n, h)))
    wx, wh = data.draw(float_arrays((d, h), bound=1.0)), data.draw(float_arrays((h, h), bound=1.0))
    b = data.draw(float_arrays((h,), bound=1.0))
    dh = data.draw(float_arrays((n, t, h)))
    args = [x, h0, wx, wh, b]
    out, cache = rec.rnn_forward(*args)
    assert out.shape == (n, t, h)
    grads = rec.rnn_backward(dh, cache)
    for j, g in enumerate(grads):

        def f(v, j=j):
            return rec.rnn_forward(*args[:j], v, *args[j + 1 :])[0]

        check(g, f, args[j].copy(), dh)


@modest
@given(st.data())
def test_lstm_step_gradients(data):
    n, _, d, h = draw_sizes(data)
    args = [
        data.draw(float_arrays((n, d))),
        data.draw(float_arrays((n, h))),
        data.draw(float_arrays((n, h))),
        data.draw(float_arrays((d, 4 * h), bound=1.0)),
        data.draw(float_arrays((h, 4 * h), bound=1.0)),
        data.draw(float_arrays((4 * h,), bound=1.0)),
    ]
    dnext_h, dnext_c = data.draw(float_arrays((n, h))), data.draw(float_arrays((n, h)))
    _, _, cache = rec.lstm_step_forward(*args)
    grads = rec.lstm_step_backward(dnext_h, dnext_c, cache)
    dout = np.stack([dnext_h, dnext_c])
    for j, g in enumerate(grads):

        def f(v, j=j):
            return np.stack(rec.lstm_step_forward(*args[:j], v, *args[j + 1 :])[:2])

        check(g, f, args[j].copy(), dout)


@modest
@given(st.data())
def test_lstm_sequence_gradients(data):
    """Full BPTT, including the gradient of the initial cell state and of the last one."""
    n, t, d, h = draw_sizes(data)
    args = [
        data.draw(float_arrays((n, t, d))),
        data.draw(float_arrays((n, h))),
        data.draw(float_arrays((n, h))),
        data.draw(float_arrays((d, 4 * h), bound=1.0)),
        data.draw(float_arrays((h, 4 * h), bound=1.0)),
        data.draw(float_arrays((4 * h,), bound=1.0)),
    ]
    dh, dc_last = data.draw(float_arrays((n, t, h))), data.draw(float_arrays((n, h)))
    _, cache = rec.lstm_forward(*args)
    grads = rec.lstm_backward(dh, cache, dc_last=dc_last)
    dout = np.concatenate([dh, dc_last[:, None, :]], axis=1)
    for j, g in enumerate(grads):

        def f(v, j=j):
            h_all, c = rec.lstm_forward(*args[:j], v, *args[j + 1 :])
            return np.concatenate([h_all, c.c[:, -1:, :]], axis=1)

        check(g, f, args[j].copy(), dout)


# ----------------------------------------------------------------------------- fixtures

X = np.linspace(-0.4, 0.6, 6).reshape(2, 3)
PREV_H = np.linspace(-0.3, 0.3, 4).reshape(2, 2)
PREV_C = np.linspace(-0.5, 0.5, 4).reshape(2, 2)
DNEXT_H = np.linspace(-1.0, 1.0, 4).reshape(2, 2)
DNEXT_C = np.linspace(0.5, -0.5, 4).reshape(2, 2)
# Expected values: scalar formulas in 50-digit arithmetic, gradients by centred differences
# with h = 1e-20 there (no analytic backward involved), rounded to 13 digits.
FIXTURE_TOL = {"rtol": 1e-11, "atol": 1e-13}


def test_rnn_step_fixture():
    wx = np.linspace(-0.5, 0.5, 6).reshape(3, 2)
    wh = np.linspace(-0.2, 0.2, 4).reshape(2, 2)
    b = np.linspace(-0.1, 0.1, 2)
    next_h, cache = rec.rnn_step_forward(X, PREV_H, wx, wh, b)
    np.testing.assert_allclose(
        next_h, [[0.17161804313, 0.1973753202249], [-0.05992810352914, 0.4081032552343]], 1e-11
    )
    dx, dprev_h, dwx, dwh, db = rec.rnn_step_backward(DNEXT_H, cache)
    expected = {
        "dx": (
            dx,
            [
                [0.5813779219327, 0.06501995862835, -0.451338004676],
                [-0.4161036236547, 0.0501315525598, 0.5163667287743],
            ],
        ),
        "dprev_h": (
            dprev_h,
            [[0.215465960187, -0.1287726820159], [-0.121990690365, 0.1888327604447]],
        ),
        "dWx": (
            dwx,
            [
                [0.4546461404027, 0.2948294110089],
                [0.3269639324421, 0.3974502254246],
                [0.1992817244815, 0.5000710398403],
            ],
        ),
        "dWh": (dwh, [[0.3243777949286, 0.1794494716033], [0.196695586968, 0.282070286019]]),
        "db": (db, [-0.6384110398031, 0.5131040720784]),
    }
    for name, (got, want) in expected.items():
        np.testing.assert_allclose(got, want, **FIXTURE_TOL, err_msg=name)


def test_lstm_step_fixture():
    wx = np.linspace(-0.7, 0.9, 24).reshape(3, 8)
    wh = np.linspace(-0.3, 0.5, 16).reshape(2, 8)
    b = np.linspace(0.2, 0.6, 8)
    next_h, next_c, cache = rec.lstm_step_forward(X, PREV_H, PREV_C, wx, wh, b)
    np.testing.assert_allclose(
        next_h,
        [[0.001220369441398, 0.1326738435137], [0.3734937932291, 0.5228734904304]],
        **FIXTURE_TOL,
    )
    np.testing.assert_allclose(
        next_c,
        [[0.001915849072387, 0.2118463772601], [0.5823874835058, 0.8723090623059]],
        **FIXTURE_TOL,
    )
    dx, dprev_h, dprev_c, _, dwh, db = rec.lstm_step_backward(DNEXT_H, DNEXT_C, cache)
    expected = {
        "dx": (
            dx,
            [
                [0.03228541461874, -0.02479446713672, -0.08187434889218],
                [-0.03688645211625, 0.02769000090065, 0.09226645391755],
            ],
        ),
        "dprev_h": (
            dprev_h,
            [[0.0004783369090875, -0.0432829057701], [-0.0008178039723026, 0.04869081000732]],
        ),
        "dprev_c": (
            dprev_c,
            [[-0.08763247524323, -0.02296411136183], [0.003501699291955, -0.08344469988663]],
        ),
        "dWh": (
            dwh,
            [
                [
                    0.004841125003543,
                    -0.001369741216332,
                    -0.004714855081606,
                    -0.001758971263667,
                    0.003715546160698,
                    0.01820662569204,
                    0.01986802752678,
                    0.00358544833882,
                ],
                [
                    0.001915232680013,
                    -0.007396338825767,
                    -0.00151584119472,
                    -0.004169605784929,
                    0.01079223049501,
                    0.04172803929503,
                    0.006860809785329,
                    -0.003147240992617,
                ],
            ],
        ),
        "db": (
            db,
            [
                -0.01462946161765,
                -0.03013298804718,
                0.01599506943443,
                -0.01205317260631,
                0.03538342167157,
                0.117607068015,
                -0.06503608870725,
                -0.03366344665719,
            ],
        ),
    }
    for name, (got, want) in expected.items():
        np.testing.assert_allclose(got, want, **FIXTURE_TOL, err_msg=name)


# ----------------------------------------------------------------------------- sequences


def test_sequence_forward_equals_step_loop():
    rng = np.random.default_rng(1)
    x, h0, c0, wx, wh, b = lstm_params(rng, 2, 5, 3, 4)
    h_all, cache = rec.lstm_forward(x, h0, c0, wx, wh, b)
    prev_h, prev_c = h0, c0
    for t in range(5):
        prev_h, prev_c, _ = rec.lstm_step_forward(x[:, t], prev_h, prev_c, wx, wh, b)
        np.testing.assert_allclose(h_all[:, t], prev_h, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(cache.c[:, t], prev_c, rtol=1e-13, atol=1e-15)
    wx, wh, b = wx[:, :4], wh[:, :4], b[:4]
    h_rnn, _ = rec.rnn_forward(x, h0, wx, wh, b)
    prev_h = h0
    for t in range(5):
        prev_h, _ = rec.rnn_step_forward(x[:, t], prev_h, wx, wh, b)
        np.testing.assert_allclose(h_rnn[:, t], prev_h, rtol=1e-13, atol=1e-15)


def test_lstm_c0_none_means_zeros():
    rng = np.random.default_rng(2)
    x, h0, _, wx, wh, b = lstm_params(rng, 2, 3, 3, 2)
    h_none, _ = rec.lstm_forward(x, h0, None, wx, wh, b)
    h_zero, _ = rec.lstm_forward(x, h0, np.zeros_like(h0), wx, wh, b)
    np.testing.assert_array_equal(h_none, h_zero)


def test_lstm_backward_accumulates_gradient_from_next_step():
    """A loss on the last step only must still reach x at step 0, through h and through c."""
    rng = np.random.default_rng(3)
    x, h0, c0, wx, wh, b = lstm_params(rng, 2, 6, 3, 4)
    _, cache = rec.lstm_forward(x, h0, c0, wx, wh, b)
    dh = np.zeros((2, 6, 4))
    dh[:, -1] = 1.0
    dx, *_ = rec.lstm_backward(dh, cache)
    assert np.all(np.abs(dx[:, 0]) > 0)
    # with Wh = 0 only the cell state links the steps: the path through f must carry it
    _, cache = rec.lstm_forward(x, h0, c0, wx, np.zeros_like(wh), b)
    dx, _, dc0, *_ = rec.lstm_backward(dh, cache)
    assert np.all(np.abs(dx[:, 0]) > 0) and np.all(np.abs(dc0) > 0)


# ----------------------------------------------------------------------------- truncated BPTT


def linear_loss(dh):
    """Loss sum(h * dh) restricted to a chunk: its gradient is dh's slice."""

    def loss_fn(h_chunk, start):
        g = dh[:, start : start + h_chunk.shape[1]]
        return float(np.sum(h_chunk * g)), g

    return loss_fn


def test_tbptt_one_chunk_is_full_bptt():
    rng = np.random.default_rng(4)
    x, h0, c0, wx, wh, b = lstm_params(rng, 2, 7, 3, 4)
    dh = rng.standard_normal((2, 7, 4))
    chunks, _ = rec.lstm_truncated_bptt(x, h0, c0, wx, wh, b, 7, linear_loss(dh))
    assert len(chunks) == 1
    _, cache = rec.lstm_forward(x, h0, c0, wx, wh, b)
    full = rec.lstm_backward(dh, cache)
    for got, want in zip(
        [chunks[0].dx, chunks[0].dWx, chunks[0].dWh, chunks[0].db], full[:1] + full[3:], strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("t_len", "k"), [(12, 4), (10, 3), (6, 1)])
def test_tbptt_equals_full_bptt_restricted_to_the_last_k_steps(t_len, k):
    """Q9, Q12, Q14. With the loss on the last k steps only, the last chunk of truncated BPTT
    gives exactly the part of full BPTT that stays inside those k steps:
    * forward values are identical (the state is carried across chunks);
    * dx over the last k steps is identical, earlier chunks get no gradient at all;
    * full dW = truncated dW + the backward of the steps before, driven by the
      (dh, dc) that the truncation cut at the boundary.
    """
    rng = np.random.default_rng(5)
    x, h0, c0, wx, wh, b = lstm_params(rng, 3, t_len, 2, 3)
    start = (t_len - 1) // k * k  # first step of the last chunk
    dh = np.zeros((3, t_len, 3))
    dh[:, start:] = rng.standard_normal((3, t_len - start, 3))
    chunks, (h_last, c_last) = rec.lstm_truncated_bptt(x, h0, c0, wx, wh, b, k, linear_loss(dh))
    last = chunks[-1]
    assert (last.start, last.stop) == (start, t_len)

    h_full, cache = rec.lstm_forward(x, h0, c0, wx, wh, b)
    np.testing.assert_allclose(h_last, h_full[:, -1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_last, cache.c[:, -1], rtol=1e-13, atol=1e-15)
    dx_full, _, _, dwx_full, dwh_full, db_full = rec.lstm_backward(dh, cache)

    np.testing.assert_allclose(last.dx, dx_full[:, start:], rtol=1e-12, atol=1e-14)
    for ch in chunks[:-1]:
        assert not np.any(ch.dx) and not np.any(ch.dWx) and not np.any(ch.dWh) and not np.any(ch.db)
    if start > 0:  # full BPTT does send gradient further back
        assert np.any(np.abs(dx_full[:, :start]) > 1e-6)

        # what truncation cut: the gradient leaving the chunk through its starting state
        _, chunk_cache = rec.lstm_forward(
            x[:, start:], h_full[:, start - 1], cache.c[:, start - 1], wx, wh, b
        )
        _, dh_cut, dc_cut, *_ = rec.lstm_backward(dh[:, start:], chunk_cache)
        _, head_cache = rec.lstm_forward(x[:, :start], h0, c0, wx, wh, b)
        dh_head = np.zeros((3, start, 3))
        dh_head[:, -1] = dh_cut
        head = rec.lstm_backward(dh_head, head_cache, dc_last=dc_cut)
        np.testing.assert_allclose(last.dWx + head[3], dwx_full, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(last.dWh + head[4], dwh_full, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(last.db + head[5], db_full, rtol=1e-11, atol=1e-13)


def test_tbptt_chunk_gradient_is_numerical_gradient_with_start_state_fixed():
    rng = np.random.default_rng(6)
    x, h0, c0, wx, wh, b = lstm_params(rng, 2, 8, 2, 3)
    dh = rng.standard_normal((2, 8, 3))
    k = 3
    chunks, _ = rec.lstm_truncated_bptt(x, h0, c0, wx, wh, b, k, linear_loss(dh))
    h_full, cache = rec.lstm_forward(x, h0, c0, wx, wh, b)
    for ch in chunks:
        s, e = ch.start, ch.stop
        h_start = h0 if s == 0 else h_full[:, s - 1]
        c_start = c0 if s == 0 else cache.c[:, s - 1]  # constants: computed with the old weights
        for got, arr, j in [(ch.dWx, wx, 0), (ch.dWh, wh, 1), (ch.db, b, 2)]:

            def f(v, j=j, s=s, e=e, h_start=h_start, c_start=c_start):
                w = [wx, wh, b]
                w[j] = v
                return rec.lstm_forward(x[:, s:e], h_start, c_start, *w)[0]

            num = numerical_gradient_array(f, arr.copy(), dh[:, s:e])
            assert scaled_relative_error(got, num, REL_FLOOR) < SMOOTH


@modest
@given(seeds(), st.integers(1, 9), st.integers(1, 5))
def test_tbptt_sum_covers_every_step(seed, t_len, k):
    rng = np.random.default_rng(seed)
    x, h0, c0, wx, wh, b = lstm_params(rng, 2, t_len, 2, 3)
    dh = rng.standard_normal((2, t_len, 3))
    chunks, _ = rec.lstm_truncated_bptt(x, h0, c0, wx, wh, b, k, linear_loss(dh))
    assert [c.start for c in chunks] == list(range(0, t_len, k))
    loss, dx, dwx, dwh, db = rec.sum_chunks(chunks)
    h_full, _ = rec.lstm_forward(x, h0, c0, wx, wh, b)
    np.testing.assert_allclose(loss, np.sum(h_full * dh), rtol=1e-12, atol=1e-12)
    assert dx.shape == x.shape and dwx.shape == wx.shape and dwh.shape == wh.shape
    assert db.shape == b.shape


def test_tbptt_rejects_k_zero():
    rng = np.random.default_rng(0)
    x, h0, c0, wx, wh, b = lstm_params(rng, 1, 3, 2, 2)
    with pytest.raises(ValueError):
        rec.lstm_truncated_bptt(x, h0, c0, wx, wh, b, 0, linear_loss(np.zeros((1, 3, 2))))


# ----------------------------------------------------------------------------- clipping


def test_clip_by_global_norm_fixture():
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]  # joint norm 5
    clipped, norm = rec.clip_by_global_norm(grads, 1.0)
    assert norm == 5.0 and isinstance(clipped, list)
    np.testing.assert_allclose(clipped[0], [0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [[0.8]], rtol=1e-15)
    np.testing.assert_array_equal(grads[0], [3.0, 0.0])  # inputs untouched
    unchanged, norm = rec.clip_by_global_norm(grads, 10.0)
    assert norm == 5.0
    np.testing.assert_array_equal(unchanged[1], [[4.0]])


def test_clip_by_global_norm_dict_and_tuple():
    clipped, _ = rec.clip_by_global_norm({"a": np.array([6.0]), "b": np.array([8.0])}, 5.0)
    np.testing.assert_allclose(clipped["a"], [3.0])
    np.testing.assert_allclose(clipped["b"], [4.0])
    clipped, _ = rec.clip_by_global_norm((np.array([0.0]),), 1.0)
    assert isinstance(clipped, tuple)


@modest
@given(seeds(), st.floats(0.1, 10.0))
def test_clipped_norm_is_at_most_max_norm(seed, max_norm):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal((3, 2)) * 5, rng.standard_normal(4)]
    clipped, norm = rec.clip_by_global_norm(grads, max_norm)
    new_norm = np.sqrt(sum(np.sum(g * g) for g in clipped))
    assert new_norm <= max_norm * (1 + 1e-12)
    np.testing.assert_allclose(new_norm, min(norm, max_norm), rtol=1e-12)
