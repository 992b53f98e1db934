/**
 * One progress line on a terminal's stderr, rewritten in place; silent when stderr is not a terminal, so logs,
 * pipes and the JSON on stdout stay exactly as they were.
 */

/** A progress line for one long command. */
export class ProgressLine {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Replace the line with `text` (terminals only). */
  update(text: string): void {
    if (!this.stream.isTTY) return;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[2K${text.length > width ? text.slice(0, width - 1) + '…' : text}`);
    this.shown = true;
  }

  /** Clear the line (before the result or an error is printed). */
  done(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}
