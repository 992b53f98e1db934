/**
 * Asks the test harness (which drives the browser showing the workbench) to read the real webview DOM,
 * act on it (click, select, type, press a key) or take a screenshot. VARSCOPE_TEST_BRIDGE is its loopback URL;
 * absent when no browser drives the run.
 */
import * as http from 'http';
import type { GenerationSettings } from '../../../src/shared/results';

/** Text of one webview frame as the browser renders it. */
export interface WebviewFrameText {
  url: string;
  text: string;
  /** Text of the host-rendered elements (ids starting with `varscope-`). */
  ids: Record<string, string>;
  /** Text of the first element matching each selector asked for, when one matches. */
  selected: Record<string, string>;
  /** How many elements match each selector asked to count. */
  counts: Record<string, number>;
  /** For each `selector|attr` asked for: that attribute of every match in document order (a bare selector: their text). */
  all: Record<string, string[]>;
}

/** What `act` can do to an element of a webview. */
export type WebviewAction = 'click' | 'select' | 'fill' | 'press';

/** The bridge URL, or undefined when the run has no browser (desktop VS Code). */
export function bridgeUrl(): string | undefined {
  return process.env.VARSCOPE_TEST_BRIDGE || undefined;
}

function get<T>(pathAndQuery: string): Promise<T> {
  const base = bridgeUrl();
  if (!base) return Promise.reject(new Error('no test bridge (VARSCOPE_TEST_BRIDGE unset)'));
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${pathAndQuery}`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`bridge ${pathAndQuery}: ${res.statusCode} ${body}`));
          else resolve(JSON.parse(body) as T);
        });
      })
      .on('error', reject);
  });
}

/**
 * Every webview frame now in the workbench: its text, the text of the first match of each of `selectors`, the number
 * of matches of each of `countSelectors`, and for each of `allSelectors` (`selector` or `selector|attr`) every match.
 */
export function readWebviews(
  selectors: string[] = [],
  countSelectors: string[] = [],
  allSelectors: string[] = [],
): Promise<WebviewFrameText[]> {
  const query = [
    ...selectors.map((q) => `q=${encodeURIComponent(q)}`),
    ...countSelectors.map((c) => `c=${encodeURIComponent(c)}`),
    ...allSelectors.map((a) => `a=${encodeURIComponent(a)}`),
  ].join('&');
  return get<WebviewFrameText[]>(`/webviews${query ? `?${query}` : ''}`);
}

/**
 * Clicks `selector`, selects the option `value`, fills it with `value`, or presses the key `value` on it, in the
 * visible webview frame that has it; `frame` narrows the frames to those whose `frame.selector` text is `frame.text`.
 * The browser waits (up to 15 s) for the element to be visible and enabled.
 */
export async function act(action: WebviewAction, selector: string, value = '', frame?: { selector: string; text: string }): Promise<void> {
  const params = new URLSearchParams({ action, selector, value });
  if (frame) {
    params.set('frameSel', frame.selector);
    params.set('frameText', frame.text);
  }
  await get<{ done: string }>(`/act?${params.toString()}`);
}

/** The header element that names a panel's image; the one that names its model. */
export const APP_IMAGE = '.app-header .image-name';
export const APP_MODEL = '.app-header .model-name';

/** The panel showing `imageName`, as the browser shows it now: read its DOM (see readWebviews) or act in it. */
export function imagePanel(imageName: string): {
  read(all?: string[], selected?: string[]): Promise<WebviewFrameText | undefined>;
  act(action: WebviewAction, selector: string, value?: string): Promise<void>;
  /** Types `s` into the step-through form (its Generate mode showing) and presses Start. */
  startGeneration(s: GenerationSettings): Promise<void>;
} {
  const on = (action: WebviewAction, selector: string, value = '') =>
    act(action, selector, value, { selector: APP_IMAGE, text: imageName });
  const form = '.view-step .generate';
  return {
    read: async (all = [], selected = []) =>
      (await readWebviews([APP_IMAGE, ...selected], [], all)).find((f) => f.selected[APP_IMAGE] === imageName),
    act: on,
    async startGeneration(s) {
      await on('select', '.view-step select.class-select', String(s.classId));
      await on('fill', `${form} input[aria-label="Seed"]`, String(s.seed));
      await on('fill', `${form} input[aria-label="CFG"]`, String(s.cfg));
      await on('fill', `${form} input[aria-label="Top-k"]`, String(s.topK));
      await on('fill', `${form} input[aria-label="Top-p"]`, String(s.topP));
      await on('click', '.view-step button.start');
    },
  };
}

/** Saves a screenshot of the workbench to test-results/<name>; returns its path. */
export async function screenshot(name: string): Promise<string> {
  return (await get<{ path: string }>(`/screenshot?name=${encodeURIComponent(name)}`)).path;
}
