"""Pruning during training: compressed-sensing pruning (CSP) and the gradual magnitude baseline.

``make_pruner(cfg, model, train_fs, device)`` is what ``trainer.train`` calls for
``--prune csp|magnitude``; see ``csp.py`` (the method, documented) and ``base.py`` (the
hooks, masks, per-layer selection) and ``docs/pruning.md``.
"""

from __future__ import annotations

from .base import MagnitudePruner, Pruner, magnitude_mask, mask_state_dict, parse_layers, state_key
from .csp import CSPPruner, csp_recover, layer_error, record_grams
from .schedule import Schedule, n_zeros

METHODS = {"magnitude": MagnitudePruner, "csp": CSPPruner}


def make_pruner(cfg, model, train_fs=None, device=None, layers: str | None = None,
                verbose: bool | None = None) -> Pruner:
    """The pruner for ``cfg.prune`` (``magnitude`` or ``csp``), over ``model.prunable()``.

    ``layers`` (default ``cfg.prune_layers`` if the config has it, else ``"all"``) selects
    the matrices and their sparsities, e.g. ``"enc=0.8,pred=0.7,join"``.
    """
    if cfg.prune not in METHODS:
        raise ValueError(f"unknown pruning method {cfg.prune!r}; choose {' or '.join(METHODS)}")
    if not 0.0 < float(cfg.sparsity) < 1.0:
        raise ValueError(f"pruning needs a sparsity in (0, 1), got {cfg.sparsity}")
    if verbose is None:
        import os

        verbose = os.environ.get("RANK", "0") == "0"
    return METHODS[cfg.prune](cfg, model, train_fs, device, layers=layers, verbose=verbose)


__all__ = ["CSPPruner", "MagnitudePruner", "METHODS", "Pruner", "Schedule", "csp_recover",
           "layer_error", "magnitude_mask", "make_pruner", "mask_state_dict", "n_zeros", "parse_layers",
           "record_grams", "state_key"]
