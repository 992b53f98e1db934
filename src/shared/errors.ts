/**
 * Errors that cross a boundary (engine process, extension host, webview, CLI): a code the caller can switch on,
 * a one-line message for the user, and detail for the log.
 */

/** A serialisable error with a code the caller can switch on. */
export interface WireError {
  code: ErrorCode;
  message: string;
  detail?: string;
}

/** The error codes: what went wrong, as a caller decides what to do about it (Cancelled stays silent). */
export type ErrorCode =
  | 'ModelNotFound'
  | 'ModelLoad'
  | 'BadImage'
  | 'Inference'
  | 'Cancelled'
  | 'EngineCrashed'
  | 'OutOfMemory'
  | 'Timeout'
  | 'BadRequest'
  | 'Internal';

/**
 * What an allocation failure prints, whoever reports it: V8 (a fatal OOM: "Fatal process OOM in ...", "JavaScript
 * heap out of memory", "Failed to reserve virtual memory"; a RangeError "Array buffer allocation failed"), C++
 * (std::bad_alloc, often inside onnxruntime's own message), onnxruntime ("Failed to allocate memory", a thread it
 * could not start: "pthread_create failed ... Cannot allocate memory"), libvips (glib's "Error creating thread") and
 * the dynamic loader ("failed to map segment"). Address space runs out under ulimit -v / prlimit --as long before RAM.
 */
const ALLOCATION_FAILURE =
  /Fatal (process )?OOM|heap out of memory|Failed to reserve virtual memory|allocation failed|bad_alloc|Failed to allocate memory|Cannot allocate memory|\bENOMEM\b|out of memory|Error creating thread|failed to map segment/i;

/** The first line of `text` that says an allocation failed (trimmed of '#' frames and spaces), or undefined. */
export function allocationFailure(text: string): string | undefined {
  const line = text.split('\n').find((l) => ALLOCATION_FAILURE.test(l));
  return line?.replace(/^[#\s]+/, '').trim();
}

/** An Error carrying a code; what crosses a boundary as a WireError. */
export class VarScopeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = `VarScopeError(${code})`;
  }

  /** The wire form of any thrown value. */
  static toWire(e: unknown): WireError {
    if (e instanceof VarScopeError) return { code: e.code, message: e.message, detail: e.detail };
    if (e instanceof Error) return { code: allocationFailure(e.message) ? 'OutOfMemory' : 'Internal', message: e.message, detail: e.stack };
    return { code: 'Internal', message: String(e) };
  }

  static fromWire(w: WireError): VarScopeError {
    return new VarScopeError(w.code, w.message, w.detail);
  }
}

/** Control characters and the line and paragraph separators: what breaks a line or a terminal. */
// eslint-disable-next-line no-control-regex -- matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** CONTROL and the invisible or direction-changing characters, escaped when quoted in a message. */
// eslint-disable-next-line no-control-regex -- matching them is the point
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/;

/** Whether a string from a file is one line (no control characters or line separators). */
export function isOneLine(s: string): boolean {
  return !CONTROL.test(s);
}

/**
 * A string from a file (a name, a path, a value) for a one-line message: JSON-quoted, at most `max` characters, with
 * line and paragraph separators and other invisible characters escaped as JSON escapes them.
 */
export function quoted(s: string, max = 80): string {
  const t = s.length > max ? `${s.slice(0, max)}…` : s;
  return JSON.stringify(t).replace(new RegExp(INVISIBLE, 'g'), unicodeEscape);
}

/** A message of one line: runs of white space become one space, control characters are escaped; at most `max` characters. */
export function oneLine(s: string, max = 200): string {
  const t = s.replace(/\s+/g, ' ').trim().replace(new RegExp(INVISIBLE, 'g'), unicodeEscape);
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
