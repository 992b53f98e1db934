// Page-side stand-in for VS Code's webview API: records every posted message and forwards requests to the Node test
// host (exposed bindings), which answers from the recordings. Typed arrays cross as {__ta, b64} and are rebuilt here.
/* global window, document, atob, btoa, performance, MessageEvent */
(() => {
  const posted = [];
  const cspViolations = [];
  let saved;
  const CTORS = { Int32Array, Float32Array, Float64Array, Uint8Array, Uint8ClampedArray, Uint16Array, Int8Array };
  const decode = (v) => {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === 'object') {
      if (v.__ta) {
        const bin = atob(v.b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        return new CTORS[v.__ta](bytes.buffer);
      }
      const o = {};
      for (const k of Object.keys(v)) o[k] = decode(v[k]);
      return o;
    }
    return v;
  };
  const encode = (v) => {
    if (ArrayBuffer.isView(v)) {
      const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      return { __ta: v.constructor.name, b64: btoa(s) };
    }
    if (Array.isArray(v)) return v.map(encode);
    if (v && typeof v === 'object') {
      const o = {};
      for (const k of Object.keys(v)) o[k] = encode(v[k]);
      return o;
    }
    return v;
  };
  // Every use decodes afresh: a real postMessage delivers a new structured clone each time.
  window.__recordings = {};
  const loadRecording = (key) =>
    new Promise((resolve, reject) => {
      if (key in window.__recordings) return resolve();
      const s = document.createElement('script');
      s.src = `../../test-results/webview/recordings/${key.replace(/:/g, '-')}.js`;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error(`no recording ${key}`));
      document.head.append(s);
    });
  const fromRecording = async (key) => {
    await loadRecording(key);
    return decode(JSON.parse(window.__recordings[key]));
  };
  const deliver = (msg) => window.dispatchEvent(new MessageEvent('message', { data: msg }));
  document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || e.sample}`));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi may only be called once');
    acquired = true;
    return {
      postMessage(m) {
        posted.push({ kind: m.kind, name: m.name, method: m.method, id: m.id, t: performance.now() });
        if (m.kind === 'request') {
          window.__hostCall(JSON.stringify({ method: m.method, params: encode(m.params) })).then(async (text) => {
            const r = JSON.parse(text);
            if (r.rec) r.ok = await fromRecording(r.rec);
            else r.ok = decode(r.ok);
            if (r.delayMs) setTimeout(() => deliver({ kind: 'reply', id: m.id, ok: r.ok, err: r.err }), r.delayMs);
            else deliver({ kind: 'reply', id: m.id, ok: r.ok, err: r.err });
          });
        } else if (m.kind === 'event') {
          window.__hostEvent(JSON.stringify({ name: m.name, payload: encode(m.payload) }));
        }
      },
      getState: () => saved,
      setState: (s) => {
        saved = s;
      },
    };
  };
  window.__fake = {
    posted,
    cspViolations,
    emit: (name, payloadText) => deliver({ kind: 'event', name, payload: decode(JSON.parse(payloadText)) }),
    emitRecorded: async (name, key) => deliver({ kind: 'event', name, payload: await fromRecording(key) }),
    state: () => saved,
    setSaved: (s) => {
      saved = s;
    },
  };
})();
