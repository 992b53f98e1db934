#!/usr/bin/env bash
# Exports the official-var-A fixture checkpoints into out/bundles/official-var-A (the engine tests' bundle).
# Fixtures: $VARSCOPE_FIXTURES, default <repo>/../shared/fixtures. Python with torch: $PYTHON, default /usr/bin/python3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="${VARSCOPE_FIXTURES:-$repo/../shared/fixtures}"
src="$fixtures/official-var-A"
python="${PYTHON:-/usr/bin/python3}"
for f in vae.pth var.pth; do
  [[ -f "$src/$f" ]] || { echo "error: $src/$f not found (set VARSCOPE_FIXTURES)" >&2; exit 2; }
done
cd "$repo"
PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}" "$python" -W ignore -m varscope.export \
  --vae "$src/vae.pth" --var "$src/var.pth" --out "$repo/out/bundles/official-var-A" \
  --id official-var-A --name "Official VAR (fixture A, depth 2)" \
  --description "Seeded small model of the official VAR code (fixture official-var-A); weights are not trained."
