"""BLAS threads: the engine runs its matrix products single-threaded by default.

The engine's products are small (one 16-frame chunk, a few hundred units wide): a BLAS
that spreads them over every core gains nothing when idle and loses much when the cores
are busy (per-chunk host latency several times higher on 2 busy cores; measured by
``benchmarks/threads.py``, table in docs/reliability.md). :func:`pin_blas` sets the
process's BLAS thread count once, through threadpoolctl; ``engine.Recognizer`` calls it.
"""

from __future__ import annotations

import os

ENV = "NNASR_THREADS"
DEFAULT_THREADS = 1

_pinned: int | None = None  # the count set by this process (None: not yet)
_limiter = None  # threadpoolctl's limiter, kept so that the limit stays in force


def blas_threads(threads: int | None = None) -> int:
    """The thread count to use: ``threads``, else ``$NNASR_THREADS``, else 1; 0 means the
    BLAS library's own default (every core)."""
    if threads is None:
        env = os.environ.get(ENV, "").strip()
        if not env:
            return DEFAULT_THREADS
        try:
            threads = int(env)
        except ValueError:
            raise ValueError(f"{ENV}={env!r} is not a whole number of threads (0: the BLAS default)") from None
    if threads < 0:
        raise ValueError(f"threads must be >= 0 (0: the BLAS default), not {threads}")
    return int(threads)


def pin_blas(threads: int | None = None) -> int:
    """Limit BLAS to :func:`blas_threads` threads for the whole process (a no-op when that
    count is already set, or for 0 before any limit was set). Returns the count (0: library default)."""
    global _pinned, _limiter
    n = blas_threads(threads)
    if n == _pinned or (n == 0 and _pinned is None):
        return n
    from threadpoolctl import threadpool_limits

    if _limiter is not None:
        _limiter.restore_original_limits()
        _limiter = None
    if n:
        _limiter = threadpool_limits(limits=n, user_api="blas")
    _pinned = n
    return n
