/** The contract every view implements, and what it is given to work with. */
import type { HostChannel } from '../hostBridge';
import type { InspectorState, Store } from '../store';
import type { ThemeColors } from '../theme';

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
