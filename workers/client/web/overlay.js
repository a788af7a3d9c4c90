// Product overlays on the viewer page's live picture, composed on the
// device with the studio-edge client package: a drop's detail crop (a
// rendition of the same frame, cut by the pipeline) and its price tag, in
// a corner of the frame.
//
//   const mod = await import('/client/' + manifest['overlay.js']);
//   const overlay = mod.mountOverlay(canvas);
//   await overlay.ready;
//   await overlay.paint(img, { detailUrl, title, price, note, position, wanted });
//   // position: top-left, top-right, bottom-left or bottom-right; wanted()
//   // is asked once the images have loaded: false skips a stale frame.
//   // overlay.measured: ms per composed frame (after the images load).

import init, { compose_overlay, resize_rgba } from './studio_edge_client.js';

/** Share of the frame's width the overlay takes. */
const WIDTH_SHARE = 0.3;

function loadImage(url) {
  const img = new Image();
  img.src = url;
  return img.decode().then(() => img);
}

function pixelsOf(source, width, height) {
  const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  ctx.canvas.width = width;
  ctx.canvas.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height);
}

/** The price tag: the title, the price and a note, white on a dark card. */
function priceTag(width, { title, price, note }) {
  const font = Math.max(12, Math.round(width / 11));
  const ctx = document.createElement('canvas').getContext('2d');
  const lines = [
    [`600 ${font}px system-ui, sans-serif`, title],
    [`700 ${Math.round(font * 1.3)}px system-ui, sans-serif`, price],
    [`400 ${Math.round(font * 0.85)}px system-ui, sans-serif`, note],
  ].filter(([, text]) => text);
  const pad = Math.round(font * 0.5);
  const heights = lines.map(([f]) => Math.round(Number(f.match(/(\d+)px/)[1]) * 1.3));
  ctx.canvas.width = width;
  ctx.canvas.height = heights.reduce((a, b) => a + b, 2 * pad);
  ctx.fillStyle = 'rgba(12, 13, 16, 0.82)';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  let y = pad;
  lines.forEach(([f, text], i) => {
    ctx.font = f;
    ctx.fillStyle = i === 1 ? '#ffb347' : '#f1f2f4';
    ctx.textBaseline = 'top';
    ctx.fillText(text, pad, y, width - 2 * pad);
    y += heights[i];
  });
  return ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height);
}

/** Draws frames with an overlay onto `canvas`. */
export function mountOverlay(canvas) {
  const ready = init();
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const measured = [];

  /** Composes the overlay onto the loaded frame `img` and shows it. */
  async function paint(img, { detailUrl, title, price, note, position = 'bottom-right', wanted = () => true }) {
    await ready;
    const detailImg = detailUrl ? await loadImage(detailUrl).catch(() => null) : null;
    if (!wanted()) return;
    const started = performance.now();
    const [w, h] = [img.naturalWidth, img.naturalHeight];
    const frame = pixelsOf(img, w, h);
    const boxW = Math.round(w * WIDTH_SHARE);
    const margin = Math.round(w * 0.03);
    const parts = [];
    if (detailImg) {
      const crop = pixelsOf(detailImg, detailImg.naturalWidth, detailImg.naturalHeight);
      const boxH = Math.round(boxW * crop.height / crop.width);
      parts.push({ data: resize_rgba(crop.data, crop.width, crop.height, boxW, boxH), width: boxW, height: boxH });
    }
    const tag = priceTag(boxW, { title, price, note });
    parts.push({ data: tag.data, width: tag.width, height: tag.height });
    const blockH = parts.reduce((sum, p) => sum + p.height, 0);
    const x = position.endsWith('left') ? margin : w - margin - boxW;
    let y = position.startsWith('top') ? margin : h - margin - blockH;
    for (const part of parts) {
      compose_overlay(frame.data, w, h, part.data, part.width, part.height, x, y, 1);
      y += part.height;
    }
    canvas.width = w;
    canvas.height = h;
    ctx.putImageData(frame, 0, 0);
    measured.push(performance.now() - started);
    if (measured.length > 1000) measured.shift();
  }

  return { ready, paint, measured };
}
