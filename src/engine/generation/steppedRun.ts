/**
 * What every step-wise generation shares, whatever the model family: moves (forward, back, compute ahead) serialised
 * per run, and cancel. A family's run (generator.ts for VAR, bitGenerator.ts for Infinity) says how one scale is
 * computed, how it goes back, and what a step holds.
 */
import type { RgbaImage } from '../../shared/results';
import { VarScopeError } from '../../shared/errors';

/** A step-wise generation whose steps are `Step`s. */
export abstract class SteppedRun<Step extends { scaleIndex: number }> {
  private cancelled = false;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(readonly runId: string) {}

  /** Scales of the generation. */
  abstract get scaleCount(): number;
  /** Index of the last computed scale (-1 before the first step). */
  abstract get current(): number;
  /** The computed step k, without moving the run. */
  abstract stepAt(k: number): Step;
  /** decode(f̂ after scale k) as RGBA (decoded once per scale). */
  abstract image(scaleIndex?: number): Promise<RgbaImage>;
  /** Forget the scales after k. */
  protected abstract truncate(k: number): void;
  /** Compute the scale after `current`. */
  protected abstract computeNext(): Promise<void>;

  /** Stop: the step in progress finishes its scale, later steps reject with Cancelled. */
  cancel(): void {
    this.cancelled = true;
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Compute (or restore) up to `scaleIndex`, calling `onStep` for each scale computed. Serialised per run. */
  goTo(scaleIndex: number, onStep?: (s: Step) => void | Promise<void>): Promise<Step> {
    return this.goToThen(scaleIndex, onStep, async (out) => out);
  }

  /**
   * goTo, then `then(out)` before any other move of the run can change it (a later move may go back and drop the
   * scale this one reached).
   */
  goToThen<T>(scaleIndex: number, onStep: ((s: Step) => void | Promise<void>) | undefined, then: (out: Step) => Promise<T>): Promise<T> {
    const SN = this.scaleCount;
    if (!Number.isInteger(scaleIndex) || scaleIndex < 0 || scaleIndex >= SN)
      return Promise.reject(new VarScopeError('BadRequest', `scale ${scaleIndex} outside 0..${SN - 1}`));
    return this.serialized(async () => {
      if (scaleIndex <= this.current) {
        this.truncate(scaleIndex);
        return then(this.stepAt(scaleIndex));
      }
      while (this.current < scaleIndex) {
        if (this.cancelled) throw new VarScopeError('Cancelled', `generation ${this.runId} cancelled`);
        await this.computeNext();
        if (onStep) await onStep(this.stepAt(this.current));
      }
      return then(this.stepAt(scaleIndex));
    });
  }

  /**
   * Compute up to `scaleIndex`, and decode it, in the background: a Step that follows finds it ready. Queued behind
   * the run's other moves; does nothing on a cancelled run or one already there. It reports no step and drops its
   * errors (a model closed meanwhile).
   */
  computeAhead(scaleIndex: number): void {
    void this.serialized(async () => {
      if (scaleIndex >= this.scaleCount) return;
      while (this.current < scaleIndex && !this.cancelled) await this.computeNext();
      if (this.current >= scaleIndex && !this.cancelled) await this.image(scaleIndex);
    }).catch(() => undefined);
  }

  /** Run `fn` after the run's other moves, before the next one. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn);
    this.busy = next.catch(() => undefined);
    return next;
  }
}
