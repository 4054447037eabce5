// The phone's face pipeline in the browser: export/run_tflite.py's FaceDetector and align_crop
// (face_detector.json's contract, export/README.md): windows → letterbox → BlazeFace → anchors →
// weighted NMS → back to photo pixels → the aligned crop. Pure functions on typed arrays; the model
// call is passed in, so Node runs the rest too.

import {resizeBilinear, roundHalfEven} from "./preprocess.js";

/** The square windows searched: the whole photo, then tiles of side tile, 2 tile, … smaller than it. */
export function searchWindows(height, width, tiling) {
  const windows = [[0, 0, Math.max(height, width)]];
  let side = tiling ? tiling.tile : null;
  while (side !== null && side < Math.max(height, width)) {
    const step = Math.max(1, Math.trunc(side * (1 - tiling.overlap)));
    const starts = (n) => {
      if (n <= side) return [0];
      const s = [];
      for (let v = 0; v < n - side; v += step) s.push(v);
      if (!s.includes(n - side)) s.push(n - side);
      return s.sort((a, b) => a - b);
    };
    for (const y of starts(height)) for (const x of starts(width)) windows.push([x, y, side]);
    side *= 2;
  }
  return windows;
}

/** Anchor centres (N × 2, x then y) of the sidecar's layout for a square input of `size`. */
export function anchorCentres(size, spec) {
  const out = [];
  const strides = spec.strides;
  let i = 0;
  while (i < strides.length) {
    let j = i;
    while (j < strides.length && strides[j] === strides[i]) j++;
    const cells = Math.trunc(size / strides[i]);
    const repeat = (j - i) * spec.per_layer;
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let r = 0; r < repeat; r++) out.push([(x + spec.offset) / cells, (y + spec.offset) / cells]);
      }
    }
    i = j;
  }
  return out;
}

/** A window of an interleaved RGB photo (clipped to the photo) letterboxed into size² float pixels −1..1. */
export function letterbox(rgb, width, height, window, size) {
  const [x0, y0, side] = window;
  const w = Math.min(side, width - x0), h = Math.min(side, height - y0);
  const crop = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) crop.set(rgb.subarray(((y0 + y) * width + x0) * 3, ((y0 + y) * width + x0 + w) * 3), y * w * 3);
  const scale = size / Math.max(h, w);
  const newW = Math.max(1, Math.round(w * scale)), newH = Math.max(1, Math.round(h * scale));
  const padX = Math.trunc((size - newW) / 2), padY = Math.trunc((size - newH) / 2);
  const resized = resizeBilinear(crop, w, h, 3, newW, newH);
  const canvas = new Float32Array(size * size * 3).fill(-1); // black, normalised
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW * 3; x++) {
      canvas[((padY + y) * size) * 3 + padX * 3 + x] = Math.fround(resized[y * newW * 3 + x] / 127.5 - 1);
    }
  }
  return {canvas, scale, padX, padY, w, h};
}

function iou(a, b) {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[2], b[2]), y1 = Math.min(a[3], b[3]);
  const inter = Math.max(x1 - x0, 0) * Math.max(y1 - y0, 0);
  const areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / Math.max(areaA + areaB - inter, 1e-12);
}

/** MediaPipe's weighted NMS over [{corners, score, keypoints}]: clusters → score-weighted means, best first. */
export function weightedNms(detections, threshold) {
  const order = detections.map((d, i) => i).sort((a, b) => detections[b].score - detections[a].score || a - b);
  const out = [];
  const sorted = order.map((i) => detections[i]);
  const remaining = sorted.map(() => true);
  for (let i = 0; i < sorted.length; i++) {
    if (!remaining[i]) continue;
    const members = sorted.map((d, j) => remaining[j] && (j === i || iou(sorted[i].corners, d.corners) > threshold));
    let total = 0;
    const corners = [0, 0, 0, 0];
    const keypoints = sorted[i].keypoints.map(() => [0, 0]);
    sorted.forEach((d, j) => {
      if (!members[j]) return;
      total += d.score;
      d.corners.forEach((v, k) => { corners[k] += v * d.score; });
      d.keypoints.forEach((p, k) => { keypoints[k][0] += p[0] * d.score; keypoints[k][1] += p[1] * d.score; });
      remaining[j] = false;
    });
    out.push({corners: corners.map((v) => v / total), score: sorted[i].score,
              keypoints: keypoints.map(([x, y]) => [x / total, y / total])});
  }
  return out;
}

/** Decode one window's raw outputs (boxes N×16, logits N) into detections in the window's photo pixels. */
export function decodeWindow(boxes, logits, anchors, meta, box) {
  const size = meta.input.height;
  const found = [];
  for (let n = 0; n < anchors.length; n++) {
    const logit = Math.min(80, Math.max(-80, logits[n]));
    const score = 1 / (1 + Math.exp(-logit));
    if (score < meta.min_score) continue;
    const v = boxes.subarray(n * 16, n * 16 + 16);
    const [ax, ay] = anchors[n];
    const cx = v[0] / size + ax, cy = v[1] / size + ay, hw = v[2] / size / 2, hh = v[3] / size / 2;
    const keypoints = [];
    for (let k = 0; k < 6; k++) keypoints.push([v[4 + 2 * k] / size + ax, v[5 + 2 * k] / size + ay]);
    found.push({corners: [cx - hw, cy - hh, cx + hw, cy + hh], score, keypoints});
  }
  const toPhoto = (x, y) => [(x * size - box.padX) / box.scale, (y * size - box.padY) / box.scale];
  return weightedNms(found, meta.nms_iou).map((d) => {
    const [x0, y0] = toPhoto(d.corners[0], d.corners[1]);
    const [x1, y1] = toPhoto(d.corners[2], d.corners[3]);
    return {corners: [x0, y0, x1, y1], score: d.score, keypoints: d.keypoints.map(([x, y]) => toPhoto(x, y))};
  });
}

/**
 * The faces of a photo: `runDetector(canvas)` → {boxes: Float32Array N×16, logits: Float32Array N} runs
 * the model on one letterboxed window. Returns [{box: [x, y, w, h] (ints), eyes: [[x, y], [x, y]]
 * image-left first}] as run_tflite.py's FaceDetector.detect.
 */
export async function detectFaces(rgb, width, height, meta, anchors, runDetector, minFace) {
  const size = meta.input.height;
  let all = [];
  const windows = searchWindows(height, width, meta.tiling);
  for (const window of windows) {
    const [x0, y0, side] = window;
    const box = letterbox(rgb, width, height, window, size);
    const {boxes, logits} = await runDetector(box.canvas);
    let found = decodeWindow(boxes, logits, anchors, meta, box);
    if (side < Math.max(height, width)) {
      const margin = meta.tiling.edge_margin * side;
      found = found.filter(({corners: [a, b, c, d]}) => (x0 <= 0 || a > margin) && (y0 <= 0 || b > margin) &&
        (x0 + side >= width || c < side - margin) && (y0 + side >= height || d < side - margin));
    }
    all = all.concat(found.map((d) => ({
      corners: [d.corners[0] + x0, d.corners[1] + y0, d.corners[2] + x0, d.corners[3] + y0], score: d.score,
      keypoints: d.keypoints.map(([x, y]) => [x + x0, y + y0])})));
  }
  if (windows.length > 1) all = weightedNms(all, meta.nms_iou);
  return all.map((d) => {
    const [x0, y0, x1, y1] = d.corners;
    const box = [roundHalfEven(x0), roundHalfEven(y0), roundHalfEven(x1 - x0), roundHalfEven(y1 - y0)]; // np.round
    let eyes = [d.keypoints[0], d.keypoints[1]];
    if (eyes[0][0] > eyes[1][0]) eyes = [eyes[1], eyes[0]];
    return {box, eyes, score: d.score};
  }).filter((f) => Math.min(f.box[2], f.box[3]) >= minFace);
}

/** The crop's 3 × 3 map (photo pixel → crop pixel): the face template's similarity, else the box square. */
export function cropMatrix(box, eyes, height, width, crop, template) {
  const [x, y, w, h] = box;
  const [[lx, ly], [rx, ry]] = eyes;
  const side = Math.max(w, h) * (1 + 2 * crop.margin);
  const s = Math.min(height, width) / side;
  if (template) {
    const tlx = template[0][0] * width, tly = template[0][1] * height;
    const trx = template[1][0] * width, tryy = template[1][1] * height;
    const sx = rx - lx, sy = ry - ly, tx = trx - tlx, ty = tryy - tly;
    const norm = sx * sx + sy * sy;
    if (Math.sqrt(norm) >= 1e-6) {
      const kr = (tx * sx + ty * sy) / norm, ki = (ty * sx - tx * sy) / norm; // (tx + i ty) / (sx + i sy)
      const scale = Math.hypot(kr, ki);
      const ratio = crop.max_scale_ratio ?? 1.5, roll = crop.max_roll_degrees ?? 30;
      if (1 / ratio <= scale / s && scale / s <= ratio && Math.abs(Math.atan2(ki, kr) * 180 / Math.PI) <= roll) {
        const cr = tlx - (kr * lx - ki * ly), ci = tly - (kr * ly + ki * lx);
        return [[kr, -ki, cr], [ki, kr, ci], [0, 0, 1]];
      }
    }
  }
  const angle = (Math.atan2(ry - ly, rx - lx) * 180 / Math.PI) * Math.PI / 180;
  const cx = x + w / 2, cy = y + h / 2;
  const a = s * Math.cos(angle), b = s * Math.sin(angle);
  return [[a, b, (1 - a) * cx - b * cy + width / 2 - cx], [-b, a, b * cx + (1 - a) * cy + height / 2 - cy], [0, 0, 1]];
}

function invertAffine(m) {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  return [[e / det, -b / det, (b * f - c * e) / det], [-d / det, a / det, (c * d - a * f) / det], [0, 0, 1]];
}

function multiply(p, q) {
  return p.map((row) => q[0].map((_, j) => row.reduce((sum, v, k) => sum + v * q[k][j], 0)));
}

/** Pillow's transform(AFFINE, BILINEAR) of the photo padded with its border pixels: the crop, uint8 RGB. */
export function warpCrop(rgb, width, height, forward, outHeight, outWidth) {
  const inverse = invertAffine(forward);
  const xs = [0, outWidth, 0, outWidth], ys = [0, 0, outHeight, outHeight];
  const cx = xs.map((x, i) => inverse[0][0] * x + inverse[0][1] * ys[i] + inverse[0][2]);
  const cy = xs.map((x, i) => inverse[1][0] * x + inverse[1][1] * ys[i] + inverse[1][2]);
  const pad = Math.ceil(Math.max(0, -Math.min(...cx), -Math.min(...cy), Math.max(...cx) - width,
                                 Math.max(...cy) - height)) + 2;
  const pw = width + 2 * pad, ph = height + 2 * pad;
  const coefficients = multiply(multiply([[1, 0, pad + 0.5], [0, 1, pad + 0.5], [0, 0, 1]], inverse),
                                [[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]);
  const [[a0, a1, a2], [a3, a4, a5]] = coefficients;
  const at = (px, py, c) => { // the padded photo: border pixels repeat
    const x = Math.min(width - 1, Math.max(0, px - pad)), y = Math.min(height - 1, Math.max(0, py - pad));
    return rgb[(y * width + x) * 3 + c];
  };
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      let xin = a0 * (x + 0.5) + a1 * (y + 0.5) + a2, yin = a3 * (x + 0.5) + a4 * (y + 0.5) + a5;
      if (xin < 0 || xin >= pw || yin < 0 || yin >= ph) continue; // pillow fills with 0
      xin -= 0.5; yin -= 0.5;
      const x0 = Math.floor(xin), y0 = Math.floor(yin);
      const dx = xin - x0, dy = yin - y0;
      const xa = Math.min(pw - 1, Math.max(0, x0)), xb = Math.min(pw - 1, Math.max(0, x0 + 1));
      const ya = Math.min(ph - 1, Math.max(0, y0));
      for (let c = 0; c < 3; c++) {
        let v1 = at(xa, ya, c) + (at(xb, ya, c) - at(xa, ya, c)) * dx;
        let v2 = v1;
        if (y0 + 1 >= 0 && y0 + 1 < ph) v2 = at(xa, y0 + 1, c) + (at(xb, y0 + 1, c) - at(xa, y0 + 1, c)) * dx;
        v1 = v1 + (v2 - v1) * dy;
        out[(y * outWidth + x) * 3 + c] = Math.trunc(v1);
      }
    }
  }
  return out;
}
