/**
 * The checks on every message from the webview, in plain Node: envelopes, each HostApi method's params (one
 * accepted and several refused cases each), the panel state the serializer restores, and the protocol's lists.
 */
import * as assert from 'assert';
import { checkParams, isPanelState, validEnvelope } from '../../../src/extension/messageValidator';
import { VarScopeError } from '../../../src/shared/errors';
import { EXPORT_MIMES, PANEL_COMMANDS, VIEW_IDS } from '../../../src/shared/protocol';

const SETTINGS = { classId: 3, seed: 7, cfg: 4, topK: 900, topP: 0.96 };
/** An Infinity grid's setting for a schedule of 3 scales. */
const BIT_SETTING = { cfgList: [1, 2, 3], tauList: [1, 1, 1], topK: 2, topP: 0 };
/** An Infinity generation's settings (what an Infinity edit starts from). */
const BIT_GENERATION = { family: 'infinity', text: { prompt: 'a cat' }, seed: 1, ...BIT_SETTING };
/** An Infinity model's generation settings (the caption a features file). */
const BIT_SETTINGS = {
  family: 'infinity',
  text: { featuresFile: '/data/cat.npy' },
  hDivW: 0.75,
  seed: 7,
  cfgList: [1, 1.5, 3],
  tauList: [0.5, 0.5, 0.5],
  topK: 1,
  topP: 0,
};

/** The BadRequest message checkParams throws, or null when the params pass. */
function problem(method: string, params: unknown): string | null {
  try {
    checkParams(method, params);
    return null;
  } catch (e) {
    assert.ok(e instanceof VarScopeError, String(e));
    assert.strictEqual(e.code, 'BadRequest');
    return e.message;
  }
}

describe('messageValidator', () => {
  it('lets through requests and the ready event only', () => {
    const req = { kind: 'request', id: 1, method: 'inspect', params: {} };
    assert.strictEqual(validEnvelope(req), req);
    const ready = { kind: 'event', name: 'ready', payload: {} };
    assert.strictEqual(validEnvelope(ready), ready);
    for (const bad of [
      null,
      [],
      'request',
      { kind: 'reply', id: 1, ok: 1 }, // the webview never answers the host
      { kind: 'event', name: 'init', payload: {} }, // only the host sends init
      { kind: 'request', id: -1, method: 'inspect' },
      { kind: 'request', id: 1.5, method: 'inspect' },
      { kind: 'request', id: 1, method: 7 },
      { kind: 'request', id: 1, method: 'x'.repeat(101) },
    ])
      assert.strictEqual(validEnvelope(bad), null, JSON.stringify(bad));
  });

  it('refuses a method HostApi does not have', () => {
    assert.strictEqual(problem('deleteEverything', {}), 'unknown method deleteEverything');
    assert.strictEqual(problem('toString', {}), 'unknown method toString');
  });

  it('checks each method’s params', () => {
    const ok: Array<[string, unknown]> = [
      ['inspect', {}],
      ['inspect', undefined],
      ['trainingUsage', {}],
      ['evaluate', { classId: 0 }],
      ['evaluateBits', { text: { featuresFile: '/data/cat.npy' } }],
      ['evaluateBits', { text: { featuresFile: '/data/cat.SAFETENSORS' } }],
      ['evaluateBits', { text: { prompt: 'a cat' } }],
      ['chooseTextFeatures', {}],
      ['chooseImageFolder', {}],
      ['folderUsage', { runId: 'folder-1', folder: '/data/images' }],
      ['attention', { classId: 1, layer: 0, head: 'mean' }],
      ['attention', { classId: 1, layer: 1, head: 3 }],
      ['attention', { text: { prompt: 'a cat' }, layer: 1, head: 'mean' }],
      ['generationStart', { settings: SETTINGS }],
      ['generationStart', { settings: BIT_SETTINGS }],
      ['generationStart', { settings: { ...BIT_SETTINGS, text: { prompt: 'a cat' }, cfgInsertionLayer: -2 } }],
      ['generationStep', { runId: 'r1' }],
      ['generationStep', { runId: 'r1', scaleIndex: 9 }],
      ['cancel', { runId: 'r1' }],
      ['edit', { scaleIndex: 2, positions: [0, 3], tokens: [5, 6], settings: SETTINGS }],
      ['edit', { scaleIndex: 2, positions: [0, 3], tokens: 'resample', settings: SETTINGS }],
      ['samplingGrid', { classes: [1, 2], settings: [{ cfg: 1.5, topK: 900, topP: 0.96 }], samples: 4, seed: 0, runId: 'grid-1' }],
      ['samplingGrid', { family: 'infinity', text: { prompt: 'a cat' }, settings: [BIT_SETTING], samples: 2, seed: 0, runId: 'grid-2' }],
      ['edit', { family: 'infinity', settings: BIT_GENERATION, scaleIndex: 2, positions: [0, 3], change: { flip: [0, 7] } }],
      ['edit', { family: 'infinity', settings: BIT_GENERATION, scaleIndex: 2, positions: [1], change: { resampleSeed: 5 } }],
      ['saveExport', { suggestedName: 'varscope-pyramid.png', mime: 'image/png', data: new Uint8Array(4) }],
      ['saveExport', { suggestedName: 'varscope-pyramid.json', mime: 'application/json', data: '{}' }],
      ['saveState', { imageUri: null, view: 'whatIf', evalClass: 2, attention: { layer: 0, head: 'mean' }, generation: SETTINGS }],
      ['saveState', { imageUri: null, caption: { featuresFile: '/data/cat.npy' } }],
      ['runCommand', { command: 'varscope.chooseModel' }],
    ];
    for (const [m, p] of ok) assert.strictEqual(problem(m, p), null, `${m} ${JSON.stringify(p)}`);
    const bad: Array<[string, unknown, RegExp]> = [
      ['inspect', [], /params must be an object/],
      ['evaluate', { classId: -1 }, /classId/],
      ['evaluate', { classId: 1.5 }, /classId/],
      ['evaluateBits', {}, /^evaluateBits: text must be \{ featuresFile \} or \{ prompt \}$/],
      ['evaluateBits', { text: { featuresFile: '/etc/passwd' } }, /featuresFile must be a \.npy or \.safetensors path/],
      ['evaluateBits', { text: { prompt: '  ' } }, /prompt must be a non-empty string/],
      ['evaluateBits', { text: { classId: 3 } }, /must be \{ featuresFile \} or \{ prompt \}/],
      ['folderUsage', { runId: 'folder-1' }, /folderUsage needs runId and folder/],
      ['folderUsage', { runId: '', folder: '/data' }, /folderUsage needs runId and folder/],
      ['attention', { classId: 1, layer: 0, head: 'max' }, /layer, head and a classId or a text/],
      ['attention', { layer: 0, head: 0 }, /layer, head and a classId or a text/],
      ['attention', { text: { prompt: ' ' }, layer: 0, head: 0 }, /prompt must be a non-empty string/],
      ['generationStart', { settings: { ...SETTINGS, topP: 1.5 } }, /topP/],
      ['generationStart', { settings: { ...SETTINGS, cfg: Number.NaN } }, /cfg/],
      ['generationStart', { settings: { ...SETTINGS, seed: -1 } }, /seed/],
      [
        'generationStart',
        { settings: { ...BIT_SETTINGS, tauList: [0.5, 0, 0.5] } },
        /^generationStart: settings\.tauList\[1\] must be a number in \[0\.01, 100\], got 0$/,
      ],
      ['generationStart', { settings: { ...BIT_SETTINGS, cfgList: 'high' } }, /settings\.cfgList must be a list of numbers, one per scale/],
      [
        'generationStart',
        { settings: { ...BIT_SETTINGS, text: { featuresFile: '/etc/passwd' } } },
        /settings\.text featuresFile must be a \.npy or \.safetensors path/,
      ],
      ['generationStart', { settings: { ...BIT_SETTINGS, cfgInsertionLayer: 2 } }, /cfgInsertionLayer must be 0/],
      ['generationStart', { settings: { ...BIT_SETTINGS, family: 'var' } }, /classId/],
      ['edit', { scaleIndex: 2, positions: [0], tokens: 'resample', settings: BIT_SETTINGS }, /classId/],
      ['generationStep', { runId: 7 }, /runId/],
      ['generationStep', { runId: 'r', scaleIndex: -1 }, /runId/],
      ['cancel', {}, /runId/],
      ['cancel', { runId: '' }, /runId/],
      ['cancel', { runId: 'r'.repeat(201) }, /runId/],
      ['edit', { scaleIndex: 2, positions: [0, 3], tokens: [5], settings: SETTINGS }, /one id per position/],
      ['edit', { scaleIndex: 2, positions: ['a'], tokens: 'resample', settings: SETTINGS }, /positions/],
      ['edit', { scaleIndex: 2, positions: [1], tokens: 'resample', settings: { ...SETTINGS, classId: 'x' } }, /classId/],
      ['samplingGrid', { classes: [1], settings: [{ cfg: 1.5, topK: 900, topP: 0.96 }], samples: 4, seed: 0 }, /samplingGrid needs runId/],
      ['samplingGrid', { classes: [], settings: [{ cfg: 1.5, topK: 900, topP: 0.96 }], samples: 4, seed: 0, runId: 'g' }, /no classes/],
      [
        'samplingGrid',
        { classes: [1], settings: [{ cfg: 1.5, topK: 0, topP: 0.96 }], samples: 4, seed: 0, runId: 'g' },
        /top-k must be at least 1/,
      ],
      ['samplingGrid', { classes: [1], settings: [{ cfg: 1.5, topK: 9, topP: 0.96 }], samples: 99, seed: 0, runId: 'g' }, /samples/],
      ['samplingGrid', { family: 'infinity', settings: [BIT_SETTING], samples: 2, seed: 0, runId: 'g' }, /the grid has no caption/],
      [
        'edit',
        { family: 'infinity', settings: BIT_GENERATION, scaleIndex: 2, positions: [0], change: { flip: [] } },
        /flip must list bits/,
      ],
      ['edit', { family: 'infinity', settings: BIT_GENERATION, scaleIndex: 2, positions: [0], change: {} }, /the change must be/],
      [
        'edit',
        { family: 'infinity', settings: { ...BIT_GENERATION, cfgList: [] }, scaleIndex: 2, positions: [0], change: { resampleSeed: 1 } },
        /cfgList must be a list of numbers/,
      ],
      [
        'samplingGrid',
        { family: 'infinity', text: { prompt: 'a' }, classes: [1], settings: [BIT_SETTING], samples: 2, seed: 0, runId: 'g' },
        /an Infinity grid has a caption, not classes$/,
      ],
      [
        'samplingGrid',
        { family: 'infinity', text: { prompt: 'a' }, settings: [{ ...BIT_SETTING, tauList: [0] }], samples: 2, seed: 0, runId: 'g' },
        /setting 1: tauList\[0\] must be a number in \[0\.01, 100\], got 0$/,
      ],
      [
        'samplingGrid',
        { text: { prompt: 'a' }, classes: [1], settings: [{ cfg: 1.5, topK: 9, topP: 0.96 }], samples: 2, seed: 0, runId: 'g' },
        /a caption and a ratio are for Infinity models/,
      ],
      ['saveExport', { suggestedName: '../escape.png', mime: 'image/png', data: '' }, /plain file name/],
      ['saveExport', { suggestedName: '.hidden', mime: 'image/png', data: '' }, /plain file name/],
      ['saveExport', { suggestedName: 'a.exe', mime: 'application/x-msdownload', data: '' }, /suggestedName and mime/],
      ['saveExport', { suggestedName: 'a.json', mime: 'application/json', data: 12 }, /string or bytes/],
      ['saveState', { imageUri: 3 }, /imageUri/],
      ['saveState', { imageUri: null, view: 'secret' }, /not a view/],
      ['saveState', { imageUri: null, attention: { layer: 0 } }, /attention is malformed/],
      ['saveState', { imageUri: null, caption: { featuresFile: 3 } }, /state\.caption featuresFile must be/],
      ['runCommand', { command: 'workbench.action.terminal.new' }, /not one the panel may run/],
    ];
    for (const [m, p, re] of bad) {
      const msg = problem(m, p);
      assert.ok(msg && msg.startsWith(`${m}: `) && re.test(msg), `${m} ${JSON.stringify(p)} -> ${msg}`);
    }
  });

  it('accepts exactly the protocol’s views, panel commands and export types', () => {
    for (const view of VIEW_IDS) assert.ok(isPanelState({ imageUri: null, view }), view);
    assert.ok(!isPanelState({ imageUri: null, view: 'Pyramid' }));
    for (const command of PANEL_COMMANDS) assert.strictEqual(problem('runCommand', { command }), null, command);
    assert.notStrictEqual(problem('runCommand', { command: 'varscope.restartEngine' }), null);
    for (const [ext, mime] of Object.entries(EXPORT_MIMES))
      assert.strictEqual(problem('saveExport', { suggestedName: `v.${ext}`, mime, data: '' }), null, mime);
  });

  it('restores only a usable panel state', () => {
    assert.ok(isPanelState({ imageUri: 'file:///a.png' }));
    assert.ok(!isPanelState(null));
    assert.ok(!isPanelState({ imageUri: null, evalClass: -2 }));
    assert.ok(!isPanelState({ imageUri: null, generation: { ...SETTINGS, topK: -1 } }));
    const { family: _family, text: _text, ...form } = BIT_SETTINGS;
    assert.ok(isPanelState({ imageUri: null, bitGeneration: form }));
    assert.ok(!isPanelState({ imageUri: null, bitGeneration: { ...form, tauList: [0.5, -1, 0.5] } }));
    assert.ok(!isPanelState({ imageUri: null, bitGeneration: 'cfg 4' }));
  });
});
