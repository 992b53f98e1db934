#!/usr/bin/env bash
# Exports the official-var-A fixture checkpoints into the engine tests' bundles, once per PyTorch:
#   out/bundles/official-var-A         with Debian's PyTorch 1.13 ($PYTHON, default /usr/bin/python3)
#   out/bundles/official-var-A-torch2  with the PyTorch 2.x venv ($PYTHON_TORCH2, default .venv-torch2/bin/python)
# and the official Infinity fixtures (test/fixtures/infinity, in the repository) with $PYTHON:
#   out/bundles/infinity-A             16 bits, h:w 1.0        out/bundles/infinity-B   32 bits, h:w 0.75
# usage: bash tools/export_fixtures.sh [torch1|torch2|infinity]...   (none: all; a bundle already there is kept)
# Fixtures: $VARSCOPE_FIXTURES, default <repo>/../shared/fixtures.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="${VARSCOPE_FIXTURES:-$repo/../shared/fixtures}"
src="$fixtures/official-var-A"
for f in vae.pth var.pth; do
  [[ -f "$src/$f" ]] || { echo "error: $src/$f not found (set VARSCOPE_FIXTURES)" >&2; exit 2; }
done
cd "$repo"

export_with() { # python out_dir
  [[ -f "$2/varscope.json" ]] && return 0
  PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}" "$1" -m varscope.export \
    --vae "$src/vae.pth" --var "$src/var.pth" --out "$2" \
    --id official-var-A --name "Official VAR (fixture A, depth 2)" \
    --description "Seeded small model of the official VAR code (fixture official-var-A); weights are not trained."
}

export_infinity() { # fixture ratio
  local out="$repo/out/bundles/$1" inf="$repo/test/fixtures/infinity/$1"
  if [[ -f "$out/varscope.json" ]]; then
    # a bundle exported before the infinityAttention graph is made again (it is a build output)
    grep -q '"infinityAttention"' "$out/varscope.json" && return 0
    rm -rf "$out"
  fi
  PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-/usr/bin/python3}" -m varscope.infinity.export \
    --vae "$inf/vae.pth" --infinity "$inf/infinity.pth" --out "$out" --ratios "$2" \
    --id "$1" --name "Official Infinity (fixture ${1#infinity-})"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(torch1 torch2 infinity)
for t in "${targets[@]}"; do
  case "$t" in
    torch1) export_with "${PYTHON:-/usr/bin/python3}" "$repo/out/bundles/official-var-A" ;;
    torch2)
      py="${PYTHON_TORCH2:-$repo/.venv-torch2/bin/python}"
      [[ -x "$py" ]] || { echo "error: $py not found (bash tools/setup.sh makes it)" >&2; exit 2; }
      export_with "$py" "$repo/out/bundles/official-var-A-torch2"
      ;;
    infinity) export_infinity infinity-A 1.0 && export_infinity infinity-B 0.75 ;;
    *) echo "unknown target $t (torch1, torch2, infinity)" >&2; exit 2 ;;
  esac
done
