#!/usr/bin/env bash
# Train the float RNN-T on a GPU machine that cannot synthesize the corpus itself.
#
#   here:   python -m trainer.data.pack pack data/corpus .gpu/pack --splits train,dev
#   there:  bash scripts/gpu_train.sh .gpu/pack MINUTES [KEY=VALUE ...]   (train config overrides)
#
# Unpacks the Opus-packed corpus (trainer/data/pack.py) into $WORK/corpus, trains for
# MINUTES with `nnasr train` (time-boxed; the LR decays over the end of the budget), and
# leaves the log, the history and the resumable checkpoint (split into 15 MiB parts:
# `cat last.pt.part-* > last.pt`) in $OUT. Wheels in .whl/ (soundfile, cffi, jiwer, ...)
# are installed first when present.
set -u
PACK=${1:?packed corpus directory}
MIN=${2:?minutes}
shift 2
OUT=${OUT:-/tmp/nnasr-out}
WORK=${WORK:-/tmp/nnasr-gpu}
RUN=${RUN:-$WORK/run}  # run directory (RUN=$OUT/run brings weights-only snapshots back even if killed)
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
nvidia-smi -L 2>/dev/null
t0=$(date +%s)
AMP=amp=true  # bf16 autocast, if this torch/cuDNN runs an LSTM under it
python3 -c "import torch; m=torch.nn.LSTM(8,8,batch_first=True).cuda()
with torch.autocast('cuda', dtype=torch.bfloat16): y,_=m(torch.randn(2,5,8,device='cuda'))
y.float().sum().backward(); print('bf16 LSTM ok', y.dtype)" || AMP=amp=false
python3 -m trainer.data.pack unpack "$PACK" "$WORK/corpus" --workers "$(nproc)" || exit 1
echo "unpacked in $(( $(date +%s) - t0 )) s"
# the feature cache, one BLAS thread per worker (16 workers x 16 BLAS threads thrash)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python3 -c "
import sentencepiece as s; from trainer.dataset import load_features
sp = s.SentencePieceProcessor(model_file='$WORK/corpus/tokenizer.model')
print(len(load_features('$WORK/corpus/train.jsonl', sp, workers=$(nproc), progress=False)), 'utterances')" || exit 1
echo "features in $(( $(date +%s) - t0 )) s"
# SIGTERM (checkpoint written) well before a caller's hard limit, if the budget overruns
timeout -s TERM "$(python3 -c "print(int(60 * $MIN + 90))")" \
  python3 -m app.cli train --data "$WORK/corpus" --out "$RUN" --minutes "$MIN" --no-progress --set "$AMP" "$@" \
  2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
if [ "$RUN" != "$OUT/run" ]; then
  cp "$RUN/history.json" "$OUT/" 2>/dev/null
  [ -f "$RUN/last.pt" ] && split -b 15M "$RUN/last.pt" "$OUT/last.pt.part-"
fi
echo "total $(( $(date +%s) - t0 )) s, train rc=$rc"
ls -la "$OUT"
exit "$rc"
