/**
 * The environment of a PyTorch benchmark child at `threads` threads. `torch.set_num_threads` sets
 * PyTorch's own (OpenMP) pool, but Debian's torch calls OpenBLAS's pthread build for its matrix
 * products, whose pool follows the machine's cores unless OPENBLAS_NUM_THREADS says otherwise: at
 * "1 thread" the VMAE step used 2 CPU seconds per wall second on a 2-core machine. The variables are
 * read when the libraries load, so they go into the child's environment.
 */
export function torchEnv(threads: number | undefined): NodeJS.ProcessEnv {
  if (threads === undefined) return process.env;
  const n = String(threads);
  return { ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
}
