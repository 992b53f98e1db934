/**
 * Asks the test harness (which drives the browser showing the workbench) to read the real webview DOM
 * or take a screenshot. VARSCOPE_TEST_BRIDGE is its loopback URL; absent when no browser drives the run.
 */
import * as http from 'http';

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
}

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

/** Every webview frame now in the workbench: its text, the text of the first match of each of `selectors`, and the number of matches of each of `countSelectors`. */
export function readWebviews(selectors: string[] = [], countSelectors: string[] = []): Promise<WebviewFrameText[]> {
  const query = [...selectors.map((q) => `q=${encodeURIComponent(q)}`), ...countSelectors.map((c) => `c=${encodeURIComponent(c)}`)].join('&');
  return get<WebviewFrameText[]>(`/webviews${query ? `?${query}` : ''}`);
}

/** Saves a screenshot of the workbench to test-results/<name>; returns its path. */
export async function screenshot(name: string): Promise<string> {
  return (await get<{ path: string }>(`/screenshot?name=${encodeURIComponent(name)}`)).path;
}
