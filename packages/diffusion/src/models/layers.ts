/**
 * The layers of the DiT models around the transformer blocks: patch embedding, label embedding, adaLN
 * modulation, the norms, the final layer and the RoPE tables. Names of submodules and parameters
 * follow the reference PyTorch modules so state dicts map by name (`x_embedder.proj.weight`,
 * `y_embedder.embedding_table.weight`, `adaLN_modulation.1.weight`, ...).
 */
import {
  affine2d,
  LayerNorm,
  Linear,
  Module,
  matMul2d,
  normal,
  patchify,
  RMSNorm,
  type Rng,
  RotaryEmbedding2d,
  xavierUniform,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** The conv of timm's PatchEmbed, named `proj` with `weight` [D, C, p, p] and `bias` [D] in PyTorch. */
class PatchProjection extends Module {
  /** [p, p, C, D] (tfjs conv layout). */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(p: number, c: number, d: number, rng: Rng) {
    super();
    // DiT initialises the conv like a Linear: xavier on the kernel viewed as [D, C * p * p].
    this.weight = this.registerParameter('weight', xavierUniform(rng, c * p * p, d, [p, p, c, d]), {
      layout: 'conv2d',
      decay: true,
    });
    this.bias = this.registerParameter('bias', tf.zeros([d]), { decay: false });
  }
}

/**
 * timm's PatchEmbed (a p x p conv with stride p, flattened to tokens), computed as one matrix
 * product over {@link patchify}'s patches: [B, H, W, C] -> [B, (H/p)(W/p), D].
 */
export class PatchEmbed extends Module {
  readonly patchSize: number;
  readonly inChannels: number;
  readonly dim: number;
  readonly proj: PatchProjection;

  constructor(patchSize: number, inChannels: number, dim: number, rng: Rng) {
    super();
    this.patchSize = patchSize;
    this.inChannels = inChannels;
    this.dim = dim;
    this.proj = this.registerModule('proj', new PatchProjection(patchSize, inChannels, dim, rng));
  }

  forward(x: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const p = this.patchSize;
      const k = p * p * this.inChannels;
      const patches = patchify(x, p);
      const [b, n] = patches.shape;
      const w = tf.reshape(this.proj.weight, [k, this.dim]);
      const y = affine2d(tf.reshape(patches, [b * n, k]), w, this.proj.bias);
      return tf.reshape(y, [b, n, this.dim]) as tf.Tensor3D;
    });
  }
}

/** nn.Embedding's table, named `embedding_table.weight` [K, D]. */
class EmbeddingTable extends Module {
  readonly weight: tf.Variable;
  constructor(k: number, d: number, rng: Rng) {
    super();
    this.weight = this.registerParameter('weight', normal(rng, [k, d], 0.02), { decay: false });
  }
}

/**
 * DiT's LabelEmbedder: a table of numClasses (+ 1 null class when label dropout is used) rows.
 * The lookup is a one-hot product, whose gradient is a plain matrix product on every backend
 * (tf.gather's gradient needs UnsortedSegmentSum and is slower for the batch sizes used here).
 * Label dropout is not done here: the trainer replaces labels with the null class, drawing from its
 * own seeded generator.
 */
export class LabelEmbedder extends Module {
  readonly numClasses: number;
  /** Rows of the table: numClasses, plus one when there is a null class. */
  readonly rows: number;
  readonly embeddingTable: EmbeddingTable;

  constructor(numClasses: number, dim: number, withNullClass: boolean, rng: Rng) {
    super();
    this.numClasses = numClasses;
    this.rows = numClasses + (withNullClass ? 1 : 0);
    this.embeddingTable = this.registerModule('embedding_table', new EmbeddingTable(this.rows, dim, rng));
  }

  /** y [B] int32 in [0, rows) -> [B, D]. */
  forward(y: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      // tf.oneHot needs a depth of at least 2; with one row (one class, no null class) every label is 0.
      const oneHot =
        this.rows === 1
          ? tf.ones([y.shape[0], 1])
          : tf.cast(tf.oneHot(tf.cast(y, 'int32') as tf.Tensor1D, this.rows), 'float32');
      return matMul2d(oneHot as tf.Tensor2D, this.embeddingTable.weight);
    });
  }
}

/**
 * adaLN modulation: nn.Sequential(SiLU, Linear(D, k * D)), named `adaLN_modulation.1`, zero-initialised
 * (adaLN-Zero). `forward` takes silu(c) already applied, since every block shares it.
 */
export class AdaLNModulation extends Module {
  readonly chunks: number;
  readonly linear: Linear;

  constructor(dim: number, chunks: number, rng: Rng) {
    super();
    this.chunks = chunks;
    this.linear = this.registerModule('1', new Linear(dim, chunks * dim, { rng, init: 'zeros' }));
  }

  /** siluC [B, D] -> `chunks` tensors [B, 1, D], ready to broadcast over tokens. */
  forward(siluC: tf.Tensor): tf.Tensor3D[] {
    return tf.tidy(() => {
      const [b, d] = siluC.shape as [number, number];
      const m = tf.reshape(this.linear.forward(siluC), [b, this.chunks, d]);
      return tf.split(m, this.chunks, 1) as tf.Tensor3D[];
    });
  }
}

/** x * (1 + scale) + shift with scale, shift [B, 1, D] broadcast over the tokens of x [B, N, D]. */
export function modulate(x: tf.Tensor, shift: tf.Tensor | null, scale: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // 1 + scale on the small [B, 1, D] tensor: two full-size ops instead of three.
    const y = tf.mul(x, tf.add(scale, 1));
    return shift ? tf.add(y, shift) : y;
  });
}

/** The norm of a block or of the final layer. */
export type Norm = LayerNorm | RMSNorm;

/** Reference: RMSNorm(dim) (eps 1e-6, learnable weight) or nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6). */
export function makeNorm(dim: number, rms: boolean): Norm {
  return rms ? new RMSNorm(dim, { eps: 1e-6 }) : new LayerNorm(dim, { eps: 1e-6, affine: false });
}

/** The output head: `norm_final`, adaLN shift / scale, `linear` to p*p*out (zero-initialised). */
export class FinalLayer extends Module {
  readonly normFinal: Norm;
  readonly linear: Linear;
  readonly adaLN: AdaLNModulation;

  constructor(dim: number, outFeatures: number, rms: boolean, rng: Rng) {
    super();
    this.normFinal = this.registerModule('norm_final', makeNorm(dim, rms));
    this.linear = this.registerModule('linear', new Linear(dim, outFeatures, { rng, init: 'zeros' }));
    this.adaLN = this.registerModule('adaLN_modulation', new AdaLNModulation(dim, 2, rng));
  }

  /** x [B, N, D], siluC [B, D] -> [B, N, outFeatures]. */
  forward(x: tf.Tensor, siluC: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [shift, scale] = this.adaLN.forward(siluC);
      return this.linear.forward(modulate(this.normFinal.forward(x), shift, scale));
    });
  }
}

/**
 * EVA's VisionRotaryEmbeddingFast keeps its tables as persistent buffers, so reference state dicts
 * hold `feat_rope.freqs_cos` / `feat_rope.freqs_sin`; this module carries copies under those names so
 * checkpoints load strictly. The rotation itself is core's {@link RotaryEmbedding2d}.
 */
export class FeatRope extends Module {
  readonly rope: RotaryEmbedding2d;
  constructor(headDim: number, grid: [number, number]) {
    super();
    this.rope = this.registerModule('rope', new RotaryEmbedding2d(headDim, grid));
    this.registerBuffer('freqs_cos', this.rope.freqsCos.clone());
    this.registerBuffer('freqs_sin', this.rope.freqsSin.clone());
  }
}
