import * as tf from '@tensorflow/tfjs-core';
import { setupBackend } from '@ldmae/core';
const threads = Number(process.argv[2] ?? 1);
await setupBackend({ backend: 'wasm', threads });
await new Promise((r) => setTimeout(r, 300));
const shapes: [number, number, number, number][] = [[1,1024,192,1024],[1,1024,1024,192],[1,192,1024,1024],[1,1024,192,576],[1,1024,512,192],[48,64,64,64],[1,512,512,512]];
let tot = 0;
let sum = 0;
for (const [bt, m, k, n] of shapes) {
  const a = tf.randomNormal([bt, m, k], 0, 1, 'float32', 1) as tf.Tensor3D;
  const b = tf.randomNormal([bt, k, n], 0, 1, 'float32', 2) as tf.Tensor3D;
  const y0 = tf.matMul(a, b); const d = await y0.data(); sum += d.reduce((s, v, i) => s + v * ((i % 7) + 1), 0); y0.dispose();
  let best = 1e9;
  for (let i = 0; i < 7; i++) { const t = performance.now(); const y = tf.matMul(a, b); await y.data(); best = Math.min(best, performance.now() - t); y.dispose(); }
  tot += best;
  console.log(`${bt}x${m}x${k}x${n}: ${best.toFixed(2)} ms ${(2*bt*m*n*k / best / 1e6).toFixed(1)} GFLOP/s`);
  tf.dispose([a, b]);
}
console.log(`threads ${threads}: total best ${tot.toFixed(1)} ms, checksum ${sum}`);
process.exit(0);
