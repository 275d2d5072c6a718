"""Zero-weight compression (ZWC): how the NNA stores and reads a sparse weight matrix.

A matrix sparse enough (``NNASpec.zwc_min_sparsity``) is stored as a bitmap, one bit per
weight (row-major, most significant bit first), followed by its non-zero codes packed in
order; a denser one is stored as dense codes. The cost model counts the bytes read this
way (:func:`zwc_bytes`); the model file stores sparse matrices this way too.

A device may mark its non-zeros with relative indices instead (``NNASpec.zwc_index_bits`` =
k, the format of EIE, Han et al. 2016): each stored entry is a weight code and a k-bit count
of the zeros before it in its row; a gap longer than ``2^k - 1`` zeros is bridged by zero
"filler" entries, one per ``2^k`` positions; each row has a 16-bit entry count. A device
that reads both formats stores each matrix in the smaller (indices win only on very sparse
matrices: 8 + k bits a non-zero against 1 bit a weight). Only the bytes priced change: the
model file keeps its bitmap.
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


def index_entries(codes: np.ndarray, index_bits: int) -> int:
    """Entries a relative-index format stores for ``codes`` (rows = its first axis): the
    non-zeros and the filler entries that bridge gaps of more than ``2^index_bits - 1`` zeros."""
    c = np.atleast_2d(codes)
    rows, cols = np.nonzero(c.reshape(c.shape[0], -1))  # row-major: sorted by row, then column
    prev = np.empty_like(cols)
    prev[1:] = cols[:-1]
    first = np.ones(len(cols), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    prev[first] = -1
    gaps = cols - prev - 1
    return len(cols) + int((gaps >> index_bits).sum())


def zwc_bytes(codes: np.ndarray, spec: NNASpec) -> int:
    """Bytes an NNA reads for a weight matrix: dense codes, or its non-zeros marked by a
    bitmap (ZWC) or, where that is smaller, by relative indices (``spec.zwc_index_bits``)."""
    n = codes.size
    if n == 0:  # an op all of whose outputs are dead: nothing stored
        return 0
    if not zwc_compresses(codes, spec):
        return (n * spec.weight_bits + 7) // 8
    bitmap = (n + 7) // 8 + (int(np.count_nonzero(codes)) * spec.weight_bits + 7) // 8
    k = spec.zwc_index_bits
    if not k:
        return bitmap
    rows = np.atleast_2d(codes).shape[0]
    return min(bitmap, (index_entries(codes, k) * (spec.weight_bits + k) + 7) // 8 + 2 * rows)
