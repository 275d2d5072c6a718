"""Hotwords (contextual biasing, engine/context.py): the automaton's two invariants against
brute force (its state is the longest phrase prefix that ends the tokens; a finished token
sequence has gained exactly the bonus of every phrase it contains, wherever and however
often, and nothing for phrases begun and abandoned); score 0 decodes exactly as without
hotwords; streaming equals offline; on the shipped model and the demo recording the known
commands come out right; the commands read, normalize and refuse files as a user needs."""

from __future__ import annotations

import json

import jiwer
import numpy as np
import pytest
from helpers import feed, make_random_model, speechlike

import engine
from engine.context import ContextGraph, read_hotwords
from engine.recognizer import EndpointConfig, Recognizer

NO_EP = EndpointConfig(enabled=False)


def _contains(seq, p) -> int:
    return sum(seq[i:i + len(p)] == p for i in range(len(seq) - len(p) + 1))


@pytest.mark.parametrize("seed", range(6))
def test_state_and_final_score_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    V = 5  # a small alphabet: phrases overlap, share prefixes and end inside each other
    phrases = [rng.integers(0, V, size=rng.integers(1, 5)).tolist() for _ in range(8)]
    scores = [float(rng.choice([-1.0, 0.5, 1.0, 2.0])) for _ in phrases]  # some given twice
    g = ContextGraph(phrases, scores, V)
    prefixes = {tuple(p[:i]) for p in phrases for i in range(len(p) + 1)}
    # on the way a prefix shared by phrases of different scores earns the largest, token by
    # token; a completed phrase gains its own length x score (given twice: the larger)
    own = {}
    for p, s in zip(phrases, scores):
        own[tuple(p)] = max(own.get(tuple(p), -np.inf), len(p) * s)
    token_bonus = {}
    for p, s in zip(phrases, scores):
        for i in range(1, len(p) + 1):
            token_bonus[tuple(p[:i])] = max(token_bonus.get(tuple(p[:i]), -np.inf), s)

    def bonus(p):
        return sum(token_bonus[tuple(p[:i])] for i in range(1, len(p) + 1))

    for _ in range(60):
        seq = rng.integers(0, V, size=rng.integers(0, 14)).tolist()
        state, gained = g.walk(seq)
        longest = max((q for q in prefixes if len(q) <= len(seq) and tuple(seq[len(seq) - len(q):]) == q), key=len)
        assert g.node_score[state] == pytest.approx(bonus(list(longest)))
        # what is still provisional: the bonus since the last phrase the match completed
        done = max((q for q in map(tuple, phrases) if longest[:len(q)] == q), key=len, default=())
        assert g.provisional[state] == pytest.approx(bonus(list(longest)) - bonus(list(done)))
        want = sum(_contains(seq, list(p)) * b for p, b in own.items())
        assert gained + g.end_score(state) == pytest.approx(want)
        # and the occurrences it reports are every phrase occurrence, where it is
        found = sorted((tuple(g.phrases[k]), a, b) for k, a, b in g.matches(seq))
        assert found == sorted((p, i, i + len(p)) for p in own for i in range(len(seq) - len(p) + 1)
                               if tuple(seq[i:i + len(p)]) == p)


def test_a_phrase_begun_earns_provisionally_and_gives_it_back():
    g = ContextGraph([[1, 2, 3]], 1.5, 6)
    s, d = g.walk([1, 2])
    assert d == pytest.approx(3.0) and g.end_score(s) == pytest.approx(-3.0)
    s, d2 = g.step(s, 5)  # broken: back to the root, the two tokens' bonus returned
    assert s == 0 and d2 == pytest.approx(-3.0)
    s, d = g.walk([1, 2, 3])
    assert d == pytest.approx(4.5) and g.end_score(s) == 0.0  # completed: final, counted once
    s, d = g.walk([1, 2, 3, 4])
    assert s == 0 and d == pytest.approx(4.5)  # and kept after the phrase


def test_reading_a_hotwords_file(tmp_path):
    f = tmp_path / "hw.txt"
    f.write_text("# commands\nturn on the lights\n\n  Set a timer : 2.5 \nplay 10 songs :-1\nnot:a score\n")
    assert read_hotwords(f) == [("turn on the lights", None), ("Set a timer", 2.5), ("play 10 songs", -1.0),
                                ("not:a score", None)]
    f.write_text("stop\nturn on :abc\n")  # a mistyped score: it became part of the phrase
    with pytest.raises(ValueError, match=r"hw.txt:2: ' :abc' is not a score \(a number, e.g. 'turn on :2.5'\)"):
        read_hotwords(f)


@pytest.fixture(scope="module")
def peaky(tmp_path_factory):
    d = tmp_path_factory.mktemp("hw")
    return engine.load_model(make_random_model(d / "peaky.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5,
                                               out_gain=16.0))


def _decode(rec, audio, sizes=None):
    return [r.token_ids for r in feed(rec, audio, 16000, sizes).finals]


def test_score_zero_is_plain_search_and_a_bonus_spells_the_phrase(peaky):
    audio = np.concatenate([speechlike(4.0, seed=4), np.zeros(8000, np.float32)])
    for beam in (1, 3):
        plain = _decode(Recognizer(peaky, beam=beam, endpoint=NO_EP, vad=False), audio)
        assert sum(len(r) for r in plain) > 3
        zero = _decode(Recognizer(peaky, beam=beam, endpoint=NO_EP, vad=False,
                                  hotwords=["turn on the light"], hotword_score=0.0), audio)
        assert zero == plain
        hw = Recognizer(peaky, beam=beam, endpoint=NO_EP, vad=False, hotwords=["good morning"],
                        hotword_score=8.0)
        finals = feed(hw, audio, 16000).finals
        assert "good morning" in " ".join(r.text for r in finals)  # a random model says what it is told
        hits = [h for r in finals for h in r.hotwords]  # and says where it said it
        assert hits and all(h.word == "good morning" and h.start < h.end for h in hits)


def test_streaming_equals_offline_with_hotwords(peaky):
    """With the hypotheses inside phrases across chunk boundaries: the phrases are runs of
    what the model says without them, so the beam enters them."""
    audio = np.concatenate([speechlike(3.0, seed=4), np.zeros(32000, np.float32), speechlike(2.0, seed=4)])
    rng = np.random.default_rng(3)
    plain = [i - 1 for r in _decode(Recognizer(peaky, beam=3, vad=False), audio) for i in r]
    assert len(plain) > 12
    graph = ContextGraph([plain[2:6], plain[8:12], plain[3:5]], [1.0, 2.0, 0.5], peaky.tokenizer().get_piece_size())
    kw = dict(hotwords=graph, vad=False)
    for beam in (1, 3):
        rec = Recognizer(peaky, chunk_ms=160, beam=beam, **kw)
        s = rec.create_stream()
        states = set()
        for i in range(0, len(audio), 2560):
            s.accept_waveform(audio[i:i + 2560], 16000)
            states |= {h.ctx for h in s._hyps}
        s.input_finished()
        ref = [r.token_ids for r in s.finals]
        assert sum(len(r) for r in ref) > 3 and len(states - {0}) >= 2  # inside phrases between chunks
        for chunk_ms in (80, 320):
            sizes = [int(rng.choice([1, 160, 2560, 5000, 12345])) for _ in range(20)]
            assert _decode(Recognizer(peaky, chunk_ms=chunk_ms, beam=beam, **kw), audio, sizes) == ref


def test_phrases_the_tokenizer_cannot_spell_are_refused(peaky):
    with pytest.raises(ValueError, match=r"does not know \('ß', '5'\): write it as the model's transcripts"):
        Recognizer(peaky, hotwords=["straße 5"])
    with pytest.raises(ValueError, match=r"hotword 123: a phrase \(str\), or \(phrase, score\)"):
        Recognizer(peaky, hotwords=[123])
    with pytest.raises(ValueError, match="empty"):
        Recognizer(peaky, hotwords=[])
    with pytest.raises(ValueError, match="finite"):
        Recognizer(peaky, hotwords=["stop"], hotword_score=float("nan"))
    one = Recognizer(peaky, hotwords="play some music").context  # one phrase, not 15 letters
    assert one.num_phrases == 1
    assert ContextGraph([[1, 2]], np.float32(2.0), 4).walk([1, 2])[1] == pytest.approx(4.0)


def test_the_demo_commands_come_out_right_on_the_shipped_model():
    """The shipped default model mishears the demo's commands; told them, it gets them."""
    from app import models as M
    from app.comparison import normalizer

    model = M.load(M.resolve(None, [M.ASSETS_DIR / "models"]))
    ref = json.loads((M.AUDIO_DIR / "demo.jsonl").read_text())["text"]
    audio = engine.load_audio(M.DEMO_AUDIO, model.frontend.sample_rate)
    norm = normalizer()

    def errors(**kw):
        rec = Recognizer(model, beam=M.DEFAULT_BEAM, endpoint=NO_EP, **kw)
        s = rec.create_stream()
        s.accept_waveform(audio, model.frontend.sample_rate)
        s.input_finished()
        hyp = norm(s.text).split()
        return jiwer.process_words(ref, " ".join(hyp)).wer * len(ref.split()), hyp

    plain, _ = errors()
    told, hyp = errors(hotwords=["turn on the lights", "set a timer for ten minutes", "play some music"])
    assert plain >= 2 and told < plain
    assert hyp[:4] == "turn on the lights".split()


def _manifest(tmp_path, text="turn on the light"):
    import soundfile as sf

    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(2.0, seed=4), 16000)
    man = tmp_path / "m.jsonl"
    man.write_text(json.dumps({"audio_filepath": str(wav), "text": text, "duration": 2.0}) + "\n")
    return wav, man


def test_commands_take_a_hotwords_file(peaky, tmp_path, capsys):
    from app.cli import main

    wav, man = _manifest(tmp_path)
    hw = tmp_path / "hw.txt"
    hw.write_text("Turn ON the light!\nSet a timer for 10 minutes :3\n")
    out = tmp_path / "r.json"
    base = ["eval", "--model", str(peaky.path), "--manifest", str(man), "--beam", "2"]
    assert main(base + ["--hotwords", str(hw), "--hotword-score", "2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["hotwords"] == str(hw) and d["hotword_score"] == 2.0
    capsys.readouterr()
    said = tmp_path / "said.txt"
    said.write_text("# written as people write\nGood Morning! :8\n")  # normalized as transcripts are
    assert main(["transcribe", "--model", str(peaky.path), "--no-vad", "--hotwords", str(said), "-f", "json",
                 str(wav)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "good morning" in d["text"] and d["hotwords"][0]["phrase"] == "good morning"
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("open the door\nstraße fünf\n")
    for bad, why in ((empty, "no hotwords"), (tmp_path / "missing.txt", "cannot read"),
                     (foreign, "letters the model cannot write (ß)")):
        assert main(base + ["--hotwords", str(bad)]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1
    for score in ("nan", "inf"):
        with pytest.raises(SystemExit) as e:
            main(base + ["--hotwords", str(hw), "--hotword-score", score])
        assert e.value.code == 2 and "must be a finite number" in capsys.readouterr().err
    assert main(base + ["--hotwords", str(hw), "--record", "dev"]) == 2
    assert "leave out --hotwords" in capsys.readouterr().err


def test_hotwords_invent_nothing_in_noise():
    """The speech gate keeps a strong bonus from writing phrases into noise and hum."""
    from app import models as M

    model = M.load(M.resolve(None, [M.ASSETS_DIR / "models"]))
    rec = Recognizer(model, beam=M.DEFAULT_BEAM, hotwords=["turn on the lights", "power generator under attack",
                                                             "four"], hotword_score=3.5)
    rng = np.random.default_rng(0)
    t = np.arange(5 * 16000) / 16000
    for x in (0.02 * rng.standard_normal(len(t)), 0.1 * np.sin(2 * np.pi * 50 * t)):
        assert feed(rec, x.astype(np.float32), 16000).text == ""
