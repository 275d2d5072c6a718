"""The model card's prose around the results table, from stored figures only.

Used by ``benchmarks/model_card.py``: ``card(stored, block)`` renders assets/MODEL_CARD.md from
benchmarks/results/models.json (``stored``), the table block, and
assets/checkpoints/float-corpus.json (what each training phase of the float model ran on).
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.arch import Architecture

ROOT = Path(__file__).resolve().parent.parent
FLOAT_CORPUS = ROOT / "assets" / "checkpoints" / "float-corpus.json"


def float_corpus() -> dict:
    return json.loads(FLOAT_CORPUS.read_text()) if FLOAT_CORPUS.exists() else {}


def phase_labels(n_phases: int) -> list[str]:
    """One label per training phase of the float model: the GPU phase, then float-corpus.json's."""
    conts = float_corpus().get("continued", [])[: max(n_phases - 1, 0)]
    return ["GPU (float corpus's dev split)"] + [c["label"] for c in conts]


def data_section(meta: dict, fc: dict, n_phases: int) -> str:
    c = meta.get("corpus", {})
    held = c.get("held_out_voices", {})
    conts = fc.get("continued", [])[: max(n_phases - 1, 0)]
    if fc:
        t, cf = fc["train"], fc["synth_config"]
        float_desc = (f"{t['hours']:.1f} h, {t['utterances']:,} utterances, all distinct texts "
                      f"({100 * cf['gloss_fraction']:.0f} % WordNet definition clauses, "
                      f"{100 * cf['short_fraction']:.0f} % short utterances, the rest WordNet example "
                      f"sentences), {t.get('voices_used', '?')} espeak-ng/mbrola/flite voices, synthesized on the GPU "
                      f"machine with `scripts/tts_bundle.sh` voices, plus {fc['extra']['utterances']:,} festival/pico "
                      f"utterances ({fc['extra']['hours']:.1f} h) of the local corpus "
                      f"(`assets/checkpoints/float-corpus.json`).")
        if conts:
            float_desc += f" Continued in {len(conts)} more phase(s), the last on {conts[-1]['hours']:.1f} h (Training, below)."
    else:
        float_desc = f"trained on `{meta.get('data')}` (below)."
    return f"""## Data

* Synthetic speech only: Kokoro neural voices and their blends, RHVoice, Piper and Debian's
  formant and diphone voices (`docs/data.md`); everyday text from the project's templates, short
  utterances and WordNet sentences, normalized (lowercase, numbers spelled out), train/dev/test
  split by a hash of the text. Real recordings only in the human dev set, never trained on.
* Float model: {float_desc}
* AAT, pruning (unless Training, below, names other manifests), PTQ calibration and every evaluation below: the corpus in `{meta.get('data')}`, made by
  `make models` (`nnasr synth --hours $HOURS --engine-weights $ENGINE_WEIGHTS`, scripts/make_models.sh):
  train {c.get('train_utterances', '?')} utterances, {c.get('train_hours', '?')} h,
  {c.get('train_voice_count', '?')} voices ({c.get('train_voices', '')}), augmented (speed, noise, reverb, microphone and
  telephone channels, gain, soft clipping, babble; `docs/data.md`). AAT and pruning also train on the
  corpus of words said alone, letters and spellings in `{meta.get('words', 'data/words')}` (`nnasr synth
  --words-fraction 1 --hours $WORDS_HOURS`), whose test split is the words & letters column,
  and in the further words corpora of `$MORE_WORDS` (`--words-fraction 1 --seed SEED --hours HOURS`
  for each `DIR:SEED:HOURS`, training splits only).
* **Speaker-disjoint**: dev voices {', '.join(held.get('dev', []))}; test voices
  {', '.join(held.get('test', []))}. Test WER therefore measures an unseen voice reading an
  unseen sentence.
"""


def architecture_section(stored: dict) -> str:
    arch = stored["meta"]["float_checkpoint"].get("arch", {})
    params = next((r["params"] for r in stored["systems"].values() if r.get("params")), 0)
    predictor = Architecture(**{"num_classes": 257, **arch}).predictor  # the defaults where unknown
    return f"""## Architecture

RNN-T: log-mel 80 (25 ms / 10 ms, engine front-end, global mean/var) -> stack {arch.get('stack', 4)} frames ->
{arch.get('enc_layers', 3)} x LSTM {arch.get('enc_hidden', 256)} with x2 time reduction after layer {arch.get('reduce_after', 1)}
(80 ms encoder frames) -> joiner {arch.get('joiner_dim', 256)} (tanh) -> {arch.get('num_classes', 257)} classes
(blank + {arch.get('num_classes', 257) - 1} sentencepiece pieces); predictor: {predictor}.
{params:,} parameters. NNA: `engine/profiles/reference-speaker.json`
(int8 weights per channel, int8 activations, int16 Q3.12 gates, Q4.11 cell, 256-entry LUTs).
"""


def training_section(stored: dict, fc: dict) -> str:
    meta, ck = stored["meta"], stored["meta"]["float_checkpoint"]
    conts = fc.get("continued", [])[: max(ck.get("phases", 1) - 1, 0)]
    corpus_h = fc["train"]["hours"] + fc["extra"]["hours"] if fc else None
    gpu = {"step": f"{ck.get('step', 0):,}", "wall_h": ck.get("wall_h", 0), "audio_h": ck.get("audio_h", 0)}
    continued = ""
    if conts:  # float-corpus.json says where each phase ended (the next one's "from") and what followed
        f = conts[0]["from"]
        gpu = {"step": f"{f['step']:,}", "wall_h": f["wall_seconds"] / 3600, "audio_h": f["audio_h"]}
        ends = [c["from"] for c in conts[1:]] + [{"step": ck["step"], "wall_seconds": ck["wall_h"] * 3600,
                                                  "audio_h": ck["audio_h"]}]
        for c, end in zip(conts, ends):
            start = c["from"]
            continued += (f"\n* Then continued on {c['where']}: {end['step']:,} steps, "
                          f"{(end['wall_seconds'] - start['wall_seconds']) / 60:.0f} min, "
                          f"{end['audio_h'] - start['audio_h']:.0f} h of audio, on {c['hours']:.1f} h "
                          f"({c['utterances']:,} utterances): {c['what']}. "
                          f"Command: `{c['command']}`.")
    if ck.get("averaged_steps"):  # written by `python -m trainer.checkpoint compact ... --average K`
        continued += (f" The kept weights are the mean of the last {len(ck['averaged_steps'])} snapshots "
                      f"(steps {', '.join(f'{x:,}' for x in ck['averaged_steps'])}).")

    def steps(name):  # a fine-tune's step count, from the exported model's facts
        return stored["systems"].get(name, {}).get("facts", {}).get("training_steps", "?")

    runs = str(Path(ck.get("path", "runs/float/last.pt")).parent.parent)
    # the split the shipped file records (nnasr export), else the one its run was found with
    csp = stored["systems"].get("aat-csp", {})
    csp_layers = csp.get("facts", {}).get("prune_layers") or csp.get("run", {}).get("layers", "all")
    own = own_training_minutes(stored, ck)
    recipe = "* Whole recipe: `make models` (`scripts/make_models.sh`) from the committed float checkpoint"
    if own:
        recipe += ("; each model's own training, as its file records it: "
                   + ", ".join(f"{n} {m:.0f} min" for n, m in own.items()))
    wall = meta.get("wall_seconds") or 0
    if wall and wall >= 60 * sum(own.values()):  # less: a rerun that found the runs finished
        recipe += f"; {wall / 3600:.1f} h wall clock in all"
    return f"""## Training

* Float: trained from scratch on one H200 GPU: {gpu['step']} steps, {gpu['wall_h'] * 60:.1f} min of training,
  {gpu['audio_h']:.0f} h of audio seen{f" (~{gpu['audio_h'] / corpus_h:.0f} epochs)" if corpus_h else ''}; RNN-T + 0.3 CTC,
  SpecAugment, tempo and gain perturbation, encoder dropout 0.15, AdamW 2e-3 then 1e-3.
  Commands: `docs/training.md`, `docs/experiments.md`.{continued}
* AAT: `nnasr train --init {ck.get('path')} --aat --out {runs}/aat --steps {steps('aat')} --set lr=1e-4 warmup=20 max_frames=4000`.
* AAT at 4-bit weights (aat-w4): the same with `--weight-bits 4 --out {runs}/aat-w4 --steps {steps('aat-w4')}`; ptq-w4 is
  `nnasr export {ck.get('path')} --weight-bits 4`, the float model quantized after training at 4 bits.
{pruning_bullets(ck, csp.get('run', {}), runs, steps, csp_layers, meta.get('data', 'data/corpus'))}
{recipe}.
"""


def own_training_minutes(stored: dict, ck: dict) -> dict[str, float]:
    """Minutes each shipped fine-tune trained beyond the float checkpoint it started from
    (a model file's ``training_wall_s`` counts its whole lineage; a pruned model's includes
    its float pruning stage)."""
    base = ck.get("wall_h", 0) * 3600
    out = {}
    for name, r in stored["systems"].items():
        w = r.get("facts", {}).get("training_wall_s")
        if w is not None and base and w - base >= 30:  # the float model itself, quantized: none
            out[name] = (w - base) / 60
    return out


def _set_args(cfg: dict, keys: tuple[str, ...]) -> str:
    return " ".join(f"{k}={cfg[k]}" for k in keys if k in cfg)


def pruning_bullets(ck: dict, run: dict, runs: str, steps, csp_layers: str, data: str = "data/corpus") -> str:
    """How aat-csp and aat-mag were made (``run``: the aat-csp row's facts of its run,
    model_card.pruning_run_facts): a widened float model pruned in float steps, then AAT with
    the zeros held (make models' default), or the AAT model pruned (PRUNE_WIDTH=0), on the
    manifests the run names. ``ck``: the float checkpoint's facts."""
    train = run.get("train", "")
    on = f" --train {train.replace(',', ' ')}" if train else ""
    fl = run.get("float")
    if fl:
        cfg = fl["config"]
        keys = ("init_enc_hidden", "lr", "warmup", "decay_frac", "max_frames", "prune_start", "prune_end",
                "prune_every", "prune_layers", "dropout", "tempo", "gain_db", "warp", "tilt", "inter_ctc_weight")
        text = (f"* AAT+CSP (a wider model pruned): the float model's encoder grown from {ck['arch'].get('enc_hidden')} "
                f"to {run.get('enc_hidden')} units (the same function) and pruned in float steps, "
                f"`nnasr train --init {ck.get('path')}{on} --prune csp --sparsity 0.8 --out {runs}/aat-csp-float "
                f"--steps {fl['steps']} --set {_set_args(cfg, keys)}`, then AAT with the zeros held, `nnasr train "
                f"--init {runs}/aat-csp-float/last.pt{on} --aat --prune csp --sparsity 0.8 --out {runs}/aat-csp "
                f"--steps {steps('aat-csp')} --set lr=1e-4 warmup=20 max_frames=4000 prune_layers={csp_layers}` "
                f"(per-group final sparsity of the stored matrices). The pruning takes the grown units "
                f"first: the sparsity column gives that of what runs, without the units no op reads "
                f"(`docs/pruning.md`, \"What the width leaves\").")
        rest = f"`--prune magnitude`, `{runs}/aat-mag-float` and `{runs}/aat-mag`"
    else:
        text = (f"* AAT+CSP: `nnasr train --init {runs}/aat/last.pt{on} --aat --prune csp --sparsity 0.8 --out "
                f"{runs}/aat-csp --steps {steps('aat-csp')} --set lr=3e-4 warmup=10 max_frames=4000 prune_start=0.05 "
                f"prune_end=0.6 prune_every=20 prune_layers={csp_layers}` (per-group final sparsity; `all` = 0.8 "
                f"everywhere).")
        rest = f"`--prune magnitude --out {runs}/aat-mag --steps {steps('aat-mag')}`"
    if train and f"{data}/train.jsonl" not in train.split(","):
        text += (f" These runs trained on `{train.replace(',', '`, `')}`, not on the corpus above (`make models`' "
                 "`PRUNE_TRAIN`; `docs/training.md` says how they were made).")
    return (text + f"\n* The pruning baseline (aat-mag): the same with {rest}\n"
            "  (gradual magnitude pruning: every `prune_every` steps the smallest weights of each group go).")


def curve_section(stored: dict, fc: dict) -> str:
    ck = stored["meta"]["float_checkpoint"]
    labels = phase_labels(ck.get("phases", 1))
    names = [lb.split(" (")[0] for lb in labels]  # a label without its dev set, for tables and captions
    conts = fc.get("continued", [])[: len(labels) - 1]
    dev_voices = ", ".join(fc["held_out_voices"]["dev"]) if fc else "the dev split's voices"
    curve = "\n".join(f"| {names[i]} | {w:.2f} | {a:.1f} | {100 * x:.1f} |" for i, w, a, x in ck.get("curve", []))
    return f"""Dev WER during training (engine float reference, greedy, 100 dev utterances of each phase's own dev set:
GPU, the float corpus's dev split ({dev_voices}){"".join(f"; {n}, {c['dev']}" for n, c in zip(names[1:], conts))}),
from the checkpoint's history (plot: `benchmarks/results/float_curve.png`). Wall hours and audio hours
are cumulative over the phases.

| phase | wall h | audio h seen | dev WER % |
|---|---|---|---|
{curve}
"""


def card(stored: dict, block: str) -> str:
    """assets/MODEL_CARD.md."""
    meta = stored["meta"]
    fc = float_corpus()
    ck = meta["float_checkpoint"]
    fl = stored["systems"].get("float", {})
    first = next(iter(fl.get("results", {}).values()), {}).get("beam1", {})
    tw = fl.get("torch", {})
    parity = "" if not tw or not first else (
        f"Training vs engine (float): the float checkpoint decoded greedily by torch itself gives "
        f"{tw['wer']:.2%} WER ({tw['cer']:.2%} CER) on the test split, its export in the "
        f"engine's float reference {first['wer']:.2%} ({first['cer']:.2%}): "
        f"{abs(first['wer'] - tw['wer']) * 100:.2f} points apart (the bound is 0.2). "
        f"`nnasr eval --model {ck.get('path')} --manifest {meta.get('data')}/test.jsonl --mode torch` "
        f"against `--mode float`.\n\n")
    return f"""# Model card: nnasr shipped models

Generated by `python benchmarks/model_card.py`: the figures in the results below were measured
by `{meta['command']}` on {meta['date']} ({meta['machine']}); rerun it to reproduce.
Training figures come from the float checkpoint's own history (`{ck.get('path')}`).

{data_section(meta, fc, ck.get('phases', 1))}
{architecture_section(stored)}
{training_section(stored, fc)}
## Results

Test: the unseen-voice test split. Human dev: real recordings from Debian packages, never
trained on (`nnasr synth --human --out data/human`, `docs/data.md`). Seen voices: the same test
sentences spoken by training voices (`python benchmarks/make_seen_voice_test.py`). Peers
(`pip install 'nnasr[peers]'`) are measured by the same command when installed.

{block}

Host latency is measured (wall clock, that machine, numpy integer emulator); NNA latency is
modeled by the cost model of the reference profile (README, "How the NNA emulator and cost
model work"). Reproduce one row: `nnasr eval --model assets/models/aat.nnasr --manifest {meta.get('data')}/test.jsonl`
(greedy; add `--beam 4` for the beam column).

{parity}{curve_section(stored, fc)}
## What these models are good and bad at

* They have heard **synthetic voices only** (Kokoro, RHVoice, Piper and formant/diphone
  voices). On a new voice reading a new sentence they get many words wrong (the test columns);
  what they emit is often phonetically close to the audio but not the right words. On words
  said alone and letters by new voices they do better than both peers (the words & letters
  column); on real people they are behind pocketsphinx (the human dev column). Use them to
  exercise the pipeline, the NNA emulator and the latency tooling, and as a starting point for
  more training, not to transcribe.
* The quality bars of the product (below pocketsphinx on people, WER <= 15 % on unseen voices)
  are **not met** (`docs/experiments.md` has the measurements and what to try next); training
  resumes from the committed checkpoint (`assets/checkpoints/float.pt`).
* To train on real speech: write JSONL manifests (`audio_filepath`, `text`, `duration`) or import
  LibriSpeech with `nnasr synth --from-librispeech DIR --out data/libri`, then
  `nnasr train --data data/libri --out runs/libri` (one GPU: same command; many GPUs:
  `torchrun --nproc_per_node N -m app train ...`).
"""
