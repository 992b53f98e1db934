/**
 * Which panel started each engine run, and in which engine process: a run's streamed events go back to the panel
 * that started it (to none once it closed), and a run does not survive the process it lived in.
 */

/** The runs of the open panels; `P` is the panel. */
export class PanelRuns<P> {
  private readonly runs = new Map<string, { owner: P; process: number }>();

  /** Records a run `owner` started while the engine process was number `process` (its restart count). */
  started(runId: string, owner: P, process: number): void {
    this.runs.set(runId, { owner, process });
  }

  /** The panel that started `runId`, while it is open. */
  ownerOf(runId: string): P | undefined {
    return this.runs.get(runId)?.owner;
  }

  /** Whether `runId` started in an engine process before number `process`: that process and the run are gone. */
  outlived(runId: string, process: number): boolean {
    const run = this.runs.get(runId);
    return run !== undefined && run.process !== process;
  }

  /** Forgets a run its panel cancelled. */
  forget(runId: string): void {
    this.runs.delete(runId);
  }

  /** Forgets the runs of a closed panel; returns their ids, for the engine to cancel. */
  closed(owner: P): string[] {
    const ids = [...this.runs].filter(([, r]) => r.owner === owner).map(([id]) => id);
    for (const id of ids) this.runs.delete(id);
    return ids;
  }
}
