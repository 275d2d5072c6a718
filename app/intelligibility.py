"""Can a real-speech recognizer understand the corpus? ``nnasr synth --check-intelligibility``.

A sample of every voice's clips is transcribed by a peer (whisper tiny.en by default,
:mod:`app.peers`), scored against the clip's text with the same normalizer and WER code as
``nnasr compare``, and reported per engine and per voice. ``--drop-above W`` drops the clips
whose own WER is above ``W``: they are recorded in the corpus's ``dropped.jsonl`` (reason
``unintelligible``), so a later ``nnasr synth`` run never makes them again and fills their
hours with other clips, and the manifests are rewritten without them.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from app.comparison import normalizer, word_error_rate
from trainer.data.text import as_spelled


def _sample(records: list[dict], per_voice: int, max_clips: int, seed: int,
            min_per_engine: int = 12) -> list[dict]:
    """``per_voice`` clips of every voice, at least ``min_per_engine`` of every engine group
    (spread over its voices: one Piper voice still gets a sample worth reading), and at
    most ``max_clips`` in all, shared equally among the groups (espeak-ng's hundreds of
    variants do not crowd out the others)."""
    by_voice: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r["text"].strip():
            by_voice[r["voice"]].append(r)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = defaultdict(list)
    for v in sorted(by_voice):
        groups[_group(v)].append(v)
    cap = max(min_per_engine, max_clips // max(1, len(groups)))
    picked: list[dict] = []
    for _, voices in sorted(groups.items()):
        want = min(cap, max(min_per_engine, per_voice * len(voices)))
        queues = {v: [by_voice[v][int(i)] for i in rng.permutation(len(by_voice[v]))] for v in voices}
        order = [voices[int(i)] for i in rng.permutation(len(voices))]
        got: list[dict] = []
        while len(got) < want and any(queues.values()):
            for v in order:
                if queues[v] and len(got) < want:
                    got.append(queues[v].pop())
        picked += got
    return picked


def _group(voice: str) -> str:
    engine, _, name = voice.partition(":")
    if engine == "kokoro" and name.startswith("blend-"):
        return "kokoro-blend"
    return engine


def check(corpus: str, peer: str = "whisper-tiny", splits=("train", "dev", "test"),
          per_voice: int = 2, max_clips: int = 300, drop_above: float | None = None,
          seed: int = 0, log=print) -> dict:
    """Score a sample of each split's clips with ``peer``; write ``intelligibility.json``
    in the corpus; with ``drop_above``, drop the clips above that WER. Returns the report."""
    from app import peers as P

    norm = normalizer()
    rec_peer = P.load(peer)
    root = Path(corpus)
    report: dict = {"peer": peer, "per_voice": per_voice, "splits": {}}
    dropped: list[dict] = []
    t0 = time.time()
    for split in splits:
        path = root / f"{split}.jsonl"
        if not path.exists():
            continue
        records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        sample = _sample(records, per_voice, max_clips, seed)
        rows = []
        for i, r in enumerate(sample):
            hyp = norm(rec_peer.run_file(root / r["audio_filepath"]).text)
            ref = norm(r["text"])
            if ref and all(len(w) == 1 for w in ref.split()):  # a letter or a spelling
                hyp = as_spelled(hyp)
            rows.append((r, ref, hyp, word_error_rate([ref], [hyp]) or 0.0))
            if (i + 1) % 25 == 0:
                log(f"intelligibility: {split} {i + 1}/{len(sample)} clips, {time.time() - t0:.0f} s")
        by: dict[str, dict[str, list]] = {"engine": defaultdict(list), "voice": defaultdict(list)}
        for r, ref, hyp, _ in rows:
            by["engine"][_group(r["voice"])].append((ref, hyp))
            by["voice"][r["voice"]].append((ref, hyp))

        def wer(pairs):
            return round(word_error_rate([a for a, _ in pairs], [b for _, b in pairs]) or 0.0, 4)

        report["splits"][split] = {
            "clips": len(rows),
            "wer": wer([(a, b) for _, a, b, _ in rows]) if rows else None,
            "wer_by_engine": {k: {"wer": wer(v), "clips": len(v)} for k, v in sorted(by["engine"].items())},
            "wer_by_voice": {k: wer(v) for k, v in sorted(by["voice"].items())},
            "worst": [{"voice": r["voice"], "ref": ref, "hyp": hyp, "wer": round(w, 3),
                       "audio": r["audio_filepath"]}
                      for r, ref, hyp, w in sorted(rows, key=lambda x: -x[3])[:10]],
        }
        if drop_above is not None:
            bad = {r["audio_filepath"] for r, _, _, w in rows if w > drop_above}
            if bad:
                dropped += _drop(root, split, records, bad)
    report["dropped"] = len(dropped)
    report["wall_s"] = round(time.time() - t0, 1)
    tmp = root / f"intelligibility.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, root / "intelligibility.json")
    return report


def _drop(root: Path, split: str, records: list[dict], bad: set[str]) -> list[dict]:
    from trainer.data.manifest import write_manifest
    from trainer.data.synth import clip_key

    recs = []
    with open(root / "dropped.jsonl", "a", encoding="utf-8") as f:
        for r in records:
            if r["audio_filepath"] in bad:
                key = clip_key(r["audio_filepath"])
                if key is None:
                    continue
                rec = {"key": key, "split": split, "voice": r["voice"], "text": r["text"],
                       "reason": "unintelligible", "detail": "intelligibility check"}
                f.write(json.dumps(rec) + "\n")
                recs.append(rec)
    keep = [r for r in records if r["audio_filepath"] not in bad]
    write_manifest(root / f"{split}.jsonl", keep)
    return recs


def print_report(rep: dict) -> None:
    print(f"intelligibility ({rep['peer']}, {rep['per_voice']} clips per voice, "
          f"{rep['wall_s']:.0f} s):")
    for split, s in rep["splits"].items():
        if not s["clips"]:
            continue
        print(f"  {split:<5} WER {100 * s['wer']:5.1f} % on {s['clips']} clips")
        for eng, e in s["wer_by_engine"].items():
            print(f"        {eng:<14} {100 * e['wer']:5.1f} %  ({e['clips']} clips)")
        worst = sorted(s["wer_by_voice"].items(), key=lambda kv: -kv[1])[:5]
        print("        hardest voices: " + ", ".join(f"{v} {100 * w:.0f} %" for v, w in worst))
    if rep.get("dropped"):
        print(f"  dropped {rep['dropped']} unintelligible clips (dropped.jsonl); rerun "
              "`nnasr synth` with the same options to fill their hours")
