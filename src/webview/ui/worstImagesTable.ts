/**
 * A worst-images section of a folder evaluation: a heading, a note, and a sortable table whose first column is the image
 * (its path below the folder) and whose row click opens that image in the inspector with the evaluated model.
 */
import type { ViewContext } from '../views/view';
import { makeDataTable, type Column } from './dataTable';

/** How many rows a worst-images table shows. */
export const WORST_ROWS = 30;

/** What a worst-images table needs of the shown evaluation: its folder and its model's bundle. */
export interface EvaluatedFolder {
  folder: string;
  model: { dir: string };
}

/**
 * The table's columns after the image (given the shown evaluation, set before any row is drawn); the Dataset views'
 * table unless given: its class (`worst-table`), heading level (h2), note, and WORST_ROWS rows.
 */
export interface WorstImagesOptions<E extends EvaluatedFolder, R> {
  columns: (shown: () => E) => Array<Column<R>>;
  cls?: string;
  heading?: 'h2' | 'h3';
  note?: string;
  limit?: number;
}

/** The note above the Dataset views' worst-images table. */
const DATASET_NOTE = 'Click a column to sort by it (worst first); click a row to open the image in the inspector with this model.';

/** The mounted section; `update` shows the evaluation's rows, worst first by the first sortable column. */
export interface WorstImagesTable<E, R> {
  update(ev: E, rows: readonly R[]): void;
}

/** The section, appended to `parent`. */
export function makeWorstImagesTable<E extends EvaluatedFolder, R extends { file: string }>(
  { doc, store, host }: Pick<ViewContext, 'doc' | 'store' | 'host'>,
  parent: HTMLElement,
  opts: WorstImagesOptions<E, R>,
): WorstImagesTable<E, R> {
  let shown: E | null = null;
  const current = (): E => shown!;
  const columns: Array<Column<R>> = [{ header: 'image', cell: (r) => relative(current().folder, r.file) }, ...opts.columns(current)];
  const heading = doc.createElement(opts.heading ?? 'h2');
  heading.textContent = 'Worst images';
  const note = doc.createElement('p');
  note.className = 'muted';
  note.textContent = opts.note ?? DATASET_NOTE;
  const table = makeDataTable<R>(doc, opts.cls ?? 'worst-table', columns, {
    sortBy: columns.find((c) => c.sort)?.header,
    limit: opts.limit ?? WORST_ROWS,
    onRow: (r) => void host.call('openImage', { file: r.file, model: current().model.dir }).catch((e) => store.pushError('openImage', e)),
  });
  parent.append(heading, note, table.root);
  return {
    update(ev, rows) {
      shown = ev;
      table.update(rows);
    },
  };
}

/** A file's path below the evaluated folder. */
export function relative(folder: string, file: string): string {
  return file.startsWith(folder) ? file.slice(folder.length).replace(/^[\\/]/, '') : file;
}
