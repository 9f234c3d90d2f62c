// Example 01's encode / decode in the browser: a tiny freshly created VMAE, no file IO.
import { createRng, setupBackend } from '@ldmae/core';
import { createVMAE } from '@ldmae/vmae';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';

const log = /** @type {HTMLElement} */ (document.getElementById('log'));
/** @param {string} line */
const print = (line) => {
  log.textContent = `${log.textContent === 'running...' ? '' : log.textContent}${line}\n`;
};

async function main() {
  // The wasm binaries are emitted by Vite as assets; tell the wasm backend where they are.
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  // WebGPU, then WebGL, then wasm: whichever this browser supports.
  print(`backend: ${await setupBackend()}`);

  const model = createVMAE('f4d4-tiny'); // 32 x 32 images, 8 x 8 x 4 latents
  const images = tf.tidy(() => tf.tanh(createRng(0).normal([8, 32, 32, 3])));
  const posterior = model.encode(images);
  const z = posterior.sample(createRng(1));
  const recon = model.decode(z);
  const mse = (await tf.mean(tf.squaredDifference(tf.clipByValue(recon, -1, 1), images)).data())[0];
  print(`images  [${images.shape}]`);
  print(`latents [${z.shape}]`);
  print(`decoded [${recon.shape}]`);
  print(`PSNR ${(10 * Math.log10(4 / mse)).toFixed(2)} dB (untrained model)`);

  const toCanvas = async (/** @type {tf.Tensor} */ batch, /** @type {string} */ id) => {
    const first = tf.tidy(() =>
      tf.div(tf.add(tf.clipByValue(batch.slice([0], [1]).squeeze([0]), -1, 1), 1), 2),
    );
    await tf.browser.toPixels(
      /** @type {tf.Tensor3D} */ (first),
      /** @type {HTMLCanvasElement} */ (document.getElementById(id)),
    );
    first.dispose();
  };
  await toCanvas(images, 'input');
  await toCanvas(recon, 'output');
  tf.dispose([images, z, recon]);
  posterior.dispose();
  model.dispose();
  print('OK');
}

main().catch((e) => print(`error: ${e instanceof Error ? e.message : e}`));
