"""Speech corpus: text normalization, offline TTS synthesis, manifests, tokenizer.

Nothing in this package imports torch: the evaluator reuses
:func:`trainer.data.text.normalize_text` for WER normalization, and
:func:`trainer.data.manifest.read_manifest` is what the trainer reads data with.
"""
