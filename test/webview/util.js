// Helpers for the webview tests: canvas pixels, theme colours, independent statistics from recorded data.
'use strict';
/* global btoa, requestAnimationFrame */

/** RGBA of a canvas pixel in backing-store coordinates. */
function canvasPixel(page, selector, x, y) {
  return page.$eval(selector, (c, [px, py]) => Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data), [x, y]);
}

/** Whole backing store of a canvas: {width, height, data: Uint8Array}; base64 on the wire (a number array is far slower). */
async function canvasData(page, selector) {
  const r = await page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, b64: btoa(s) };
  });
  return { width: r.width, height: r.height, data: new Uint8Array(Buffer.from(r.b64, 'base64')) };
}

/** '#rrggbb' → [r, g, b]. */
function hexRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/** exp(entropy) of counts, computed here independently of the webview. */
function perplexity(counts) {
  let total = 0;
  for (const c of counts) total += c;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / total) * Math.log(c / total);
  return Math.exp(h);
}

/** Wait two animation frames (views repaint synchronously, the compositor needs a frame). */
function frames(page) {
  return page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

function near(a, b, tol) {
  return Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol);
}

module.exports = { canvasPixel, canvasData, hexRgb, perplexity, frames, near };
