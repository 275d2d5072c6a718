"""Per-chunk and per-stream statistics of the recognizer: measured host time, modeled NNA
time, RTF, user-perceived latency: the one definition of each, which every command reports."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ChunkStat:
    index: int
    audio_ms: float
    host_ms: float  # measured: wall-clock compute on this host (time.perf_counter)
    modeled_nna_ms: float  # modeled: cost model over the ops executed for this chunk
    audio_end_s: float  # stream time at the end of this chunk


class ChunkLog(Sequence):
    """Per-chunk stats of a stream, stored compactly: five float64 per chunk (40 bytes, about
    0.9 MB per hour of 160 ms chunks) in fixed-size numpy blocks, so an hours-long stream
    neither holds a Python object per chunk nor copies a growing array.

    Reads like the ``list[ChunkStat]`` it replaces: ``len``, indexing and slicing (which
    build :class:`ChunkStat` objects on demand), iteration, ``append``; :meth:`column`
    gives one field of every chunk as a numpy array.
    """

    FIELDS = ("index", "audio_ms", "host_ms", "modeled_nna_ms", "audio_end_s")
    BLOCK = 4096  # chunks per block (160 KiB)

    def __init__(self, items=()) -> None:
        self._blocks: list[np.ndarray] = []
        self._n = 0
        self.audio_ms_total = 0.0  # running sums, in chunk order
        self.host_ms_total = 0.0
        for c in items:
            self.append(c)

    def add(self, index: int, audio_ms: float, host_ms: float, modeled_nna_ms: float,
            audio_end_s: float) -> None:
        b, i = divmod(self._n, self.BLOCK)
        if b == len(self._blocks):
            self._blocks.append(np.empty((self.BLOCK, len(self.FIELDS)), np.float64))
        self._blocks[b][i] = (index, audio_ms, host_ms, modeled_nna_ms, audio_end_s)
        self._n += 1
        self.audio_ms_total += audio_ms
        self.host_ms_total += host_ms

    def append(self, c: ChunkStat) -> None:
        self.add(c.index, c.audio_ms, c.host_ms, c.modeled_nna_ms, c.audio_end_s)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self._n))]
        k = operator.index(k)
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError("chunk index out of range")
        r = self._blocks[k // self.BLOCK][k % self.BLOCK]
        return ChunkStat(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]))

    def column(self, name: str) -> np.ndarray:
        """One field (see :attr:`FIELDS`) of every chunk, as a new float64 array."""
        j = self.FIELDS.index(name)
        if not self._n:
            return np.zeros(0, np.float64)
        return np.concatenate([b[:, j] for b in self._blocks])[: self._n]

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._blocks)

    def __eq__(self, other) -> bool:
        if isinstance(other, (ChunkLog, list, tuple)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"ChunkLog({self._n} chunks)"


@dataclass
class StreamStats:
    """``chunks``: a :class:`ChunkLog` (a list of :class:`ChunkStat` may be passed in)."""

    chunks: ChunkLog = field(default_factory=ChunkLog)
    upl_ms: list[float] = field(default_factory=list)  # simulated real-time, per final
    op_counts: Counter = field(default_factory=Counter)  # invocations per op (engine.nna.cost)
    # each chunk's op counts, in the order of ``chunks``, where the recognizer keeps them
    # (``Recognizer(keep_chunk_counts=True)``: ``nnasr cost`` prices every chunk again)
    chunk_op_counts: list[Counter] | None = None
    gain_db: float = 0.0  # the recognizer's input gain
    gain_samples: int = 0  # samples the gain was applied to
    gain_clipped: int = 0  # of them, those the gain took past full scale
    encoder_resets: int = 0  # times the encoder started afresh at an endpoint (EndpointConfig.reset_encoder)

    def __post_init__(self) -> None:
        if not isinstance(self.chunks, ChunkLog):
            self.chunks = ChunkLog(self.chunks)

    @property
    def audio_seconds(self) -> float:
        return self.chunks.audio_ms_total / 1000.0

    @property
    def host_seconds(self) -> float:
        return self.chunks.host_ms_total / 1000.0

    @property
    def rtf(self) -> float:
        return self.host_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def summary(self) -> dict:
        full = self.chunks.column("audio_ms") > 0
        h = self.chunks.column("host_ms")[full]
        m = self.chunks.column("modeled_nna_ms")[full]
        h = h if len(h) else np.zeros(1)
        m = m if len(m) else np.zeros(1)
        return {
            "chunks": len(self.chunks),
            "audio_s": round(self.audio_seconds, 3),
            "host_ms_p50": float(np.percentile(h, 50)),
            "host_ms_p95": float(np.percentile(h, 95)),
            "host_ms_max": float(h.max()),
            "modeled_nna_ms_p50": float(np.percentile(m, 50)),
            "modeled_nna_ms_p95": float(np.percentile(m, 95)),
            "modeled_nna_ms_max": float(m.max()),
            "rtf": self.rtf,
            "upl_ms": [round(u, 1) for u in self.upl_ms],
            **({"gain_db": self.gain_db, "gain_clipped": round(self.gain_clipped / max(self.gain_samples, 1), 5)}
               if self.gain_db else {}),
        }
