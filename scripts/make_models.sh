#!/usr/bin/env bash
# The whole recipe, from nothing to the shipped models and the model card. Resumable:
# every stage skips what is finished (synthesis skips finished clips, training resumes
# from OUT/last.pt and leaves a finished run as it is, a FLOAT_MINUTES budget is trained
# once); the exports, the models' recorded WERs and the model card (minutes, not hours) are
# made again on every run. A new assets/checkpoints/float.pt (the float model
# continued and committed) rebuilds everything after it: each fine-tune keeps the sha256 of
# the checkpoint it started from and begins again when that changed.
#
#   bash scripts/make_models.sh            # budgets for 2 CPU cores (see the variables below)
#   FLOAT_MINUTES=600 bash scripts/make_models.sh   # also train the float model 600 more minutes
set -euo pipefail
cd "$(dirname "$0")/.."
NNASR=${NNASR:-.venv/bin/nnasr}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/corpus}
HOURS=${HOURS:-20}
# Kokoro, the best and slowest voice, at 14 % of the training clips instead of 40 %: 20 h in
# about an hour on 2 cores (docs/data.md); '' gives trainer/data/voices.py's shares
ENGINE_WEIGHTS=${ENGINE_WEIGHTS-kokoro=0.07,kokoro-blend=0.07,rhvoice=0.3,piper=0.1,mbrola-accented=0.02}
# isolated words, letters said by name and spellings (nnasr synth --words-fraction 1), trained
# beside the corpus: the corpus alone has almost no word said alone and no letter names
WORDS=${WORDS:-data/words}
WORDS_HOURS=${WORDS_HOURS:-4}  # 0: no such corpus
# more of them, training splits only, at trainer/data/voices.py's engine shares (Kokoro 40 % of
# the clips), each with its own seed (new draws of words and voices), as DIR:SEED:HOURS; data/words2:
# 6,958 clips in 18.6 min on 2 cores (docs/experiments.md). '' : none
MORE_WORDS=${MORE_WORDS-data/words2:1:3.5 data/words3:2:4}
FLOAT_MINUTES=${FLOAT_MINUTES:-0}  # 0: use the committed float checkpoint as it is
REFRESH_STEPS=${REFRESH_STEPS:-0}  # >0: decoder refresh (a predictor that memorized its sentences needed 600; docs/experiments.md)
AAT_STEPS=${AAT_STEPS:-300}
CSP_STEPS=${CSP_STEPS:-1400}  # PRUNE_WIDTH=0 only. 700: test WER 64.9 % against 63.0 % (docs/experiments.md)
SPARSITY=${SPARSITY:-0.8}
W4_STEPS=${W4_STEPS:-$AAT_STEPS}  # AAT at 4-bit weights, where PTQ breaks (aat-w4); 0: none
MAG_STEPS=${MAG_STEPS:-$CSP_STEPS}  # the pruning baseline, magnitude pruning as CSP is run (aat-mag); 0: none
# Both pruning methods prune a wider model: the float model with its encoder grown to
# PRUNE_WIDTH units (init_enc_hidden, the same function), pruned in PRUNE_FLOAT_STEPS float
# steps (they hear several times the audio of emulated AAT steps), then AAT_STEPS of AAT with
# the zeros held. 80 % of 384 units keeps 1.16 M weights, 80 % of 288 only 0.77 M: test WER
# +7.5 % relative to the dense parent against +31 % (docs/pruning.md, "A wider model pruned").
# PRUNE_WIDTH=0: the older recipe, CSP_STEPS AAT steps pruning the AAT model itself.
PRUNE_WIDTH=${PRUNE_WIDTH:-384}
PRUNE_FLOAT_STEPS=${PRUNE_FLOAT_STEPS:-2400}
# >0: the grown units' weights and the weights that read them start at this times the trained
# weights' mean magnitude (init_grow_scale), so the pruners weigh new and old units alike; at 0
# (the same function) both pruners remove every grown unit and the pair runs at 288 units, 68 %
# sparse instead of 80 % (docs/pruning.md, "What the width leaves")
PRUNE_GROW_SCALE=${PRUNE_GROW_SCALE:-0}
# per-group sparsity, 80 % of all prunable weights: the small predictor and joiner break at a
# uniform 80 % (test WER: uniform 89.7 % from an AAT model at 81.5 %; enc=0.9,pred=0.3,join=0.3
# 85.9 % from one at 82.2 %; docs/pruning.md); the wider encoder's share is 0.87, split so that
# the recurrent matrices, read every frame, hold more of the zeros (92 %) than the input ones,
# read once a chunk (82.86 %: 87 % of the encoder in all): the same test WER as a uniform 87 %
# at 0.39x the dense model's modeled NNA time per chunk at beam 4 instead of 0.49x (docs/pruning.md)
if [ "$PRUNE_WIDTH" = 0 ]; then PRUNE_LAYERS=${PRUNE_LAYERS:-enc=0.9,pred=0.3,join=0.3}
else PRUNE_LAYERS=${PRUNE_LAYERS:-enc=0.8286,enc.*.wh=0.92,pred=0.3,join=0.3}; fi
# the pruning runs' training manifests (space-separated; '': the recipe's, as AAT's). The shipped
# aat-csp and aat-mag: PRUNE_TRAIN="data/c7/train.jsonl data/c8/train.jsonl data/w7/train.jsonl
# data/w9/train.jsonl", the corpus and words recipes with other seeds (docs/training.md)
PRUNE_TRAIN=${PRUNE_TRAIN:-}
RUNS=${RUNS:-runs}
# extra model_card.py options, e.g. CARD_ARGS="--systems float baseline-ptq aat aat-csp" keeps
# the peers' stored figures instead of decoding the sets with them again
CARD_ARGS=${CARD_ARGS:-}
start=$(date +%s)

# 1. corpus (resumable)
weights=(); [ -n "$ENGINE_WEIGHTS" ] && weights=(--engine-weights "$ENGINE_WEIGHTS")
$NNASR synth --hours "$HOURS" --out "$DATA" "${weights[@]}"
train=(--train "$DATA/train.jsonl")
if [ "$WORDS_HOURS" != 0 ]; then
  $NNASR synth --hours "$WORDS_HOURS" --dev-hours 0.05 --test-hours 0.05 --words-fraction 1 \
    --out "$WORDS" "${weights[@]}"
  train+=("$WORDS/train.jsonl")
fi
for spec in $MORE_WORDS; do
  IFS=: read -r dir seed hours <<< "$spec"
  $NNASR synth --hours "$hours" --dev-hours 0 --test-hours 0 --words-fraction 1 --seed "$seed" --out "$dir"
  train+=("$dir/train.jsonl")
done

# 2. float model (resumable). The committed checkpoint (trained on a GPU, docs/training.md)
#    seeds it; FLOAT_MINUTES>0 trains it further here (on a GPU: scripts/gpu_train.sh).
#    With FLOAT_MINUTES=0 the run starts from the committed checkpoint whenever that changed
#    (a run trained further is moved to $RUNS/float.prev, not lost).
mkdir -p "$RUNS/float"
if [ -f assets/checkpoints/float.pt ] && [ "$FLOAT_MINUTES" = 0 ] && [ -f "$RUNS/float/last.pt" ] &&
   ! cmp -s assets/checkpoints/float.pt "$RUNS/float/last.pt"; then
  echo "make models: assets/checkpoints/float.pt differs from $RUNS/float/last.pt: using the committed one" \
       "(the old run: $RUNS/float.prev)"
  rm -rf "$RUNS/float.prev" && mv "$RUNS/float" "$RUNS/float.prev" && mkdir -p "$RUNS/float"
fi
if [ ! -f "$RUNS/float/last.pt" ] && [ -f assets/checkpoints/float.pt ]; then
  cp assets/checkpoints/float.pt "$RUNS/float/last.pt"
fi
# A budget of minutes is trained once: $RUNS/float/budget.txt says "started M" while it runs
# (a rerun after an interruption trains the rest of it) and "done M SHA256" after (a rerun
# with the same FLOAT_MINUTES and that checkpoint trains nothing more).
budget="$RUNS/float/budget.txt"
sha_of() { sha256sum "$1" | cut -c1-64; }
if [ ! -f "$RUNS/float/last.pt" ] || [ "$FLOAT_MINUTES" != 0 ] || grep -q '^started ' "$budget" 2>/dev/null; then
  minutes=$FLOAT_MINUTES; [ "$minutes" = 0 ] && minutes=600  # from nothing: 10 h here
  state=$(cat "$budget" 2>/dev/null || true)
  if [ -f "$RUNS/float/last.pt" ] && [ "$state" = "done $minutes $(sha_of "$RUNS/float/last.pt")" ]; then
    echo "make models: $RUNS/float trained its $minutes minutes already"
  elif [ -f "$RUNS/float/last.pt" ] && [ "${state#started }" != "$state" ]; then
    # interrupted: the rest of the budget it began with
    $NNASR train --data "$DATA" "${train[@]}" --out "$RUNS/float" --resume --no-progress
  elif [ -f "$RUNS/float/last.pt" ]; then
    # the checkpoint's own saved recipe, FLOAT_MINUTES more minutes of it
    echo "started $minutes" > "$budget"
    $NNASR train --data "$DATA" "${train[@]}" --out "$RUNS/float" --resume --minutes "$minutes" --no-progress
  else
    echo "started $minutes" > "$budget"
    $NNASR train --data "$DATA" "${train[@]}" --out "$RUNS/float" --minutes "$minutes" --no-progress \
      --set enc_hidden=288 enc_layers=4 dropout=0.15 tempo=0.1 gain_db=6 max_frames=6000 \
            eval_minutes=30 eval_every=0 eval_utts=100 steps=1000000
  fi
  [ -f "$RUNS/float/last.pt" ] && echo "done $minutes $(sha_of "$RUNS/float/last.pt")" > "$budget"
fi

# the step a checkpoint is at (0 where there is none or it cannot be read)
step_of() {
  local s
  s=$($PY -c "import sys, torch; print(int(torch.load(sys.argv[1], map_location='cpu', weights_only=False)['step']))" \
      "$1" 2>/dev/null) || s=0
  echo "${s:-0}"
}
# get $RUNS/NAME ready for a fine-tune of STEPS steps from INIT with the training options
# OPTIONS: prepare NAME STEPS INIT [OPTIONS...]. Fails (returns 1) when the run is finished,
# which leaves it as it is; sets resume=(--resume) when it has begun. It begins again (the old
# run moved to $RUNS/NAME.prev) if INIT or OPTIONS changed since it began: INIT's sha256 is kept
# in $RUNS/NAME/init.sha256 and OPTIONS in $RUNS/NAME/recipe.txt (a run from before a stamp is
# taken as made as the stamp says now). STEPS is not part of the recipe: more steps resume.
prepare() {
  local name=$1 steps=$2 init=$3 dir="$RUNS/$1" stamp recipe why=
  shift 3
  recipe="$*"
  resume=()
  stamp=$(sha256sum "$init" 2>/dev/null | cut -d' ' -f1) || stamp=missing  # (a dry run: NNASR=echo)
  if [ -f "$dir/last.pt" ]; then
    if [ -f "$dir/init.sha256" ] && [ "$(cat "$dir/init.sha256")" != "$stamp" ]; then why="$init changed"
    elif [ -f "$dir/recipe.txt" ] && [ "$(cat "$dir/recipe.txt")" != "$recipe" ]; then
      why="its options changed (were: $(cat "$dir/recipe.txt"))"
    fi
  fi
  if [ -n "$why" ]; then
    echo "make models: $why since $dir began: $name starts again (the old run: $dir.prev)"
    rm -rf "$dir.prev" && mv "$dir" "$dir.prev"
  fi
  mkdir -p "$dir" && echo "$stamp" > "$dir/init.sha256" && echo "$recipe" > "$dir/recipe.txt"
  if [ -f "$dir/last.pt" ]; then
    [ "$(step_of "$dir/last.pt")" -ge "$steps" ] && { echo "make models: $name is finished ($steps steps)"; return 1; }
    resume=(--resume)
  fi
  return 0
}
# one AAT fine-tune into $RUNS/NAME on the manifests of ${fit[@]} (the recipe's; the pruning
# runs': PRUNE_TRAIN): aat NAME STEPS INIT [train options] (see prepare)
fit=("${train[@]}")
aat() {
  local name=$1 steps=$2 init=$3
  shift 3
  prepare "$name" "$steps" "$init" "${fit[@]}" "$@" || return 0
  $NNASR train --data "$DATA" "${fit[@]}" --out "$RUNS/$name" --init "$init" --aat "${resume[@]}" \
    --steps "$steps" --no-progress "$@"
}

# 2b. decoder refresh: predictor and joiner re-initialized and trained briefly on the fixed
#     encoder (a long-trained predictor memorizes the training sentences; docs/training.md)
#     (not needed for the 40-hour model: its predictor saw ~85 000 distinct texts)
BASE="$RUNS/float"
if [ "$REFRESH_STEPS" != 0 ]; then
  refresh_opts=(--set freeze=enc reinit=pred,join ctc_weight=0 lr=1e-3 warmup=50 decay_frac=0.3 max_frames=24000
                eval_every=0 eval_utts=150)
  if prepare float-refresh "$REFRESH_STEPS" "$RUNS/float/last.pt" "${train[@]}" "${refresh_opts[@]}"; then
    $NNASR train --data "$DATA" "${train[@]}" --out "$RUNS/float-refresh" --init "$RUNS/float/last.pt" "${resume[@]}" \
      --steps "$REFRESH_STEPS" --no-progress "${refresh_opts[@]}"
  fi
  BASE="$RUNS/float-refresh"
fi

AAT_SET=(--set lr=1e-4 warmup=20 eval_every=0 max_frames=4000)
# one pruning run, every method with the same settings and PRUNE_TRAIN's manifests: prune NAME
# METHOD STEPS: from the widened float model ($RUNS/NAME-float, PRUNE_FLOAT_STEPS float steps,
# then AAT_STEPS AAT steps with the zeros held), or with PRUNE_WIDTH=0 from the AAT model (STEPS
# AAT steps)
prune() {
  local -a fit=("${train[@]}")  # aat() below reads it too
  [ -n "$PRUNE_TRAIN" ] && read -r -a fit <<< "--train $PRUNE_TRAIN"
  if [ "$PRUNE_WIDTH" = 0 ]; then
    aat "$1" "$3" "$RUNS/aat/last.pt" --prune "$2" --sparsity "$SPARSITY" \
      --set lr=3e-4 warmup=10 eval_every=0 max_frames=4000 prune_start=0.05 prune_end=0.6 prune_every=20 \
            prune_layers="$PRUNE_LAYERS"
    return
  fi
  local -a opts=(--prune "$2" --sparsity "$SPARSITY"
    --set init_enc_hidden="$PRUNE_WIDTH" lr=3e-4 warmup=50 decay_frac=0.4 max_frames=16000
          prune_start=0.15 prune_end=0.55 prune_every=50 prune_layers="$PRUNE_LAYERS" dropout=0.15
          tempo=0.1 gain_db=6 warp=0.12 tilt=1.0 inter_ctc_weight=0.3 eval_every=0 eval_minutes=0)
  [ "$PRUNE_GROW_SCALE" != 0 ] && opts+=(init_grow_scale="$PRUNE_GROW_SCALE")
  if prepare "$1-float" "$PRUNE_FLOAT_STEPS" "$BASE/last.pt" "${fit[@]}" "${opts[@]}"; then
    $NNASR train --data "$DATA" "${fit[@]}" --out "$RUNS/$1-float" --init "$BASE/last.pt" "${resume[@]}" \
      "${opts[@]}" --steps "$PRUNE_FLOAT_STEPS" --no-progress
  fi
  aat "$1" "$AAT_STEPS" "$RUNS/$1-float/last.pt" --prune "$2" --sparsity "$SPARSITY" \
    "${AAT_SET[@]}" prune_layers="$PRUNE_LAYERS"
}

# 3. AAT fine-tune, all ops on the NNA (lr 1e-4: test WER +3.6 % relative to float, against
#    +8.1 % at 3e-4 with the words corpus in the mix; docs/experiments.md)
aat aat "$AAT_STEPS" "$BASE/last.pt" "${AAT_SET[@]}"
shipped=(aat)

# 3b. AAT at 4-bit weights: the sub-8-bit model (PTQ at 4 bits loses 24 % relative to float,
#     AAT half of that in 300 steps; docs/experiments.md)
[ "$W4_STEPS" != 0 ] && { aat aat-w4 "$W4_STEPS" "$BASE/last.pt" --weight-bits 4 "${AAT_SET[@]}"; shipped+=(aat-w4); }

# 4. CSP pruning with AAT
prune aat-csp csp "$CSP_STEPS"
shipped+=(aat-csp)

# 4b. the pruning baseline: gradual magnitude pruning with CSP's settings, from the same AAT model
[ "$MAG_STEPS" != 0 ] && { prune aat-mag magnitude "$MAG_STEPS"; shipped+=(aat-mag); }

# 5. exports
mkdir -p assets/models
$NNASR export "$BASE/last.pt" --out assets/models/baseline-ptq.nnasr --data "$DATA" --no-float --name baseline-ptq
for m in "${shipped[@]}"; do
  $NNASR export "$RUNS/$m/last.pt" --out "assets/models/$m.nnasr" --no-float --name "$m"
done
shipped=(baseline-ptq "${shipped[@]}")

# 5b. each model file records its own WER (greedy, speech gate on) on the corpus's dev set
#     and, when present, the human dev set: `nnasr models` and the live app show them
for m in "${shipped[@]}"; do
  $NNASR eval --model "assets/models/$m.nnasr" --manifest "$DATA/dev.jsonl" --record "synthetic dev"
  if [ -f data/human/dev.jsonl ]; then
    $NNASR eval --model "assets/models/$m.nnasr" --manifest data/human/dev.jsonl --record "human dev"
  fi
done

# 6. evaluation and the model card (+ a seen-voice test set)
$PY benchmarks/make_seen_voice_test.py --data "$DATA" --n 200
# shellcheck disable=SC2086  # CARD_ARGS is a list of options
$PY benchmarks/model_card.py --data "$DATA" --words "$WORDS" --runs "$RUNS" --float-run "$(basename "$BASE")" \
  --wall-seconds $(( $(date +%s) - start )) $CARD_ARGS
