#!/usr/bin/env bash
# Re-creates the embedded default model from its training run: models/emoji64-d4 (final checkpoint, float32),
# models/emoji64-d4-early and models/emoji64-d4-step<N> (earlier checkpoints of the same run, transformer weights in
# float16, sharing the final bundle's VAE graphs), the model card's pictures and the parity reference set
# test/fixtures/default-model.
#
# The checkpoints are not in git: they come from the run folder $VARSCOPE_DEFAULT_RUN (default <repo>/runs/default-cpu),
# made on this project's 2-core CPU machine, shared with other jobs (a GPU runs the same commands with --device cuda
# and longer budgets). From the repository root:
#   PYTHONPATH=python /usr/bin/python3 -m varscope.prepare_data --out out/data/emoji64.npz
#   P="env PYTHONPATH=python nice -n 5 /usr/bin/python3 -m"; D="--data out/data/emoji64.npz"; R=runs/default-cpu
#   # start: the previous default model (9 emoji categories, 4.5 min on an H100), recovered from its bundle
#   $P varscope.from_bundle --bundle models/emoji64-d4 --out $R/start
#   # 1. the class path (class table and AdaLN) on the 11 visual classes; each new class starts from an old one
#   $P varscope.train_finetune $D --vae $R/start/vae.pth --var $R/start/var.pth --old-bundle models/emoji64-d4 \
#     --out $R/class --minutes 25 --batch-size 16 --full-batch-size 2 --lr 2e-3 --warmup 5 --prefix-scales 6 \
#     --full-every 8 --only class_emb,ada_lin --threads 1
#   # 2. a sharper decoder: decoder and post_quant_conv only, so every token of every image stays the same
#   $P varscope.train_vae $D --out $R/vae --init $R/start/vae.pth --only decoder,post_quant_conv --steps 400 \
#     --vae-lr 2e-4 --vae-warmup 20 --vae-batch-size 16 --threads 1
#   # 3. every weight of the transformer, from the end of stage 1 (the shipped run: its steps are the timeline)
#   $P varscope.train_finetune $D --vae $R/start/vae.pth --var $R/class/var.pth --out $R/var --minutes 75 --keep 0 \
#     --keep-fractions 0.1,0.3,0.6 --batch-size 16 --full-batch-size 8 --lr 3e-4 --warmup 20 --prefix-scales 6 \
#     --full-every 4 --threads 1
#   $P varscope.train_eval $D --vae $R/vae/vae.pth --var $R/var/var.pth --out $R/eval --per-class 0
#   $P varscope.agreement $D --vae $R/vae/vae.pth --var $R/var/var.pth --cfg CFG --top-k K --top-p P --per-class 64 \
#     --classifier $R/classifier.pt --out $R/agreement
# Every stage stops and resumes (--resume). The early bundle is the first var_step<N>.pth after step 0, the others
# the later ones; each bundle records the sha256 of its source checkpoints in varscope.json (provenance.sources)
# and the run's facts (provenance.training). Python with torch + onnx: $PYTHON, default /usr/bin/python3.
# Options: --no-fixtures (bundles only).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${VARSCOPE_DEFAULT_RUN:-$repo/runs/default-cpu}"
python="${PYTHON:-/usr/bin/python3}"
fixtures=1
[[ "${1:-}" == "--no-fixtures" ]] && fixtures=0
for f in vae/vae.pth vae/vae.json var/var.pth var/var.json eval/metrics.json eval/recon.png agreement/agreement.json \
         agreement/samples.png; do
  [[ -f "$run/$f" ]] || { echo "error: $run/$f not found (set VARSCOPE_DEFAULT_RUN to the training run folder)" >&2; exit 2; }
done
cd "$repo"
export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# class names, sampling, checkpoint steps and the provenance.training facts, all from the run's own records
"$python" - "$run" "$stage" <<'EOF'
import glob, json, os, re, sys
run, stage = sys.argv[1:]
load = lambda p: json.load(open(os.path.join(run, p)))
final, vae, metrics, agree = load('var/var.json'), load('vae/vae.json'), load('eval/metrics.json'), load('agreement/agreement.json')
open(os.path.join(stage, 'classes.txt'), 'w').write('\n'.join(final['classes']) + '\n')
s = agree['sampling']
open(os.path.join(stage, 'sampling'), 'w').write(f"{s['cfg']},{s['top_k']},{s['top_p']}\n")
steps = sorted(int(re.search(r'var_step(\d+)\.pth$', p).group(1)) for p in glob.glob(os.path.join(run, 'var', 'var_step*.pth')))
steps = [n for n in steps if 0 < n < final['step']]
open(os.path.join(stage, 'steps'), 'w').write(' '.join(map(str, [final['step']] + steps)) + '\n')
for name in ['var'] + [f'var_step{n}' for n in steps]:
    cfg = load(f'var/{name}.json')
    facts = {'run': 'runs/default-cpu (not in git)', 'hardware': '2 CPU cores shared with other jobs (1 torch thread, nice 5), torch 1.13',
             'command': 'tools/export_default.sh (its header lists every stage)',
             'start': 'the previous default model (9 emoji categories), fine-tuned on 11 visual classes: '
                      'class path, then a decoder-only VQ-VAE fine-tune (tokens unchanged), then every transformer weight',
             'step': cfg['step'], 'totalSteps': final['step'], 'seconds': cfg['seconds'],
             'var': cfg['training'], 'vae': vae['training'],
             'data': {**cfg['data'], 'images': 'Twemoji (CC-BY 4.0) + Noto Emoji (Apache 2.0), 64x64'},
             'heldOut': {'psnr': metrics['vae']['psnr'], 'codebookUsagePercent': metrics['vae']['codebook_usage_percent']}}
    if name == 'var':
        facts['heldOut'].update(tokenAccuracy=metrics['var']['token_accuracy'], nll=metrics['var']['nll'])
        facts['agreement'] = {'classifierHeldOutAccuracy': agree['classifier']['held_out_accuracy'],
                              'perClass': agree['agreement']['per_class'], 'samplesPerClass': s['per_class']}
    json.dump(facts, open(os.path.join(stage, f'{name}.training.json'), 'w'), indent=1)
EOF
read -r final_step mid_steps < <(cat "$stage/steps")
common=(--classes "$stage/classes.txt" --sampling "$(cat "$stage/sampling")")
vae="$run/vae/vae.pth"
"$python" -W ignore -m varscope.export --vae "$vae" --var "$run/var/var.pth" \
  --out "$stage/emoji64-d4" --id emoji64-d4 --name "Emoji VAR d4 (final, step $final_step)" \
  --description "VAR (depth 4) on 64x64 emoji (Twemoji + Noto), 11 visual classes; fine-tuned on a CPU from the 9-category model." \
  --training "$stage/var.training.json" "${common[@]}"
ids=(emoji64-d4)
first=1
for n in $mid_steps; do
  if [[ $first == 1 ]]; then id=emoji64-d4-early; label="early, step $n"; first=0; else id="emoji64-d4-step$n"; label="step $n"; fi
  # float16 transformer weights so that all the bundles stay under 40 MB
  "$python" -W ignore -m varscope.export --vae "$vae" --var "$run/var/var_step$n.pth" \
    --out "$stage/$id" --id "$id" --name "Emoji VAR d4 ($label of $final_step)" \
    --description "The same training run at step $n of $final_step (transformer weights in float16); shares the VAE of emoji64-d4." \
    --training "$stage/var_step$n.training.json" --fp16 --share-vae-from "$stage/emoji64-d4" "${common[@]}"
  ids+=("$id")
done

# replace the generated files only: README.md and card/ in the bundle folders are written by hand
for d in models/emoji64-d4-step*; do [[ -d "$d" ]] && rm -f "$d"/*.onnx "$d"/*.bin "$d/varscope.json"; done
for id in "${ids[@]}"; do
  mkdir -p "models/$id"
  rm -f "models/$id"/*.onnx "models/$id"/*.bin "models/$id/varscope.json"
  cp "$stage/$id"/* "models/$id/"
done
mkdir -p models/emoji64-d4/card
rm -f models/emoji64-d4/card/samples_early.png
cp "$run/eval/recon.png" models/emoji64-d4/card/recon.png
cp "$run/agreement/samples.png" models/emoji64-d4/card/samples.png
printf '{"id": "emoji64-d4"}\n' > models/default.json

if [[ "$fixtures" == 1 ]]; then
  (cd python && VARSCOPE_DEFAULT_RUN="$run" "$python" -m tests.test_default_model --write-fixtures "$run")
fi
du -sb models
