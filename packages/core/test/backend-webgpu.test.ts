/**
 * The Node WebGPU loader without Dawn: a missing `webgpu` package (simulated by an import that fails
 * the way Node's does) gives an error that says what to install, and adapter names are classified
 * as hardware or software. The real Dawn route is tested in tools/webgpu-tests.
 */
import { describe, expect, it } from 'vitest';
import { summarizeAdapter } from '../src/backend/adapter.js';
import { type AutoStep, setupBackendWith } from '../src/backend/setup.js';
import { WEBGPU_NODE_INSTALL, webgpuNodeLoader } from '../src/backend/webgpu.node.js';

const missing = async (name: string): Promise<unknown> => {
  const e = new Error(`Cannot find package '${name}' imported from /app/index.js`) as Error & {
    code: string;
  };
  e.code = 'ERR_MODULE_NOT_FOUND';
  throw e;
};

const unavailable = { tfName: 'x', install: '', load: async () => Promise.reject(new Error('no')) };

describe('setupBackend webgpu in Node', () => {
  it('an explicit webgpu without the webgpu package says what to install', async () => {
    const loaders = {
      tensorflow: [unavailable],
      wasm: [unavailable],
      cpu: [unavailable],
      webgl: [unavailable],
      webgpu: [webgpuNodeLoader(missing)],
    };
    const err = await setupBackendWith(loaders, ['wasm'], { backend: 'webgpu' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(/backend 'webgpu' is not available/);
    expect(msg).toMatch(/the 'webgpu' package could not be loaded \(Cannot find package 'webgpu'/);
    expect(msg).toContain('npm install webgpu @tensorflow/tfjs-backend-webgpu');
    expect(msg).toContain('libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri');
    expect(msg).toContain(WEBGPU_NODE_INSTALL);
  });

  it('a webgpu package without create() is refused by name', async () => {
    const loader = webgpuNodeLoader(async () => ({ globals: {} }));
    await expect(loader.load({ backend: 'webgpu' })).rejects.toThrow(
      /'webgpu' package has no create\(\): version 0.6/,
    );
  });

  it('no adapter on any route: the error lists each route', async () => {
    const none = { create: () => ({ requestAdapter: async () => null }), globals: {} };
    const loader = webgpuNodeLoader(async () => none);
    await expect(loader.load({ backend: 'webgpu' })).rejects.toThrow(
      /no WebGPU adapter found \(default: no adapter; opengles: no adapter\)/,
    );
  });

  it("'auto' never takes a software adapter; an explicit webgpu does", async () => {
    const llvmpipe = { device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL ES 3.2 Mesa 22.3.6' };
    const soft = { create: () => ({ requestAdapter: async () => ({ info: llvmpipe }) }), globals: {} };
    const noDevice = webgpuNodeLoader(
      async () => soft,
      () => false,
    );
    await expect(noDevice.load({ backend: 'auto' })).rejects.toThrow(/no GPU device on this machine/);
    const device = webgpuNodeLoader(
      async () => soft,
      () => true,
    );
    await expect(device.load({ backend: 'auto' })).rejects.toThrow(
      /only a software adapter \(llvmpipe-llvm-15-0-6-256-bits- \/ OpenGL ES 3.2 Mesa 22.3.6\)/,
    );
  });
});

describe('setupBackendWith auto order', () => {
  it('visits single loaders of a backend where the order puts them (tfjs-node-gpu, webgpu, tfjs-node)', async () => {
    const fail = (what: string) => ({
      tfName: 'x',
      install: '',
      load: async () => Promise.reject(new Error(what)),
    });
    const loaders = {
      tensorflow: [fail('node-gpu'), fail('node')],
      webgpu: [fail('dawn')],
      wasm: [fail('wasm')],
      cpu: [fail('cpu')],
      webgl: [fail('webgl')],
    };
    const order: AutoStep[] = [['tensorflow', 0], 'webgpu', ['tensorflow', 1], 'wasm', 'cpu'];
    await expect(setupBackendWith(loaders, order, {})).rejects.toThrow(
      'no backend could be initialised (tensorflow: node-gpu; webgpu: dawn; tensorflow: node; wasm: wasm; cpu: cpu)',
    );
  });
});

describe('summarizeAdapter', () => {
  it('names the device and marks software rasterisers', () => {
    const gl = summarizeAdapter(
      {
        vendor: '',
        architecture: '',
        device: 'llvmpipe-llvm-15-0-6-256-bits-',
        description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6',
      },
      'opengles',
    );
    expect(gl).toMatchObject({ software: true, route: 'opengles' });
    expect(gl.name).toBe('llvmpipe-llvm-15-0-6-256-bits- / OpenGL version OpenGL ES 3.2 Mesa 22.3.6');
    const nv = summarizeAdapter(
      {
        vendor: 'nvidia',
        architecture: 'hopper',
        device: 'NVIDIA H100 80GB HBM3',
        description: 'NVIDIA: 550.54',
      },
      'default',
    );
    expect(nv).toMatchObject({ software: false, name: 'NVIDIA H100 80GB HBM3 / NVIDIA: 550.54' });
    expect(
      summarizeAdapter({ vendor: 'google', device: 'SwiftShader Device (Subzero)' }, 'default').software,
    ).toBe(true);
    expect(summarizeAdapter({ vendor: 'amd', device: 'Radeon' }, 'default', true).software).toBe(true);
    expect(summarizeAdapter(undefined, 'default').name).toBe('unknown adapter');
  });
});
