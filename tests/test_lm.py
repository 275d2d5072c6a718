"""The decoder's n-gram language model: the numpy Kneser-Ney build equals a plain
dictionary implementation, every distribution sums to one (pruned too), fusion with
weight 0 decodes exactly as without an LM, streaming equals offline with an LM, and a
mismatched or wrong file is refused with a clear error."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
import sentencepiece as spm
from helpers import TEXT, feed, make_random_model, speechlike, tokenizer_proto

import engine
from engine.lm import NgramLM
from engine.recognizer import EndpointConfig, Recognizer
from trainer.lm import _discount, build_lm_file

NO_EP = EndpointConfig(enabled=False)


@pytest.fixture(scope="module")
def sp():
    p = spm.SentencePieceProcessor()
    p.LoadFromSerializedProto(tokenizer_proto())
    return p


def _reference_kn(seqs, order, V):
    """Interpolated Kneser-Ney written rule by rule with dictionaries (no pruning)."""
    eos, base = V, V + 1
    raw = [Counter() for _ in range(order + 1)]
    for s in seqs:
        toks = [eos] + s + [eos]
        for j in range(1, len(toks)):
            for n in range(1, order + 1):
                if j - (n - 1) >= 0:
                    raw[n][tuple(toks[j - n + 1 : j + 1])] += 1
    adj = [None] * (order + 1)
    adj[order] = raw[order]
    for n in range(order - 1, 0, -1):
        left = defaultdict(set)
        for g in raw[n + 1]:
            left[g[1:]].add(g[0])
        adj[n] = Counter({g: (c if (n >= 2 and g[0] == eos) else len(left[g]) or c)
                          for g, c in raw[n].items()})
    d = [None] + [_discount(np.array(list(adj[n].values()))) for n in range(1, order + 1)]
    tot1 = sum(adj[1].values())

    def p(w, ctx):
        if not ctx:
            return max(adj[1].get((w,), 0) - d[1], 0) / tot1 + d[1] * len(adj[1]) / tot1 / base
        n = len(ctx) + 1
        hs = {g: c for g, c in adj[n].items() if g[:-1] == ctx}
        if not hs:
            return p(w, ctx[1:])
        a_h = sum(hs.values())
        return max(hs.get(ctx + (w,), 0) - d[n], 0) / a_h + d[n] * len(hs) / a_h * p(w, ctx[1:])

    return p


def test_kneser_ney_build_equals_reference(sp, tmp_path):
    texts = TEXT[:10]
    path = build_lm_file(tmp_path / "t.lm", texts, tokenizer_proto(), order=3, prune=0)
    lm = NgramLM(path)
    V = sp.get_piece_size()
    ref = _reference_kn([sp.encode(t) for t in texts], 3, V)
    for hist in ([], sp.encode("turn on"), sp.encode("the quick brown"), [5, 5, 5], sp.encode("zebra")):
        got = lm.probs(hist)
        ctx = tuple(([V] + list(hist))[-2:])
        want = np.array([ref(w, ctx) for w in range(V + 1)])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
        assert got.sum() == pytest.approx(1.0, abs=1e-5)


def test_every_distribution_sums_to_one_with_pruning(sp, tmp_path):
    texts = TEXT * 3 + ["turn on the music", "what is the time", "open the light"]
    lm = NgramLM(build_lm_file(tmp_path / "p.lm", texts, tokenizer_proto(), order=5, prune=2))
    rng = np.random.default_rng(0)
    hists = [sp.encode(t)[:k] for t in TEXT for k in range(6)] + [list(rng.integers(0, 40, 5)) for _ in range(20)]
    for h in hists:
        p = lm.probs(h)
        assert p.sum() == pytest.approx(1.0, abs=1e-5) and p.min() > 0
    # the LM prefers training-like text
    good = sp.encode("turn on the light")
    bad = sp.encode("light the on turn")
    assert lm.sentence_logprob(good) > lm.sentence_logprob(bad) + 5
    assert lm.describe()["order"] == 5 and lm.facts["texts"] == len(texts)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmrec")
    m = engine.load_model(make_random_model(d / "peaky.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5,
                                            out_gain=16.0))
    lm = NgramLM(build_lm_file(d / "m.lm", TEXT, m.tokenizer_proto, order=4))
    return m, lm


def _decode(rec, audio, sizes=None):
    return [(r.token_ids, r.timestamps) for r in feed(rec, audio, 16000, sizes).finals]


def test_fusion_weight_zero_is_plain_search_and_weight_changes_output(model):
    m, lm = model
    audio = np.concatenate([speechlike(4.0, seed=4), np.zeros(8000, np.float32)])
    for beam in (1, 3):
        # vad=False: the decoder on every frame (a random model's beam search on the speech
        # gate's frames alone can end empty; the gate: tests/test_speech_gate.py)
        plain = _decode(Recognizer(m, beam=beam, endpoint=NO_EP, vad=False), audio)
        assert sum(len(r[0]) for r in plain) > 3
        zero = _decode(Recognizer(m, beam=beam, endpoint=NO_EP, lm=lm, lm_weight=0.0, lm_bonus=0.0, vad=False), audio)
        assert zero == plain
        fused = _decode(Recognizer(m, beam=beam, endpoint=NO_EP, lm=lm, lm_weight=2.0, lm_bonus=0.0, vad=False), audio)
        assert fused != plain  # a strong LM moves a random model's output
        # the fused output is what the LM likes better, per emitted token
        ids = [i - 1 for r in fused for i in r[0]]
        ids0 = [i - 1 for r in plain for i in r[0]]
        assert lm.sentence_logprob(ids) / (len(ids) + 1) > lm.sentence_logprob(ids0) / (len(ids0) + 1)


def test_streaming_equals_offline_with_lm(model):
    m, lm = model
    audio = np.concatenate([speechlike(3.0, seed=4), np.zeros(32000, np.float32), speechlike(2.0, seed=4)])
    rng = np.random.default_rng(3)
    kw = dict(lm=lm, lm_weight=0.5, lm_bonus=1.5, vad=False)  # every frame (see above)
    for beam in (1, 3):
        ref = _decode(Recognizer(m, chunk_ms=160, beam=beam, **kw), audio)
        assert sum(len(r[0]) for r in ref) > 3
        for chunk_ms in (80, 320):
            sizes = [int(rng.choice([1, 160, 2560, 5000, 12345])) for _ in range(20)]
            assert _decode(Recognizer(m, chunk_ms=chunk_ms, beam=beam, **kw), audio, sizes) == ref


def test_wrong_lm_files_are_refused(model, tmp_path):
    m, lm = model
    other = build_lm_file(tmp_path / "o.lm", TEXT, tokenizer_proto(vocab_size=30), order=2)
    with pytest.raises(ValueError, match="another tokenizer"):
        Recognizer(m, lm=other)
    with pytest.raises(FileNotFoundError):
        Recognizer(m, lm=tmp_path / "none.lm")
    junk = tmp_path / "junk.lm"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not an nnasr language model"):
        NgramLM(junk)
    assert math.isfinite(lm.sentence_logprob([1, 2, 3]))


def test_lm_command(model, tmp_path, capsys):
    from app.cli import main

    m, _ = model
    txt = tmp_path / "domain.txt"
    txt.write_text("Turn ON the light!\n\nset a timer for 10 minutes\n")
    out = tmp_path / "d.lm"
    assert main(["lm", "--model", str(m.path), "--no-pool", "--text", str(txt), "--out", str(out),
                 "--order", "3"]) == 0
    lm = NgramLM(out)
    assert lm.order == 3 and lm.facts["texts"] == 2 and lm.facts["sources"] == {str(txt): 2}
    lm.check_tokenizer(m.tokenizer_proto)
    assert main(["lm", "--model", str(m.path), "--no-pool", "--out", str(out)]) == 2
    assert "no text" in capsys.readouterr().err


def test_eval_with_lm(model, tmp_path, capsys):
    """`nnasr eval --lm`: a matching LM decodes; a wrong one is one error line, exit 2."""
    import json

    import soundfile as sf

    from app.cli import main

    m, _ = model
    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(2.0, seed=4), 16000)
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"audio_filepath": str(wav), "text": "turn on the light", "duration": 2.0}) + "\n")
    good = build_lm_file(tmp_path / "g.lm", TEXT, m.tokenizer_proto, order=3)
    other = build_lm_file(tmp_path / "o.lm", TEXT, tokenizer_proto(vocab_size=30), order=3)
    base = ["eval", "--model", str(m.path), "--manifest", str(man), "--beam", "2"]
    assert main(base + ["--lm", str(good)]) == 0
    assert "WER" in capsys.readouterr().out
    assert main(base + ["--lm", str(other)]) == 2
    err = capsys.readouterr().err
    assert "another tokenizer" in err and err.count("\n") == 1
