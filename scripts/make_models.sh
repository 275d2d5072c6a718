#!/usr/bin/env bash
# The whole recipe, from nothing to the shipped models and the model card. Resumable:
# every stage skips what is finished (synthesis skips finished clips, training resumes
# from OUT/last.pt, exports and evaluations are redone only when their inputs changed).
#
#   bash scripts/make_models.sh            # budgets for 2 CPU cores (see MINUTES_* below)
#   FLOAT_MINUTES=600 bash scripts/make_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NNASR=${NNASR:-.venv/bin/nnasr}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/corpus}
HOURS=${HOURS:-10}
FLOAT_MINUTES=${FLOAT_MINUTES:-90}
AAT_STEPS=${AAT_STEPS:-140}
CSP_STEPS=${CSP_STEPS:-140}
SPARSITY=${SPARSITY:-0.8}
RUNS=${RUNS:-runs}
start=$(date +%s)

# 1. corpus (resumable)
$NNASR synth --hours "$HOURS" --out "$DATA"

# 2. float model (resumable; the committed checkpoint seeds it when present)
mkdir -p "$RUNS/float"
if [ ! -f "$RUNS/float/last.pt" ] && [ -f assets/checkpoints/float.pt ]; then
  cp assets/checkpoints/float.pt "$RUNS/float/last.pt"
fi
resume=(); [ -f "$RUNS/float/last.pt" ] && resume=(--resume)
$NNASR train --data "$DATA" --out "$RUNS/float" "${resume[@]}" --minutes "$FLOAT_MINUTES" --steps "${FLOAT_STEPS:-4500}" --no-progress \
  --set max_frames=6000 eval_every=300 eval_utts=100

# 3. AAT fine-tune, all ops on the NNA
resume=(); [ -f "$RUNS/aat/last.pt" ] && resume=(--resume)
$NNASR train --data "$DATA" --out "$RUNS/aat" --init "$RUNS/float/last.pt" --aat "${resume[@]}" \
  --steps "$AAT_STEPS" --no-progress --set lr=3e-4 warmup=20 eval_every=0 max_frames=4000

# 4. CSP pruning with AAT
resume=(); [ -f "$RUNS/aat-csp/last.pt" ] && resume=(--resume)
$NNASR train --data "$DATA" --out "$RUNS/aat-csp" --init "$RUNS/aat/last.pt" --aat "${resume[@]}" \
  --prune csp --sparsity "$SPARSITY" --steps "$CSP_STEPS" --no-progress \
  --set lr=3e-4 warmup=10 eval_every=0 max_frames=4000 prune_start=0.05 prune_end=0.6 prune_every=20

# 5. exports
mkdir -p assets/models
$NNASR export "$RUNS/float/last.pt" --out assets/models/baseline-ptq.nnasr --data "$DATA" --no-float --name baseline-ptq
$NNASR export "$RUNS/aat/last.pt" --out assets/models/aat.nnasr --no-float --name aat
$NNASR export "$RUNS/aat-csp/last.pt" --out assets/models/aat-csp.nnasr --no-float --name aat-csp

# 6. evaluation and the model card (+ a seen-voice test set)
$PY benchmarks/make_seen_voice_test.py --data "$DATA" --n 200
$PY benchmarks/model_card.py --data "$DATA" --runs "$RUNS" --wall-seconds $(( $(date +%s) - start ))
