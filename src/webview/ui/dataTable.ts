/**
 * A table of rows (`table.data-table`): one header row, a body row per item, cells from column declarations.
 * Columns with a sort order make their header a button for it (worst first, marked ▼ / ▲ and `aria-sort`);
 * with `onRow` a click on a row reports its item.
 */
import { select } from 'd3';

/** How a column sorts its rows: by a number, "worst" first (the highest when `worstHigh`). */
export interface ColumnSort<R> {
  value(row: R): number;
  worstHigh: boolean;
}

/** A column: its header, a row's cell text, and optionally how it sorts. */
export interface Column<R> {
  header: string;
  cell(row: R): string;
  sort?: ColumnSort<R>;
}

/** The mounted table; `update` shows rows (sorted by the chosen column, at most `limit` of them when given). */
export interface DataTable<R> {
  root: HTMLTableElement;
  update(rows: readonly R[]): void;
}

/** Options: a row click handler, the initially sorted column (its header), the number of rows shown. */
export interface DataTableOptions<R> {
  onRow?: (row: R) => void;
  sortBy?: string;
  limit?: number;
}

/** The rows worst first by `sort`, at most `limit` of them (stable: equal values keep their order). */
export function sortRows<R>(rows: readonly R[], sort: ColumnSort<R> | undefined, limit = Infinity): R[] {
  const sign = sort?.worstHigh ? -1 : 1;
  const out = sort ? [...rows].sort((a, b) => sign * (sort.value(a) - sort.value(b))) : [...rows];
  return out.slice(0, limit);
}

/** Build a table with classes `data-table` and `cls`. */
export function makeDataTable<R>(
  doc: Document,
  cls: string,
  columns: ReadonlyArray<Column<R>>,
  opts: DataTableOptions<R> = {},
): DataTable<R> {
  const root = doc.createElement('table');
  root.className = `data-table ${cls}`;
  const table = select(root);
  let sortBy = opts.sortBy;
  let data: readonly R[] = [];
  const sorted = (): Column<R> | undefined => columns.find((c) => c.sort && c.header === sortBy);

  const draw = (): void => {
    const by = sorted();
    const rows = sortRows(data, by?.sort, opts.limit);
    table
      .selectAll('thead')
      .data([0])
      .join('thead')
      .selectAll('tr')
      .data([0])
      .join('tr')
      .selectAll<HTMLTableCellElement, Column<R>>('th')
      .data(columns)
      .join('th')
      .text((c) => c.header + (c === by ? (c.sort!.worstHigh ? ' ▼' : ' ▲') : ''))
      .classed('sortable', (c) => !!c.sort)
      .attr('aria-sort', (c) => (c === by ? 'descending' : null))
      .on('click', (_e, c) => {
        if (!c.sort) return;
        sortBy = c.header;
        draw();
      });
    const tr = table.selectAll('tbody').data([0]).join('tbody').selectAll<HTMLTableRowElement, R>('tr').data(rows).join('tr');
    tr.selectAll('td')
      .data((r) => columns.map((c) => c.cell(r)))
      .join('td')
      .text((d) => d);
    tr.classed('clickable', !!opts.onRow).on('click', (_e, r) => opts.onRow?.(r));
  };

  return {
    root,
    update(rows) {
      data = rows;
      draw();
    },
  };
}
