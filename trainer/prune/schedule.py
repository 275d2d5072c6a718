"""The gradual sparsity schedule of Zhu & Gupta (2017), "To prune, or not to prune" (arXiv 1710.01878).

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3     for t in {t0, t0 + dt, ..., t0 + n*dt}

``t0 = round(prune_start * steps)``, ``t_end = t0 + n*dt = round(prune_end * steps)``,
``dt = prune_every``, ``s_i = 0``, ``s_f`` the target sparsity. Between pruning steps the
sparsity is constant (the value of the last pruning step at or before t); from ``t_end`` on
it is ``s_f``. When ``t_end - t0`` is not a multiple of ``dt``, ``t_end`` itself is the last
pruning step (the cubic is evaluated at ``(t - t0) / (t_end - t0)``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    final: float  # s_f
    start: int  # t0 (steps)
    end: int  # t_end (steps)
    every: int  # dt (steps)
    initial: float = 0.0  # s_i

    @classmethod
    def from_config(cls, cfg, final: float | None = None) -> Schedule:
        t0 = int(round(cfg.prune_start * cfg.steps))
        t1 = max(t0, int(round(cfg.prune_end * cfg.steps)))
        return cls(float(cfg.sparsity if final is None else final), t0, t1, max(1, int(cfg.prune_every)))

    def last_point(self, step: int) -> int | None:
        """The last scheduled pruning step at or before ``step`` (None before t0)."""
        if step < self.start:
            return None
        if step >= self.end:
            return self.end
        return self.start + ((step - self.start) // self.every) * self.every

    def sparsity(self, step: int) -> float:
        """Target sparsity in force at ``step`` (piecewise constant between pruning steps)."""
        t = self.last_point(step)
        if t is None:
            return self.initial
        if self.end <= self.start:
            return self.final
        frac = min(1.0, (t - self.start) / (self.end - self.start))
        return self.final + (self.initial - self.final) * (1.0 - frac) ** 3

    def points(self) -> list[int]:
        """All pruning steps: t0, t0 + dt, ... (< t_end), t_end."""
        if self.end <= self.start:
            return [self.start]
        return list(range(self.start, self.end, self.every)) + [self.end]


def n_zeros(numel: int, sparsity: float) -> int:
    """Weights to zero in a matrix of ``numel`` weights at ``sparsity`` (rounded, < numel)."""
    return min(numel - 1, max(0, int(round(sparsity * numel))))
