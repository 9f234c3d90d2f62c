import { readFileSync } from 'node:fs';

/** CPU seconds of the whole process, worker threads included (Linux /proc; else the calling thread's). */
export function processCpu(): number {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1e6;
  }
}
