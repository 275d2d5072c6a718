"""Knowledge distillation (trainer.distill, ``--set distill=W``): the loss is zero against
itself, weighted by the teacher's alignment, and a pruning fine-tune with it ends closer
to its teacher than the same fine-tune without it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from helpers import make_tiny_corpus  # noqa: E402

torch.backends.mkldnn.enabled = False

TINY = ["enc_hidden=32", "enc_layers=2", "pred_hidden=32", "pred_embed=16", "joiner_dim=32",
        "specaug=false", "warmup=5", "log_every=5", "eval_every=0", "threads=1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"), ["turn on the light", "stop", "yes please",
                                                                "what time is it"])


@pytest.fixture(scope="module")
def teacher(corpus, tmp_path_factory):
    """A tiny float model trained 40 steps on the corpus."""
    from app.cli import main

    out = tmp_path_factory.mktemp("teacher")
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "40", "--no-progress",
                 "--set", *TINY, "lr=3e-3"]) == 0
    return out / "last.pt"


def _batch(corpus, model):
    """The corpus's training utterances as one padded batch."""
    import json

    import sentencepiece as spm

    from engine.audio import load_audio
    from engine.frontend import compute_features

    sp = spm.SentencePieceProcessor(model_file=str(corpus / "tokenizer.model"))
    recs = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    feats = [torch.from_numpy(compute_features(load_audio(corpus / r["audio_filepath"]))) for r in recs]
    toks = [sp.encode(r["text"]) for r in recs]
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    y = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in toks], batch_first=True)
    return x, torch.tensor([len(f) for f in feats]), y, torch.tensor([len(t) for t in toks])


def _kd(teacher_path, student, batch):
    from trainer.distill import Teacher

    t = Teacher(str(teacher_path), "cpu", student.arch.num_classes)
    x, lens, y, yl = batch
    student.eval()
    with torch.no_grad():
        logits, _, _ = student(x, lens, y, yl)
        return float(t.loss(x, lens, y, yl, logits)) / len(lens)


def test_distill_loss_zero_against_itself_and_weighted_by_alignment(corpus, teacher):
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.distill import Teacher
    from trainer.rnnt_loss import lattice_occupancy

    model = model_from_checkpoint(load_checkpoint(teacher))
    batch = _batch(corpus, model)
    assert _kd(teacher, model, batch) == pytest.approx(0.0, abs=1e-5)
    # the occupancy weights: every alignment visits T + U nodes, so they sum to that per utterance
    x, lens, y, yl = batch
    with torch.no_grad():
        logits, _, enc_lens = model(x, lens, y, yl)
        lp = torch.log_softmax(logits, -1)
        U = y.shape[1]
        occ = lattice_occupancy(lp[..., 0], lp[:, :, :U].gather(-1, y[:, None, :, None].expand(-1, lp.shape[1], -1, 1))
                                .squeeze(-1), enc_lens, yl)
    assert occ.sum((1, 2)).tolist() == pytest.approx((enc_lens + yl).double().tolist(), rel=1e-6)
    # another model is at a positive distance, and a gradient step on the loss reduces it
    student = model_from_checkpoint(load_checkpoint(teacher))
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.1 * torch.randn_like(p))
    t = Teacher(str(teacher), "cpu", student.arch.num_classes)
    before = _kd(teacher, student, batch)
    assert before > 0.1
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    student.train()
    for _ in range(10):
        logits, _, _ = student(x, lens, y, yl)
        loss = t.loss(x, lens, y, yl, logits) / len(lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert _kd(teacher, student, batch) < 0.8 * before


def test_pruning_with_distillation_ends_closer_to_the_teacher(corpus, teacher, tmp_path, capsys):
    """The same CSP fine-tune (60 % sparse) with and without ``distill``: the one with it
    keeps the teacher's output distributions better; it logs its loss, resumes with it and
    refuses to run without a teacher."""
    from app.cli import main
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint

    kd = {}
    for name, extra in (("plain", []), ("kd", ["distill=2"])):
        out = tmp_path / name
        args = ["train", "--data", str(corpus), "--out", str(out), "--init", str(teacher), "--prune", "csp",
                "--sparsity", "0.6", "--no-progress", "--set", *TINY, "prune_every=4", "prune_end=0.5",
                "lr=1e-3", *extra]
        if extra:  # stopped and resumed: the teacher comes back from the saved config's --init
            assert main([*args, "--steps", "12"]) == 0
            assert main([*args, "--steps", "24", "--resume"]) == 0
        else:
            assert main([*args, "--steps", "24"]) == 0
        model = model_from_checkpoint(load_checkpoint(out / "last.pt"))
        kd[name] = _kd(teacher, model, _batch(corpus, model))
    assert kd["kd"] < 0.8 * kd["plain"], kd
    capsys.readouterr()
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "none"), "--steps", "2", "--no-progress",
                 "--set", *TINY, "distill=1"]) != 0
    assert "distill needs a teacher" in capsys.readouterr().err


def test_aat_teacher_emulated_is_the_student_at_the_start(corpus, teacher, tmp_path):
    """``teacher_aat``: an AAT checkpoint teaches with its integer emulation, so a student
    starting from it (under ``--aat``) starts at zero distance; its float forward does not."""
    import json

    from app.cli import main
    from engine.nna.spec import NNASpec
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.distill import Teacher

    out = tmp_path / "aat"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--init", str(teacher), "--aat",
                 "--steps", "3", "--no-progress", "--set", *TINY]) == 0
    ck = load_checkpoint(out / "last.pt")
    student = model_from_checkpoint(ck)
    student.enable_aat(NNASpec.from_dict(json.loads(ck["spec"])))
    x, lens, y, yl = _batch(corpus, student)
    with torch.no_grad():
        logits, _, _ = student(x, lens, y, yl)
        emulated = Teacher(str(out / "last.pt"), "cpu", student.arch.num_classes, emulate=True)
        floated = Teacher(str(out / "last.pt"), "cpu", student.arch.num_classes)
        assert emulated.emulated and not floated.emulated
        same, other = float(emulated.loss(x, lens, y, yl, logits)), float(floated.loss(x, lens, y, yl, logits))
    assert same == pytest.approx(0.0, abs=1e-6) and other > 1e-4, (same, other)


def test_a_teacher_hears_its_own_features_under_a_student_with_a_lower_floor(corpus, teacher):
    """A student on a lower log floor (``init_log_floor``) distills from a teacher trained on
    the default one: the teacher is given the student's features raised to its floor, which
    are exactly its own, so against itself the loss is zero on either front-end's features. A
    teacher on a lower floor than the student's, or on another front-end, is refused."""
    from dataclasses import replace

    from engine.audio import load_audio
    from engine.frontend import FrontendConfig, compute_features
    from trainer.checkpoint import load_checkpoint, model_from_checkpoint
    from trainer.distill import Teacher

    model = model_from_checkpoint(load_checkpoint(teacher))
    x, lens, y, yl = _batch(corpus, model)
    low = FrontendConfig(log_floor=1e-10)
    import json

    recs = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()]
    x_low = torch.nn.utils.rnn.pad_sequence(
        [torch.from_numpy(compute_features(load_audio(corpus / r["audio_filepath"]), low)) for r in recs],
        batch_first=True)
    assert (x_low < x).any()  # the lower floor keeps cells the default one takes
    t = Teacher(str(teacher), "cpu", model.arch.num_classes, frontend=low)
    with torch.no_grad():
        logits, _, _ = model(x, lens, y, yl)  # the teacher itself, on its own features
        assert float(t.loss(x_low, lens, y, yl, logits)) == pytest.approx(0.0, abs=1e-4)
    ck = load_checkpoint(teacher)
    ck["frontend"] = low.to_dict()
    torch.save(ck, corpus.parent / "low-teacher.pt")
    for student in (FrontendConfig(), replace(low, n_fft=1024)):
        with pytest.raises(ValueError, match="another front-end"):
            Teacher(str(corpus.parent / "low-teacher.pt"), "cpu", model.arch.num_classes, frontend=student)
