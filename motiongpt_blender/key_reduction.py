"""Reduce a key per frame to the keys an animator can edit (pure numpy).

The engine's motion is keyed on every frame with LINEAR interpolation:
exact, but unpleasant to edit. :func:`reduce_keys` keeps only the frames
needed so that a Bezier curve through them stays within a tolerance of every
frame: start with the first and last frame, fit, add the worst frame of every
segment that misses, repeat. All channels of one property (the 3 or 4 of a
rotation, the 3 of a location) share their key frames, as hand-made keys do.

The handles come from :func:`smooth_handles` (each key's slope is that of the
parabola through it and its two neighbouring keys, handles a third of the
neighbouring interval long) and are written as ALIGNED
handles, which Blender never recomputes: the curve an animator sees is
exactly the one checked here.
:func:`evaluate_bezier` follows Blender's F-curve evaluation (handle lengths
corrected so time is monotonic, then the cubic in time solved for the curve
parameter -- linear in time, so solved directly, when the handles are a
third of the segment long as :func:`smooth_handles` makes them); a test
compares it with ``FCurve.evaluate``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class KeyReduction:
    """Tolerances of the "Reduce Keys" option: rotation in degrees, location in metres."""
    rotation_deg: float = 0.5
    location_m: float = 0.005


def _keys(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Key frames (K,) and values (K, C) as float64, one channel given as (K,)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return x, (y[:, None] if y.ndim == 1 else y)


def smooth_handles(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) Bezier handles (K, C, 2) of keys at frames ``x`` (K,)
    with values ``y`` (K, C): see the module docstring."""
    x, y = _keys(x, y)
    k = len(x)
    if k == 1:
        p = np.stack([np.broadcast_to(x[:, None], y.shape), y], -1)
        return p - [1.0, 0.0], p + [1.0, 0.0]
    dx = np.diff(x)
    secant = np.diff(y, axis=0) / dx[:, None]                          # (K-1, C)
    slope = np.empty_like(y)
    slope[0], slope[-1] = secant[0], secant[-1]                        # the ends head for their neighbour
    # the derivative of the parabola through each key and its neighbours (uneven spacing weighted)
    h0, h1 = dx[:-1, None], dx[1:, None]
    slope[1:-1] = (h1 * secant[:-1] + h0 * secant[1:]) / (h0 + h1)
    len_l = np.concatenate([[dx[0]], dx]) / 3.0
    len_r = np.concatenate([dx, [dx[-1]]]) / 3.0
    ly = y - slope * len_l[:, None]
    ry = y + slope * len_r[:, None]
    left = np.stack([np.broadcast_to((x - len_l)[:, None], y.shape), ly], -1)
    right = np.stack([np.broadcast_to((x + len_r)[:, None], y.shape), ry], -1)
    return left, right


def evaluate_bezier(x: np.ndarray, y: np.ndarray, left: np.ndarray, right: np.ndarray,
                    frames: np.ndarray) -> np.ndarray:
    """(T, C) values at ``frames`` of Bezier curves through keys (x (K,),
    y (K, C)) with handles (K, C, 2); constant before the first and after the
    last key."""
    x, y = _keys(x, y)
    frames = np.asarray(frames, dtype=np.float64)
    k = len(x)
    if k == 1:
        return np.broadcast_to(y[0], (len(frames), y.shape[1])).copy()
    seg = np.clip(np.searchsorted(x, frames, side="right") - 1, 0, k - 2)
    x0, x3 = x[seg][:, None], x[seg + 1][:, None]
    y0, y3 = y[seg], y[seg + 1]
    x1, y1 = right[seg, :, 0], right[seg, :, 1]
    x2, y2 = left[seg + 1, :, 0], left[seg + 1, :, 1]
    # correct_bezpart: handles may not overlap in time
    h1x, h1y = x0 - x1, y0 - y1
    h2x, h2y = x3 - x2, y3 - y2
    total = np.abs(h1x) + np.abs(h2x)
    span = x3 - x0
    fac = np.where(total > span, span / np.maximum(total, 1e-300), 1.0)
    x1, y1 = x0 - fac * h1x, y0 - fac * h1y
    x2, y2 = x3 - fac * h2x, y3 - fac * h2y
    t = np.broadcast_to(frames[:, None], x1.shape)
    u = np.clip((t - x0) / np.maximum(span, 1e-300), 0.0, 1.0)
    # handles a third of the segment long in time (smooth_handles'): x(u) is linear, u = (t - x0) / span;
    # else solve x(u) = t: Newton steps safeguarded by bisection
    third = span / 3.0
    eps = 1e-9 * np.abs(span)
    linear = (np.abs((x1 - x0) - third) <= eps) & (np.abs((x3 - x2) - third) <= eps)
    if not linear.all():
        solve = ~np.broadcast_to(linear, u.shape)
        u[solve] = _solve_time(*(np.broadcast_to(a, u.shape)[solve] for a in (x0, x1, x2, x3, t, u)))
    a = 1 - u
    out = a ** 3 * y0 + 3 * a * a * u * y1 + 3 * a * u * u * y2 + u ** 3 * y3
    out = np.where(frames[:, None] <= x[0], y[0], out)
    return np.where(frames[:, None] >= x[-1], y[-1], out)


def _solve_time(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, x3: np.ndarray, t: np.ndarray,
                u: np.ndarray, rounds: int = 40) -> np.ndarray:
    """The curve parameter u in [0, 1] where the cubic in time through
    x0..x3 reaches ``t``, from the first guess ``u``: Newton steps
    safeguarded by bisection, stopping early once u no longer changes."""
    lo, hi = np.zeros_like(u), np.ones_like(u)
    for _ in range(rounds):
        a = 1 - u
        xu = a ** 3 * x0 + 3 * a * a * u * x1 + 3 * a * u * u * x2 + u ** 3 * x3
        dx = 3 * a * a * (x1 - x0) + 6 * a * u * (x2 - x1) + 3 * u * u * (x3 - x2)
        f = xu - t
        lo = np.where(f < 0, u, lo)
        hi = np.where(f > 0, u, hi)
        step = np.where(np.abs(dx) > 1e-12, u - f / np.where(np.abs(dx) > 1e-12, dx, 1.0), 0.5 * (lo + hi))
        new = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        if np.array_equal(new, u):          # a fixed point: every further round gives the same u
            break
        u = new
    return u


def reduce_keys(frames: np.ndarray, values: np.ndarray, tolerance: np.ndarray | float | None = None,
                error: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                max_rounds: int = 64) -> np.ndarray:
    """Indices of the frames to key so that the Bezier curves through them
    (:func:`smooth_handles`) stay within tolerance of ``values`` (T, C) at
    every frame. Either ``tolerance`` (per channel, or one for all) or
    ``error(fit, values)`` -> (T,) errors in units of the tolerance (a
    rotation's angle over all its channels, say): at most 1 everywhere."""
    frames = np.asarray(frames, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = len(frames)
    if n <= 2:
        return np.arange(n)
    if error is None:
        tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), (values.shape[1],))
        error = lambda fit, v: (np.abs(fit - v) / np.maximum(tol, 1e-12)).max(-1)   # noqa: E731
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    for _ in range(max_rounds):
        idx = np.flatnonzero(keep)
        left, right = smooth_handles(frames[idx], values[idx])
        err = error(evaluate_bezier(frames[idx], values[idx], left, right, frames), values)
        if err.max() <= 1.0:
            return idx
        seg = np.clip(np.searchsorted(idx, np.arange(n), side="right") - 1, 0, len(idx) - 2)
        bad = err > 1.0
        # the worst frame of each segment that misses
        order = np.lexsort((-err, seg))
        first_of_seg = np.ones(n, dtype=bool)
        first_of_seg[1:] = seg[order][1:] != seg[order][:-1]
        worst = order[first_of_seg]
        keep[worst[bad[worst]]] = True
    return np.arange(n)
