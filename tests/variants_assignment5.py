"""Student answers for assignment 5 (max pooling): correct ones written differently, and
one buggy variant per catalogued mistake. Each maps answer-cell grade_id -> source."""

FORWARD_LOOPS = """
def maxpool_forward(x, pool=2, stride=2):
    n, c, h, w = x.shape
    h_out, w_out = (h - pool) // stride + 1, (w - pool) // stride + 1
    out = np.zeros((n, c, h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = x[:, :, {row}:{row} + pool, {col}:{col} + pool].max(axis=(2, 3))
    return out, (x, pool, stride)
"""

BACKWARD_TEMPLATE = """
def maxpool_backward(dout, cache):
    x, pool, stride = cache
    n, c, h_out, w_out = dout.shape
    dx = np.zeros(x.shape)
    for i in range(h_out):
        for j in range(w_out):
            r, s = i * stride, j * stride
            window = x[:, :, r:r + pool, s:s + pool]
            top = window.max(axis=(2, 3), keepdims=True)
            mask = (window == top).astype(float)
            g = dout[:, :, i, j][:, :, None, None]
{route}
    return dx
"""

FIRST_ONLY = """            flat = mask.reshape(n, c, -1)
            first = (np.cumsum(flat, axis=2) == 1) & (flat == 1)
            mask = first.reshape(mask.shape).astype(float)
"""


def backward(route):
    return {"maxpool_backward": BACKWARD_TEMPLATE.format(route=route)}


CORRECT = {
    "instructor": {},
    "first_maximum_by_cumulative_sum": {
        "maxpool_forward": FORWARD_LOOPS.format(row="i * stride", col="j * stride"),
        **backward(FIRST_ONLY + "            dx[:, :, r:r + pool, s:s + pool] += mask * g\n"),
    },
    "sliding_windows_and_add_at": {
        "maxpool_forward": """
from numpy.lib.stride_tricks import sliding_window_view


def maxpool_forward(x, pool=2, stride=2):
    win = sliding_window_view(x, (pool, pool), axis=(2, 3))[:, :, ::stride, ::stride]
    flat = win.reshape(*win.shape[:4], pool * pool)
    arg = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return out, {"shape": x.shape, "pool": pool, "stride": stride, "arg": arg}
""",
        "maxpool_backward": """
def maxpool_backward(dout, cache):
    n, c, h, w = cache["shape"]
    pool, stride, arg = cache["pool"], cache["stride"], cache["arg"]
    _, _, h_out, w_out = arg.shape
    a, b, i, j = np.indices(arg.shape)
    rows = i * stride + arg // pool
    cols = j * stride + arg % pool
    dx = np.zeros((n, c, h, w))
    np.add.at(dx, (a, b, rows, cols), dout)
    return dx
""",
    },
    "one_entry_at_a_time": {
        "maxpool_forward": """
def maxpool_forward(x, pool=2, stride=2):
    n, c, h, w = x.shape
    h_out, w_out = (h - pool) // stride + 1, (w - pool) // stride + 1
    out = np.zeros((n, c, h_out, w_out))
    where = np.zeros((n, c, h_out, w_out, 2), dtype=int)
    for a in range(n):
        for b in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    best, at = -np.inf, (0, 0)
                    for p in range(pool):
                        for q in range(pool):
                            v = x[a, b, i * stride + p, j * stride + q]
                            if v > best:
                                best, at = v, (i * stride + p, j * stride + q)
                    out[a, b, i, j] = best
                    where[a, b, i, j] = at
    return out, (x.shape, where)
""",
        "maxpool_backward": """
def maxpool_backward(dout, cache):
    shape, where = cache
    dx = np.zeros(shape)
    for a, b, i, j in np.ndindex(dout.shape):
        r, s = where[a, b, i, j]
        dx[a, b, r, s] = dx[a, b, r, s] + dout[a, b, i, j]
    return dx
""",
    },
}

# variant name -> (answers, grade_id of the part that must fail, expected mistake code)
BUGGY = {
    "stride_ignored_in_forward": (
        {
            "maxpool_forward": FORWARD_LOOPS.format(row="i * pool", col="j * pool").replace(
                "(h - pool) // stride + 1, (w - pool) // stride + 1",
                "(h - pool) // pool + 1, (w - pool) // pool + 1",
            )
        },
        "test_maxpool_forward",
        "pool-stride-ignored",
    ),
    "output_size_from_h_over_stride": (
        {
            "maxpool_forward": FORWARD_LOOPS.format(row="i * stride", col="j * stride").replace(
                "(h - pool) // stride + 1, (w - pool) // stride + 1", "h // stride, w // stride"
            )
        },
        "test_maxpool_forward",
        "pool-output-size-floor",
    ),
    "output_width_from_the_height": (
        {
            "maxpool_forward": FORWARD_LOOPS.format(row="i * stride", col="j * stride").replace(
                "(w - pool) // stride + 1", "(h - pool) // stride + 1"
            )
        },
        "test_maxpool_forward",
        "pool-width-from-height",
    ),
    "gradient_to_every_tie": (
        backward("            dx[:, :, r:r + pool, s:s + pool] += mask * g\n"),
        "test_maxpool_backward",
        "pool-gradient-to-every-tie",
    ),
    "gradient_to_last_tie": (
        backward(
            "            flat = mask.reshape(n, c, -1)[:, :, ::-1]\n"
            "            last = (np.cumsum(flat, axis=2) == 1) & (flat == 1)\n"
            "            mask = last[:, :, ::-1].reshape(mask.shape).astype(float)\n"
            "            dx[:, :, r:r + pool, s:s + pool] += mask * g\n"
        ),
        "test_maxpool_backward",
        "pool-gradient-to-last-tie",
    ),
    "gradient_split_between_ties": (
        backward(
            "            share = mask / mask.sum(axis=(2, 3), keepdims=True)\n"
            "            dx[:, :, r:r + pool, s:s + pool] += share * g\n"
        ),
        "test_maxpool_backward",
        "pool-gradient-split-between-ties",
    ),
    "overlap_not_accumulated": (
        backward(
            FIRST_ONLY + "            block = dx[:, :, r:r + pool, s:s + pool]\n"
            "            block[mask == 1] = (mask * g)[mask == 1]\n"
        ),
        "test_maxpool_backward",
        "pool-overlap-not-accumulated",
    ),
}

# Mistakes outside the catalogue: the judge describes how the output relates to the right one.
STRUCTURAL = {
    "backward_all_zeros": (
        backward("            pass\n"),
        "test_maxpool_backward",
        "structure:dx:zeros",
    ),
}
