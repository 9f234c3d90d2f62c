/** The contract between the LPIPS head and the network whose features it compares. */
import type * as tf from '@tensorflow/tfjs-core';

/**
 * A feature network for LPIPS: any network that maps an image to a list of feature maps ("taps") of
 * increasing depth. The head normalises each tap over its channels, so the trunk needs no particular
 * feature scale.
 */
export interface LpipsTrunk {
  /** Names the network and its weights honestly, e.g. 'torchvision-vgg16'; every LPIPS result carries it. */
  readonly name: string;
  /** Channels of each tap, in order (e.g. VGG16: 64, 128, 256, 512, 512). */
  readonly tapChannels: readonly number[];
  /** A label for each tap (the layer it is read after), for documentation and error messages. */
  readonly tapNames: readonly string[];
  /**
   * What the head feeds `forward`: 'lpips' applies LPIPS v0.1's scaling layer to the [-1, 1] image first
   * ((x - shift) / scale, the torchvision ImageNet normalisation the VGG / AlexNet lin weights were
   * trained with); 'none' passes the [-1, 1] image unchanged.
   */
  readonly inputScaling: 'lpips' | 'none';
  /** Throws (naming the smallest size) when an H x W input would leave a tap empty. */
  checkInputSize(h: number, w: number): void;
  /** x [B, H, W, 3] -> one NHWC feature map per tap, [B, h_k, w_k, tapChannels[k]]; the caller owns them. */
  forward(x: tf.Tensor4D): tf.Tensor4D[];
  /** Release the trunk's weights. */
  dispose(): void;
}
