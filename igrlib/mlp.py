r"""A small multilayer perceptron as an :class:`igrlib.Loss`, and the data set it learns.

The network maps an input :math:`x \in \mathbb{R}^{n_0}` through tanh layers to
:math:`n_L` outputs (one per class):

.. math::
    a_0 = x, \qquad z_l = a_{l-1} W_l + b_l, \qquad a_l = \tanh z_l \ (l < L),
    \qquad f(x) = z_L.

All weights and biases live in one flat vector ``theta`` (layer by layer, each
:math:`W_l` row-major, then :math:`b_l`), so a network is a loss of ``theta``
like every other model in igrlib: the same ``igr.gd``, ``igr.hvp`` and
``igr.sharpness`` apply. The gradient comes from backpropagation and the
Hessian-vector product from Pearlmutter's R-operator (a forward and a backward
pass of directional derivatives), both exact. Every function accepts one
network, ``theta`` of shape ``(d,)``, or a stack of networks, shape
``(..., d)``, and computes the whole stack with batched matrix products.

Chapter *Experiments: does a finite learning rate regularise a network?*
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from ._validate import as_int
from .losses import Loss

__all__ = ["MLP", "digits"]

LOSSES = ("cross_entropy", "squared")

# A stack of networks is computed in chunks whose activations hold at most this
# many numbers (256 KB): larger temporaries fall out of the CPU cache and, when
# freed, go back to the operating system, so every step would page them in again.
CHUNK_ELEMENTS = 2**15


def _as_labels(y, n_classes, n, name="y"):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match X, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"{name} must hold integer class labels in 0..{n_classes - 1}")
    return y.astype(np.intp)


@dataclass(frozen=True)
class MLP:
    r"""A tanh multilayer perceptron with layer sizes ``sizes = (n_0, n_1, ..., n_L)``.

    .. math::
        z_l = a_{l-1} W_l + b_l, \quad a_l = \tanh z_l, \quad f(x) = z_L,
        \qquad d = \sum_{l=1}^{L} (n_{l-1} + 1)\, n_l \text{ parameters}.

    The object only describes the architecture; the parameters are a flat
    array ``theta`` of shape ``(d,)`` or ``(..., d)`` passed to its methods.

    Parameters
    ----------
    sizes : sequence of int
        Input size, hidden sizes, number of outputs; at least two entries, all positive.
    chunk_elements : int, optional
        A stack of networks is computed in chunks whose activations hold at most
        this many numbers (default ``igrlib.mlp.CHUNK_ELEMENTS`` = 2**15); the results do not
        depend on it, only the speed.

    Attributes
    ----------
    dim : int
        The number of parameters :math:`d`.

    References
    ----------
    D. E. Rumelhart, G. E. Hinton, R. J. Williams, Learning representations by
    back-propagating errors, Nature 323 (1986) 533-536 (the gradient).
    B. A. Pearlmutter, Fast exact multiplication by the Hessian, Neural
    Computation 6 (1994) 147-160 (the Hessian-vector product). Chapter
    *Experiments: does a finite learning rate regularise a network?*

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> net = igr.MLP((2, 3, 2))
    >>> net.dim  # (2 + 1) * 3 + (3 + 1) * 2
    17
    >>> theta = net.init(np.random.default_rng(0))
    >>> L = net.loss(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    >>> round(float(L.value(theta)), 4), L.grad(theta).shape
    (0.6917, (17,))
    """

    sizes: tuple
    chunk_elements: int = CHUNK_ELEMENTS

    def __post_init__(self):
        as_int(self.chunk_elements, "chunk_elements", minimum=1)
        sizes = tuple(self.sizes)
        ok = len(sizes) >= 2 and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes
        )
        if not ok:
            raise ValueError(f"sizes must be at least two positive integers (inputs, ..., outputs), got {self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))

    @property
    def dim(self):
        return sum((m + 1) * n for m, n in zip(self.sizes[:-1], self.sizes[1:]))

    # -- parameters ---------------------------------------------------------------

    def init(self, rng, k=None, *, scale=1.0):
        r"""Random parameters: :math:`W_l \sim \mathcal N(0, s^2/n_{l-1})` entrywise, :math:`b_l = 0`.

        Parameters
        ----------
        rng : numpy.random.Generator
        k : int, optional
            Number of independent networks; ``None`` gives one. The networks are
            drawn one after another, so ``init(default_rng(s), k)[:j]`` equals
            ``init(default_rng(s), j)``: a larger study extends a smaller one.
        scale : float
            The factor :math:`s > 0` (1 is LeCun's choice; larger starts in sharper regions).

        Returns
        -------
        ndarray, shape (d,) or (k, d)

        References
        ----------
        Y. LeCun, L. Bottou, G. B. Orr, K.-R. Mueller, Efficient BackProp, in
        Neural Networks: Tricks of the Trade, Springer 1998 (the 1/fan-in scale).
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
            raise ValueError(f"k must be a positive integer or None, got {k!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be finite and positive, got {scale!r}")
        kk = 1 if k is None else int(k)
        theta = np.zeros((kk, self.dim))
        for row in theta:  # network by network: the first j of k networks do not depend on k
            for W, _ in self.unflatten(row):
                W[...] = scale * rng.standard_normal(W.shape) / np.sqrt(W.shape[-2])
        return theta[0] if k is None else theta

    def unflatten(self, theta):
        """Views ``[(W_1, b_1), ..., (W_L, b_L)]`` into ``theta``: shapes ``(..., n_{l-1}, n_l)`` and ``(..., n_l)``."""
        theta = np.asarray(theta)
        if theta.ndim == 0 or theta.shape[-1] != self.dim:
            raise ValueError(f"theta must have shape (..., {self.dim}) for sizes {self.sizes}, got {theta.shape}")
        batch = theta.shape[:-1]
        out, start = [], 0
        for m, n in zip(self.sizes[:-1], self.sizes[1:]):
            W = theta[..., start : start + m * n].reshape(*batch, m, n)
            start += m * n
            b = theta[..., start : start + n]
            start += n
            out.append((W, b))
        return out

    # -- the network ----------------------------------------------------------------

    def _inputs(self, X, name="X"):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (n, {self.sizes[0]}), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{name} must be finite")
        return X

    def _stack(self, theta):
        theta = np.asarray(theta, dtype=float)
        if theta.ndim == 0 or theta.shape[-1] != self.dim:
            raise ValueError(f"theta must have shape (..., {self.dim}) for sizes {self.sizes}, got {theta.shape}")
        return theta.reshape(-1, self.dim), theta.shape[:-1]

    def _blocks(self, th):
        """Views ``[Wb_1, ..., Wb_L]`` into ``th`` (shape (B, d)): ``Wb_l`` = W_l with b_l as an extra last row."""
        out, start = [], 0
        for m, n in zip(self.sizes[:-1], self.sizes[1:]):
            out.append(th[:, start : start + (m + 1) * n].reshape(-1, m + 1, n))
            start += (m + 1) * n
        return out

    # The kernels below multiply [a, 1] @ [W; b], so a bias costs no separate
    # addition or sum, and they use explicit in-place ufuncs: on large stacks,
    # chained expressions such as ``1 - a * a`` make NumPy check whether it may
    # reuse a temporary, a check that costs more than the arithmetic here.

    @staticmethod
    def _with_ones(X):
        return np.hstack([X, np.ones((X.shape[0], 1))])

    def _forward(self, blocks, X1):
        """Hidden activations with a column of ones, ``[a_0, 1], ..., [a_{L-1}, 1]``, and the outputs z_L.

        ``[a_0, 1]`` is the shared input, shape (n, n_0 + 1); the others have shape (B, n, n_l + 1).
        """
        acts = [X1]
        for l, Wb in enumerate(blocks):
            z = np.matmul(acts[-1], Wb)
            if l == len(blocks) - 1:
                return acts, z
            a = np.empty((*z.shape[:-1], z.shape[-1] + 1))
            a[..., -1] = 1.0
            np.tanh(z, out=a[..., :-1])
            acts.append(a)

    def forward(self, theta, X):
        r"""The network's outputs :math:`f(x) = z_L` for every input row.

        Parameters
        ----------
        theta : array_like, shape (d,) or (..., d)
        X : array_like, shape (n, n_0)

        Returns
        -------
        ndarray, shape (..., n, n_L)
        """
        th, batch = self._stack(theta)
        X1 = self._with_ones(self._inputs(X))
        z = _chunked(lambda t: self._forward(self._blocks(t), X1)[1], self._chunk(X1.shape[0]), th)
        return z.reshape(*batch, *z.shape[1:])

    def _chunk(self, n):
        """How many networks of a stack are computed together on ``n`` inputs (at least 1)."""
        return max(1, self.chunk_elements // (n * (max(self.sizes[1:]) + 1)))

    def accuracy(self, theta, X, y):
        """Fraction of rows of ``X`` whose largest output is at the label ``y``: shape ``(...)``."""
        X = self._inputs(X)
        y = _as_labels(y, self.sizes[-1], X.shape[0])
        return np.mean(np.argmax(self.forward(theta, X), axis=-1) == y, axis=-1)

    def loss(self, X, y, *, kind="cross_entropy"):
        r"""The training loss on the data ``(X, y)`` as a function of ``theta``.

        .. math::
            L(\theta) = \frac1n \sum_{i=1}^n \Big(\log \sum_c e^{f_c(x_i)} - f_{y_i}(x_i)\Big)
            \quad\text{(cross-entropy)}, \qquad
            L(\theta) = \frac1{2n} \sum_{i=1}^n \lVert f(x_i) - e_{y_i} \rVert^2
            \quad\text{(squared)},

        with :math:`e_c` the one-hot vector of class :math:`c`.

        Parameters
        ----------
        X : array_like, shape (n, n_0)
            Inputs, one example a row.
        y : array_like of int, shape (n,)
            Class labels in ``0 .. n_L - 1``.
        kind : {"cross_entropy", "squared"}

        Returns
        -------
        Loss
            ``value``, ``grad`` (backpropagation) and ``hvp`` (Pearlmutter's
            R-operator), all exact and all mapping stacks ``(..., d)``; ``d3``
            is left to :func:`igrlib.d3`'s finite difference.
        """
        if kind not in LOSSES:
            raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}")
        X = self._inputs(X)
        y = _as_labels(y, self.sizes[-1], X.shape[0])
        objective = _Objective(self, X, y, kind)
        return Loss(objective.value, objective.grad, objective.hvp)



def _chunked(kernel, chunk, th, *more):
    """``kernel(th, *more)`` on a stack ``th`` (shape (B, d)) in equal chunks of at most ``chunk`` networks.

    ``more`` are arrays with the same first axis, cut alike; the results are
    concatenated along the first axis. The numbers do not depend on the chunks.
    """
    if th.shape[0] <= chunk:
        return kernel(th, *more)
    size = -(-th.shape[0] // -(-th.shape[0] // chunk))  # equal chunks of at most `chunk` networks
    parts = range(0, th.shape[0], size)
    return np.concatenate([kernel(th[i : i + size], *(m[i : i + size] for m in more)) for i in parts])


def _softmax(z, ones):
    """Probabilities p (B, n, c) and log-sum-exp (B, n) of each row of z (B, n, c); ``ones`` is np.ones(c)."""
    shift = z.reshape(z.shape[0], -1).max(axis=-1)[:, None, None]  # one shift per network
    p = np.subtract(z, shift)
    np.exp(p, out=p)
    s = np.matmul(p, ones)
    if not np.all(s > 1e-290):  # some row lies far below the network's largest output
        shift = z.max(axis=-1, keepdims=True)
        p = np.exp(np.subtract(z, shift))
        s = np.matmul(p, ones)
    np.divide(p, s[..., None], out=p)
    return p, np.log(s) + shift[..., 0]


def _tanh_slope(a):
    """1 - t^2 for the activations ``a = [t, 1]``, t = tanh z (the columns before the ones)."""
    t = a[..., :-1]
    s = np.multiply(t, t)
    return np.subtract(1.0, s, out=s)


class _Objective:
    r"""The loss of an :class:`MLP` on one data set: value, gradient and Hessian-vector product of a stack.

    The public ``value``, ``grad`` and ``hvp`` take ``theta`` of shape ``(..., d)``
    and cut the stack into chunks (:func:`_chunked`); each chunk goes through
    the kernels below, which take ``th`` of shape ``(B, d)``:

    * :meth:`forward_r`: the forward pass and its directional derivative
      :math:`R\{\cdot\}` along ``v`` (Pearlmutter's R-operator);
    * :meth:`out_delta` and :meth:`r_out_delta`: :math:`\partial L/\partial z_L` and its R-derivative;
    * :meth:`grad_kernel` and :meth:`hvp_kernel`: the backward passes.
    """

    def __init__(self, net, X, y, kind):
        self.net = net
        self.n, self.c = X.shape[0], net.sizes[-1]
        self.X1 = net._with_ones(X)
        self.Y = np.eye(self.c)[y]  # one-hot targets, (n, c)
        self.ones = np.ones(self.c)
        self.squared = kind == "squared"
        self.chunk = net._chunk(self.n)

    # -- stacks of any shape ----------------------------------------------------------

    def value(self, theta):
        th, batch = self.net._stack(theta)
        return _chunked(self.value_kernel, self.chunk, th).reshape(batch)

    def grad(self, theta):
        th, batch = self.net._stack(theta)
        return _chunked(self.grad_kernel, self.chunk, th).reshape(*batch, self.net.dim)

    def hvp(self, theta, v):
        theta = np.asarray(theta, dtype=float)
        v = np.asarray(v, dtype=float)
        shape = np.broadcast_shapes(theta.shape, v.shape)
        th, batch = self.net._stack(np.broadcast_to(theta, shape))
        vv, _ = self.net._stack(np.broadcast_to(v, shape))
        return _chunked(self.hvp_kernel, self.chunk, th, vv).reshape(*batch, self.net.dim)

    # -- kernels on a chunk, th of shape (B, d) --------------------------------------

    def value_kernel(self, th):
        """The loss of each network, shape (B,)."""
        _, z = self.net._forward(self.net._blocks(th), self.X1)
        flat = z.reshape(z.shape[0], -1)
        if self.squared:
            r = np.subtract(flat, self.Y.ravel())
            L = 0.5 * np.einsum("bi,bi->b", r, r) / self.n
        else:
            _, lse = _softmax(z, self.ones)
            L = (lse.sum(axis=-1) - flat @ self.Y.ravel()) / self.n
        return L

    def out_delta(self, z):
        """dL/dz_L, shape (B, n, c), and the softmax probabilities (None for the squared loss)."""
        p = None
        if self.squared:
            delta = np.subtract(z, self.Y)
        else:
            p, _ = _softmax(z, self.ones)
            delta = np.subtract(p, self.Y)
        np.multiply(delta, 1.0 / self.n, out=delta)
        return delta, p

    def r_out_delta(self, p, rz):
        """R{dL/dz_L} from R{z_L} = ``rz`` (overwritten) and the probabilities ``p`` of :meth:`out_delta`."""
        if self.squared:
            return np.multiply(rz, 1.0 / self.n, out=rz)
        # R{(p - Y)/n} = p * (rz - <p, rz>) / n
        mean = np.matmul(np.multiply(p, rz), self.ones)
        rdelta = np.subtract(rz, mean[..., None], out=rz)
        np.multiply(rdelta, p, out=rdelta)
        return np.multiply(rdelta, 1.0 / self.n, out=rdelta)

    def grad_kernel(self, th):
        """The gradient of each network by backpropagation, shape (B, d)."""
        blocks = self.net._blocks(th)
        acts, z = self.net._forward(blocks, self.X1)
        delta, _ = self.out_delta(z)
        g = np.empty_like(th)
        gb = self.net._blocks(g)
        for l in range(len(blocks) - 1, -1, -1):
            gb[l][...] = np.matmul(np.swapaxes(acts[l], -1, -2), delta)
            if l > 0:
                da = np.matmul(delta, np.swapaxes(blocks[l][:, :-1, :], -1, -2))
                delta = np.multiply(da, _tanh_slope(acts[l]), out=da)
        return g

    def forward_r(self, blocks, dirs):
        """The forward pass and its R-derivative along the directions ``dirs`` (blocks of v).

        Returns
        -------
        acts : list
            ``[a_0, 1], ..., [a_{L-1}, 1]`` as in :meth:`MLP._forward`.
        racts : list
            ``None, R{a_1}, ..., R{a_{L-1}}`` (R{1} = 0, so no column of ones).
        slopes : list
            ``None, 1 - a_1^2, ..., 1 - a_{L-1}^2``.
        z, rz : ndarray, shape (B, n, c)
            The outputs z_L and R{z_L}.
        """
        acts, racts, slopes, ra = [self.X1], [None], [None], None
        for l, (Wb, Vb) in enumerate(zip(blocks, dirs)):
            z = np.matmul(acts[-1], Wb)
            rz = np.matmul(acts[-1], Vb)
            if ra is not None:
                rz += np.matmul(ra, Wb[:, :-1, :])
            if l == len(blocks) - 1:
                return acts, racts, slopes, z, rz
            a = np.empty((*z.shape[:-1], z.shape[-1] + 1))
            a[..., -1] = 1.0
            np.tanh(z, out=a[..., :-1])
            s = _tanh_slope(a)
            ra = np.multiply(s, rz, out=rz)
            acts.append(a)
            racts.append(ra)
            slopes.append(s)

    def hvp_kernel(self, th, vv):
        """The Hessian-vector product of each network along each row of ``vv``, shape (B, d)."""
        blocks, dirs = self.net._blocks(th), self.net._blocks(vv)
        acts, racts, slopes, z, rz = self.forward_r(blocks, dirs)
        delta, p = self.out_delta(z)
        rdelta = self.r_out_delta(p, rz)
        # Backward pass and its directional derivative.
        Hv = np.empty_like(th)
        hb = self.net._blocks(Hv)
        for l in range(len(blocks) - 1, -1, -1):
            hb[l][...] = np.matmul(np.swapaxes(acts[l], -1, -2), rdelta)
            if l == 0:
                break
            hb[l][:, :-1, :] += np.matmul(np.swapaxes(racts[l], -1, -2), delta)
            Wt = np.swapaxes(blocks[l][:, :-1, :], -1, -2)
            Vt = np.swapaxes(dirs[l][:, :-1, :], -1, -2)
            da = np.matmul(delta, Wt)
            rda = np.matmul(rdelta, Wt)
            rda += np.matmul(delta, Vt)
            # R{da * s} = rda * s + da * R{s}, with R{s} = -2 a R{a}
            t = np.multiply(da, acts[l][..., :-1])
            np.multiply(t, racts[l], out=t)
            np.multiply(t, 2.0, out=t)
            np.multiply(rda, slopes[l], out=rda)
            rdelta = np.subtract(rda, t, out=rda)
            delta = np.multiply(da, slopes[l], out=da)
        return Hv


def digits(n_train=200, *, rng=None, center=True, seed=None):
    r"""scikit-learn's handwritten digits, split once into a small training set and a test set.

    1,797 grey-scale images of 8 x 8 pixels (values 0..16), ten classes. The
    pixels are scaled to :math:`[0, 1]` (divided by 16) and, with ``center``,
    shifted by the training set's mean image. The data ship inside
    scikit-learn: nothing is downloaded.

    Parameters
    ----------
    n_train : int
        Size of the training set (drawn at random); the other images form the test set.
    rng : numpy.random.Generator
        Draws the random permutation that makes the split;
        ``np.random.default_rng(0)`` gives the split the book uses.
    center : bool
        Subtract the training set's mean pixel values from both sets.
    seed : int, optional
        Deprecated: ``seed=s`` is ``rng=np.random.default_rng(s)``.

    Returns
    -------
    X_train : ndarray, shape (n_train, 64)
    y_train : ndarray of int, shape (n_train,)
    X_test : ndarray, shape (1797 - n_train, 64)
    y_test : ndarray of int, shape (1797 - n_train,)

    References
    ----------
    E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI
    Machine Learning Repository (1998); ``sklearn.datasets.load_digits``.

    Examples
    --------
    >>> import igrlib as igr
    >>> import numpy as np
    >>> X, y, Xt, yt = igr.digits(200, rng=np.random.default_rng(0))
    >>> X.shape, Xt.shape, sorted(set(y.tolist())) == list(range(10))
    ((200, 64), (1597, 64), True)
    """
    if seed is not None:
        if rng is not None:
            raise ValueError("give rng only (seed is deprecated), not both")
        # stacklevel 1: Python's default filters hide it in notebooks (their stored outputs
        # stay unchanged until the chapters pass rng); pytest and ``python -W default`` show it
        message = "digits(seed=s) is deprecated; pass rng=np.random.default_rng(s)"
        warnings.warn(message, DeprecationWarning, stacklevel=1)
        rng = np.random.default_rng(seed)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {rng!r}")
    from sklearn.datasets import load_digits  # imported here: igrlib itself needs only numpy and scipy

    data = load_digits()
    X = data.data / 16.0
    y = data.target.astype(np.intp)
    if isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral) or not 1 <= n_train < len(y):
        raise ValueError(f"n_train must be an integer in 1..{len(y) - 1}, got {n_train!r}")
    perm = rng.permutation(len(y))
    tr, te = perm[:n_train], perm[n_train:]
    X_train, X_test = X[tr], X[te]
    if center:
        mean = X_train.mean(axis=0)
        X_train, X_test = X_train - mean, X_test - mean
    return X_train, y[tr], X_test, y[te]
