// The kerasfer browser page: LiteRT.js runs the exported .tflite on the pre-processing of
// preprocess.js (the sidecar's, pixel for pixel as export/run_tflite.py does it).
//
// Batch mode for checks: index.html?batch=LIST.json, where LIST.json is a JSON array of image URLs,
// classifies each and writes {"results": [{image, label, probabilities}], "errors": [...]} as JSON
// into <pre id="batch-results"> (what tests/test_web.py reads).

import {loadAndCompile, loadLiteRt, Tensor} from "@litertjs/core";
import {argmax, inputTensorData, probabilities} from "./preprocess.js";

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
  return {sidecar, model};
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
      const probs = await classifyPixels(loaded, rgba, width, height);
      results.prepend(resultCard(loaded.sidecar.labels, probs, file.name, URL.createObjectURL(file)));
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
      const probs = await classifyPixels(loaded, context.getImageData(0, 0, side, side).data, side, side);
      live.replaceChildren(...resultCard(loaded.sidecar.labels, probs, "camera").childNodes);
    }
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

async function runBatch(loaded, listUrl) {
  const out = {results: [], errors: [], runtime_log: []};
  try {
    const urls = await (await fetch(listUrl)).json();
    for (const url of urls) {
      const {rgba, width, height} = await decode(await (await fetch(url)).blob());
      const probs = await classifyPixels(loaded, rgba, width, height);
      out.results.push({image: url, label: loaded.sidecar.labels[argmax(probs)], probabilities: Array.from(probs)});
      document.getElementById("results").append(resultCard(loaded.sidecar.labels, probs, url, url));
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
    "LiteRT.js on WebAssembly.";
  document.getElementById("files").addEventListener("change", (e) => classifyFiles(loaded, e.target.files));
  const camera = document.getElementById("camera");
  camera.disabled = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  camera.addEventListener("click", () => startCamera(loaded).catch((error) => report(error.message || error)));
  const batch = new URLSearchParams(location.search).get("batch");
  if (batch) await runBatch(loaded, batch);
}

main();
