"""Training data: features computed once by the engine's front-end, cached, batched.

The cache (``<data>/features/<split>-<key>.npy`` + ``.json``) holds the log-mel features of
every utterance of a manifest (float16, concatenated) and the token ids; ``key`` hashes
the front-end config and the manifest, so a changed front-end or manifest recomputes.
Writes are atomic; a killed run recomputes only the cache being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from engine.audio import load_audio
from engine.frontend import FrontendConfig, compute_features
from trainer.data.manifest import read_manifest, write_json_atomic


def _feat_worker(args):
    path, cfg = args
    try:
        x = load_audio(path, cfg.sample_rate)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        return None, f"{path}: {e}"
    return compute_features(x, cfg).astype(np.float16), None


@dataclass
class FeatureSet:
    feats: np.ndarray  # [total_frames, n_mels] float16
    offsets: np.ndarray  # [N + 1]
    tokens: list[list[int]]  # model classes (piece id + 1)
    texts: list[str]
    voices: list[str]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.tokens)

    def frames(self, i: int) -> np.ndarray:
        return self.feats[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, idx) -> FeatureSet:
        parts = [self.frames(i) for i in idx]
        offs = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        return FeatureSet(np.concatenate(parts) if parts else self.feats[:0], offs,
                          [self.tokens[i] for i in idx], [self.texts[i] for i in idx],
                          [self.voices[i] for i in idx], [self.paths[i] for i in idx])


def concat_features(sets: list[FeatureSet]) -> FeatureSet:
    """Several manifests' features as one training set (each keeps its own cache)."""
    if len(sets) == 1:
        return sets[0]
    offs = [sets[0].offsets]
    for fs in sets[1:]:
        offs.append(fs.offsets[1:] + offs[-1][-1])
    return FeatureSet(np.concatenate([fs.feats for fs in sets]), np.concatenate(offs),
                      [t for fs in sets for t in fs.tokens], [t for fs in sets for t in fs.texts],
                      [v for fs in sets for v in fs.voices], [p for fs in sets for p in fs.paths])


def filter_by_augmentation(fs: FeatureSet, min_snr: float = 0.0, max_rt60: float = 0.0
                           ) -> tuple[FeatureSet, dict]:
    """Leave out the synthesized clips that were made harder than asked: added noise below
    ``min_snr`` dB, or synthetic reverb longer than ``max_rt60`` s (0 turns either test off).
    Each clip's augmentation is recomputed from its corpus (:func:`clip_augmentation`); clips
    whose augmentation is unknown (not from ``nnasr synth``) are kept. Returns the kept set
    and counts (``kept``, ``noise``, ``reverb``: left out for each reason, ``unknown``)."""
    from trainer.data.synth import clip_augmentation

    configs: dict = {}
    keep, n_noise, n_reverb, n_unknown = [], 0, 0, 0
    for i, (path, text, voice) in enumerate(zip(fs.paths, fs.texts, fs.voices)):
        aug = clip_augmentation(path, text, voice, configs)
        if aug is None:
            n_unknown += 1
            keep.append(i)
            continue
        noisy = min_snr > 0 and "snr_db" in aug and aug["snr_db"] < min_snr
        reverberant = max_rt60 > 0 and aug.get("rt60", 0.0) > max_rt60
        n_noise += noisy
        n_reverb += reverberant and not noisy
        if not (noisy or reverberant):
            keep.append(i)
    out = fs if len(keep) == len(fs) else fs.subset(keep)
    return out, {"kept": len(keep), "of": len(fs), "noise": n_noise, "reverb": n_reverb, "unknown": n_unknown}


def load_features(manifest: str | os.PathLike, sp, cfg: FrontendConfig | None = None,
                  workers: int = 2, cache_dir: str | os.PathLike | None = None,
                  progress: bool = True, limit: int | None = None) -> FeatureSet:
    """Features and token ids of a manifest, from the cache or computed (with a progress bar)."""
    cfg = cfg or FrontendConfig()
    manifest = Path(manifest)
    recs = read_manifest(manifest)
    if limit:
        recs = recs[:limit]
    h = hashlib.sha1(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    h.update(manifest.read_bytes())
    h.update(str(limit).encode())
    cache_dir = Path(cache_dir) if cache_dir else manifest.parent / "features"
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"{manifest.stem}-{h.hexdigest()[:12]}"
    npy, meta_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        feats = np.load(npy, mmap_mode="r")
        keep = meta["keep"]
    else:
        feats_list, keep, errors = [], [], []
        jobs = [(r["audio_filepath"], cfg) for r in recs]
        ctx = get_context("fork")
        from rich.progress import Progress

        if not progress or not sys.stderr.isatty():  # a log: one line before the silence
            print(f"features of {len(jobs):,} utterances of {manifest} (computed once, kept in {cache_dir})",
                  file=sys.stderr, flush=True)
        with Progress(disable=not progress, transient=True) as bar, ctx.Pool(max(1, workers)) as pool:
            task = bar.add_task(f"features {manifest.name}", total=len(jobs))
            for i, (f, err) in enumerate(pool.imap(_feat_worker, jobs, chunksize=16)):
                bar.advance(task)
                if err or f is None or len(f) < 8:
                    errors.append(err or f"{jobs[i][0]}: too short")
                    continue
                feats_list.append(f)
                keep.append(i)
        lens = [len(f) for f in feats_list]
        feats = np.concatenate(feats_list) if feats_list else np.zeros((0, cfg.n_mels), np.float16)
        # per-process temporary names: ranks of a torchrun job may build the same cache at
        # once; each writes its own file and the atomic replaces leave one whole copy
        tmp = f"{npy}.tmp{os.getpid()}.npy"
        np.save(tmp, feats)
        os.replace(tmp, npy)
        meta = {"keep": keep, "lengths": lens, "errors": errors[:50], "n_errors": len(errors)}
        write_json_atomic(meta_path, meta)
    lens = meta["lengths"]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    kept = [recs[i] for i in keep]
    tokens = [[t + 1 for t in sp.encode(r["text"])] for r in kept]
    return FeatureSet(np.asarray(feats), offsets, tokens, [r["text"] for r in kept],
                      [r.get("voice", "unknown") for r in kept], [r["audio_filepath"] for r in kept])


def global_stats(fs: FeatureSet, max_frames: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per mel bin over (a sample of) the training features."""
    rng = np.random.default_rng(0)
    n = len(fs.feats)
    idx = rng.choice(n, size=min(n, max_frames), replace=False) if n > max_frames else slice(None)
    x = np.asarray(fs.feats[idx], dtype=np.float64)
    return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)


def make_batches(lengths: np.ndarray, max_frames: int, seed: int, epoch: int,
                 shortest_first: bool = False, rank: int = 0, world: int = 1) -> list[list[int]]:
    """Length-bucketed batches of at most ``max_frames`` padded frames, shuffled per epoch.

    ``shortest_first``: batches in increasing length (a curriculum for the first epoch).
    With ``world > 1`` each rank takes every world-th batch (DistributedSampler-style).
    """
    rng = np.random.default_rng(seed * 1000 + epoch)
    order = np.argsort(lengths + rng.uniform(0, 20, len(lengths)), kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = int(lengths[i])
        if cur and max(cur_max, L) * (len(cur) + 1) > max_frames:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(int(i))
        cur_max = max(cur_max, L)
    if cur:
        batches.append(cur)
    if not shortest_first:
        rng.shuffle(batches)
    if world > 1:
        n = (len(batches) // world) * world
        batches = batches[rank:n:world]
    return batches


def collate(fs, idx, device, augment=None, pin=False):
    """Pad a batch; ``augment(frames) -> frames`` is applied per utterance first. ``pin``:
    page-locked CPU tensors (built in a thread, copied to the GPU without blocking)."""
    import torch  # here: feature workers import this module without needing torch
    frames = [np.asarray(fs.frames(i), dtype=np.float32) for i in idx]
    if augment is not None:
        frames = [augment(f) for f in frames]
    lens = torch.tensor([len(f) for f in frames])
    T = int(lens.max())
    x = torch.zeros(len(idx), T, fs.feats.shape[1])
    for j, f in enumerate(frames):
        x[j, : len(f)] = torch.from_numpy(f)
    toks = [fs.tokens[i] for i in idx]
    tl = torch.tensor([len(t) for t in toks])
    y = torch.zeros(len(idx), max(1, int(tl.max())), dtype=torch.long)
    for j, t in enumerate(toks):
        y[j, : len(t)] = torch.tensor(t)
    if pin:
        return x.pin_memory(), lens.pin_memory(), y.pin_memory(), tl.pin_memory()
    return x.to(device), lens.to(device), y.to(device), tl.to(device)


def training_data(cfg, sp, fe: FrontendConfig | None = None, world: int = 1, progress: bool = True, log=print):
    """The run's training features by the front-end ``fe`` (``cfg.train``'s manifests, or
    DATA/train.jsonl; each cached beside itself; filtered by ``min_snr``/``max_rt60``) and
    the first ``eval_utts`` records of DATA/dev.jsonl. Refuses data that would leave a DDP
    rank without a batch."""
    data = Path(cfg.data)
    manifests = [m for m in cfg.train.split(",") if m] or [data / "train.jsonl"]
    fs = concat_features([
        load_features(m, sp, fe, progress=progress, limit=cfg.limit_train or None,
                      workers=cfg.feature_workers or os.cpu_count() or 1) for m in manifests])
    if len(manifests) > 1:
        log(f"training on {len(manifests)} manifests, {len(fs)} utterances")
    if cfg.min_snr > 0 or cfg.max_rt60 > 0:
        fs, n = filter_by_augmentation(fs, cfg.min_snr, cfg.max_rt60)
        log(f"min_snr={cfg.min_snr:g} max_rt60={cfg.max_rt60:g}: training on {n['kept']} of {n['of']} utterances "
            f"({n['noise']} noisier, {n['reverb']} more reverberant left out; {n['unknown']} of unknown "
            "augmentation kept)")
        if not n["kept"]:
            raise ValueError("min_snr/max_rt60 left no training utterance")
    n = len(make_batches(fs.lengths, cfg.max_frames, cfg.seed, 0)) if world > 1 else 1
    if n < world:  # each rank takes every world-th batch (make_batches): some would get none
        raise ValueError(f"{len(fs)} training utterances make {n} batch(es) of max_frames="
                         f"{cfg.max_frames}: fewer than the {world} ranks, each of which needs its "
                         "own; lower max_frames, or train on fewer processes or more data")
    dev = data / "dev.jsonl"
    return fs, (read_manifest(dev)[: cfg.eval_utts] if dev.exists() else [])
