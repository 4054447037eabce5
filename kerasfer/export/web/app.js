// The kerasfer browser page: LiteRT.js runs the exported .tflite on the pre-processing of
// preprocess.js (the sidecar's, pixel for pixel as export/run_tflite.py does it).
//
// With the face detector (model/face_detector.tflite and .json, written by `kerasfer export`), each
// photo goes detect → align → classify, one result per face (faces.js); without it, the photo is
// classified whole as one face crop.
//
// Batch mode for checks: index.html?batch=LIST.json, where LIST.json is a JSON array of image URLs,
// classifies each and writes {"results": [{image, label, probabilities, faces: [{box, label,
// probabilities}]}], "errors": [...]} as JSON into <pre id="batch-results"> (what tests/test_web.py reads).

import {loadAndCompile, loadLiteRt, Tensor} from "@litertjs/core";
import {anchorCentres, cropMatrix, detectFaces, warpCrop} from "./faces.js";
import {argmax, inputTensorData, probabilities, rgbaToRgb} from "./preprocess.js";

// Errors are shown on the page; LiteRT's own log lines ("INFO: …", "WARNING: …", which its
// WebAssembly writes to console.error) go to the runtime log instead.
const RUNTIME_LOG_LINE = /^(INFO|WARNING|VERBOSE): /;
const errors = [];
const runtimeLog = [];
function report(text) {
  errors.push(String(text));
  const log = document.getElementById("log");
  if (log) {
    log.textContent = errors.join("\n");
    document.getElementById("log-section").hidden = false;
  }
}
window.addEventListener("error", (e) => report(e.message || e));
window.addEventListener("unhandledrejection", (e) => report((e.reason && e.reason.message) || e.reason));
const consoleError = console.error.bind(console);
console.error = (...args) => {
  const text = args.join(" ");
  if (RUNTIME_LOG_LINE.test(text)) runtimeLog.push(text);
  else report(text);
  consoleError(...args);
};

async function loadModel() {
  const sidecar = await (await fetch("model/model.json")).json();
  await loadLiteRt(new URL("litert/wasm/", location.href).href);
  const model = await loadAndCompile(new URL("model/model.tflite", location.href).href, {accelerator: "wasm"});
  const loaded = {sidecar, model, detector: null};
  if (document.querySelector('meta[name="kerasfer-detector"]').content === "true") {  // set by `kerasfer export --web`
    const meta = await (await fetch("model/face_detector.json")).json();
    const detector = await loadAndCompile(new URL("model/face_detector.tflite", location.href).href,
                                          {accelerator: "wasm"});
    loaded.detector = {meta, model: detector, anchors: anchorCentres(meta.input.height, meta.anchors)};
  }
  return loaded;
}

async function runDetector(detector, canvas) {
  const size = detector.meta.input.height;
  const input = new Tensor(canvas, [1, size, size, 3]);
  try {
    const outputs = await detector.model.run(input);
    try {
      // (1, N, 1) score logits and (1, N, 16) boxes, in whichever order the signature lists them
      const [logits, boxes] = outputs.map((t) => t.toTypedArray().slice()).sort((a, b) => a.length - b.length);
      return {boxes, logits};
    } finally {
      outputs.forEach((t) => t.delete());
    }
  } finally {
    input.delete();
  }
}

// The aligned crop the model saw, as an image URL for its result card.
function cropUrl(rgba, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas.toDataURL("image/png");
}

// Every face of a decoded photo: [{box, crop, probabilities}] (detect → align → classify).
async function classifyFaces(loaded, rgba, width, height) {
  const {sidecar, detector} = loaded;
  const rgb = rgbaToRgb(rgba);
  const faces = await detectFaces(rgb, width, height, detector.meta, detector.anchors,
                                  (canvas) => runDetector(detector, canvas), 40);
  const out = [];
  for (const face of faces) {
    const {height: h, width: w} = sidecar.input;
    const forward = cropMatrix(face.box, face.eyes, h, w, detector.meta.crop, sidecar.input.face_template);
    const crop = warpCrop(rgb, width, height, forward, h, w);
    const rgbaCrop = new Uint8ClampedArray(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgbaCrop.set(crop.subarray(i * 3, i * 3 + 3), i * 4);
      rgbaCrop[i * 4 + 3] = 255;
    }
    out.push({box: face.box, crop: cropUrl(rgbaCrop, w, h), probabilities: await classifyPixels(loaded, rgbaCrop, w, h)});
  }
  return out;
}

async function classifyPixels(loaded, rgba, width, height) {
  const {sidecar, model} = loaded;
  const input = new Tensor(inputTensorData(rgba, width, height, sidecar), sidecar.input.shape);
  try {
    const outputs = await model.run(input);
    try {
      return probabilities(outputs[0].toTypedArray(), sidecar);
    } finally {
      outputs.forEach((t) => t.delete());
    }
  } finally {
    input.delete();
  }
}

async function decode(blob) {
  // No colour-space conversion and no premultiplied alpha: the RGB bytes Pillow decodes.
  const bitmap = await createImageBitmap(blob, {colorSpaceConversion: "none", premultiplyAlpha: "none"});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", {willReadFrequently: true});
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return {rgba: data, width: bitmap.width, height: bitmap.height};
}

function resultCard(labels, probs, title, imageUrl) {
  const card = document.createElement("div");
  card.className = "result";
  const top = argmax(probs);
  if (imageUrl) {
    const img = document.createElement("img");
    img.src = imageUrl;
    img.alt = title;
    card.append(img);
  }
  const heading = document.createElement("h3");
  heading.textContent = `${labels[top]} ${(100 * probs[top]).toFixed(1)} %`;
  card.append(heading);
  labels.forEach((label, i) => {
    const row = document.createElement("div");
    row.className = i === top ? "bar top" : "bar";
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("span");
    bar.style.width = `${Math.max(1, 100 * probs[i])}%`;
    const value = document.createElement("span");
    value.textContent = probs[i].toFixed(3);
    row.append(name, bar, value);
    card.append(row);
  });
  card.title = title;
  return card;
}

async function classifyFiles(loaded, files) {
  const results = document.getElementById("results");
  for (const file of files) {
    try {
      const {rgba, width, height} = await decode(file);
      const url = URL.createObjectURL(file);
      if (loaded.detector) {
        const faces = await classifyFaces(loaded, rgba, width, height);
        if (!faces.length) report(`${file.name}: no face found`);
        faces.forEach((f, i) => results.prepend(resultCard(loaded.sidecar.labels, f.probabilities,
                                                           `${file.name} face ${i} at ${f.box.join(",")}`, f.crop)));
        continue;
      }
      const probs = await classifyPixels(loaded, rgba, width, height);
      results.prepend(resultCard(loaded.sidecar.labels, probs, file.name, url));
    } catch (error) {
      report(`${file.name}: ${error.message || error}`);
    }
  }
}

async function startCamera(loaded) {
  const video = document.getElementById("video");
  video.srcObject = await navigator.mediaDevices.getUserMedia({video: {facingMode: "user"}, audio: false});
  document.getElementById("live").hidden = false;
  const canvas = new OffscreenCanvas(1, 1);
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const live = document.getElementById("live-result");
  const step = async () => {
    if (video.videoWidth) {
      const side = Math.min(video.videoWidth, video.videoHeight);
      canvas.width = canvas.height = side;
      context.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0,
                        side, side);
      const pixels = context.getImageData(0, 0, side, side).data;
      const probs = loaded.detector ? ((await classifyFaces(loaded, pixels, side, side))[0] || {}).probabilities
        : await classifyPixels(loaded, pixels, side, side);
      live.replaceChildren(...(probs ? resultCard(loaded.sidecar.labels, probs, "camera").childNodes : []));
    }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

async function runBatch(loaded, listUrl) {
  const out = {results: [], errors: [], runtime_log: []};
  try {
    const urls = await (await fetch(listUrl)).json();
    const labels = loaded.sidecar.labels;
    for (const url of urls) {
      const {rgba, width, height} = await decode(await (await fetch(url)).blob());
      if (loaded.detector) {
        const faces = await classifyFaces(loaded, rgba, width, height);
        out.results.push({image: url, faces: faces.map((f) => ({box: f.box, label: labels[argmax(f.probabilities)],
                                                                 probabilities: Array.from(f.probabilities)}))});
        faces.forEach((f, i) => document.getElementById("results").append(
          resultCard(labels, f.probabilities, `${url} face ${i} at ${f.box.join(",")}`, f.crop)));
        continue;
      }
      const probs = await classifyPixels(loaded, rgba, width, height);
      out.results.push({image: url, label: labels[argmax(probs)], probabilities: Array.from(probs)});
      document.getElementById("results").append(resultCard(labels, probs, url, url));
    }
  } catch (error) {
    report(error.message || error);
  }
  out.errors = errors.slice();
  out.runtime_log = runtimeLog.slice();
  const pre = document.createElement("pre");
  pre.id = "batch-results";
  pre.hidden = true;
  pre.textContent = JSON.stringify(out);
  document.body.append(pre);
}

async function main() {
  const info = document.getElementById("model-info");
  let loaded;
  try {
    loaded = await loadModel();
  } catch (error) {
    info.textContent = "The model did not load.";
    report(error.message || error);
    return;
  }
  const {sidecar} = loaded;
  info.textContent = `${sidecar.labels.length} classes (${sidecar.labels.join(", ")}); input ` +
    `${sidecar.input.height}×${sidecar.input.width} ${sidecar.input.color}, ${sidecar.mode}; ` +
    (loaded.detector ? `faces found by ${loaded.detector.meta.model}` : "each photo classified as one face") +
    "; LiteRT.js on WebAssembly.";
  document.getElementById("files").addEventListener("change", (e) => classifyFiles(loaded, e.target.files));
  const camera = document.getElementById("camera");
  camera.disabled = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  camera.addEventListener("click", () => startCamera(loaded).catch((error) => report(error.message || error)));
  const batch = new URLSearchParams(location.search).get("batch");
  if (batch) await runBatch(loaded, batch);
}

main();
