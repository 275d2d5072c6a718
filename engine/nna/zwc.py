"""Zero-weight compression (ZWC): how the NNA stores and reads a sparse weight matrix.

A matrix sparse enough (``NNASpec.zwc_min_sparsity``) is stored as a bitmap, one bit per
weight (row-major, most significant bit first), followed by its non-zero codes packed in
order; a denser one is stored as dense codes. The cost model counts the bytes read this
way (:func:`zwc_bytes`); the model file stores sparse matrices this way too.
"""

from __future__ import annotations

import numpy as np

from .spec import NNASpec


def zwc_compresses(codes: np.ndarray, spec: NNASpec) -> bool:
    """Whether ``spec`` stores ``codes`` compressed (ZWC enabled and sparse enough)."""
    sparsity = 1 - np.count_nonzero(codes) / max(codes.size, 1)
    return spec.zwc_enabled and sparsity >= spec.zwc_min_sparsity


def zwc_pack(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bitmap (1 bit per weight, row-major, MSB first) + packed non-zero codes."""
    mask = codes != 0
    return np.packbits(mask.ravel()), codes.ravel()[mask.ravel()].astype(np.int8)


def zwc_unpack(bitmap: np.ndarray, nz: np.ndarray, shape: tuple[int, int],
               name: str = "tensor", error: type[Exception] = ValueError) -> np.ndarray:
    """Inverse of :func:`zwc_pack`; raises ``error`` naming what does not fit together."""
    n = int(np.prod(shape, dtype=np.int64))
    if bitmap.dtype != np.uint8 or bitmap.ndim != 1 or bitmap.size != (n + 7) // 8:
        raise error(
            f"{name}.bitmap must be uint8 [{(n + 7) // 8}] for shape {tuple(shape)}, "
            f"got {bitmap.dtype} {list(bitmap.shape)}"
        )
    if nz.dtype != np.int8 or nz.ndim != 1:
        raise error(f"{name}.nz must be a 1-D int8 tensor, got {nz.dtype} {list(nz.shape)}")
    mask = np.unpackbits(bitmap, count=n).astype(bool)
    if int(mask.sum()) != nz.size:
        raise error(
            f"{name}: zero-weight bitmap marks {int(mask.sum())} non-zeros but {nz.size} are stored"
        )
    out = np.zeros(n, dtype=np.int8)
    out[mask] = nz
    return out.reshape(shape)


def zwc_bytes(codes: np.ndarray, spec: NNASpec) -> int:
    """Bytes an NNA reads for a weight matrix: dense codes, or bitmap + non-zeros (ZWC)."""
    n = codes.size
    if not zwc_compresses(codes, spec):
        return (n * spec.weight_bits + 7) // 8
    return (n + 7) // 8 + (int(np.count_nonzero(codes)) * spec.weight_bits + 7) // 8
