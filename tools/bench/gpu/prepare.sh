#!/usr/bin/env bash
# Packs the GPU benchmark for a machine with an NVIDIA GPU, PyTorch CUDA and possibly no Node and no
# network: one tar file of at most 64 MiB with
#   node.gz          this machine's Node binary (gzip -9; gzip is on every Linux, xz is not)
#   bench.mjs        bench.ts bundled with @ldmae/core, vmae, diffusion (built packages)
#   node_modules/    tfjs-core and tfjs-backend-webgpu (their Node bundles only) and the `webgpu`
#                    package with only its linux-x64 dawn.node (gzip -9, unpacked at run time)
#   debs/            the Vulkan loader (libvulkan1) as a Debian package, unpacked at run time
#   vmae_torch.py dit_torch.py   the PyTorch side (tools/bench)
#   run.sh report.mjs            what runs there
#
#   bash tools/bench/gpu/prepare.sh [OUT_DIR]      (default tools/bench/gpu/out)
# then copy OUT_DIR/ldmae-gpu-bench.tar over, `tar xf ldmae-gpu-bench.tar && bash ldmae-gpu-bench/run.sh`.
# Needs: npm ci done, apt-get (for `apt-get download libvulkan1`; no root needed for that), gzip, tar.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${1:-$HERE/out}"
PACK="$OUT/ldmae-gpu-bench"
LIMIT=$((64 * 1024 * 1024))

rm -rf "$PACK" "$OUT/ldmae-gpu-bench.tar"
mkdir -p "$PACK/debs"

echo "building @ldmae/core, data, vmae, diffusion ..."
(cd "$ROOT" && npx nx run-many -t build --projects=@ldmae/core,@ldmae/data,@ldmae/vmae,@ldmae/diffusion \
  --outputStyle=static >/dev/null)

echo "bundling bench.ts ..."
# tfjs stays external: the backend package must register itself with the one tfjs-core it finds in
# node_modules, the same module our packages use. `webgpu` is a native addon.
(cd "$ROOT" && npx esbuild "$HERE/bench.ts" --bundle --platform=node --format=esm --target=node20 \
  --conditions=node --external:@tensorflow/tfjs-core --external:@tensorflow/tfjs-backend-webgpu \
  --external:webgpu --outfile="$PACK/bench.mjs" --log-level=warning)

copy() { mkdir -p "$(dirname "$PACK/node_modules/$1")" && cp "$ROOT/node_modules/$1" "$PACK/node_modules/$1"; }
copy @tensorflow/tfjs-core/package.json
copy @tensorflow/tfjs-core/dist/tf-core.node.js
copy @tensorflow/tfjs-backend-webgpu/package.json
copy @tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js
copy webgpu/package.json
copy webgpu/index.js
mkdir -p "$PACK/node_modules/webgpu/dist/linux-x64"
gzip -9 -c "$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node" >"$PACK/dawn.node.gz"

echo "compressing $(command -v node) ($(node --version)) ..."
gzip -9 -c "$(command -v node)" >"$PACK/node.gz"

echo "downloading the Vulkan loader (libvulkan1) from the Debian archive ..."
(cd "$PACK/debs" && apt-get download libvulkan1 >/dev/null)

cp "$ROOT/tools/bench/vmae_torch.py" "$ROOT/tools/bench/dit_torch.py" "$HERE/run.sh" "$HERE/report.mjs" "$PACK/"
tar -C "$OUT" -cf "$OUT/ldmae-gpu-bench.tar" ldmae-gpu-bench

size=$(stat -c %s "$OUT/ldmae-gpu-bench.tar")
echo "pack: $OUT/ldmae-gpu-bench.tar, $size bytes ($(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB)"
if [ "$size" -ge "$LIMIT" ]; then
  echo "prepare.sh: the pack is over 64 MiB" >&2
  exit 1
fi
