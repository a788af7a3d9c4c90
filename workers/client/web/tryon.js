// The viewer page's try-on panel, on the studio-edge client package.
//
//   const mod = await import('/client/' + manifest['tryon.js']);
//   const panel = mod.mountTryOn(section, { getShades, productTitle });
//   // panel.stop() turns the camera off; panel.ready resolves once the
//   // package is loaded; panel.measured holds the time of each shade match
//   // and each try-on frame (ms), panel.last the last match's input and
//   // result (the frame's ImageData, region, shades), for the tests and
//   // benchmarks.
//
// Everything runs on the device: the camera frames and photos are drawn on
// a canvas and handed to WebAssembly in this page; nothing is uploaded.

import init, { match_shades, find_skin, try_on, compose_overlay, srgb_hex } from './studio_edge_client.js';

const MAX_WIDTH = 640;
const STEP = 8; // keyboard move / resize step, canvas pixels

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Builds the try-on UI inside `section` (which should be
 * `aria-labelledby="tryon-title"`). `options.getShades()` returns
 * `[{name, lab: [L, a, b]}]`, `options.productTitle()` the product's name. */
export function mountTryOn(section, { getShades, productTitle }) {
  const ready = init();
  const ui = buildPanel(section);
  const state = {
    source: null, // a <video> or an ImageBitmap
    stream: null,
    size: { w: 0, h: 0 },
    region: null, // {shape: 'ellipse', cx, cy, w, h, skin: true}
    shade: null, // {name, lab}
    frameRequest: 0,
  };
  const measured = { match: [], tryon: [] };
  const panel = { ready, stop, measured, last: null };
  const record = (list, started) => {
    list.push(performance.now() - started);
    if (list.length > 1000) list.shift();
  };
  const ctx = ui.canvas.getContext('2d', { willReadFrequently: true });
  const raw = document.createElement('canvas').getContext('2d', { willReadFrequently: true });

  const say = (message) => { ui.status.textContent = message; };

  function setSource(source, width, height) {
    const scale = Math.min(1, MAX_WIDTH / width);
    state.size = { w: Math.round(width * scale), h: Math.round(height * scale) };
    ui.canvas.width = raw.canvas.width = state.size.w;
    ui.canvas.height = raw.canvas.height = state.size.h;
    state.source = source;
    state.region = null;
    ui.canvas.hidden = false;
    ui.find.disabled = false;
  }

  // The untouched frame, for measuring.
  function grab() {
    const { w, h } = state.size;
    raw.drawImage(state.source, 0, 0, w, h);
    return raw.getImageData(0, 0, w, h);
  }

  function render() {
    if (!state.source) return;
    const { w, h } = state.size;
    ctx.drawImage(state.source, 0, 0, w, h);
    if (state.region && state.shade) {
      const frame = ctx.getImageData(0, 0, w, h);
      try {
        const started = performance.now();
        try_on(frame.data, w, h, JSON.stringify(state.region), state.shade.lab, Number(ui.strength.value) / 100);
        const tag = label(frame.width);
        compose_overlay(frame.data, frame.width, frame.height, tag.data, tag.width, tag.height, 8, frame.height - tag.height - 8, 1);
        record(measured.tryon, started);
        ctx.putImageData(frame, 0, 0);
      } catch (error) {
        say(`Preview failed: ${error.message}`);
      }
    }
    if (state.region) outline(state.region);
  }

  // The product and shade as a tag (ImageData) for the preview, drawn
  // again only when its text changes.
  let tag = { text: '', pixels: null };
  function label(frameWidth) {
    const text = `${productTitle() || 'This product'} · ${state.shade.name}`;
    if (tag.text === text && tag.pixels.width <= frameWidth - 16) return tag.pixels;
    const ctx2 = document.createElement('canvas').getContext('2d');
    ctx2.font = '14px system-ui, sans-serif';
    const width = Math.min(frameWidth - 16, Math.ceil(ctx2.measureText(text).width) + 16);
    ctx2.canvas.width = width;
    ctx2.canvas.height = 26;
    ctx2.fillStyle = 'rgba(0, 0, 0, 0.7)';
    ctx2.fillRect(0, 0, width, 26);
    ctx2.font = '14px system-ui, sans-serif';
    ctx2.fillStyle = '#fff';
    ctx2.fillText(text, 8, 18, width - 16);
    tag = { text, pixels: ctx2.getImageData(0, 0, width, 26) };
    return tag.pixels;
  }

  function outline({ cx, cy, w, h }) {
    ctx.save();
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.8)';
    ctx.setLineDash([6, 4]);
    ctx.beginPath();
    ctx.ellipse(cx, cy, w / 2, h / 2, 0, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.restore();
  }

  function loop() {
    render();
    state.frameRequest = requestAnimationFrame(loop);
  }

  function stop() {
    cancelAnimationFrame(state.frameRequest);
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    ui.camera.textContent = 'Start camera';
  }

  async function startCamera() {
    if (state.stream) { stop(); say('Camera off.'); return; }
    try {
      await ready;
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: { ideal: 640 } }, audio: false });
      const video = el('video', { playsinline: '', muted: '' });
      video.muted = true;
      video.srcObject = stream;
      await video.play();
      state.stream = stream;
      setSource(video, video.videoWidth, video.videoHeight);
      ui.camera.textContent = 'Stop camera';
      say('Camera on. Tap your cheek, or press "Find my skin".');
      loop();
    } catch (error) {
      say(`The camera could not start (${error.message}). You can choose a photo instead.`);
    }
  }

  async function openPhoto() {
    const file = ui.photo.files[0];
    if (!file) return;
    stop();
    try {
      await ready;
      const bitmap = await createImageBitmap(file);
      setSource(bitmap, bitmap.width, bitmap.height);
      render();
      say('Photo loaded. Tap your cheek, or press "Find my skin".');
    } catch (error) {
      say(`That photo could not be opened (${error.message}).`);
    }
  }

  function match() {
    const shades = getShades() || [];
    if (!shades.length) { say('This product lists no shades to match.'); return; }
    const frame = grab();
    try {
      const started = performance.now();
      const result = JSON.parse(match_shades(frame.data, frame.width, frame.height,
        JSON.stringify(state.region), JSON.stringify(shades)));
      record(measured.match, started);
      panel.last = { frame, region: state.region, shades, result };
      showResult(result);
    } catch (error) {
      say(`No match: ${error.message}. Try tapping another spot of skin, in even light.`);
    }
  }

  function showResult(result) {
    ui.results.replaceChildren();
    result.best.forEach((shade, i) => {
      const input = el('input', { type: 'radio', name: 'tryon-shade', value: String(i) });
      input.addEventListener('change', () => { state.shade = shade; render(); });
      const swatch = el('span', { class: 'tryon-swatch', 'aria-hidden': 'true' });
      swatch.style.background = srgb_hex(shade.lab); // CSSOM: the page's CSP refuses style attributes
      ui.results.append(el('li', {}, el('label', {}, input, swatch,
        ` ${shade.name} (ΔE ${shade.delta_e.toFixed(1)}${i === 0 ? ', closest' : ''})`)));
      if (i === 0) { input.checked = true; state.shade = shade; }
    });
    ui.note.textContent = result.undertone_note;
    ui.picks.hidden = false;
    render();
    say(`Closest shade: ${result.best[0].name}, ΔE ${result.best[0].delta_e.toFixed(1)}. ${result.undertone_note} The preview shows it on your skin.`);
  }

  function findSkin() {
    if (!state.source) return;
    const frame = grab();
    try {
      const found = find_skin(frame.data, frame.width, frame.height);
      if (!found) { say('No skin found in view: tap your cheek instead.'); return; }
      const { shape, cx, cy, w, h, skin } = JSON.parse(found);
      state.region = { shape, cx, cy, w: Math.min(w, frame.width / 3), h: Math.min(h, frame.height / 3), skin };
      match();
    } catch (error) {
      say(`Skin search failed: ${error.message}`);
    }
  }

  // Tap to place (and match there), drag to size.
  const point = (event) => {
    const box = ui.canvas.getBoundingClientRect();
    return { x: (event.clientX - box.left) * ui.canvas.width / box.width, y: (event.clientY - box.top) * ui.canvas.height / box.height };
  };
  let press = null;
  ui.canvas.addEventListener('pointerdown', (event) => {
    if (!state.source) return;
    const p = point(event);
    press = { ...p, dragged: false };
    const side = Math.round(state.size.w * 0.15);
    state.region = { shape: 'ellipse', cx: p.x, cy: p.y, w: side, h: side, skin: true };
    ui.canvas.setPointerCapture(event.pointerId);
    render();
  });
  ui.canvas.addEventListener('pointermove', (event) => {
    if (!press) return;
    const p = point(event);
    const [dx, dy] = [Math.abs(p.x - press.x), Math.abs(p.y - press.y)];
    if (dx + dy < 6 && !press.dragged) return;
    press.dragged = true;
    state.region = { ...state.region, w: Math.max(16, 2 * dx), h: Math.max(16, 2 * dy) };
    if (!state.stream) render();
  });
  ui.canvas.addEventListener('pointerup', () => {
    if (press && !press.dragged) match();
    else if (press) render();
    press = null;
  });
  ui.canvas.addEventListener('keydown', (event) => {
    if (!state.source) return;
    const { w, h } = state.size;
    const r = state.region || { shape: 'ellipse', cx: w / 2, cy: h / 2, w: w * 0.15, h: w * 0.15, skin: true };
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key in moves) {
      const [mx, my] = moves[event.key];
      state.region = event.shiftKey
        ? { ...r, w: Math.max(16, r.w + STEP * mx), h: Math.max(16, r.h - STEP * my) }
        : { ...r, cx: r.cx + STEP * mx, cy: r.cy + STEP * my };
    } else if (event.key === 'Enter' || event.key === ' ') {
      state.region = r;
      match();
    } else {
      return;
    }
    event.preventDefault();
    if (!state.stream) render();
  });

  ui.camera.addEventListener('click', startCamera);
  ui.photo.addEventListener('change', openPhoto);
  ui.find.addEventListener('click', findSkin);
  ui.strength.addEventListener('input', () => { if (!state.stream) render(); });
  addEventListener('pagehide', stop);
  ready.then(() => { ui.camera.disabled = false; ui.photo.disabled = false; },
    (error) => say(`Try-on is unavailable here (${error.message}).`));
  return panel;
}

function buildPanel(section) {
  const status = el('p', { role: 'status', 'aria-live': 'polite', class: 'tryon-status' });
  const camera = el('button', { type: 'button', disabled: '', text: 'Start camera' });
  const photo = el('input', { type: 'file', accept: 'image/*', id: 'tryon-photo', disabled: '' });
  const find = el('button', { type: 'button', disabled: '', text: 'Find my skin' });
  const canvas = el('canvas', {
    tabindex: '0', hidden: '', class: 'tryon-canvas', role: 'img',
    'aria-label': 'Preview. Tap or press Enter to match the shade at the circle; drag, or arrow keys (Shift to resize), to move it.',
  });
  const strength = el('input', { type: 'range', id: 'tryon-strength', min: '0', max: '100', value: '60' });
  const results = el('ul', { class: 'tryon-results' });
  const note = el('p', { class: 'tryon-note' });
  const picks = el('fieldset', { hidden: '' }, el('legend', { text: 'Closest shades' }), results, note,
    el('label', { for: 'tryon-strength', text: 'Preview strength ' }), strength);
  section.replaceChildren(
    el('h2', { id: 'tryon-title', text: 'Find your shade' }),
    el('p', { class: 'tryon-private', text: 'Nothing leaves your device: the camera and photos are processed in this page only.' }),
    el('div', { class: 'tryon-controls' }, camera, el('label', { for: 'tryon-photo', text: 'or choose a photo ' }), photo, find),
    canvas, picks, status,
  );
  return { status, camera, photo, find, canvas, strength, results, note, picks };
}
