/** Webview entry: connect to the host, restore state, mount the panel, and start the ready → init handshake. */
import './styles/main.css';
import { bindHostEvents, loadInspect, loadTrainingUsage } from './actions';
import { createApp, type TabSpec } from './app';
import { connectHost } from './hostBridge';
import { Store, initialState } from './store';
import { readTheme, watchTheme } from './theme';
import { createAttentionView } from './views/attentionView';
import { createCodebookView } from './views/codebookView';
import { createCompareView } from './views/compareView';
import { createDatasetView } from './views/datasetView';
import { createPyramidView } from './views/pyramidView';
import { createReconstructionView } from './views/reconstructionView';
import { createResidualView } from './views/residualView';
import { createStepThroughView } from './views/stepThroughView';
import { createWhatIfView } from './views/whatIfView';
import type { ViewContext } from './views/view';

const TABS: TabSpec[] = [
  { id: 'pyramid', label: 'Pyramid', create: createPyramidView },
  { id: 'reconstruction', label: 'Reconstruction', create: createReconstructionView },
  { id: 'residual', label: 'Residuals', create: createResidualView },
  { id: 'codebook', label: 'Codebook', create: createCodebookView },
  { id: 'attention', label: 'Attention', create: createAttentionView },
  { id: 'stepThrough', label: 'Step-through', create: createStepThroughView },
  { id: 'whatIf', label: 'What-if', create: createWhatIfView },
  { id: 'compare', label: 'Compare', create: createCompareView },
  { id: 'dataset', label: 'Dataset', create: createDatasetView },
];

function main(): void {
  const doc = document;
  const bridge = connectHost(window);
  const store = new Store(initialState());
  const saved = bridge.getState();
  if (saved) store.update({ panel: saved, view: saved.view ?? 'pyramid' });
  const ctx: ViewContext = { doc, store, host: bridge.channel, theme: () => readTheme(doc) };
  const app = createApp(ctx, TABS);
  doc.body.append(app.root);
  // The host's fallback header (shown before this script runs, or if it fails) would repeat the app's header.
  doc.getElementById('varscope-host-fallback')?.remove();
  watchTheme(doc, () => store.update((s) => ({ themeVersion: s.themeVersion + 1 })));
  // The panel state lives in the webview (survives hide/show) and in the host (survives reloads via the serializer).
  store.subscribe((s, prev) => {
    if (s.panel !== prev.panel && s.initialised) {
      bridge.setState(s.panel);
      void bridge.channel.call('saveState', s.panel).catch(() => undefined);
    }
  });
  bindHostEvents(store, bridge.channel, () => {
    const s = store.state;
    if (s.model && s.panel.imageUri) void loadInspect(store, bridge.channel);
    if (s.model?.hasTrainingHits) void loadTrainingUsage(store, bridge.channel);
  });
  bridge.channel.emit('ready', {});
}

main();
