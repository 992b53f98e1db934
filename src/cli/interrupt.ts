/**
 * SIGINT / SIGTERM in the CLI. With a child running (the Python exporter) the signal goes to the child, which stops
 * and cleans up (a second signal, or a child that lingers, gets SIGKILL); the command reports it when the child has
 * exited. Otherwise the engine process is killed (hard-stop hooks: whatever graph it runs, nothing of it needs
 * saving), temporary files of writes in progress are removed: one line, exit 128 + the signal number. A command may
 * take the first Ctrl-C itself (evaluate stops after its batch); a second one, or SIGTERM, stops it at once.
 */
import type { ChildProcess } from 'child_process';
import * as os from 'os';
import { removePendingTemps } from '../node/atomicWrite';

/** How long a child may take to stop after the forwarded signal. */
const GRACE_MS = 10_000;
/** Signals this close to the first one are copies of it, not a second request. */
const SAME_SIGNAL_MS = 1000;

let child: ChildProcess | undefined;
const hardStops = new Set<() => void>();
let gentle: (() => void) | undefined;

/** Exit code for a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (os.constants.signals[sig] ?? 0);
}

/** Send the CLI's SIGINT / SIGTERM to `p` until it exits. */
export function forwardSignalsTo(p: ChildProcess): void {
  child = p;
  p.once('exit', () => {
    if (child === p) child = undefined;
  });
}

/** Run `stop` (synchronously, e.g. SIGKILL the engine process) before the CLI exits on a signal. */
export function onHardStop(stop: () => void): void {
  hardStops.add(stop);
}

/** While a command runs, its own reaction to the first Ctrl-C (undefined: none, Ctrl-C stops everything). */
export function stopGentlyWith(stop: (() => void) | undefined): void {
  gentle = stop;
}

/** Install the handlers for `command` (once per process). */
export function handleSignals(command: string): void {
  let first = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    const now = Date.now();
    // One Ctrl-C can arrive twice: from the terminal (the whole process group) and forwarded by bin/varscope.js.
    // Only a signal well after the first one is the user insisting.
    const copy = first !== 0 && now - first <= SAME_SIGNAL_MS;
    const again = first !== 0 && !copy;
    if (first === 0) first = now;
    const c = child;
    if (c) {
      // A terminal's Ctrl-C reaches the child too (same process group); it ignores the copy.
      c.kill(again ? 'SIGKILL' : sig);
      setTimeout(() => c.kill('SIGKILL'), GRACE_MS).unref();
      return;
    }
    if (sig === 'SIGINT' && gentle && !again) {
      if (!copy) gentle();
      return;
    }
    for (const stop of hardStops) stop();
    removePendingTemps();
    const clear = process.stderr.isTTY ? '\r\x1b[2K' : ''; // over a progress line
    process.stderr.write(`${clear}varscope ${command}: interrupted (${sig}); no file was left half-written\n`);
    process.exit(signalExitCode(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
