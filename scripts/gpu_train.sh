#!/usr/bin/env bash
# Train the float RNN-T on a GPU machine that has no TTS voices (docs/training.md, "GPUs").
#
# Either carry the corpus, Opus-packed (10 h of speech = ~51 MiB):
#   here:   python -m trainer.data.pack pack data/corpus .gpu/pack --splits train,dev
#   there:  bash scripts/gpu_train.sh .gpu/pack MINUTES [KEY=VALUE ...]   (train config overrides)
# or carry the voices and synthesize it there with all cores (no size limit on the corpus):
#   here:   bash scripts/tts_bundle.sh .gpu/tts.tar.xz                     (27 MiB)
#   there:  bash scripts/gpu_train.sh synth:HOURS MINUTES [KEY=VALUE ...]
# The bundle lacks festival and pico; EXTRA_PACKS="dir ..." appends the training split of
# more packed corpora (e.g. just those voices' utterances of a corpus made here).
# SYNTH_ARGS adds `nnasr synth` options (default: --gloss-fraction 0.1; with the default
# everyday share of 0.6 and short share of 0.12, WordNet text stays a minority).
# SOURCE "again" reuses $WORK/corpus of an earlier call on the same (still warm) machine;
# with RESUME=1 training continues from $RUN/last.pt. DEADLINE_S=N shortens the training
# budget so that the whole script ends within N s of its start (a caller's hard limit).
#
# Unpacks (or synthesizes) the corpus into $WORK/corpus, trains for
# MINUTES with `nnasr train` (time-boxed; the LR decays over the end of the budget), and
# leaves the log, the history and the resumable checkpoint (split into 15 MiB parts:
# `cat last.pt.part-* > last.pt`) in $OUT. Wheels in .whl/ (soundfile, cffi, jiwer, ...)
# are installed first when present.
set -u
SRC=${1:?packed corpus directory, or synth:HOURS}
MIN=${2:?minutes}
shift 2
OUT=${OUT:-/tmp/nnasr-out}
WORK=${WORK:-/tmp/nnasr-gpu}
RUN=${RUN:-$WORK/run}  # run directory (RUN=$OUT/run brings weights-only snapshots back even if killed)
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
WHEELS=${WHEELS:-.whl}  # wheels for the target python (WHEELS=none: skip)
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi -L 2>/dev/null
t0=$(date +%s)
AMP=amp=true  # bf16 autocast, if this torch/cuDNN runs an LSTM under it
python3 -c "import torch; m=torch.nn.LSTM(8,8,batch_first=True).cuda()
with torch.autocast('cuda', dtype=torch.bfloat16): y,_=m(torch.randn(2,5,8,device='cuda'))
y.float().sum().backward(); print('bf16 LSTM ok', y.dtype)" || AMP=amp=false
if [ "$SRC" = again ]; then
  [ -f "$WORK/corpus/train.jsonl" ] || { echo "no $WORK/corpus from an earlier call" >&2; exit 1; }
  EXTRA_PACKS=""  # already appended
elif [[ "$SRC" == synth:* ]]; then
  mkdir -p "$WORK/tts" && tar -xJf "${TTS:-.gpu/tts.tar.xz}" -C "$WORK/tts" || exit 1
  . "$WORK/tts/env.sh"
  python3 -m app.cli synth --out "$WORK/corpus" --hours "${SRC#synth:}" --dev-hours "${DEV_HOURS:-0.1}" \
    --test-hours 0.01 --workers "$(nproc)" --no-progress ${SYNTH_ARGS:---gloss-fraction 0.1} || exit 1
  cp "$WORK/corpus/corpus.json" "$OUT/" 2>/dev/null
  echo "synthesized in $(( $(date +%s) - t0 )) s"
else
  python3 -m trainer.data.pack unpack "$SRC" "$WORK/corpus" --workers "$(nproc)" || exit 1
  echo "unpacked in $(( $(date +%s) - t0 )) s"
fi
for p in ${EXTRA_PACKS:-}; do
  x="$WORK/extra-$(basename "$p")"
  python3 -m trainer.data.pack unpack "$p" "$x" --workers "$(nproc)" || exit 1
  # read_manifest resolves the paths against the pack's own directory; write_manifest keeps them
  python3 -c "import sys; from trainer.data.manifest import read_manifest as r, write_manifest as w
w(sys.argv[1], r(sys.argv[1]) + r(sys.argv[2]))" "$WORK/corpus/train.jsonl" "$x/train.jsonl" || exit 1
  echo "added $(wc -l < "$x/train.jsonl") utterances of $p"
done
# the feature cache, one BLAS thread per worker (16 workers x 16 BLAS threads thrash)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python3 -c "
import sentencepiece as s; from trainer.dataset import load_features
sp = s.SentencePieceProcessor(model_file='$WORK/corpus/tokenizer.model')
print(len(load_features('$WORK/corpus/train.jsonl', sp, workers=$(nproc), progress=False)), 'utterances')" || exit 1
echo "features in $(( $(date +%s) - t0 )) s"
if [ -n "${DEADLINE_S:-}" ]; then  # leave ~50 s for start-up, the last evaluation and saving
  MIN=$(python3 -c "print(f'{max(0.3, min($MIN, ($DEADLINE_S - $(( $(date +%s) - t0 )) - 50) / 60)):.2f}')")
  echo "training for $MIN min, to end within $DEADLINE_S s"
fi
# SIGTERM (checkpoint written) well before a caller's hard limit, if the budget overruns
timeout -s TERM "$(python3 -c "print(int(60 * $MIN + 40))")" \
  python3 -m app.cli train --data "$WORK/corpus" --out "$RUN" --minutes "$MIN" --no-progress \
  ${RESUME:+--resume} --set "$AMP" "$@" \
  2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
if [ "$RUN" != "$OUT/run" ]; then
  cp "$RUN/history.json" "$OUT/" 2>/dev/null
  [ -f "$RUN/last.pt" ] && split -b 15M "$RUN/last.pt" "$OUT/last.pt.part-"
fi
echo "total $(( $(date +%s) - t0 )) s, train rc=$rc"
ls -la "$OUT"
exit "$rc"
