/** The contract every view implements, what it is given to work with, and the one skeleton views are built on. */
import type { HostChannel } from '../hostBridge';
import type { InspectorState, Loadable, Store } from '../store';
import type { ThemeColors } from '../theme';
import { placeholder } from '../ui/controls';

/** What a view factory receives: the document to build in, the store, the host channel and the theme. */
export interface ViewContext {
  doc: Document;
  store: Store;
  host: HostChannel;
  theme(): ThemeColors;
}

/** A mounted view: render from state, follow size changes, release resources. */
export interface View {
  /** Detached root element; the app attaches it. */
  root: HTMLElement;
  update(state: InspectorState, prev: InspectorState | null): void;
  resize(width: number): void;
  dispose(): void;
  /** The view's data for JSON export. */
  exportData(): unknown;
}

/** A view factory. */
export type ViewFactory = (ctx: ViewContext) => View;

/** What a view shows: a Loadable (the placeholder follows it) and the placeholder's texts while loading / idle. */
export interface ViewSource<T> {
  data: Loadable<T>;
  loading: string;
  idle: string;
}

/** One redraw step: `draw` runs when any value `on` returns differs (Object.is) from those it last drew with. */
export interface Draw<T> {
  on(value: T, state: InspectorState): unknown[];
  draw(value: T, state: InspectorState): void;
}

/** Where a view builds: `head` above the placeholder (controls), `body` below it (hidden until there is data). */
export interface ViewParts {
  root: HTMLElement;
  head: HTMLElement;
  body: HTMLElement;
  /** Forget what was drawn and draw everything again from the store (e.g. after a size change). */
  redraw(): void;
  /** Draw what changed, also where a dependency is the view's own (e.g. a local choice): the draws compare as always. */
  refresh(): void;
}

/** What a view's build returns: its redraw steps (run in order) and optional resize / dispose. */
export interface Built<T> {
  /** Steps for the head's controls: they run also while the source has no value (which they then get as undefined). */
  controls?: Array<Draw<T | undefined>>;
  /** Steps for the body: they run once the source has a value. */
  draws: Array<Draw<T>>;
  resize?(width: number): void;
  dispose?(): void;
}

/** A view declared once: its root class, what it shows, how it builds and what it exports. */
export interface ViewSpec<T> {
  /** Classes of the root `<section>`. */
  className: string;
  source(state: InspectorState): ViewSource<T>;
  build(ctx: ViewContext, parts: ViewParts): Built<T>;
  exportData(state: InspectorState): unknown;
}

/**
 * The skeleton every view shares: a root with head, placeholder and body; the placeholder shown for the source's
 * status and the body hidden until the source has a value; then "what changed, redraw what depends on it": each
 * draw step runs only when its dependencies changed since it last ran (also across hidden periods, so a tab shown
 * again redraws just what changed meanwhile).
 */
export function defineView<T>(spec: ViewSpec<T>): ViewFactory {
  return (ctx) => {
    const root = ctx.doc.createElement('section');
    root.className = spec.className;
    const head = ctx.doc.createElement('div');
    head.className = 'view-head';
    const empty = placeholder(ctx.doc);
    const body = ctx.doc.createElement('div');
    body.className = 'section';
    root.append(head, empty.root, body);
    let drawn = new Map<Draw<never>, unknown[]>();
    const run = <V>(d: Draw<V>, value: V, st: InspectorState): void => {
      const deps = d.on(value, st);
      const last = drawn.get(d as Draw<never>);
      if (last && last.length === deps.length && last.every((v, j) => Object.is(v, deps[j]))) return;
      d.draw(value, st);
      drawn.set(d as Draw<never>, deps);
    };
    const update = (st: InspectorState): void => {
      const src = spec.source(st);
      const value = src.data.value;
      for (const d of built.controls ?? []) run(d, value, st);
      empty.show(src.data, src.loading, src.idle);
      body.hidden = value === undefined;
      if (value === undefined) return;
      for (const d of built.draws) run(d, value, st);
    };
    const redraw = (): void => {
      drawn = new Map();
      update(ctx.store.state);
    };
    const built = spec.build(ctx, { root, head, body, redraw, refresh: () => update(ctx.store.state) });
    return {
      root,
      update,
      resize: (width) => built.resize?.(width),
      dispose() {
        built.dispose?.();
        root.remove();
      },
      exportData: () => spec.exportData(ctx.store.state),
    };
  };
}
