/** Webview entry: connect to the host, restore state, mount the panel, and start the ready → init handshake. */
import './styles/main.css';
import { bindHostEvents, load } from './actions';
import { VIEW_IDS, type ViewId } from '../shared/protocol';
import { createApp, type TabSpec } from './app';
import { connectHost } from './hostBridge';
import { Store, initialState } from './store';
import { readTheme, watchTheme } from './theme';
import { createAttentionView } from './views/attentionView';
import { createBitsAttentionView } from './views/bitsAttentionView';
import { createBitPyramidView } from './views/bitPyramidView';
import { createBitsCodebookView } from './views/bitsCodebookView';
import { createCodebookView } from './views/codebookView';
import { createCompareView } from './views/compareView';
import { createBitsDatasetView } from './views/bitsDatasetView';
import { createDatasetView } from './views/datasetView';
import { createProfileView } from './views/profileView';
import { createPyramidView } from './views/pyramidView';
import { createBitsReconstructionView, createReconstructionView } from './views/reconstructionView';
import { createBitsResidualView, createResidualView } from './views/residualView';
import { createBitSamplingView } from './views/bitSamplingView';
import { createSamplingView } from './views/samplingView';
import { createBitsStepThroughView, createStepThroughView } from './views/stepThroughView';
import { createBitWhatIfView } from './views/bitWhatIfView';
import { createWhatIfView } from './views/whatIfView';
import type { ViewContext } from './views/view';

/**
 * Each view's tab label and its factory per model family; the ids and their order come from VIEW_IDS (a missing
 * view does not compile). A family without a factory does not show the tab.
 */
const VIEWS: { [V in ViewId]: Omit<TabSpec, 'id'> } = {
  pyramid: { label: 'Pyramid', create: { var: createPyramidView, infinity: createBitPyramidView } },
  reconstruction: { label: 'Reconstruction', create: { var: createReconstructionView, infinity: createBitsReconstructionView } },
  residual: { label: 'Residuals', create: { var: createResidualView, infinity: createBitsResidualView } },
  codebook: { label: 'Codebook', create: { var: createCodebookView, infinity: createBitsCodebookView } },
  attention: { label: 'Attention', create: { var: createAttentionView, infinity: createBitsAttentionView } },
  stepThrough: { label: 'Step-through', create: { var: createStepThroughView, infinity: createBitsStepThroughView } },
  sampling: { label: 'Sampling', create: { var: createSamplingView, infinity: createBitSamplingView } },
  whatIf: { label: 'What-if', create: { var: createWhatIfView, infinity: createBitWhatIfView } },
  compare: { label: 'Compare', create: { var: createCompareView } },
  dataset: { label: 'Dataset', create: { var: createDatasetView, infinity: createBitsDatasetView } },
  profile: { label: 'Profile', create: { var: createProfileView } },
};
const TABS: TabSpec[] = VIEW_IDS.map((id) => ({ id, ...VIEWS[id] }));

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
    if ((s.model || s.bitsModel) && s.panel.imageUri) void load(store, bridge.channel, 'inspect', {});
    if (s.model?.hasTrainingHits) void load(store, bridge.channel, 'trainingUsage', {});
  });
  bridge.channel.emit('ready', {});
}

main();
