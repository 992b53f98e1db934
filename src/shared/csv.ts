/**
 * The one CSV writer: RFC 4180 quoting (a field holding a comma, a quote, CR or LF is quoted, inner quotes
 * doubled), and text that a spreadsheet would run as a formula (a cell starting with = + - @, tab or CR) made
 * plain text with a leading `'` (OWASP's CSV injection advice). Numbers stay numbers: -1.5 is not a formula.
 */

/** One cell: a number (non-finite: empty), text, or empty (null / undefined). */
export type CsvValue = number | string | null | undefined;

/** A plain decimal number written as text (a spreadsheet reads it as that number, never as a formula). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** First characters that make a spreadsheet evaluate a cell (Excel, LibreOffice, Google Sheets). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell as CSV text. */
export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const text = FORMULA_START.test(v) && !NUMBER.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row (no line end). */
export function csvRow(cells: readonly CsvValue[]): string {
  return cells.map(csvCell).join(',');
}

/** A whole table: the header and the rows, each line ended by LF. */
export function csvTable(header: readonly string[], rows: ReadonlyArray<readonly CsvValue[]>): string {
  return [header, ...rows].map(csvRow).join('\n') + '\n';
}
