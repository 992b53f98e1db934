/**
 * The engine as one panel sees it: the panel's HostApi requests that need the engine become EngineApi calls on the
 * current model and the panel's image; a run's streamed events (a generation's steps, a sampling grid's progress) go
 * back to the panel that started it, a panel stops only its own runs, and a generation does not outlive the engine
 * process it ran in.
 */
import type * as vscode from 'vscode';
import type { EngineClient } from '../client/engineClient';
import { VarScopeError } from '../shared/errors';
import type { HostApi, HostEvents, PanelState } from '../shared/protocol';
import type { Handlers } from '../shared/rpc';
import { PanelRuns } from './panelRuns';

/** One panel as the engine host sees it: its image, its state, a way to push events to it. */
export interface PanelContext {
  imageUri: vscode.Uri | null;
  state: PanelState;
  emit<E extends keyof HostEvents>(name: E, payload: HostEvents[E]): void;
}

/** The HostApi requests the engine answers. */
export type EngineHandlers = Pick<
  Handlers<HostApi>,
  | 'inspect'
  | 'evaluate'
  | 'evaluateBits'
  | 'attention'
  | 'generationStart'
  | 'generationStep'
  | 'cancel'
  | 'samplingGrid'
  | 'folderUsage'
  | 'edit'
  | 'trainingUsage'
  | 'profile'
>;

/** Routes requests from panels to the engine and the engine's run events back to their panels. */
export class PanelEngine {
  private readonly runs = new PanelRuns<PanelContext>();
  private readonly offs: Array<() => void>;

  /** `openDir` is the current model's folder once the engine opened it, or throws why it cannot be. */
  constructor(
    private readonly client: EngineClient,
    private readonly openDir: () => Promise<string>,
  ) {
    // A run whose panel closed has no owner: its events go nowhere.
    this.offs = [
      client.on('generationStep', (s) => this.runs.ownerOf(s.runId)?.emit('generationStep', s)),
      client.on('folderUsage', (f) =>
        this.runs
          .ownerOf(f.runId)
          ?.emit('folderUsage', { runId: f.runId, usage: f.usage, done: f.done, total: f.total, finished: f.finished }),
      ),
      client.on('samplingGrid', (g) =>
        this.runs.ownerOf(g.runId)?.emit('progress', { runId: g.runId, done: g.done, total: g.total, message: 'Sampling the grid' }),
      ),
    ];
  }

  /** The handlers of one panel. */
  handlers(panel: PanelContext): EngineHandlers {
    const { client, openDir } = this;
    const image = () => {
      if (!panel.imageUri) throw new VarScopeError('BadRequest', 'this panel has no image');
      return { path: panel.imageUri.fsPath };
    };
    return {
      inspect: async () => {
        const model = await openDir();
        // The family decides the engine request; the panel narrows the result once, on `family`.
        if ((await client.call('modelFamily', { model })) === 'infinity')
          return { family: 'infinity' as const, ...(await client.call('inspectBits', { model, image: image() })) };
        return { family: 'var' as const, ...(await client.call('inspect', { model, image: image() })) };
      },
      evaluate: async (p) => client.call('evaluate', { model: await openDir(), image: image(), classId: p.classId }),
      evaluateBits: async (p) => client.call('evaluateBits', { model: await openDir(), image: image(), text: p.text }),
      attention: async (p) => {
        const which = 'text' in p ? { text: p.text } : { classId: p.classId };
        return client.call('attention', { model: await openDir(), image: image(), layer: p.layer, head: p.head, ...which });
      },
      generationStart: async (p) => {
        const r = await client.call('generationStart', { model: await openDir(), settings: p.settings });
        this.runs.started(r.runId, panel, client.restartCount);
        return r;
      },
      generationStep: async (p) => {
        // Killed or crashed between two steps: a new process would only answer "no generation" (Cancelled, silent).
        if (this.runs.outlived(p.runId, client.restartCount))
          throw new VarScopeError('EngineCrashed', 'the engine process stopped during this generation; press Start to generate again');
        return client.call('generationStep', { runId: p.runId, scaleIndex: p.scaleIndex });
      },
      cancel: async (p) => {
        if (this.runs.ownerOf(p.runId) !== panel) return; // another panel's run, or one already over
        this.runs.forget(p.runId);
        await client.cancel(p.runId);
      },
      samplingGrid: async (p) => {
        if (this.runs.ownerOf(p.runId) !== undefined) throw new VarScopeError('BadRequest', `run ${p.runId} is already running`);
        // Owned from the first moment, so that a Cancel or a closed panel while the model opens stops it too.
        this.runs.started(p.runId, panel, client.restartCount);
        try {
          const model = await openDir();
          if (this.runs.ownerOf(p.runId) !== panel) throw new VarScopeError('Cancelled', 'sampling grid cancelled');
          return await client.call('samplingGrid', { model, ...p });
        } finally {
          this.runs.forget(p.runId);
        }
      },
      folderUsage: async (p) => {
        if (this.runs.ownerOf(p.runId) !== undefined) throw new VarScopeError('BadRequest', `run ${p.runId} is already running`);
        this.runs.started(p.runId, panel, client.restartCount);
        try {
          const r = await client.call('folderUsage', { model: await openDir(), runId: p.runId, folder: p.folder });
          if (!r.cancelled && !r.usage.images)
            throw new VarScopeError(
              'BadImage',
              r.failed.length
                ? `no usable image under ${p.folder}: all ${r.failed.length} image files failed (the first: ${r.failed[0].message})`
                : `no image files under ${p.folder}`,
            );
          return { images: r.usage.images ?? 0, failed: r.failed.length, cancelled: r.cancelled };
        } finally {
          this.runs.forget(p.runId);
        }
      },
      // VAR edits the panel image's tokens; Infinity a generation for the caption (its settings say which).
      edit: async (p) =>
        p.family === 'infinity'
          ? client.call('edit', { ...p, model: await openDir() })
          : client.call('edit', { ...p, model: await openDir(), source: { image: image() } }),
      trainingUsage: async () => client.call('trainingUsage', { model: await openDir() }),
      profile: async (p) =>
        client.call('profile', {
          model: await openDir(),
          classId: p.classId,
          repeats: p.repeats,
          ...(panel.imageUri ? { image: { path: panel.imageUri.fsPath } } : {}),
        }),
    };
  }

  /** Forgets the runs of a closed panel and cancels them in the engine. */
  panelClosed(panel: PanelContext): void {
    for (const runId of this.runs.closed(panel)) void this.client.cancel(runId);
  }

  dispose(): void {
    this.offs.splice(0).forEach((off) => off());
  }
}
