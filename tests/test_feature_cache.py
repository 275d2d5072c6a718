"""The feature cache under concurrent builders: the ranks of a torchrun job (or two training
runs on one corpus) may build the same manifest's cache at once."""

from __future__ import annotations

import multiprocessing as mp
import shutil

import numpy as np
import pytest
from helpers import make_tiny_corpus

pytest.importorskip("torch")


def _build(manifest: str, tokenizer: str, barrier, saved, out) -> None:
    import sentencepiece as spm

    import trainer.dataset as D

    save = np.save

    def save_then_wait(*a, **k):  # every builder has written its temporary file before any
        save(*a, **k)              # of them moves one into place: the race, every time
        saved.wait(timeout=60)

    D.np.save = save_then_wait  # this child's numpy only (a forked process)
    sp = spm.SentencePieceProcessor(model_file=tokenizer)
    barrier.wait()  # all start at once: the cache does not exist yet for any of them
    load_features = D.load_features
    try:
        fs = load_features(manifest, sp, progress=False, workers=1)
        out.put(("ok", np.asarray(fs.feats).tobytes(), fs.offsets.tolist()))
    except Exception as e:  # reported to the test, not lost in a child's stderr
        out.put(("error", repr(e), None))


def test_concurrent_builders_all_get_the_same_whole_cache(tmp_path):
    corpus = make_tiny_corpus(tmp_path / "corpus")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(corpus / "audio", fresh / "audio")
    shutil.copy(corpus / "train.jsonl", fresh / "train.jsonl")
    ctx = mp.get_context("fork")
    n = 4
    barrier, saved, out = ctx.Barrier(n), ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_build, args=(str(fresh / "train.jsonl"),
                                              str(corpus / "tokenizer.model"), barrier, saved, out))
             for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r[0] for r in results] == ["ok"] * n, [r[1] for r in results if r[0] != "ok"]
    assert len({(r[1], tuple(r[2])) for r in results}) == 1  # the same features for all
    cache = sorted(p.name for p in (fresh / "features").iterdir())
    assert len(cache) == 2 and all(".tmp" not in c for c in cache), cache  # .npy + .json only
