"""The streaming recognizer (engine/recognizer.py) on random-weight models: streaming equals
offline, search, endpointing, stats, float reference, CPU placement."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import feed, make_random_model, speechlike

import engine
from engine.model import ModelFormatError
from engine.recognizer import EndpointConfig, Recognizer

NO_EP = EndpointConfig(enabled=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    return {
        # emits on every frame (up to max_symbols_per_frame), speech or not
        "chatty": engine.load_model(make_random_model(d / "chatty.nnasr", blank_bias=0.0)),
        # emits on speechlike bursts, never on digital silence
        "gated": engine.load_model(make_random_model(d / "gated.nnasr", seed=1, enc_gain=2.0,
                                                     blank_bias=0.5)),
        # gated, with a peaked output distribution (as a trained model's): beam search emits
        "peaky": engine.load_model(make_random_model(d / "peaky.nnasr", seed=1, enc_gain=2.0,
                                                     blank_bias=0.5, out_gain=16.0)),
        # the same with a stateless predictor over the last two tokens
        "peaky-sl": engine.load_model(make_random_model(d / "peaky-sl.nnasr", seed=1, enc_gain=2.0,
                                                        blank_bias=0.5, out_gain=16.0, pred_context=2)),
        "cpu": engine.load_model(make_random_model(d / "cpu.nnasr", seed=1, enc_gain=2.0, blank_bias=0.5,
                                                   float_ops=["enc.0", "join.out"],
                                                   placement={"enc.0": "cpu", "join.out": "cpu"})),
    }


def _decode(rec, audio, rate, sizes=None):
    s = feed(rec, audio, rate, sizes)
    return [(r.token_ids, r.timestamps, r.text, r.start) for r in s.finals], s


def _random_sizes(rng, total):
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(rng.choice([0, 1, 7, 160, 1000, 2560, 5000, 12345])))
    return sizes


def _audio(rate, channels=1, seconds=3.0):
    x = np.concatenate([speechlike(seconds, rate=rate, seed=4), np.zeros(int(0.5 * rate), np.float32)])
    if channels == 2:
        x = (np.stack([x, 0.5 * x], axis=1) * 32767).astype(np.int16)
    return x


@pytest.mark.parametrize("name", ["chatty", "gated"])
@pytest.mark.parametrize("rate, channels", [(16000, 1), (8000, 1), (44100, 1), (16000, 2)])
def test_streaming_equals_offline(models, name, rate, channels):
    m = models[name]
    audio = _audio(rate, channels)
    rng = np.random.default_rng(rate + channels)
    ref, s = _decode(Recognizer(m, chunk_ms=160, endpoint=NO_EP), audio, rate)
    assert sum(len(r[0]) for r in ref) > 3  # the model emits: the comparison means something
    assert s.stats.audio_seconds == pytest.approx(len(audio) / rate, abs=0.01)
    for chunk_ms in (80, 160, 320):
        rec = Recognizer(m, chunk_ms=chunk_ms, endpoint=NO_EP)
        for _ in range(2):
            got, _ = _decode(rec, audio, rate, _random_sizes(rng, len(audio)))
            assert got == ref, (chunk_ms, rate, channels)


def test_streaming_equals_offline_with_endpointing_and_beam(models):
    m = models["gated"]
    audio = np.concatenate([_audio(16000), np.zeros(32000, np.float32), _audio(16000)])
    rng = np.random.default_rng(7)
    for beam in (1, 3):
        # (a flat random output distribution makes the most probable sequence empty: beam
        # search needs the peaked model)
        m = models["gated" if beam == 1 else "peaky"]
        # the decoder on every frame (vad=False): a random model's beam search, run only on
        # the speech gate's frames, ends on an empty best sequence; the gate's own streaming
        # equality is tested with the shipped models (tests/test_speech_gate.py)
        ref, _ = _decode(Recognizer(m, chunk_ms=160, beam=beam, vad=False), audio, 16000)
        assert len(ref) >= 2
        for chunk_ms in (80, 320):
            got, _ = _decode(Recognizer(m, chunk_ms=chunk_ms, beam=beam, vad=False), audio, 16000,
                             _random_sizes(rng, len(audio)))
            assert got == ref


def _frames(rec, audio):
    """The joiner-projected encoder frames of ``audio``, as the stream makes them."""
    net = rec.network
    s = rec.create_stream()
    feats = s._frontend.accept(audio)
    enc, kind = net.encode(net.normalize(feats), s._enc_state)
    proj = net.project_encoder(enc, kind)
    return [(proj[0], proj[1][i]) for i in range(len(enc))]


@pytest.mark.parametrize("name", ["peaky", "peaky-sl"])
def test_beam_search_with_a_wide_beam_finds_the_most_probable_sequence(models, name):
    """Two frames, at most one token each: a beam wider than every candidate must end on the
    label sequence of highest probability summed over its alignments, found by brute force
    (with an LSTM predictor and a stateless one)."""
    m = models[name]
    rec = Recognizer(m, endpoint=NO_EP, beam=5000, max_symbols_per_frame=1)
    net, blank, C = rec.network, m.arch.blank_id, m.arch.num_classes
    frames = _frames(rec, _audio(16000, seconds=2.0))
    nonempty = 0
    for start in range(0, len(frames) - 1, 3):
        e0, e1 = frames[start], frames[start + 1]
        s = rec.create_stream()
        for f, e in enumerate((e0, e1)):
            s._frame = f
            s._beam_frame(e, rec.beam)
        got = s._hyps[0]
        pred_cache = {(): net.init_predictor()}

        def pred(ids, cache=pred_cache):
            if ids not in cache:
                cache[ids] = net.predict(ids[-1], pred(ids[:-1])[0])
            return cache[ids]

        def lp(e, ids):
            logits, _ = net.joint(e, pred(ids)[1])
            return rec.fused_logprobs(logits, list(ids))

        best = (-np.inf, None)
        b0, b1 = lp(e0, ()), lp(e1, ())
        for y in [()] + [(a,) for a in range(1, C)] + [(a, b) for a in range(1, C) for b in range(1, C)]:
            if len(y) == 0:
                paths = [b0[blank] + b1[blank]]
            elif len(y) == 1:
                paths = [b0[y[0]] + lp(e0, y)[blank] + lp(e1, y)[blank],  # emitted on frame 0
                         b0[blank] + b1[y[0]] + lp(e1, y)[blank]]  # on frame 1
            else:
                paths = [b0[y[0]] + lp(e0, y[:1])[blank] + lp(e1, y[:1])[y[1]] + lp(e1, y)[blank]]
            total = float(np.logaddexp.reduce(paths))
            if total > best[0]:
                best = (total, y)
        assert tuple(got.ids) == best[1], start
        assert got.logp == pytest.approx(best[0], abs=1e-6)
        nonempty += len(best[1]) > 0
        if nonempty >= 2:
            break
    assert nonempty >= 2  # the comparison was about tokens, not only blanks


def test_beam_search_may_emit_several_tokens_per_frame(models):
    m = models["peaky"]
    audio = np.concatenate([_audio(16000), np.zeros(32000, np.float32), _audio(16000)])
    res, _ = _decode(Recognizer(m, beam=3, vad=False), audio, 16000)  # every frame (see above)
    times = [t for r in res for t in r[1]]
    assert len(times) > len(set(times))  # some frame emitted more than one token
    assert all(isinstance(t, int) for r in res for t in r[0])
    one, _ = _decode(Recognizer(m, beam=3, max_symbols_per_frame=1, vad=False), audio, 16000)
    times = [t for r in one for t in r[1]]
    assert times and len(times) == len(set(times))


def test_endpointing_splits_at_silences(models):
    m = models["gated"]
    sil = np.zeros(3 * 16000, np.float32)
    audio = np.concatenate([speechlike(2.0, seed=1), sil, speechlike(2.0, seed=2), sil])
    s = Recognizer(m, chunk_ms=160).create_stream()
    s.accept_waveform(audio, 16000)
    results = list(s.results())
    s.input_finished()
    results += list(s.results())
    finals = [r for r in results if r.is_final]
    assert len(finals) == 2 and finals == s.finals
    assert [f.segment for f in finals] == [0, 1]
    # each segment's tokens lie in its speech burst; the second starts after the first ends
    assert max(finals[0].timestamps) < 2.2 and 5.0 <= min(finals[1].timestamps) < 7.2
    assert finals[1].start >= finals[0].timestamps[-1]
    assert any(not r.is_final for r in results)  # partials came first
    for f in finals:
        assert f.text and f.words and f.tokens
        assert all(w.start <= w.end for w in f.words)
    # rule 2 fired 0.8 s after the last token: user-perceived latency recorded per final
    assert len(s.stats.upl_ms) == 2 and all(800 <= u < 2000 for u in s.stats.upl_ms)
    # without endpointing: one final; with a short max length (rule 3): many
    assert len(_decode(Recognizer(m, endpoint=NO_EP), audio, 16000)[0]) == 1
    short = EndpointConfig(rule3_max_utterance_length=0.5, rule2_min_trailing_silence=100)
    assert len(_decode(Recognizer(models["chatty"], endpoint=short), audio, 16000)[0]) >= 10


def test_stats(models):
    m = models["gated"]
    audio = speechlike(3.0, seed=5)
    _, s = _decode(Recognizer(m, chunk_ms=160), audio, 16000)
    chunks = s.stats.chunks
    assert len(chunks) == 19  # 3 s / 160 ms = 18.75: 18 full chunks and the rest
    assert [c.index for c in chunks] == list(range(19))
    assert all(c.audio_ms == pytest.approx(160) for c in chunks[:-1]) and chunks[-1].audio_ms == pytest.approx(120)
    assert all(c.host_ms > 0 for c in chunks)
    assert all(c.modeled_nna_ms > 0 for c in chunks)  # every chunk ran encoder frames
    assert s.stats.rtf == pytest.approx(sum(c.host_ms for c in chunks) / 3000)
    summ = s.stats.summary()
    assert summ["chunks"] == 19 and summ["audio_s"] == pytest.approx(3.0)
    assert summ["host_ms_p50"] <= summ["host_ms_p95"] <= summ["host_ms_max"]
    assert summ["modeled_nna_ms_p50"] <= summ["modeled_nna_ms_p95"] <= summ["modeled_nna_ms_max"]
    assert chunks[-1].audio_end_s == pytest.approx(3.0)


def test_float_reference_mode(models):
    m = models["gated"]
    audio = _audio(16000)
    res, s = _decode(Recognizer(m, mode="float", endpoint=NO_EP), audio, 16000)
    assert sum(len(r[0]) for r in res) > 0
    assert all(c.modeled_nna_ms > 0 for c in s.stats.chunks)
    with pytest.raises(ValueError, match="mode"):
        Recognizer(m, mode="fp16")


def test_cpu_placement_costs_transfers(models):
    audio = _audio(16000)
    placed = models["cpu"]
    assert placed.placement["enc.0"] == "cpu" and placed.describe()["cpu_ops"] == ["enc.0", "join.out"]
    all_nna = placed.with_placement({"enc.0": "nna", "join.out": "nna"})
    only_join = all_nna.with_placement({"join.out": "cpu"})
    modeled = {}
    for name, m in (("cpu", placed), ("nna", all_nna), ("join", only_join)):
        res, s = _decode(Recognizer(m, endpoint=NO_EP), audio, 16000)
        assert sum(len(r[0]) for r in res) > 0
        modeled[name] = sum(c.modeled_nna_ms for c in s.stats.chunks)
    assert modeled["nna"] < modeled["join"] and modeled["nna"] < modeled["cpu"]
    with pytest.raises(ModelFormatError, match="no float weights"):
        all_nna.with_placement({"pred.0": "cpu"})
    with pytest.raises(ModelFormatError, match="unknown op"):
        all_nna.with_placement({"enc.7": "cpu"})


def test_host_kernel_choice_does_not_change_results(models):
    m = models["chatty"]
    audio = _audio(16000, seconds=2.0)
    ref, _ = _decode(Recognizer(m, endpoint=NO_EP, kernel="dense"), audio, 16000)
    assert _decode(Recognizer(m, endpoint=NO_EP, kernel="sparse"), audio, 16000)[0] == ref


def test_stream_input_errors(models):
    rec = Recognizer(models["gated"])
    s = rec.create_stream()
    s.accept_waveform(np.zeros(100, np.float32), 16000)
    with pytest.raises(ValueError, match="sample rate changed"):
        s.accept_waveform(np.zeros(100, np.float32), 8000)
    s.input_finished()
    s.input_finished()  # idempotent
    with pytest.raises(RuntimeError, match="input_finished"):
        s.accept_waveform(np.zeros(100, np.float32), 16000)
    with pytest.raises(engine.AudioError):
        rec.create_stream().accept_waveform(np.zeros((2, 2, 2)), 16000)
    with pytest.raises(ValueError):
        Recognizer(models["gated"], chunk_ms=0)
    with pytest.raises(ValueError):
        Recognizer(models["gated"], beam=0)
    # a stream with no audio finishes with no results
    s = rec.create_stream()
    s.input_finished()
    assert s.finals == [] and s.text == ""


class _OneAtATime:
    """A Network whose joiner and predictor take a beam round's hypotheses one call each."""

    def __init__(self, net):
        self._net = net

    def __getattr__(self, name):
        return getattr(self._net, name)

    def joint(self, e, p):
        outs = [self._net.joint(e, (p[0], row)) for row in p[1]]
        return np.stack([o[0] for o in outs]), np.array([o[1] for o in outs])

    def predict_batch(self, tokens, states):
        return [self._net.predict(k, st) for k, st in zip(tokens, states)]


@pytest.mark.parametrize("mode", ["placed", "float"])
def test_a_batched_predictor_step_equals_single_steps(models, mode):
    """predict_batch: each hypothesis's state and join.pred output as predict alone gives
    (bit for bit in integers, to float rounding in the float reference), counted as one
    invocation of pred.0 (its input projection and its step) and join.pred on n vectors."""
    from engine.network import Network

    net = Network(models["peaky"], mode=mode)
    s0 = net.init_predictor()[0]
    s1 = net.predict(7, s0)[0]
    pairs = [(3, s0), (5, s1), (3, s1), (9, s0)]
    net.take_counts()
    got = net.predict_batch([k for k, _ in pairs], [st for _, st in pairs])
    counts = net.take_counts()
    assert counts == {"pred.embed": 4, "pred.0.x*4": 1, "pred.0*4": 1, "join.pred*4": 1}
    for (k, st), (gs, gp) in zip(pairs, got):
        ws, wp = net.predict(k, st)
        assert gs[0] == ws[0] and gp[0] == wp[0]
        for a, b in ((gs[1].h, ws[1].h), (gs[1].c, ws[1].c), (gp[1], wp[1])):
            if mode == "placed":
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["placed", "float"])
def test_a_stateless_predictor_reads_its_last_tokens_alone(models, mode):
    """A stateless predictor (``pred_context=2``): its state is the last token, its output a
    function of the last two tokens only, a batched step equals single steps (bit for bit in
    integers), and the step is one invocation of pred.0 (a linear op: no input projection
    apart) and of join.pred on n vectors."""
    from engine.network import Network

    m = models["peaky-sl"]
    assert [o.kind for o in m.arch.ops if o.name == "pred.0"] == ["linear"]
    net = Network(m, mode=mode)
    s0 = net.init_predictor()[0]
    assert s0 == ("ctx", (m.arch.blank_id,))
    a = net.predict(5, net.predict(7, s0)[0])
    b = net.predict(5, net.predict(7, net.predict(3, net.predict(9, s0)[0])[0])[0])
    assert a[0] == b[0] == ("ctx", (5,))
    np.testing.assert_array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[1][1], net.predict(5, net.predict(8, s0)[0])[1][1])
    s1 = net.predict(7, s0)[0]
    pairs = [(3, s0), (5, s1), (3, s1), (9, s0)]
    net.take_counts()
    got = net.predict_batch([k for k, _ in pairs], [st for _, st in pairs])
    assert net.take_counts() == {"pred.embed": 4, "pred.0*4": 1, "join.pred*4": 1}
    for (k, st), (gs, gp) in zip(pairs, got):
        ws, wp = net.predict(k, st)
        assert gs == ws and gp[0] == wp[0]
        np.testing.assert_array_equal(gp[1], wp[1])
    # the beam search decodes with it, streaming as offline
    audio = np.concatenate([_audio(16000), np.zeros(16000, np.float32), _audio(16000)])
    ref, _ = _decode(Recognizer(m, mode=mode, beam=4, vad=False), audio, 16000)
    got, _ = _decode(Recognizer(m, mode=mode, beam=4, vad=False, chunk_ms=80), audio, 16000)
    assert got == ref and sum(len(r[0]) for r in ref) > 3


def test_beam_rounds_run_batched_with_the_same_results_and_less_modeled_time(models):
    """A round's hypotheses through the joiner and the predictor in one call each: the same
    transcripts as one hypothesis at a time, fewer weight streams in the modeled NNA time."""
    m = models["peaky"]
    audio = np.concatenate([_audio(16000), np.zeros(32000, np.float32), _audio(16000)])
    batched, s1 = _decode(Recognizer(m, beam=4, vad=False), audio, 16000)
    s2 = Recognizer(m, beam=4, vad=False).create_stream()
    s2.net = _OneAtATime(s2.net)
    s2.accept_waveform(audio, 16000)
    s2.input_finished()
    assert batched == [(r.token_ids, r.timestamps, r.text, r.start) for r in s2.finals]
    assert sum(len(r[0]) for r in batched) > 3
    assert any(k.startswith("pred.0*") for k in s1.stats.op_counts)
    assert s1.stats.chunks.column("modeled_nna_ms").sum() < s2.stats.chunks.column("modeled_nna_ms").sum()


@pytest.mark.parametrize("name", ["peaky", "peaky-sl"])
def test_beam_search_predictor_cache_changes_cost_not_results(models, name):
    """Kept predictor outputs (per token sequence; a stateless predictor's per its last
    tokens): the same transcripts and timestamps as recomputing every extension, with fewer
    predictor steps in the modeled cost."""
    m = models[name]
    audio = np.concatenate([_audio(16000), np.zeros(32000, np.float32), _audio(16000)])
    cached, s1 = _decode(Recognizer(m, beam=4, vad=False), audio, 16000)  # every frame (see above)
    rec = Recognizer(m, beam=4, vad=False)
    s2 = rec.create_stream()
    s2._predict = lambda ext: [s2.net.predict(k, h.pred[0]) for h, k in ext]  # no cache, no batch
    s2.accept_waveform(audio, 16000)
    s2.input_finished()
    assert cached == [(r.token_ids, r.timestamps, r.text, r.start) for r in s2.finals]
    assert sum(len(r[0]) for r in cached) > 3
    nna1 = s1.stats.chunks.column("modeled_nna_ms").sum()
    nna2 = s2.stats.chunks.column("modeled_nna_ms").sum()
    assert nna1 < nna2



@pytest.mark.parametrize("amp, gain_db", [(0.5, -20.0), (0.005, 20.0), (0.005, 6.0)])
def test_input_gain_is_the_same_audio_made_louder(models, amp, gain_db):
    """``gain_db`` decodes what the same audio scaled (and clipped at full scale) decodes,
    streamed in any chunks, at any input rate; 0 leaves the input as it is."""
    m = models["peaky"]
    x = amp * speechlike(3.0, seed=5)
    g = np.float32(10 ** (gain_db / 20))
    off = EndpointConfig(enabled=False)
    want, _ = _decode(Recognizer(m, beam=2, endpoint=off), np.clip(x * g, -1, 1).astype(np.float32), 16000)
    got, _ = _decode(Recognizer(m, beam=2, endpoint=off, gain_db=gain_db), x, 16000,
                     _random_sizes(np.random.default_rng(3), len(x)))
    assert got == want and any(t for t, *_ in want)
    assert _decode(Recognizer(m, gain_db=0.0), x, 16000)[0] == _decode(Recognizer(m), x, 16000)[0]
    with pytest.raises(ValueError, match="gain_db"):
        Recognizer(m, gain_db=float("nan"))


def test_encoder_restarts_at_endpoints_the_same_in_any_chunks(models):
    """At an endpoint the encoder starts afresh (``EndpointConfig.reset_encoder``); the frames
    after the endpoint's encoder frame are encoded again from that state, so chunks of any size
    give the same finals. With the option off, the state goes on (other finals here)."""
    m = models["peaky"]
    pause = np.zeros(int(1.2 * 16000), np.float32)
    x = np.concatenate([speechlike(1.5, seed=1), pause, speechlike(1.5, seed=2), pause, speechlike(1.0, seed=3)])
    ep = EndpointConfig(rule2_min_trailing_silence=0.3, rule1_min_trailing_silence=0.5)
    runs = []
    for chunk_ms in (80, 160, 560, 2000):
        rec = Recognizer(m, chunk_ms=chunk_ms, endpoint=ep)
        finals, s = _decode(rec, x, 16000)
        runs.append(([(t, ts) for t, ts, *_ in finals], s.stats.encoder_resets))
    assert runs[0][1] > 0 and all(r == runs[0] for r in runs), [r[1] for r in runs]
    kept = Recognizer(m, chunk_ms=160, endpoint=EndpointConfig(rule2_min_trailing_silence=0.3,
                                                               rule1_min_trailing_silence=0.5,
                                                               reset_encoder=False))
    finals, s = _decode(kept, x, 16000)
    assert s.stats.encoder_resets == 0 and [(t, ts) for t, ts, *_ in finals] != runs[0][0]


def test_a_streams_gain_set_from_its_level_brings_quiet_speech_up(models):
    """``engine.level``: the level (the loudest 100 ms) is the same measured in any pieces and
    at any rate, falls with the audio by the same dB, and the auto gain brings a quiet
    recording to the target, never lowers a loud one, and leaves digital silence alone.
    ``Stream.set_gain`` decodes what the scaled audio decodes."""
    from engine.level import TARGET_DBFS, LevelMeter, auto_gain_db, speech_level_db

    x = 0.5 * speechlike(3.0, seed=5)
    whole = speech_level_db(x, 16000)
    m, a = LevelMeter(), 0
    for n in _random_sizes(np.random.default_rng(1), len(x)):
        m.accept(x[a:a + n], 16000)
        a += n
    assert m.level_db == pytest.approx(whole, abs=1e-6)
    quiet = (x * np.float32(10 ** (-40 / 20))).astype(np.float32)
    assert speech_level_db(quiet, 16000) == pytest.approx(whole - 40, abs=0.01)
    assert speech_level_db(quiet + np.float32(0.1), 16000) == pytest.approx(whole - 40, abs=0.05)  # DC unheard
    g = auto_gain_db(quiet, 16000)
    assert g == pytest.approx(TARGET_DBFS - (whole - 40), abs=0.06) and g > 0
    assert whole > TARGET_DBFS and auto_gain_db(x, 16000) == 0.0  # never lowered
    assert auto_gain_db(np.zeros(16000, np.float32), 16000) == 0.0
    assert auto_gain_db(quiet * np.float32(1e-2), 16000) == 40.0  # at most MAX_AUTO_GAIN_DB
    off = EndpointConfig(enabled=False)
    want, _ = _decode(Recognizer(models["peaky"], endpoint=off), np.clip(quiet * np.float32(10 ** (g / 20)), -1, 1), 16000)
    rec = Recognizer(models["peaky"], endpoint=off)
    s = rec.create_stream()
    s.set_gain(g)
    a = 0
    for n in _random_sizes(np.random.default_rng(2), len(quiet)):
        s.accept_waveform(quiet[a:a + n], 16000)
        a += n
    s.input_finished()
    assert [(r.token_ids, r.timestamps) for r in s.finals] == [(t, ts) for t, ts, *_ in want]
    assert s.stats.summary()["gain_db"] == g
    with pytest.raises(ValueError, match="gain_db"):
        s.set_gain(float("inf"))


def test_misuse_of_the_api_is_one_clear_error(models):
    """What a library user gets wrong is named where it happens (a rate of 0 decoded as 16 kHz,
    channels-first audio as a few samples, beam=2.5 crashed mid-decode, endpoint rules of 0
    gave an empty transcript, a path where a model goes said "'str' object has no attribute")."""
    from engine.audio import AudioError

    m = models["peaky"]
    for kw, msg in ((dict(beam=2.5), "beam=2.5: a whole number"), (dict(beam=True), "beam=True"),
                    (dict(max_symbols_per_frame=0), "max_symbols_per_frame=0"),
                    (dict(endpoint={"enabled": True}), "an engine.EndpointConfig"), (dict(vad="no"), "vad='no'")):
        with pytest.raises((TypeError, ValueError), match=msg):
            engine.Recognizer(m, **kw)
    with pytest.raises(TypeError, match="not a path: engine.load_model"):
        engine.Recognizer("model.nnasr")
    with pytest.raises(ValueError, match="more than 0: rule3_max_utterance_length=0"):
        EndpointConfig(rule3_max_utterance_length=0)
    s = engine.Recognizer(m).create_stream()
    x = speechlike(0.5)
    for rate in (0, 16000.7, float("nan"), "16000"):
        with pytest.raises(AudioError, match="a positive whole number of Hz"):
            s.accept_waveform(x, rate)
    with pytest.raises(AudioError, match="not a path: engine.load_audio"):
        s.accept_waveform("demo.flac", 16000)
    with pytest.raises(AudioError, match="channels first"):
        s.accept_waveform(np.stack([x, x]), 16000)
    s.accept_waveform(np.stack([x, x], axis=1), 16000.0)  # [n, channels] at a float whole rate: fine
    from engine.audio import AudioScaleWarning

    with pytest.warns(AudioScaleWarning, match="int16 values as floats"):  # clipped: an empty transcript
        s.accept_waveform(x * 32767, 16000)


def test_streams_in_threads_count_their_own_ops(models):
    """Streams of one recognizer decoded in several threads: each stream's op counts (and so
    its modeled NNA time) are its own, as if alone (they were shared: 938-1176 ops a stream
    against 1071 alone)."""
    import threading

    rec = engine.Recognizer(models["peaky"], beam=4)
    x = speechlike(3.0)

    def decode():
        s = rec.create_stream()
        s.accept_waveform(x, 16000)
        s.input_finished()
        return s.text, [c.modeled_nna_ms for c in s.stats.chunks]

    alone = decode()
    got = []
    threads = [threading.Thread(target=lambda: got.append(decode())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [alone] * 4
