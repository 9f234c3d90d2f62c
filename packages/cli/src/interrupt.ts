/**
 * Ctrl-C handling: the first SIGINT (or SIGTERM) asks the running work to stop between steps, so the
 * training loops save their checkpoint and the command can say how to resume; a second one exits at
 * once with code 130.
 */

/** A stop request shared by everything a command runs. */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** Which signal stopped the run, or null. */
  readonly received: () => NodeJS.Signals | null;
  /** Remove the handlers. */
  dispose(): void;
}

/**
 * Install SIGINT / SIGTERM handlers that abort `signal`.
 * @param onFirst called once with the signal name (to tell the user what happens next)
 */
export function installInterrupt(onFirst: (sig: NodeJS.Signals) => void = () => {}): Interrupt {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`\n${sig} again: exiting now\n`);
      process.exit(130);
    }
    received = sig;
    onFirst(sig);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * Let the event loop turn once. Training and sampling loops await only promises that settle as
 * microtasks, which starves the loop: a SIGINT would wait until the whole run ended. Awaiting this
 * between steps lets the signal handler run.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * `loader` with a turn of the event loop before every batch, so a training loop that reads it notices
 * Ctrl-C between steps (see {@link yieldToEventLoop}). `seek` is passed through for resuming.
 */
export function yieldingLoader<B>(loader: { next(): Promise<B>; seek(step: number): void }): {
  next(): Promise<B>;
  seek(step: number): void;
} {
  return {
    next: async () => {
      await yieldToEventLoop();
      return loader.next();
    },
    seek: (step: number) => loader.seek(step),
  };
}
