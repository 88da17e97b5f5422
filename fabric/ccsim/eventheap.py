"""The packet kernel's event list (numba): a binary heap ordered by (time, insertion sequence).

Ties in time are broken by the order of insertion, so runs are deterministic: the same inputs and
seed give the same event order. An event is (time, kind, a, b, x): two integer operands and one
float operand whose meaning depends on the kind (:mod:`fabric.ccsim.kernel`).

Storage: ``ht`` (times), ``hx`` (float operand), ``hi`` (rows of [sequence, kind, a, b]) and ``st``
(counters at :data:`H_LEN`, :data:`H_SEQ`, :data:`H_OVERFLOW`).
"""

from __future__ import annotations

from numba import njit

# counters in ``st``: events held, next insertion sequence, 1 once an event did not fit
H_LEN, H_SEQ, H_OVERFLOW, N_HEAP_COUNTERS = range(4)
# columns of ``hi``
HI_SEQ, HI_KIND, HI_A, HI_B, N_HI = range(5)


@njit(cache=True)
def push(ht, hx, hi, st, t, kind, a, b, x):
    """Add event (t, kind, a, b, x); when the heap is full, set ``st[H_OVERFLOW]`` and drop the event."""
    n = st[H_LEN]
    if n >= ht.shape[0]:
        st[H_OVERFLOW] = 1
        return
    seq = st[H_SEQ]
    st[H_SEQ] = seq + 1
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] < t or (ht[p] == t and hi[p, HI_SEQ] < seq):
            break
        ht[i] = ht[p]
        hx[i] = hx[p]
        hi[i, HI_SEQ] = hi[p, HI_SEQ]
        hi[i, HI_KIND] = hi[p, HI_KIND]
        hi[i, HI_A] = hi[p, HI_A]
        hi[i, HI_B] = hi[p, HI_B]
        i = p
    ht[i] = t
    hx[i] = x
    hi[i, HI_SEQ] = seq
    hi[i, HI_KIND] = kind
    hi[i, HI_A] = a
    hi[i, HI_B] = b
    st[H_LEN] = n + 1


@njit(cache=True)
def pop(ht, hx, hi, st):
    """Remove the earliest event (the heap must not be empty); returns (t, x, kind, a, b)."""
    t0 = ht[0]
    x0 = hx[0]
    kind = hi[0, HI_KIND]
    a = hi[0, HI_A]
    b = hi[0, HI_B]
    n = st[H_LEN] - 1
    st[H_LEN] = n
    if n == 0:
        return t0, x0, kind, a, b
    lt = ht[n]
    ls = hi[n, HI_SEQ]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (ht[c + 1] < ht[c] or (ht[c + 1] == ht[c] and hi[c + 1, HI_SEQ] < hi[c, HI_SEQ])):
            c += 1
        if lt < ht[c] or (lt == ht[c] and ls < hi[c, HI_SEQ]):
            break
        ht[i] = ht[c]
        hx[i] = hx[c]
        hi[i, HI_SEQ] = hi[c, HI_SEQ]
        hi[i, HI_KIND] = hi[c, HI_KIND]
        hi[i, HI_A] = hi[c, HI_A]
        hi[i, HI_B] = hi[c, HI_B]
        i = c
    ht[i] = lt
    hx[i] = hx[n]
    hi[i, HI_SEQ] = ls
    hi[i, HI_KIND] = hi[n, HI_KIND]
    hi[i, HI_A] = hi[n, HI_A]
    hi[i, HI_B] = hi[n, HI_B]
    return t0, x0, kind, a, b
