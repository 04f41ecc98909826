#!/usr/bin/env bash
# GPU check of the paper preset's memory and speed, and of the CUDA code path, offline.
#
#   SRCAL_HOME=DIR OUT=DIR bash tools/gpu_check.sh [7b|tiny]
#
# SRCAL_HOME must hold data/smoke and zoo/srcal-micro (`srcal data build
# --preset smoke`, `srcal zoo build srcal-micro`; srcal-micro-lm is built on first use). Steps, logged to $OUT:
# 1. a random-weight model of LLaVA-1.5-7B's architecture (tools/llava_shape.py);
# 2. `srcal calibrate --preset llava15-7b` on it for one iteration with the paper's batch sizes,
#    LoRA ranks and generation budgets, on the smoke pools (few steps; an 8-line scorer stand-in:
#    Qwen2.5-1.5B is not offline); peak CUDA memory per stage lands in the manifests;
# 3. `srcal eval` of its iteration-1 adapter at the preset's eval settings (512 new tokens, batch 16),
#    then again with kv_cache=static and batch_size auto (same responses expected, time and memory compared);
# 4. `srcal run --preset smoke` on CUDA (the whole loop + baselines + leaderboard, bf16).
set -uo pipefail
SHAPE=${1:-7b}
: "${OUT:?set OUT}" "${SRCAL_HOME:?set SRCAL_HOME}"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HOME=${HF_HOME:-$(mktemp -d)}
SRCAL=(python3 -m harness.cli)
WORK=$(mktemp -d)
step() { echo "== $(date -u +%T) $*"; }

step "versions"
python3 -c "import torch, transformers, trl, peft; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

step "1. random LLaVA-1.5-7B-shaped model ($SHAPE)"
python3 -m tools.llava_shape --out "$WORK/llava-shape" --shape "$SHAPE" || exit 1

step "2. srcal calibrate --preset llava15-7b, one iteration on the smoke pools"
"${SRCAL[@]}" calibrate --preset llava15-7b --run-dir "$WORK/run" \
  --set model.base="$WORK/llava-shape" --set data_preset=smoke --set iterations=1 \
  --set rft.max_steps=6 \
  --set scorer.backbone=srcal-micro-lm --set scorer.train_items=6 --set scorer.train_steps=2 \
  --set curation.tau=0.0 --set curation.require_correct=false \
  --set preference.max_steps=4 2>&1 | tee "$OUT/calibrate.log" | grep -v "it/s]"
python3 - "$WORK/run" >"$OUT/stages.json" <<'EOF'
import json, sys
from pathlib import Path
rows = {}
for m in sorted(Path(sys.argv[1]).glob("*/*.manifest.json")):
    d = json.loads(m.read_text())
    s = d.get("summary", {})
    rows[f"{m.parent.name}/{d['stage']}"] = {"seconds": d["seconds"], **{k: v for k, v in s.items() if not isinstance(v, dict | list)}}
print(json.dumps(rows, indent=1))
EOF
cat "$OUT/stages.json"

step "3. srcal eval of iter_1 at the preset's eval settings"
"${SRCAL[@]}" eval --model "$WORK/run/iter_0/model" --adapter "$WORK/run/iter_1/adapter" \
  --benchmarks easyvqa,charts,arithmetic --data "$SRCAL_HOME/data/smoke" --batch-size 16 \
  --set max_new_tokens=512 --reader conclusion --out "$WORK/eval" 2>&1 | tail -n 5
python3 -c "
import json, sys
for b in ('easyvqa', 'charts', 'arithmetic'):
    p = json.load(open('$WORK/eval/' + b + '/metrics.json'))['provenance']
    print(b, 'n', p['data']['n'], 'seconds', p['seconds'], 'peak_cuda_gib', p['peak_cuda_gib'])
" | tee "$OUT/eval.txt"

step "3b. the same evaluation with a static KV cache (compiled decode step on CUDA) and batch_size auto"
"${SRCAL[@]}" eval --model "$WORK/run/iter_0/model" --adapter "$WORK/run/iter_1/adapter" \
  --benchmarks easyvqa,charts,arithmetic --data "$SRCAL_HOME/data/smoke" --batch-size auto \
  --set max_new_tokens=512 --set kv_cache=static --reader conclusion --out "$WORK/eval-static" 2>&1 | grep "batch_size auto\|accuracy" | tail -n 4
python3 -c "
import json
for b in ('easyvqa', 'charts', 'arithmetic'):
    p = json.load(open('$WORK/eval-static/' + b + '/metrics.json'))['provenance']
    s = [json.loads(l) for l in open('$WORK/eval-static/' + b + '/samples.jsonl')]
    same = [json.loads(l)['response'] for l in open('$WORK/eval/' + b + '/samples.jsonl')] == [r['response'] for r in s]
    print(b, 'static+auto', 'n', p['data']['n'], 'seconds', p['seconds'], 'peak_cuda_gib', p['peak_cuda_gib'], 'batch', s[0]['timing']['batch_size'], 'same responses', same)
" | tee -a "$OUT/eval.txt"

step "4. srcal run --preset smoke on CUDA"
"${SRCAL[@]}" run --preset smoke --run-dir "$WORK/smoke" 2>&1 | tee "$OUT/smoke.log" | grep -v "it/s]" | tail -n 8
"${SRCAL[@]}" leaderboard "$WORK/smoke" --format md --out "$OUT/smoke-leaderboard" >/dev/null && echo leaderboard ok
grep -h '"device"\|"dtype"' "$WORK"/smoke/eval/iter_3/easyvqa/metrics.json | sort -u | head -n 4
step "done"
