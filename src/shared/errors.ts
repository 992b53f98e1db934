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
  'ModelNotFound' | 'ModelLoad' | 'BadImage' | 'Inference' | 'Cancelled' | 'EngineCrashed' | 'Timeout' | 'BadRequest' | 'Internal';

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
    if (e instanceof Error) return { code: 'Internal', message: e.message, detail: e.stack };
    return { code: 'Internal', message: String(e) };
  }

  static fromWire(w: WireError): VarScopeError {
    return new VarScopeError(w.code, w.message, w.detail);
  }
}
