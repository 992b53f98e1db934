/**
 * The toolbar of either family's Dataset view: a button per panel command (run by the host), then Save CSV, which saves
 * the per-scale table of the evaluation the view shows.
 */
import type { AnyDatasetEvaluation } from '../../shared/evaluation';
import { scalesCsv } from '../../shared/evaluationCsv';
import type { PANEL_COMMANDS } from '../../shared/protocol';
import type { ViewContext } from '../views/view';
import { button } from './controls';

/** A toolbar button that runs a panel command: the command, its label and its tooltip. */
export interface ToolbarCommand {
  command: (typeof PANEL_COMMANDS)[number];
  label: string;
  title: string;
}

/** The toolbar, appended to `head`; `shown` is the evaluation Save CSV saves (null: nothing to save). */
export function makeDatasetToolbar(
  { doc, store, host }: Pick<ViewContext, 'doc' | 'store' | 'host'>,
  head: HTMLElement,
  commands: readonly ToolbarCommand[],
  shown: () => AnyDatasetEvaluation | null,
): void {
  const toolbar = doc.createElement('div');
  toolbar.className = 'toolbar';
  const saveCsv = async (): Promise<void> => {
    const ev = shown();
    if (!ev) return;
    try {
      await host.call('saveExport', { suggestedName: `varscope-evaluation-${ev.model.id}.csv`, mime: 'text/csv', data: scalesCsv(ev) });
    } catch (e) {
      store.pushError('saveCsv', e);
    }
  };
  toolbar.append(
    ...commands.map(({ command, label, title }) =>
      button(doc, label, () => void host.call('runCommand', { command }).catch((e) => store.pushError(command, e)), title),
    ),
    button(doc, 'Save CSV', () => void saveCsv(), 'Save the per-scale table as CSV'),
  );
  head.append(toolbar);
}
