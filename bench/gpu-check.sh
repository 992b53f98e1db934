#!/usr/bin/env bash
# One-shot GPU check for a Linux x64 machine with an NVIDIA GPU and no network.
#
#   here:   npx tsc -p tsconfig.json && bash bench/gpu-check.sh pack [ARCHIVE]     (default /tmp/varscope-gpu-check.tar.xz)
#   there:  tar xf varscope-gpu-check.tar.xz && bash varscope-gpu-check/bench/gpu-check.sh run [--d16 BUNDLE] [--out REPORT.json]
#
# The archive brings what the engine needs: node, the compiled engine (out/), the runtime node_modules (onnxruntime-node's
# Linux x64 binaries, sharp), the Vulkan loader libvulkan.so.1 (the NVIDIA driver brings its own Vulkan ICD), the default
# model, its PyTorch checkpoints as an index into the model's own weights.bin (checkpoints/index.json, and the few
# tensors not stored there in checkpoints/index.leftover.pth: the weights travel once), the python/varscope package
# (the reference the anchor runs) and a test image. `run` then, in one call of at most 8 minutes:
#   1. the WebGPU provider on the GPU against the CPU (out/bench/gpuParity.js: tokens, decoded images, teacher-forced
#      logits, 3 generation steps on the KV cache, node placement, first-run and best-of-3 times), on the default
#      model and, with --d16, on a d16-size bundle;
#   2. the PyTorch reference on CUDA on the default model's weights (bench/engine_ref.py --device cuda), when the
#      first python3 on PATH has torch with CUDA;
# and writes one JSON report (default ./gpu-check-report.json). Each part has its own time limit; a part that fails
# or runs out of time is recorded with its reason. With VK_ICD_FILENAMES pointing at a software Vulkan device
# (SwiftShader) the same run works on a machine without a GPU, slowly: a dry run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-}"
shift || true

pack() {
  local archive="${1:-/tmp/varscope-gpu-check.tar.xz}"
  local stage
  stage="$(mktemp -d)/varscope-gpu-check"
  mkdir -p "$stage/bin" "$stage/lib" "$stage/node_modules" "$stage/bench" "$stage/models" "$stage/media" "$stage/checkpoints"
  [[ -f "$here/out/bench/gpuParity.js" ]] || { echo "error: out/bench/gpuParity.js missing: run npx tsc -p tsconfig.json first" >&2; return 2; }
  cp "$(command -v node)" "$stage/bin/node"
  local vk
  for vk in /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib/chromium/libvulkan.so.1; do
    [[ -f "$vk" ]] && { cp -L "$vk" "$stage/lib/libvulkan.so.1"; break; }
  done
  [[ -f "$stage/lib/libvulkan.so.1" ]] || { echo "error: no libvulkan.so.1 to pack (apt install libvulkan1)" >&2; return 2; }
  # the compiled engine and benchmarks only (out/ also holds caches, data and test bundles of this machine)
  mkdir -p "$stage/out" && cp -r "$here/out/src" "$here/out/bench" "$stage/out/"
  cp "$here/bench/gpu-check.sh" "$here/bench/engine_ref.py" "$stage/bench/"
  cp -r "$here/models/emoji64-d4" "$stage/models/"
  rm -rf "$stage/models/emoji64-d4/card"
  cp "$here/media/sample.png" "$stage/media/"
  mkdir -p "$stage/python" && cp -r "$here/python/varscope" "$stage/python/" && find "$stage/python" -name __pycache__ -prune -exec rm -rf {} +
  # Runtime modules only; onnxruntime-node with its Linux x64 binaries alone.
  local m
  for m in onnxruntime-common sharp detect-libc semver bmp-ts @img/colour @img/sharp-linux-x64 @img/sharp-libvips-linux-x64; do
    mkdir -p "$stage/node_modules/$(dirname "$m")" && cp -rL "$here/node_modules/$m" "$stage/node_modules/$m"
  done
  local ort="$stage/node_modules/onnxruntime-node"
  mkdir -p "$ort/bin/napi-v6/linux"
  cp -r "$here/node_modules/onnxruntime-node/package.json" "$here/node_modules/onnxruntime-node/dist" "$ort/"
  cp -r "$here/node_modules/onnxruntime-node/bin/napi-v6/linux/x64" "$ort/bin/napi-v6/linux/"
  # The PyTorch anchor runs on the very weights of the bundle: its checkpoints are recovered here (where onnx is
  # installed) and shipped as an index into the staged weights.bin, which bench/engine_ref.py --index reads back.
  PYTHONPATH="$here/python" /usr/bin/python3 -W ignore -m varscope.from_bundle --bundle "$stage/models/emoji64-d4" --out "$stage/checkpoints" --index >/dev/null || return 1
  tar -C "$(dirname "$stage")" -cJf "$archive.tmp" varscope-gpu-check && mv "$archive.tmp" "$archive"
  rm -rf "$(dirname "$stage")"
  echo "packed $archive ($(du -m "$archive" | cut -f1) MB)"
}

# Runs "$@" with a time limit of $1 seconds; its stdout is the part's JSON, or {"error": ...} on failure.
part() {
  local limit="$1"
  shift
  local out err rc
  err="$(mktemp)"
  out="$(timeout "$limit" "$@" 2>"$err")"
  rc=$?
  if [[ $rc -eq 0 && -n "$out" ]]; then
    echo "$out"
  else
    local why
    why="$( [[ $rc -eq 124 ]] && echo "timed out after ${limit} s" || tail -c 600 "$err" | tr '\n"\\' '  /')"
    echo "{\"error\": \"exit $rc: ${why}\"}"
  fi
  rm -f "$err"
}

run() {
  local d16="" report="$PWD/gpu-check-report.json"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --d16) d16="$2"; shift 2 ;;
      --out) report="$2"; shift 2 ;;
      *) echo "unknown option $1" >&2; return 2 ;;
    esac
  done
  local node="$here/bin/node"
  [[ -x "$node" ]] || node="$(command -v node)"
  export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
  local t0=$SECONDS tmp
  tmp="$(mktemp -d)"
  echo "gpu-check: default model on webgpu vs cpu (limit 200 s)" >&2
  part 200 "$node" "$here/out/bench/gpuParity.js" --model "$here/models/emoji64-d4" --image "$here/media/sample.png" --provider webgpu --steps 3 --repeats 3 >"$tmp/default.json"
  if [[ -n "$d16" ]]; then
    echo "gpu-check: $d16 on webgpu vs cpu (limit 180 s)" >&2
    part 180 "$node" "$here/out/bench/gpuParity.js" --model "$d16" --image "$here/media/sample.png" --provider webgpu --steps 3 --repeats 2 >"$tmp/d16.json"
  else
    echo '{"error": "no --d16 bundle given"}' >"$tmp/d16.json"
  fi
  if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu-check: PyTorch reference on CUDA (limit 60 s)" >&2
    PYTHONPATH="$here/python" part 60 python3 -W ignore "$here/bench/engine_ref.py" --index "$here/checkpoints/index.json" --image "$here/media/sample.png" --repeats 5 --device cuda >"$tmp/torch.json"
  else
    echo '{"error": "python3 has no torch with CUDA here"}' >"$tmp/torch.json"
  fi
  local gpu
  gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 | tr '"' ' ')"
  {
    echo "{\"machine\": {\"gpu\": \"${gpu:-none found by nvidia-smi}\", \"node\": \"$("$node" --version)\", \"vk_icd\": \"${VK_ICD_FILENAMES:-driver default}\", \"seconds\": $((SECONDS - t0))},"
    echo "\"defaultModel\": $(cat "$tmp/default.json"),"
    echo "\"d16\": $(cat "$tmp/d16.json"),"
    echo "\"torchCuda\": $(cat "$tmp/torch.json")}"
  } >"$report.tmp" && mv "$report.tmp" "$report"
  rm -rf "$tmp"
  echo "gpu-check: wrote $report in $((SECONDS - t0)) s" >&2
  "$node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const line = (name, p) => p.error ? `${name}: ${p.error}` : `${name}: ${p.provider}, tokens differ ${p.tokensDiffer}/${p.tokens}, max abs f ${p.maxAbs.f.toExponential(1)} image ${p.maxAbs.image.toExponential(1)} logits ${p.maxAbs.logits.toExponential(1)}; best ms gpu/cpu: ${Object.keys(p.ms.gpu).map((k) => `${k} ${p.ms.gpu[k].best.toFixed(0)}/${p.ms.cpu[k].best.toFixed(0)}`).join(", ")}`;
    console.log(line("default model", r.defaultModel));
    console.log(line("d16", r.d16));
    console.log(r.torchCuda.error ? `torch cuda: ${r.torchCuda.error}` : `torch cuda (${r.torchCuda.gpu}): ${JSON.stringify(r.torchCuda)}`);
  ' "$report"
}

case "$cmd" in
  pack) pack "$@" ;;
  run) run "$@" ;;
  *) echo "usage: bash bench/gpu-check.sh pack [ARCHIVE] | run [--d16 BUNDLE] [--out REPORT.json]" >&2; exit 2 ;;
esac
