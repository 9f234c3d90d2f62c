/** The PyTorch children's thread variables: every BLAS / OpenMP pool at the asked count. */
import { describe, expect, it } from 'vitest';
import { torchEnv } from '../torch-env.js';

describe('torchEnv', () => {
  it('pins OpenMP, OpenBLAS and MKL to the thread count, keeping the rest of the environment', () => {
    const env = torchEnv(1);
    expect(env).toMatchObject({ OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' });
    expect(env.PATH).toBe(process.env.PATH);
    expect(torchEnv(2).OPENBLAS_NUM_THREADS).toBe('2');
  });

  it("leaves the environment alone when no count is asked (PyTorch's own default)", () => {
    expect(torchEnv(undefined)).toBe(process.env);
  });
});
