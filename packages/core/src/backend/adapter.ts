/**
 * The GPU adapter behind the current backend, recorded by `setupBackend` so that reports and
 * metrics can name the device a run used (not just 'webgpu').
 */

/** The GPU adapter a WebGPU backend runs on. */
export interface GpuAdapterSummary {
  /** A readable name: the device, then the driver description when it adds something. */
  name: string;
  /** `GPUAdapterInfo.vendor` ('nvidia', 'amd', ...; empty on some drivers). */
  vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  architecture: string;
  /** `GPUAdapterInfo.device`. */
  device: string;
  /** `GPUAdapterInfo.description`. */
  description: string;
  /**
   * True for a software rasteriser (Mesa llvmpipe / lavapipe, SwiftShader, a fallback adapter):
   * correct, but far slower than wasm. `setupBackend()` in 'auto' mode never picks one.
   */
  software: boolean;
  /** Which Dawn instance found it in Node ('default': Vulkan / Metal / D3D12; 'opengles'). */
  route: 'default' | 'opengles';
}

/** The parts of `GPUAdapterInfo` we read (a structural type: no WebGPU typings needed). */
export interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/** Summarise an adapter's info; `fallback` is the adapter's own fallback flag when the info lacks it. */
export function summarizeAdapter(
  info: GpuAdapterInfoLike | undefined,
  route: GpuAdapterSummary['route'],
  fallback = false,
): GpuAdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const parts = [device || [vendor, architecture].filter(Boolean).join(' '), description].filter(Boolean);
  const name = [...new Set(parts)].join(' / ') || 'unknown adapter';
  const software =
    info?.isFallbackAdapter === true ||
    fallback ||
    SOFTWARE.test(`${vendor} ${architecture} ${device} ${description}`);
  return { name, vendor, architecture, device, description, software, route };
}

let current: GpuAdapterSummary | undefined;

/** Record (or clear, with undefined) the adapter of the backend just set. */
export function setCurrentAdapter(summary: GpuAdapterSummary | undefined): void {
  current = summary;
}

/**
 * The GPU adapter the current backend runs on, when `setupBackend` set up WebGPU; undefined for
 * wasm, cpu, tensorflow and WebGL (whose device tfjs does not expose).
 *
 * @example
 * ```ts
 * await setupBackend({ backend: 'webgpu' });
 * console.log(backendAdapter()?.name); // 'llvmpipe-llvm-15-0-6-256-bits- / OpenGL version OpenGL ES 3.2 Mesa 22.3.6'
 * ```
 */
export function backendAdapter(): GpuAdapterSummary | undefined {
  return current;
}
