/**
 * Checks every message from the webview before anything uses it: the RPC envelope, the method name,
 * and the shape of its params. A webview is a web page; treat what it sends as untrusted input.
 */
import { TEXT_FEATURE_EXTENSIONS } from '../shared/textCondition';
import { PANEL_COMMANDS, SAVE_MIMES, VIEW_IDS, type HostApi, type PanelState } from '../shared/protocol';
import type { RpcMessage } from '../shared/rpc';
import { VarScopeError } from '../shared/errors';
import { bitSamplingSettingsError, samplingSettingsError } from '../shared/samplingBounds';
import { bitEditError } from '../shared/bitEdit';
import { anySamplingGridError } from '../shared/bitSamplingGrid';
import { MAX_PROFILE_REPEATS } from '../shared/scaleProfile';

type Check = (params: unknown) => string | null;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min = 0, max = 1e9): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const isStr = (v: unknown, maxLen = 4096): boolean => typeof v === 'string' && v.length <= maxLen;
const isRunId = (v: unknown): boolean => isStr(v, 200) && (v as string).length > 0;

/** True when `v` is one of `list` (the protocol's `as const` lists). */
const isOneOf = (list: readonly string[], v: unknown): boolean => typeof v === 'string' && list.includes(v);
const MIMES: readonly string[] = SAVE_MIMES;
/** Exports larger than this are refused (a view's PNG / JSON is far smaller). */
const MAX_EXPORT_BYTES = 256 * 1024 * 1024;

function settingsError(s: unknown): string | null {
  if (!isObj(s)) return 'settings must be an object';
  const problem = samplingSettingsError(s);
  return problem ? `settings.${problem}` : null;
}

/** Why `s` are no generation settings of either family (Infinity's: a caption and per-scale lists; else VAR's). */
function anySettingsError(s: unknown): string | null {
  if (!isObj(s) || s.family !== 'infinity') return settingsError(s);
  const problem = bitSamplingSettingsError(s) ?? (textError(s.text) && `text ${textError(s.text)}`);
  return problem ? `settings.${problem}` : null;
}

/** Why `t` is no TextCondition: a features file must be a .npy / .safetensors path, a prompt a non-empty string. */
function textError(t: unknown): string | null {
  if (!isObj(t)) return 'must be { featuresFile } or { prompt }';
  if ('featuresFile' in t) {
    const f = t.featuresFile;
    return isStr(f) && TEXT_FEATURE_EXTENSIONS.some((e) => (f as string).toLowerCase().endsWith(e))
      ? null
      : `featuresFile must be a ${TEXT_FEATURE_EXTENSIONS.join(' or ')} path`;
  }
  if ('prompt' in t) return isStr(t.prompt) && (t.prompt as string).trim() ? null : 'prompt must be a non-empty string';
  return 'must be { featuresFile } or { prompt }';
}

function stateError(s: unknown): string | null {
  if (!isObj(s)) return 'state must be an object';
  if (s.imageUri !== null && !isStr(s.imageUri)) return 'state.imageUri must be a string or null';
  if (s.view !== undefined && !isOneOf(VIEW_IDS, s.view)) return 'state.view is not a view';
  if (s.generation !== undefined && settingsError(s.generation)) return `state.generation: ${settingsError(s.generation)}`;
  if (s.evalClass !== undefined && !isInt(s.evalClass, 0, 1e6)) return 'state.evalClass must be an integer';
  if (s.attention !== undefined) {
    const a = s.attention;
    if (!isObj(a) || !isInt(a.layer, 0, 1000) || !(a.head === 'mean' || isInt(a.head, 0, 1000))) return 'state.attention is malformed';
  }
  if (s.caption !== undefined && textError(s.caption)) return `state.caption ${textError(s.caption)}`;
  if (s.bitGeneration !== undefined) {
    const problem = isObj(s.bitGeneration) ? bitSamplingSettingsError(s.bitGeneration) : 'must be an object';
    if (problem) return `state.bitGeneration: ${problem}`;
  }
  return null;
}

const empty: Check = (p) => (p === undefined || isObj(p) ? null : 'params must be an object');
const head = (h: unknown) => h === 'mean' || isInt(h, 0, 1000);

/** One check per HostApi method; adding a method to HostApi without a check is a compile error. */
const CHECKS: { [M in keyof HostApi]: Check } = {
  inspect: empty,
  trainingUsage: empty,
  profile: (p) =>
    isObj(p) && isInt(p.classId, 0, 1e6) && isInt(p.repeats, 1, MAX_PROFILE_REPEATS)
      ? null
      : `profile needs classId and repeats (1..${MAX_PROFILE_REPEATS})`,
  evaluate: (p) => (isObj(p) && isInt(p.classId, 0, 1e6) ? null : 'classId must be a non-negative integer'),
  evaluateBits: (p) => (isObj(p) ? textError(p.text) && `text ${textError(p.text)}` : 'params must be an object'),
  chooseTextFeatures: empty,
  chooseImageFolder: empty,
  folderUsage: (p) =>
    isObj(p) && isRunId(p.runId) && isStr(p.folder) && (p.folder as string).length > 0 ? null : 'folderUsage needs runId and folder',
  attention: (p) => {
    if (!isObj(p) || !isInt(p.layer, 0, 1000) || !head(p.head)) return 'attention needs layer, head and a classId or a text';
    if (p.text !== undefined) return textError(p.text) && `text ${textError(p.text)}`;
    return isInt(p.classId, 0, 1e6) ? null : 'attention needs layer, head and a classId or a text';
  },
  generationStart: (p) => (isObj(p) ? anySettingsError(p.settings) : 'params must be an object'),
  generationStep: (p) =>
    isObj(p) && isRunId(p.runId) && (p.scaleIndex === undefined || isInt(p.scaleIndex, 0, 1000)) ? null : 'generationStep needs runId',
  cancel: (p) => (isObj(p) && isRunId(p.runId) ? null : 'cancel needs runId'),
  samplingGrid: (p) => {
    if (!isObj(p)) return 'params must be an object';
    return isRunId(p.runId) ? anySamplingGridError(p) : 'samplingGrid needs runId';
  },
  edit: (p) => {
    if (!isObj(p)) return 'params must be an object';
    if (p.family === 'infinity') return bitEditError(p);
    if (!isInt(p.scaleIndex, 0, 1000)) return 'scaleIndex must be an integer';
    if (!Array.isArray(p.positions) || !p.positions.every((x) => isInt(x, 0, 1e7))) return 'positions must be integers';
    if (
      p.tokens !== 'resample' &&
      !(Array.isArray(p.tokens) && p.tokens.length === p.positions.length && p.tokens.every((x) => isInt(x, 0, 1e7)))
    ) {
      return "tokens must be 'resample' or one id per position";
    }
    return settingsError(p.settings);
  },
  saveExport: (p) => {
    if (!isObj(p) || !isStr(p.suggestedName, 255) || !isOneOf(MIMES, p.mime)) return 'saveExport needs suggestedName and mime';
    if (/[\\/]/.test(p.suggestedName as string) || (p.suggestedName as string).startsWith('.'))
      return 'suggestedName must be a plain file name';
    const d = p.data;
    if (typeof d === 'string') return d.length <= MAX_EXPORT_BYTES ? null : 'export too large';
    if (d instanceof Uint8Array) return d.byteLength <= MAX_EXPORT_BYTES ? null : 'export too large';
    return 'data must be a string or bytes';
  },
  saveState: stateError,
  openImage: (p) => (isObj(p) && isStr(p.file) && isStr(p.model) ? null : 'openImage needs file and model paths'),
  runCommand: (p) => (isObj(p) && isOneOf(PANEL_COMMANDS, p.command) ? null : 'command is not one the panel may run'),
};

/** The RPC envelope if `m` is one the webview may send, else null (dropped). The webview only requests and emits. */
export function validEnvelope(m: unknown): RpcMessage | null {
  if (!isObj(m)) return null;
  if (m.kind === 'request') return isInt(m.id, 0, Number.MAX_SAFE_INTEGER) && isStr(m.method, 100) ? (m as RpcMessage) : null;
  if (m.kind === 'event') return m.name === 'ready' ? (m as RpcMessage) : null;
  return null;
}

/** Throws BadRequest unless `params` fit `method` of HostApi. */
export function checkParams(method: string, params: unknown): void {
  // Own keys only: `toString` or `constructor` are not methods of HostApi.
  const check = Object.hasOwn(CHECKS, method) ? (CHECKS as Record<string, Check>)[method] : undefined;
  if (!check) throw new VarScopeError('BadRequest', `unknown method ${method}`);
  const problem = check(params);
  if (problem) throw new VarScopeError('BadRequest', `${method}: ${problem}`);
}

/** True when a PanelState restored by the serializer is usable. */
export function isPanelState(s: unknown): s is PanelState {
  return stateError(s) === null;
}
