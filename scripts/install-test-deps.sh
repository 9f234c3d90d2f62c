#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing:
#   chromium               the playground's headless-browser test (driven by playwright-core)
#   dataset-fashion-mnist  @ldmae/data's fashionMnist() reader test (/usr/share/datasets/fashion-mnist)
#   libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri
#                          tools/webgpu-tests: WebGPU in Node through Dawn's OpenGL ES backend on Mesa's
#                          llvmpipe (a software rasteriser: the WebGPU code path without a GPU)
# Idempotent: returns at once when all are there. Nothing is downloaded from anywhere but the
# Debian archive (no Playwright browser download, no dataset hub).
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
FASHION="/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
MESA_PACKAGES=(libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)

# dpkg knows whether a package is installed; without dpkg (not Debian) the WebGPU tests say what is missing.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium fonts-dejavu-core)
[ -f "$FASHION" ] || missing+=(dataset-fashion-mnist)
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${MESA_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present: $CHROMIUM, $(dirname "$FASHION"), Mesa EGL / GLES"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${missing[*]} and apt-get is not available;" >&2
  echo "install a Chromium build yourself and set CHROMIUM_PATH to its executable." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "install-test-deps: missing ${missing[*]}; installing needs root." >&2
  echo "Run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ ! -x "$CHROMIUM" ] || [ ! -f "$FASHION" ]; then
  echo "install-test-deps: apt-get finished but $CHROMIUM or $FASHION is still missing" >&2
  exit 1
fi
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${MESA_PACKAGES[@]}"; do
    installed "$p" || { echo "install-test-deps: apt-get finished but $p is still missing" >&2; exit 1; }
  done
fi
echo "installed: ${missing[*]} ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
