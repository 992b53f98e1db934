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
