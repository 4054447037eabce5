// The phone-side pre- and post-processing of a kerasfer model, in the browser: export/run_tflite.py's
// `preprocess` / `postprocess`, pixel for pixel. Pure functions on typed arrays; no DOM, so Node runs
// them too (tests/test_web.py checks them against Pillow).

const PRECISION_BITS = 22; // Pillow's 8-bit resampling: 32 - 8 - 2 bits of fixed point

function bilinearWeight(x) {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (Resample.c).
function resampleCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1.0, widened when shrinking
  const kernelSize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * kernelSize);
  const raw = new Float64Array(kernelSize);
  const inverseScale = 1 / filterScale; // multiplied, not divided: the same rounding as Pillow
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - first;
    let total = 0;
    for (let i = 0; i < count; i++) {
      raw[i] = bilinearWeight((i + first - center + 0.5) * inverseScale);
      total += raw[i];
    }
    for (let i = 0; i < count; i++) {
      const w = total !== 0 ? raw[i] / total : raw[i];
      weights[out * kernelSize + i] = Math.trunc((w < 0 ? -0.5 : 0.5) + w * (1 << PRECISION_BITS));
    }
    bounds[2 * out] = first;
    bounds[2 * out + 1] = count;
  }
  return {kernelSize, bounds, weights};
}

function clip8(sum) {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// One pass along x (horizontal) or y (vertical) of an interleaved uint8 image.
function resamplePass(src, width, height, channels, outSize, horizontal) {
  const {kernelSize, bounds, weights} = resampleCoefficients(horizontal ? width : height, outSize);
  const outWidth = horizontal ? outSize : width;
  const outHeight = horizontal ? height : outSize;
  const dst = new Uint8Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const out = horizontal ? x : y;
      const first = bounds[2 * out], count = bounds[2 * out + 1];
      for (let c = 0; c < channels; c++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let i = 0; i < count; i++) {
          const sx = horizontal ? first + i : x, sy = horizontal ? y : first + i;
          sum += src[(sy * width + sx) * channels + c] * weights[out * kernelSize + i];
        }
        dst[(y * outWidth + x) * channels + c] = clip8(sum);
      }
    }
  }
  return dst;
}

/**
 * run_tflite.py's `resize_bilinear`: Pillow's bilinear filter, the horizontal pass first, then the
 * vertical one, 8-bit in between; on an interleaved uint8 image.
 */
export function resizeBilinear(pixels, width, height, channels, outWidth, outHeight) {
  let out = pixels, w = width;
  if (outWidth !== width) { out = resamplePass(out, w, height, channels, outWidth, true); w = outWidth; }
  if (outHeight !== height) out = resamplePass(out, w, height, channels, outHeight, false);
  return out === pixels ? pixels.slice() : out;
}

/** RGBA (canvas ImageData) → interleaved RGB, alpha dropped as Pillow's convert("RGB") does. */
export function rgbaToRgb(rgba) {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/** Pillow's convert("L"): (19595 R + 38470 G + 7471 B + 0x8000) >> 16. */
export function rgbToGrey(rgb) {
  const grey = new Uint8Array(rgb.length / 3);
  for (let i = 0, j = 0; j < grey.length; i += 3, j++) {
    grey[j] = (rgb[i] * 19595 + rgb[i + 1] * 38470 + rgb[i + 2] * 7471 + 0x8000) >> 16;
  }
  return grey;
}

export function roundHalfEven(x) { // numpy's np.round
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * A decoded photo (RGBA pixels, as canvas getImageData gives) → the model's input tensor data:
 * RGB → bilinear resize to the sidecar's size → grey if the model is grey → raw 0..255 pixels,
 * quantized with the sidecar's scale and zero point when the input is uint8.
 */
export function inputTensorData(rgba, width, height, sidecar) {
  const spec = sidecar.input;
  let pixels = resizeBilinear(rgbaToRgb(rgba), width, height, 3, spec.width, spec.height);
  if (spec.channels === 1) pixels = rgbToGrey(pixels);
  if (spec.dtype === "float32") return Float32Array.from(pixels);
  if (spec.dtype !== "uint8") {
    throw new Error(`LiteRT.js takes float32 or uint8 inputs; this model's is ${spec.dtype} ` +
                    "(export it with --int8-io uint8)");
  }
  if (spec.scale === 1 && spec.zero_point === 0) return pixels;
  return Uint8Array.from(pixels, (p) => Math.min(255, Math.max(0, roundHalfEven(p / spec.scale + spec.zero_point))));
}

/** The output tensor → float32 probabilities (dequantized as (q - zero_point) * scale in float32). */
export function probabilities(raw, sidecar) {
  const spec = sidecar.output;
  if (spec.dtype === "float32") return Float32Array.from(raw);
  const scale = Math.fround(spec.scale);
  return Float32Array.from(raw, (q) => Math.fround(Math.fround(q - spec.zero_point) * scale));
}

/** Index of the largest value (the first one on ties, as numpy's argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
