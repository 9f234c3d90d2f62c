/**
 * Time of the statistics behind FID and precision / recall at the sizes of a 10k-sample evaluation:
 * streaming the float64 mean / covariance of 10k x 2048 features, the Fréchet distance of two such sets,
 * and improved precision / recall (k = 3) at 10k x 10k with the float64 JavaScript distance kernel and
 * with the tfjs matmul kernel (`tfDistanceBlock`, wasm).
 *
 *   npx tsx tools/bench/fid.ts [--n 10000] [--dim 2048] [--js-n 2000] [--full-js] [--block 1024] [--frechet-only]
 *                              [--json PATH]   (also write the results as JSON, see report.ts)
 *
 * The JavaScript P&R kernel is timed on --js-n samples per side and extrapolated (its cost is
 * proportional to n^2 at fixed dim); --full-js runs it at --n instead (tens of minutes). --frechet-only
 * stops after the statistics and the Fréchet distance.
 */

import { setupBackend } from '@ldmae/core';
import { featureStats, frechetDistance, precisionRecall, tfDistanceBlock } from '@ldmae/metrics';
import { Report } from './report.js';
import { syntheticFeatures } from './synthetic-features.js';

const args = process.argv.slice(2);
const num = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = num('--n', 10000);
const DIM = num('--dim', 2048);
const JS_N = Math.min(num('--js-n', 2000), N);
const BLOCK = num('--block', 1024);
const FULL_JS = args.includes('--full-js');
const FRECHET_ONLY = args.includes('--frechet-only');

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const fmt = (s: number) => `${s.toFixed(1)} s`;

async function main(): Promise<void> {
  await setupBackend({ backend: 'wasm' });
  const { loadavg } = await import('node:os');
  console.log(
    `n = ${N}, dim = ${DIM}, block ${BLOCK}; load average ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );

  let t0 = performance.now();
  const a = syntheticFeatures(N, DIM, 1, 0);
  const b = syntheticFeatures(N, DIM, 2, 0.3);
  console.log(`generate 2 x ${N} x ${DIM} features: ${fmt(seconds(t0))}`);

  t0 = performance.now();
  const sa = featureStats(DIM);
  for (let r = 0; r < N; r += 1000) sa.add(a.subarray(r * DIM, Math.min(N, r + 1000) * DIM));
  const tStats = seconds(t0);
  const sb = featureStats(DIM);
  for (let r = 0; r < N; r += 1000) sb.add(b.subarray(r * DIM, Math.min(N, r + 1000) * DIM));
  t0 = performance.now();
  const [mu1, s1, mu2, s2] = [sa.mean(), sa.covariance(), sb.mean(), sb.covariance()];
  const tMoments = seconds(t0);
  t0 = performance.now();
  const fd = frechetDistance(mu1, s1, mu2, s2);
  const tFd = seconds(t0);
  console.log(
    `statistics of one set (featureStats.add, batches of 1000): ${fmt(tStats)}; mean + covariance of both: ${fmt(tMoments)}`,
  );
  console.log(`frechetDistance at ${DIM}-d: ${fmt(tFd)} (value ${fd.toFixed(4)})`);
  console.log(`=> FID of two ${N} x ${DIM} sets from features: ${fmt(2 * tStats + tMoments + tFd)}`);
  const report = new Report(`FID and precision / recall at ${N} x ${DIM}`)
    .row(`featureStats.add of one ${N} x ${DIM} set`, tStats, 's')
    .row('mean + covariance of both sets', tMoments, 's')
    .row(`frechetDistance at ${DIM}-d`, tFd, 's')
    .row(`FID of two ${N} x ${DIM} sets from features`, 2 * tStats + tMoments + tFd, 's')
    .note(`frechetDistance value ${fd.toFixed(4)}; synthetic Inception-like features`);
  if (FRECHET_ONLY) {
    report.write(args);
    return;
  }

  const block = tfDistanceBlock();
  t0 = performance.now();
  const prTf = precisionRecall(a, b, DIM, { blockSize: BLOCK, distanceBlock: block });
  const tTf = seconds(t0);
  console.log(
    `precision / recall ${N} x ${N}, tfDistanceBlock (wasm float32): ${fmt(tTf)} (P ${prTf.precision}, R ${prTf.recall})`,
  );

  const nJs = FULL_JS ? N : JS_N;
  const subA = a.subarray(0, nJs * DIM);
  const subB = b.subarray(0, nJs * DIM);
  t0 = performance.now();
  const prJs = precisionRecall(subA, subB, DIM, { blockSize: BLOCK });
  const tJs = seconds(t0);
  t0 = performance.now();
  const prJsTf = precisionRecall(subA, subB, DIM, { blockSize: BLOCK, distanceBlock: block });
  const tSubTf = seconds(t0);
  const scale = (N / nJs) ** 2;
  console.log(
    `precision / recall ${nJs} x ${nJs}: JavaScript float64 ${fmt(tJs)} (P ${prJs.precision}, R ${prJs.recall}); ` +
      `tfDistanceBlock ${fmt(tSubTf)} (P ${prJsTf.precision}, R ${prJsTf.recall})`,
  );
  if (!FULL_JS)
    console.log(
      `=> JavaScript float64 at ${N} x ${N}, extrapolated x${scale}: ~${fmt(tJs * scale)} (tfjs measured: ${fmt(tTf)})`,
    );
  report
    .row(`precisionRecall ${N} x ${N}, tfDistanceBlock`, tTf, 's')
    .row(`precisionRecall ${nJs} x ${nJs}, default kernel`, tJs, 's')
    .row(`precisionRecall ${nJs} x ${nJs}, tfDistanceBlock`, tSubTf, 's')
    .ratio(
      `precisionRecall ${nJs} x ${nJs}: default kernel / tfDistanceBlock speed`,
      tSubTf / tJs,
      'tfDistanceBlock, same process',
    )
    .note(
      `P / R at ${nJs}: default ${prJs.precision} / ${prJs.recall}, tfDistanceBlock ${prJsTf.precision} / ${prJsTf.recall}`,
    )
    .write(args);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
