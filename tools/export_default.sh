#!/usr/bin/env bash
# Re-creates the embedded default model bundles models/emoji64-d4 (final) and models/emoji64-d4-early (early
# checkpoint, sharing the VAE graphs of the final one), and the parity reference set test/fixtures/default-model.
#
# The checkpoints are not in git: they come from the training run in $VARSCOPE_DEFAULT_RUN (default
# <repo>/runs/default-h100), made on one H100 with
#   PYTHONPATH=python python3 -m varscope.train_all --data out/data/emoji64.npz --out runs/default --minutes 5 --device cuda
# Each bundle records the sha256 of its source checkpoints in varscope.json (provenance.sources).
# Python with torch + onnx: $PYTHON, default /usr/bin/python3. Options: --no-fixtures (bundles only).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${VARSCOPE_DEFAULT_RUN:-$repo/runs/default-h100}"
python="${PYTHON:-/usr/bin/python3}"
fixtures=1
[[ "${1:-}" == "--no-fixtures" ]] && fixtures=0
for f in vae/vae.pth vae/vae.json var/var.pth var/var_early.pth var/var.json summary.json eval/metrics.json; do
  [[ -f "$run/$f" ]] || { echo "error: $run/$f not found (set VARSCOPE_DEFAULT_RUN to the training run folder)" >&2; exit 2; }
done
cd "$repo"
export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# class names, the early step and the provenance.training facts, all from the run's own records
"$python" - "$run" "$stage" <<'EOF'
import json, os, sys
run, stage = sys.argv[1:]
load = lambda p: json.load(open(os.path.join(run, p)))
vae, var, summary, metrics = load('vae/vae.json'), load('var/var.json'), load('summary.json'), load('eval/metrics.json')
open(os.path.join(stage, 'classes.txt'), 'w').write('\n'.join(var['classes']) + '\n')
total = var['step']
early = max(1, round(var['training']['early_frac'] * total))   # train_var.py saves var_early.pth at this step
open(os.path.join(stage, 'steps'), 'w').write(f'{total} {early}\n')
for key, step in (('var', total), ('var_early', early)):
    facts = {'run': 'runs/default-h100 (not in git)', 'hardware': '1x NVIDIA H100, torch 2.11, CUDA',
             'command': 'PYTHONPATH=tools python3 -m varscope.train_all --data out/data/emoji64.npz '
                        '--out runs/default --minutes 5 --device cuda',
             'minutes': summary['minutes'], 'step': step, 'totalSteps': total,
             'vae': {'steps': summary['vae']['steps'], 'seconds': summary['vae']['seconds'], **vae['training']},
             'var': {'seconds': summary['var']['seconds'], **var['training']},
             'data': {**vae['data'], 'images': 'Twemoji (CC-BY 4.0) + Noto Emoji (Apache 2.0), 64x64'},
             'heldOut': {'psnr': metrics['vae']['psnr'], 'codebookUsagePercent': metrics['vae']['codebook_usage_percent'],
                         'tokenAccuracy': metrics[key]['token_accuracy'], 'nll': metrics[key]['nll']}}
    json.dump(facts, open(os.path.join(stage, f'{key}.training.json'), 'w'), indent=1)
EOF
read -r final_step early_step < "$stage/steps"
common=(--classes "$stage/classes.txt" --sampling 3.5,100,0.95)
"$python" -W ignore -m varscope.export --vae "$run/vae/vae.pth" --var "$run/var/var.pth" \
  --out "$stage/emoji64-d4" --id emoji64-d4 --name "Emoji VAR d4 (final, step $final_step)" \
  --description "VAR (depth 4) trained for 4.5 minutes on 64x64 emoji (Twemoji + Noto), 9 emoji categories as classes." \
  --training "$stage/var.training.json" "${common[@]}"
# the early transformer is stored in float16 (weights rounded) so that models/ stays under 30 MB
"$python" -W ignore -m varscope.export --vae "$run/vae/vae.pth" --var "$run/var/var_early.pth" \
  --out "$stage/emoji64-d4-early" --id emoji64-d4-early --name "Emoji VAR d4 (early, step $early_step)" \
  --description "The same VAR at 10 % of its training steps (transformer weights in float16); shares the VAE of emoji64-d4." \
  --training "$stage/var_early.training.json" --fp16 --share-vae-from "$stage/emoji64-d4" "${common[@]}"

# replace the generated files only: README.md and card/ in the bundle folders are written by hand
for id in emoji64-d4 emoji64-d4-early; do
  mkdir -p "models/$id"
  rm -f "models/$id"/*.onnx "models/$id"/*.bin "models/$id/varscope.json"
  cp "$stage/$id"/* "models/$id/"
done
mkdir -p models/emoji64-d4/card
cp "$run/eval/recon.png" "$run/eval/samples.png" "$run/eval/samples_early.png" models/emoji64-d4/card/
printf '{"id": "emoji64-d4"}\n' > models/default.json

if [[ "$fixtures" == 1 ]]; then
  (cd python && "$python" -m tests.test_default_model --write-fixtures "$run")
fi
du -sb models
