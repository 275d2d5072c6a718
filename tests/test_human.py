"""The human dev/test set (trainer/data/human.py): real recordings from Debian packages,
converted, normalized and split by speaker. Built from whatever of the packages is
installed (scripts/install-system-deps.sh test installs them); skipped with a reason
when none is."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from trainer.data import human
from trainer.data.manifest import read_manifest
from trainer.data.text import normalize_text

INSTALLED = [s for s, (marker, _) in human.SOURCES.items() if os.path.isdir(marker)]
pytestmark = pytest.mark.skipif(
    not INSTALLED, reason="none of the human set's Debian packages is installed "
    f"({', '.join(human.SOURCES)}); run scripts/install-system-deps.sh test")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("human")
    logs: list[str] = []
    summary = human.build_human_set(str(out), log=logs.append)
    return out, summary, logs


def _records(out):
    return {s: read_manifest(out / f"{s}.jsonl") for s in ("dev", "test")}


def test_manifests_hold_normalized_transcripts_and_16k_mono_audio(built):
    import soundfile as sf

    out, summary, _ = built
    recs = _records(out)
    allr = recs["dev"] + recs["test"]
    assert allr and sorted({r["source"] for r in allr}) == sorted(INSTALLED)
    for r in allr:
        assert r["text"] and normalize_text(r["text"]) == r["text"]
        assert r["voice"].startswith(r["source"] + ":")
        info = sf.info(r["audio_filepath"])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        # the manifest's duration is the converted file's, and the recording's own
        assert r["duration"] == pytest.approx(info.frames / 16000, abs=1e-4)
        orig = r["original"]
        if ".wz:" in orig:  # a sound inside a zip archive (warzone2100-data)
            archive, member = orig.split(":", 1)
            with zipfile.ZipFile(archive) as z:
                src_dur = sf.info(io.BytesIO(z.read(member))).duration
        else:
            src_dur = (os.path.getsize(orig) / 2 / 16000 if orig.endswith(".raw")
                       else sf.info(orig).duration)
        assert r["duration"] == pytest.approx(src_dur, abs=0.01)
        x, _ = sf.read(r["audio_filepath"])
        assert np.abs(x).max() > 0.01  # not silence
    # the summary agrees with the manifests
    for s in ("dev", "test"):
        assert summary["splits"][s]["files"] == len(recs[s])
    assert sum(v["files"] for v in summary["sources"].values()) == len(allr)
    with open(out / "human.json") as f:
        assert json.load(f)["sources"] == summary["sources"]
    # per source: its clips of each split, and its transcripts as a hotwords list
    for src in {r["source"] for r in allr}:
        for s in ("dev", "test"):
            mine = [r for r in recs[s] if r["source"] == src]
            path = out / f"{s}.{src}.jsonl"
            assert (read_manifest(path) if path.exists() else []) == mine
        said = (out / f"phrases.{src}.txt").read_text().splitlines()
        assert said == sorted({r["text"] for r in allr if r["source"] == src})


def test_dev_and_test_are_speaker_disjoint_and_follow_the_table(built):
    out, _, _ = built
    recs = _records(out)
    voices = {s: {r["voice"] for r in recs[s]} for s in recs}
    assert not voices["dev"] & voices["test"]
    for s, vs in voices.items():
        assert all(human.split_of(v) == s for v in vs)
    if {"klettres-data"} <= set(INSTALLED):  # its two speakers land on both sides
        assert "klettres-data:en_GB" in voices["dev"] and "klettres-data:en" in voices["test"]


def test_transcripts_come_from_the_packages(built):
    out, _, _ = built
    recs = _records(out)
    by_orig = {os.path.basename(r["original"]): r["text"] for r in recs["dev"] + recs["test"]}
    if "pocketsphinx-testdata" in INSTALLED:
        assert by_orig["sense_and_sensibility_01_austen_64kb-0880.wav"] == \
            "he was not an ill disposed young man"
        assert by_orig["goforward.raw"] == "go forward ten meters"
        assert "numbers.raw" not in by_orig  # ships without a transcript
    if "ktuberling-data" in INSTALLED:
        assert by_orig["egypt_palmtree.ogg"] == "palm tree"
        assert by_orig["pizzeria_olive.ogg"] == "olive"
        assert "moon_ufo.ogg" not in by_orig
    if "klettres-data" in INSTALLED:
        assert by_orig["Q.ogg"] == "q" and by_orig["well.ogg"] == "well"
        assert "th.ogg" not in by_orig  # a sound, not a word
    if "tuxpaint-stamps-default" in INSTALLED:
        assert by_orig["frog_desc.ogg"] == "a frog"
        assert "hen_desc.ogg" not in by_orig  # text says "A brown hen."
    if "warzone2100-data" in INSTALLED:
        # the message's label, British spelling mapped, numbers in words
        assert by_orig["pcv352.ogg"] == "artifact recovered"
        assert by_orig["pcv463.ogg"] == "ten minutes remaining"
        assert by_orig["v-onway2.ogg"] == "on our way"
        assert not any(k.startswith("tut") for k in by_orig)  # subtitles rewritten since
        assert "pcv397.ogg" not in by_orig  # "LZ 1": letters or "landing zone"?
        assert "rotlsr.ogg" not in by_orig and "col013a.ogg" not in by_orig


def test_rerun_reuses_audio_and_rewrites_identical_manifests(built):
    out, first, _ = built
    before = {s: (out / f"{s}.jsonl").read_bytes() for s in ("dev", "test")}
    again = human.build_human_set(str(out), log=lambda *a: None)
    assert again["converted"] == 0 and again["reused"] == first["converted"] + first["reused"]
    assert {s: (out / f"{s}.jsonl").read_bytes() for s in ("dev", "test")} == before
    # a file lost since (e.g. a run killed before it was written) is made again, alone
    victim = read_manifest(out / "dev.jsonl" if before["dev"] else out / "test.jsonl")[0]
    os.remove(victim["audio_filepath"])
    third = human.build_human_set(str(out), log=lambda *a: None)
    assert third["converted"] == 1
    assert {s: (out / f"{s}.jsonl").read_bytes() for s in ("dev", "test")} == before


def test_missing_package_is_reported_once_and_skipped(tmp_path, monkeypatch):
    calls = []

    def lister():
        calls.append(1)
        return iter(())

    monkeypatch.setattr(human, "SOURCES", {"no-such-package": (str(tmp_path / "absent"), lister),
                                           **human.SOURCES})
    logs: list[str] = []
    items, missing = human.list_items(logs.append)
    assert missing[0] == "no-such-package" and not calls
    assert sum("no-such-package" in m for m in logs) == 1
    assert "apt-get install no-such-package" in logs[0]
    assert {i.source for i in items} == set(INSTALLED)


def test_cli_synth_human(tmp_path, capsys, monkeypatch):
    from app.cli import main

    assert main(["synth", "--human", "--out", str(tmp_path / "h")]) == 0
    text = capsys.readouterr().out
    assert "dev.jsonl" in text and INSTALLED[0] in text
    assert read_manifest(tmp_path / "h" / "dev.jsonl", check_files=True) is not None
    # a training corpus's directory is refused, not overwritten
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "corpus.json").write_text("{}")
    assert main(["synth", "--human", "--out", str(tmp_path / "c")]) == 2
    assert "training corpus" in capsys.readouterr().err
    # synthesis options do not apply (they were ignored without a word)
    assert main(["synth", "--human", "--out", str(tmp_path / "x"), "--hours", "2", "--voices", "kokoro:*"]) == 2
    assert "--human copies Debian's recordings as they are: --hours, --voices do not apply" in capsys.readouterr().err
    # nothing installed: an error that says what to install
    monkeypatch.setattr(human, "SOURCES", {"no-such-package": (str(tmp_path / "absent"),
                                                               lambda: iter(()))})
    assert main(["synth", "--human", "--out", str(tmp_path / "e")]) == 2
    assert "install-system-deps.sh" in capsys.readouterr().err
