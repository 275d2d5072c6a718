"""Shared test helpers: tiny tokenizers and random-weight engine models (numpy only)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

TEXT = [
    "turn on the light", "turn off the light", "what time is it", "play some music",
    "stop", "yes", "no", "one two three four five", "the quick brown fox jumps over the lazy dog",
    "hello world", "good morning", "set a timer for ten minutes", "open the door",
    "how is the weather today", "call my mother", "next song please",
]


def tokenizer_proto(vocab_size: int = 40) -> bytes:
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXT * 20), model_writer=buf, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
        minloglevel=2,
    )
    return buf.getvalue()


def make_random_model(path: Path, *, seed: int = 0, sparsity: float = 0.0, hidden: int = 32,
                      layers: int = 2, weight_bits: int = 8, float_ops=None, placement=None,
                      vocab_size: int = 40, blank_bias: float = 0.0, enc_gain: float = 1.0,
                      out_gain: float = 1.0, **arch_kw):
    """A random-weight model file. ``enc_gain`` scales the encoder and ``join.enc`` weights:
    a gain of 2 with ``seed=1, blank_bias=0.5`` gives a model that emits tokens on
    :func:`speechlike` bursts and none on digital silence (used by endpointing tests).
    ``out_gain`` scales the joiner's output weights: a peaked output distribution, as a
    trained model has (a flat one makes the most probable label sequence empty)."""
    import sentencepiece as spm

    from engine.frontend import FrontendConfig
    from engine.model import Architecture, save_model
    from engine.nna.spec import NNASpec
    from engine.quantize import build_tensors, random_params

    proto = tokenizer_proto(vocab_size)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto)
    arch = Architecture(num_classes=sp.get_piece_size() + 1, enc_hidden=hidden, enc_layers=layers,
                        pred_embed=hidden // 2, pred_hidden=hidden, joiner_dim=hidden, **arch_kw)
    spec = NNASpec(weight_bits=weight_bits)
    params = random_params(arch, seed=seed, sparsity=sparsity)
    # a strong blank bias makes random models emit a few tokens, not one per frame
    params["join.out.b"][0] += blank_bias
    if out_gain != 1.0:
        params["join.out.w"] = params["join.out.w"] * np.float32(out_gain)
    if enc_gain != 1.0:
        for k in params:
            if k.startswith("enc.") or k.startswith("join.enc."):
                params[k] = params[k] * np.float32(enc_gain)
    tensors = build_tensors(params, arch, spec, in_scale=4.0 / 127, out_scale=8.0 / 32767,
                            mean=np.full(arch.n_mels, -5.0, np.float32),
                            std=np.full(arch.n_mels, 3.0, np.float32), float_ops=float_ops)
    return save_model(path, arch=arch, frontend=FrontendConfig(), spec=spec,
                      placement=placement or {}, tensors=tensors, tokenizer_proto=proto,
                      facts={"kind": "random test model"})


def speechlike(seconds: float = 3.0, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A deterministic signal with syllable-like bursts and pauses (not real speech)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    env = (np.sin(2 * np.pi * 3.0 * t) > 0.2).astype(np.float32)
    x = 0.3 * np.sin(2 * np.pi * (150 + 50 * np.sin(2 * np.pi * 0.5 * t)) * t) * env
    x += 0.02 * rng.standard_normal(n)
    return x.astype(np.float32)


def make_tiny_corpus(out: Path, sentences=None, voice: str = "en-us", vocab_size: int = 40) -> Path:
    """A few espeak-ng utterances with manifests and a tokenizer (needs espeak-ng)."""
    import json
    import shutil
    import subprocess

    import soundfile as sf

    from engine.audio import load_audio

    if shutil.which("espeak-ng") is None:
        import pytest

        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    sentences = sentences or TEXT[:6]
    recs = []
    for i, s in enumerate(sentences):
        wav = out / "audio" / f"u{i}.wav"
        if not wav.exists():
            raw = out / "audio" / f"raw{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), s], check=True)
            x = load_audio(raw)
            sf.write(wav, x, 16000, subtype="PCM_16")
            raw.unlink()
        recs.append({"audio_filepath": f"audio/u{i}.wav", "text": s,
                     "duration": sf.info(wav).duration, "voice": voice})
    for split in ("train", "dev", "test"):
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (out / "tokenizer.model").write_bytes(tokenizer_proto(vocab_size))
    return out


def pseudo_word_tokenizer_proto() -> bytes:
    """A 256-piece sentencepiece model (num_classes = 257), trained on pseudo-words."""
    import io

    import sentencepiece as spm

    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    sents = [" ".join("".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(rng.integers(3, 12)))
             for _ in range(1500)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sents), model_writer=buf, vocab_size=256,
                                   model_type="unigram", character_coverage=1.0, minloglevel=2,
                                   num_threads=1)
    return buf.getvalue()


def read_model_file(path) -> tuple[dict, dict]:
    """A .nnasr file's raw tensors and its parsed metadata."""
    import json

    from safetensors import safe_open

    from engine.model import METADATA_KEY

    with safe_open(str(path), framework="numpy") as f:
        md = f.metadata()
        raw = {k: f.get_tensor(k) for k in f.keys()}
    return raw, json.loads(md[METADATA_KEY])


def rewrite_model_file(src, dst, tensors_fn=None, meta_fn=None) -> Path:
    """Copy a .nnasr file with its tensors and/or metadata edited in place by the callbacks
    (for tests of what the loader accepts and refuses)."""
    import json

    from safetensors.numpy import save_file

    from engine.model import METADATA_KEY

    raw, meta = read_model_file(src)
    if tensors_fn:
        tensors_fn(raw)
    if meta_fn:
        meta_fn(meta)
    save_file(raw, str(dst), metadata={METADATA_KEY: json.dumps(meta)})
    return Path(dst)


def feed(rec, audio: np.ndarray, rate: int, sizes=None):
    """A finished stream of ``rec`` fed ``audio`` whole, or in pieces of ``sizes`` samples
    (the rest after them)."""
    s = rec.create_stream()
    if sizes is None:
        s.accept_waveform(audio, rate)
    else:
        i = 0
        for n in sizes:
            s.accept_waveform(audio[i: i + n], rate)
            i += n
        s.accept_waveform(audio[i:], rate)
    s.input_finished()
    return s
