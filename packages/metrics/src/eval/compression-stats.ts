/**
 * The two perceptual-compression quantities of the paper (Sec. 5.1, Fig. 7), for which no code was
 * released. The choices made here, per image, on the features at the latent grid's positions that carry
 * a label:
 *
 * 1. Normalisation: every feature channel is standardised over the image's labelled positions (zero mean,
 *    unit population variance; a channel constant up to 1e-6 of its magnitude becomes 0). This makes
 *    latents of any scale comparable with each other and with raw pixels, and makes sigma^2 the share of
 *    a channel's variance left inside the semantic clusters.
 * 2. sigma^2 ("compression degree"): for each cluster (positions with one ground-truth label, at least
 *    `minClusterSize` of them), the population variance of each standardised channel within the cluster,
 *    averaged over channels; then the plain mean over all (image, cluster) pairs. Lower = stronger
 *    compression.
 * 3. rho ("semantic disentanglement"): an affinity graph over the labelled positions with edge weight
 *    w_ij = (1 + cos(f_i, f_j)) / 2 in [0, 1] for i != j, cos the cosine similarity of the standardised
 *    feature vectors (as the same authors' Self-Guided MAE uses cosine similarity between patch
 *    features; centring first keeps the shared mean of all latents from making every cosine ~1, and the
 *    affine map keeps weights non-negative so the ratio is well defined; a zero vector has cosine 0).
 *    u_intra = mean weight over pairs with the same label, u_inter = over pairs with different labels,
 *    rho_image = u_intra / u_inter; rho = the mean of rho_image over images with at least one pair of
 *    each kind. Features without cluster structure give rho ~ 1; > 1 is wanted.
 *
 * The pair sums are exact and O(m c) rather than O(m^2 c): sum_{i != j in S} cos_ij = |sum_{i in S} u_i|^2
 * - sum_{i in S} |u_i|^2 for unit (or zero) vectors u_i.
 */
import type { FloatArray } from '../stats/checks.js';

/** Statistics of one image. */
export interface ImageCompressionStats {
  /** sigma^2 of each cluster that was large enough. */
  clusterVariances: number[];
  /** u_intra / u_inter, or null without both kinds of pairs. */
  rho: number | null;
  /** Mean intra- and inter-cluster edge weights (null without such pairs). */
  intra: number | null;
  inter: number | null;
}

/**
 * sigma^2 per cluster and rho of one image (see the module notes). Internal: perceptualCompression
 * passes consistent sizes.
 *
 * @param features - row-major [m, c]: the feature vector of each grid position.
 * @param labels - [m] integer labels; negative = no label (left out).
 * @param minClusterSize - smallest cluster entering sigma^2. Default 2.
 */
export function imageCompressionStats(
  features: FloatArray,
  m: number,
  c: number,
  labels: Int32Array,
  minClusterSize = 2,
): ImageCompressionStats {
  const rows: number[] = [];
  for (let i = 0; i < m; i++) if (labels[i] >= 0) rows.push(i);
  const n = rows.length;
  const f = new Float64Array(n * c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    let mag = 0;
    for (const i of rows) {
      s += features[i * c + ch];
      mag = Math.max(mag, Math.abs(features[i * c + ch]));
    }
    const mean = s / Math.max(n, 1);
    let v = 0;
    for (const i of rows) v += (features[i * c + ch] - mean) ** 2;
    const std = Math.sqrt(v / Math.max(n, 1));
    const live = std > 1e-6 * mag;
    rows.forEach((i, r) => {
      f[r * c + ch] = live ? (features[i * c + ch] - mean) / std : 0;
    });
  }
  const members = new Map<number, number[]>();
  rows.forEach((i, r) => {
    const k = labels[i];
    const list = members.get(k);
    if (list) list.push(r);
    else members.set(k, [r]);
  });

  const clusterVariances: number[] = [];
  for (const list of members.values()) {
    if (list.length < minClusterSize) continue;
    let total = 0;
    for (let ch = 0; ch < c; ch++) {
      let s = 0;
      for (const r of list) s += f[r * c + ch];
      const mu = s / list.length;
      let v = 0;
      for (const r of list) v += (f[r * c + ch] - mu) ** 2;
      total += v / list.length;
    }
    clusterVariances.push(total / c);
  }

  // Unit vectors; sums of pairwise cosines from vector sums.
  const u = new Float64Array(n * c);
  const norms2 = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += f[r * c + ch] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let ch = 0; ch < c; ch++) u[r * c + ch] = f[r * c + ch] * inv;
    norms2[r] = s > 0 ? 1 : 0;
  }
  const pairCosSum = (list: Iterable<number>): number => {
    const acc = new Float64Array(c);
    let self = 0;
    for (const r of list) {
      for (let ch = 0; ch < c; ch++) acc[ch] += u[r * c + ch];
      self += norms2[r];
    }
    let s = 0;
    for (let ch = 0; ch < c; ch++) s += acc[ch] * acc[ch];
    return s - self;
  };
  let intraPairs = 0;
  let intraCos = 0;
  for (const list of members.values()) {
    intraPairs += list.length * (list.length - 1);
    intraCos += pairCosSum(list);
  }
  const allPairs = n * (n - 1);
  const interPairs = allPairs - intraPairs;
  const allCos = pairCosSum(Array.from({ length: n }, (_, r) => r));
  const intra = intraPairs > 0 ? (intraPairs + intraCos) / (2 * intraPairs) : null;
  const inter = interPairs > 0 ? (interPairs + (allCos - intraCos)) / (2 * interPairs) : null;
  return { clusterVariances, rho: intra !== null && inter !== null ? intra / inter : null, intra, inter };
}

/**
 * Ground-truth labels at the latent grid: the majority label of each ph x pw patch of the H x W map,
 * ignoring `ignore`d labels (ties go to the smaller label; a patch with only ignored labels gets -1).
 *
 * @param labels - [H * W] integer labels, row-major.
 * @returns [h * w] labels, row-major.
 */
export function patchLabels(
  labels: ArrayLike<number>,
  H: number,
  W: number,
  h: number,
  w: number,
  ignore: ReadonlySet<number> = new Set(),
): Int32Array {
  const ph = H / h;
  const pw = W / w;
  if (!Number.isInteger(ph) || !Number.isInteger(pw))
    throw new RangeError(`patchLabels: the ${H}x${W} map does not divide into a ${h}x${w} grid`);
  const out = new Int32Array(h * w);
  const votes = new Map<number, number>();
  for (let gy = 0; gy < h; gy++) {
    for (let gx = 0; gx < w; gx++) {
      votes.clear();
      for (let dy = 0; dy < ph; dy++) {
        for (let dx = 0; dx < pw; dx++) {
          const v = labels[(gy * ph + dy) * W + gx * pw + dx];
          if (ignore.has(v)) continue;
          votes.set(v, (votes.get(v) ?? 0) + 1);
        }
      }
      let best = -1;
      let bestCount = 0;
      for (const [k, cnt] of votes)
        if (cnt > bestCount || (cnt === bestCount && k < best)) [best, bestCount] = [k, cnt];
      out[gy * w + gx] = best;
    }
  }
  return out;
}

/**
 * The pixels of one image cut into the latent grid's patches: row-major [h * w, ph * pw * C], each row a
 * patch flattened in (dy, dx, channel) order - the raw-pixel counterpart of a latent feature vector.
 *
 * @param image - [H * W * C] NHWC pixels of one image.
 */
export function pixelPatches(
  image: FloatArray,
  H: number,
  W: number,
  C: number,
  h: number,
  w: number,
): Float32Array {
  const ph = H / h;
  const pw = W / w;
  const d = ph * pw * C;
  const out = new Float32Array(h * w * d);
  for (let gy = 0; gy < h; gy++)
    for (let gx = 0; gx < w; gx++)
      for (let dy = 0; dy < ph; dy++)
        for (let dx = 0; dx < pw; dx++) {
          const src = ((gy * ph + dy) * W + gx * pw + dx) * C;
          const dst = (gy * w + gx) * d + (dy * pw + dx) * C;
          for (let ch = 0; ch < C; ch++) out[dst + ch] = image[src + ch];
        }
  return out;
}
