#!/usr/bin/env bash
# Runs the GPU benchmark from an unpacked ldmae-gpu-bench folder (made by prepare.sh): WebGPU through
# Dawn (Vulkan) on the GPU, then the same models in PyTorch CUDA, then the ratios.
#
#   bash run.sh [--smoke] [--no-torch]
#     --smoke     tiny shapes, software adapters allowed, PyTorch on the CPU: checks the pack itself
#     --no-torch  only the WebGPU side
# Environment: PYTHON (default python3, with torch), WORK (scratch folder, default /tmp/ldmae-gpu-bench).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${WORK:-${TMPDIR:-/tmp}/ldmae-gpu-bench}"
PYTHON="${PYTHON:-python3}"
SMOKE=0
TORCH=1
for a in "$@"; do
  case "$a" in
    --smoke) SMOKE=1 ;;
    --no-torch) TORCH=0 ;;
    *) echo "run.sh: unknown option $a (expected --smoke, --no-torch)" >&2; exit 2 ;;
  esac
done

rm -rf "$WORK" && mkdir -p "$WORK"
cp -r "$HERE/node_modules" "$HERE/bench.mjs" "$HERE/report.mjs" "$WORK/"
gzip -dc "$HERE/node.gz" >"$WORK/node" && chmod +x "$WORK/node"
gzip -dc "$HERE/dawn.node.gz" >"$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"

# Dawn opens libvulkan.so.1; use the system's when there is one, else the packed Debian one.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  deb=$(ls "$HERE"/debs/libvulkan1_*.deb)
  mkdir -p "$WORK/vulkan"
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$deb" "$WORK/vulkan"
  else # a .deb is an ar archive holding data.tar.*
    (cd "$WORK/vulkan" && ar x "$deb" && tar xf data.tar.* && rm -f data.tar.* control.tar.* debian-binary)
  fi
  export LD_LIBRARY_PATH="$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The loader finds the NVIDIA driver through its ICD file; containers get it only with the
# graphics capability (NVIDIA_DRIVER_CAPABILITIES=all or graphics).
if [ "$SMOKE" -eq 0 ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  echo "run.sh: warning: no NVIDIA Vulkan ICD file (/usr/share/vulkan/icd.d or /etc/vulkan/icd.d); Dawn may find no GPU" >&2
fi
# Without a GPU (--smoke) Dawn's OpenGL ES route needs Mesa's EGL without a display.
export EGL_PLATFORM="${EGL_PLATFORM:-surfaceless}"

flags=()
[ "$SMOKE" -eq 1 ] && flags+=(--smoke)
echo "WebGPU (Node $("$WORK/node" --version), Dawn) ..." >&2
(cd "$WORK" && ./node bench.mjs "${flags[@]}") | tail -n 1 >"$WORK/webgpu.json"

if [ "$TORCH" -eq 1 ]; then
  device=cuda
  [ "$SMOKE" -eq 1 ] && device=cpu
  read -r preset img batch steps warmup < <("$WORK/node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.vmae.preset, r.vmae.img, r.vmae.batch, r.steps, r.warmup);' "$WORK/webgpu.json")
  echo "PyTorch ($device): VMAE ..." >&2
  "$PYTHON" "$HERE/vmae_torch.py" bench --preset "$preset" --img "$img" --batch "$batch" --steps "$steps" \
    --warmup "$warmup" --device "$device" | tail -n 1 >"$WORK/torch-vmae.json"
  echo "PyTorch ($device): LightningDiT ..." >&2
  cfg=$("$WORK/node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const d = r.dit;
    console.log(JSON.stringify({ ...d.config, batch: d.batch, iters: r.steps, warmup: r.warmup,
      sampleSteps: d.sample.steps, sampleBatch: d.sample.batch, cfgScale: d.sample.cfg,
      sampleIters: r.smoke ? 1 : 3, device: process.argv[2] }));' "$WORK/webgpu.json" "$device")
  "$PYTHON" "$HERE/dit_torch.py" bench "$cfg" | tail -n 1 >"$WORK/torch-dit.json"
fi

"$WORK/node" "$WORK/report.mjs" "$WORK"
