"""SynthFaces: a procedural face renderer whose expression, Action Units and demographics are known.

Faces are drawn from Action Unit intensities (EMFACS prototypes of the 7 basic emotions), so the AU
labels agree with the drawn expression by construction. Demographic cues are drawn independently:
skin tone (face colour), gender (hair length, jaw, brow thickness, lip colour) and age (face
roundness and eye size for the young; grey hair, receding hairline and wrinkles for seniors).
Nuisances: position, scale, rotation, lighting gradient, brightness, background and sensor noise.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTION_PROTOTYPES, EMOTIONS
from kerasfer.data.bias import resolve_bias
from kerasfer.data.facedata import FaceData

# Skin base colours (RGB) for ATTRIBUTES["skin"] = light, medium, dark.
SKIN_RGB = np.array([[236, 200, 172], [196, 146, 104], [112, 74, 50]], np.float32)
HAIR_RGB = np.array([[30, 22, 18], [92, 60, 34], [180, 140, 80], [60, 40, 28]], np.float32)
GREY_HAIR_RGB = np.array([[196, 196, 200], [160, 160, 164]], np.float32)

# Per-face probability that a prototype AU is absent, and the range of AU intensities: weak
# expressions make the task realistically imperfect (a clean-data baseline stays below 100 %).
AU_DROPOUT = 0.1
AU_INTENSITY = (0.3, 1.0)
_CHUNK = 256


def make_synthfaces(n: int, *, seed: int = 0, image_size: int = 64, channels: int = 3, bias=None) -> FaceData:
    """Render `n` SynthFaces with known emotion, Action Units and protected attributes.

    Args:
        n: number of faces (> 0).
        seed: random seed; the same seed gives identical data.
        image_size: side of the square images in pixels (>= 16).
        channels: 3 for RGB, 1 for grey.
        bias: None for clean, balanced data (use it for test sets); ``"demo"`` for the demo's
            biased training distribution; or a `kerasfer.data.BiasSpec`.

    Returns:
        A `FaceData` with `images` (uint8 n×S×S×C), `labels` (annotated emotion, index into
        `kerasfer.EMOTIONS`), `attributes` {"gender", "skin", "age"} and `aus` (n×13 of 0/1,
        as annotated: `BiasSpec.au_noise` may hide some present AUs).

    Example:
        >>> data = make_synthfaces(100, seed=1, bias="demo")
        >>> data.images.shape
        (100, 64, 64, 3)
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"`n` must be a positive integer; got {n!r}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"`image_size` must be an integer >= 16; got {image_size!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    spec = resolve_bias(bias)
    rng = np.random.default_rng(seed)
    attributes = spec.sample_attributes(n, rng)
    emotions = spec.sample_emotions(attributes, rng)
    labels = spec.annotate(emotions, attributes, rng)
    intensities = _sample_au_intensities(emotions, rng)
    style = _sample_style(attributes, rng)

    # One independent generator per chunk keeps the result identical however chunks are scheduled.
    starts = list(range(0, n, _CHUNK))
    chunk_seeds = rng.integers(0, 2**63 - 1, size=len(starts))
    images = np.empty((n, image_size, image_size, channels), np.uint8)

    def render(i):  # grey is converted per chunk too, in the same worker threads
        sl = slice(starts[i], min(starts[i] + _CHUNK, n))
        rgb = _render({k: v[sl] for k, v in style.items()}, intensities[sl], image_size,
                      np.random.default_rng(chunk_seeds[i]))
        images[sl] = rgb if channels == 3 else _to_grey(rgb)

    workers = min(len(starts), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(render, range(len(starts))))
    else:
        for i in range(len(starts)):
            render(i)
    # Drawn after every other random choice, so AU noise leaves the faces and labels as they were.
    aus = spec.annotate_aus((intensities > 0).astype(np.int8), attributes, rng)
    return FaceData(
        images=images,
        labels=labels,
        attributes=attributes,
        aus=aus,
    )


def au_prototype_matrix() -> np.ndarray:
    """(7, 13) 0/1 matrix: row e marks the AUs of emotion e's EMFACS prototype."""
    matrix = np.zeros((len(EMOTIONS), len(ACTION_UNITS)), np.int8)
    for e, name in enumerate(EMOTIONS):
        for au in EMOTION_PROTOTYPES[name]:
            matrix[e, ACTION_UNITS.index(au)] = 1
    return matrix


# --------------------------------------------------------------------------------------- sampling
def _sample_au_intensities(emotions: np.ndarray, rng) -> np.ndarray:
    proto = au_prototype_matrix()[emotions].astype(bool)
    keep = rng.random(proto.shape) >= AU_DROPOUT
    # Never drop every AU of an emotion: the face must still show it.
    empty = proto.any(axis=1) & ~(proto & keep).any(axis=1)
    if empty.any():
        first = proto[empty].argmax(axis=1)
        keep[np.flatnonzero(empty), first] = True
    level = rng.uniform(*AU_INTENSITY, size=proto.shape)
    # One expression strength per face, so weak faces are weak in every AU (like real subtle faces).
    strength = rng.uniform(0.5, 1.0, size=(len(emotions), 1))
    return np.where(proto & keep, np.clip(level * strength * 1.35, 0.15, 1.0), 0.0).astype(np.float32)


def _sample_style(attributes, rng) -> dict[str, np.ndarray]:
    n = len(attributes["gender"])
    female = attributes["gender"] == ATTRIBUTES["gender"].index("female")
    young = attributes["age"] == ATTRIBUTES["age"].index("young")
    senior = attributes["age"] == ATTRIBUTES["age"].index("senior")
    skin = SKIN_RGB[attributes["skin"]] * rng.uniform(0.93, 1.07, size=(n, 1))
    hair = HAIR_RGB[rng.integers(0, len(HAIR_RGB), n)]
    hair[senior] = GREY_HAIR_RGB[rng.integers(0, len(GREY_HAIR_RGB), senior.sum())]
    lips = np.where(female[:, None], [[178, 60, 70]], _line_colour(skin))
    u = lambda lo, hi: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731
    return {
        "cx": u(-0.07, 0.07), "cy": u(-0.06, 0.06), "scale": u(0.88, 1.05),
        "angle": np.deg2rad(u(-9, 9)),
        "skin": skin.astype(np.float32), "hair": hair, "lips": lips.astype(np.float32),
        "background": rng.uniform(40, 215, size=(n, 3)).astype(np.float32),
        "long_hair": female.astype(np.float32),
        "jaw": np.where(female, -0.04, 0.12).astype(np.float32),
        "brow_thickness": np.where(female, 0.035, 0.06).astype(np.float32),
        "face_height": np.where(young, 0.70, 0.80).astype(np.float32),
        "eye_size": np.where(young, 1.22, 1.0).astype(np.float32),
        "eye_y": np.where(young, -0.04, -0.12).astype(np.float32),
        "hairline": np.where(senior, -0.66, -0.52).astype(np.float32),
        "wrinkles": senior.astype(np.float32),
        "brightness": u(0.72, 1.18), "grad_x": u(-0.25, 0.25), "grad_y": u(-0.2, 0.2),
        "noise": u(3, 10),
    }


# -------------------------------------------------------------------------------------- rendering
def _au(intensities, name):
    return intensities[:, ACTION_UNITS.index(name), None, None]


def _col(values):
    """(n,) → (n, 1, 1) so per-face parameters broadcast over the pixel grid."""
    return values[:, None, None]


def _fill(mask_value, edge):
    """Anti-aliased coverage of a shape from its signed distance (negative inside)."""
    return np.clip(0.5 - mask_value / edge, 0.0, 1.0)


def _ellipse(u, v, cx, cy, ax, ay):
    """Approximate signed distance to an axis-aligned ellipse (face units)."""
    r = np.sqrt(((u - cx) / ax) ** 2 + ((v - cy) / ay) ** 2)
    return (r - 1.0) * np.minimum(ax, ay)


def _stroke(u, v, curve_y, x0, x1, thickness):
    """Signed distance to a thick stroke following y = curve_y(u) between x0 and x1."""
    across = np.abs(v - curve_y) - thickness / 2
    along = np.maximum(x0 - u, u - x1)
    return np.maximum(across, along)


def _paint(canvas, coverage, rgb):
    """Alpha-blend colour `rgb` ((n, 3) or scalar) onto `canvas` (n, H, W, 3) where `coverage` (n, H, W).

    Only the rows and columns where some face of the batch has coverage are touched: outside that
    box the blend would add exactly zero.
    """
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim == 2:
        rgb = rgb[:, None, None, :]
    coverage = np.broadcast_to(coverage, canvas.shape[:3])
    rows, cols = np.flatnonzero(coverage.any(axis=(0, 2))), np.flatnonzero(coverage.any(axis=(0, 1)))
    if not len(rows):
        return
    box = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    region = canvas[box]
    blend = rgb - region  # the blend below in two in-place steps, one temporary fewer: same values
    blend *= coverage[box][..., None]
    region += blend


#: Pixels added around a feature's window (`_window`), beyond the anti-aliasing edge.
_WINDOW_PAD = 3


def _window(style, size, u_range, v_range):
    """The image rows and columns that hold the face-coordinate rectangle `u_range` × `v_range` of
    every face of a chunk (its four corners moved by each face's position, scale and rotation).

    Args:
        style: the chunk's `_sample_style` parameters (cx, cy, scale, angle).
        size: the image side.
        u_range, v_range: ``(low, high)`` in face units, each a scalar or one value per face.

    Returns:
        ``(rows, cols)`` slices, padded by `_WINDOW_PAD` pixels and clipped to the image.
    """
    (u0, u1), (v0, v1) = u_range, v_range
    us = np.stack(np.broadcast_arrays(u0, u0, u1, u1, style["scale"])[:4])
    vs = np.stack(np.broadcast_arrays(v0, v1, v0, v1, style["scale"])[:4])
    cos, sin, s = np.cos(style["angle"]), np.sin(style["angle"]), style["scale"]
    x = s * (cos * us - sin * vs) + style["cx"]
    y = s * (sin * us + cos * vs) + style["cy"]

    def pixels(coordinate):  # pixel i's centre is at ((i + 0.5) / size) * 2 - 1
        index = (coordinate + 1) * size / 2 - 0.5
        low = int(np.floor(index.min())) - _WINDOW_PAD
        high = int(np.ceil(index.max())) + _WINDOW_PAD + 1
        return slice(max(low, 0), max(min(high, size), 0))

    return pixels(y), pixels(x)


def _draw(canvas, u, v, window, layers):
    """Paint the layers ``(coverage, colour)`` that `layers(u, v)` computes on `window` of the image.

    A feature's shapes are computed on its window only: an eye or a brow covers a few percent of the
    image, and its distance fields on the whole image were most of the renderer's time. The result is
    exact: when any coverage reaches a window side that is not the image's own edge (the window
    missed part of a shape), the layers are computed again on the whole image.

    Args:
        canvas: the chunk's images (n, S, S, 3), painted in place.
        u, v: face coordinates of every pixel (n, S, S).
        window: ``(rows, cols)`` slices (`_window`).
        layers: callable ``(u, v) -> [(coverage, colour), ...]``, painted in order.
    """
    rows, cols = window
    u_window = u[:, rows, cols]
    painted = layers(u_window, v[:, rows, cols])
    (top, bottom, _), (left, right, _) = rows.indices(u.shape[1]), cols.indices(u.shape[2])
    sides = [(top > 0, np.s_[:, 0, :]), (bottom < u.shape[1], np.s_[:, -1, :]),
             (left > 0, np.s_[:, :, 0]), (right < u.shape[2], np.s_[:, :, -1])]
    missed = any(inner and np.any(np.broadcast_to(coverage, u_window.shape)[side])
                 for coverage, _ in painted for inner, side in sides)
    if missed:
        rows, cols = slice(None), slice(None)
        painted = layers(u, v)
    for coverage, colour in painted:
        _paint(canvas[:, rows, cols], coverage, colour)


def _render(style, au, size, rng) -> np.ndarray:
    n = len(au)
    pix = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2 - 1
    gx, gy = np.meshgrid(pix, pix)  # image coordinates in [-1, 1], y down
    x = gx[None] - _col(style["cx"])
    y = gy[None] - _col(style["cy"])
    cos, sin, s = _col(np.cos(style["angle"])), _col(np.sin(style["angle"])), _col(style["scale"])
    u = (cos * x + sin * y) / s  # face coordinates: face centred at 0, ~[-0.65, 0.65] wide
    v = (-sin * x + cos * y) / s
    edge = 2.0 / (size * s)  # one pixel in face units: the anti-aliasing width

    canvas = np.broadcast_to(style["background"][:, None, None, :], (n, size, size, 3)).copy()
    skin, hair = style["skin"], style["hair"]

    # Hair behind the face: long (shoulder length) or short (a cap).
    long, short = style["long_hair"] > 0, style["long_hair"] <= 0  # each face drawn with its own only
    hair_cover = np.empty_like(u)
    hair_cover[long] = _fill(_ellipse(u[long], v[long], 0, 0.12, 0.80, 0.98), edge[long]) * _fill(v[long] - 0.92,
                                                                                                   edge[long])
    hair_cover[short] = _fill(_ellipse(u[short], v[short], 0, -0.12, 0.69, 0.80), edge[short]) * _fill(
        v[short] + 0.25, edge[short])
    _paint(canvas, hair_cover, hair)

    # Face: a wider jaw for men (the lower half widens), rounder and shorter for the young.
    face_h = _col(style["face_height"])
    width = 0.60 * (1 + _col(style["jaw"]) * np.clip(v / face_h, 0, 1))
    face = _fill(_ellipse(u, v, 0, 0.02, width, face_h), edge)
    _paint(canvas, face, skin)
    # Fringe / hairline on the forehead.
    _paint(canvas, face * _fill(v - _col(style["hairline"]), edge), hair)

    shade = _line_colour(skin)  # lines on the face (wrinkles, nose, cheeks)

    def wrinkles(u, v):
        wrinkle = np.zeros_like(u)
        for wy in (-0.42, -0.34):
            wrinkle = np.maximum(wrinkle, _fill(_stroke(u, v, wy + 0.03 * u**2, -0.25, 0.25, 0.022), edge))
        return [(wrinkle * _col(style["wrinkles"]) * 0.8, shade)]

    _draw(canvas, u, v, _window(style, size, (-0.3, 0.3), (-0.46, -0.3)), wrinkles)

    # Eyes: openness from AU05 (wider) against AU07 and AU06 (narrower).
    eye_y, eye_size = _col(style["eye_y"]), _col(style["eye_size"])
    openness = np.clip(1 + 0.75 * _au(au, "AU05") - 0.5 * _au(au, "AU07") - 0.4 * _au(au, "AU06"), 0.25, 2)
    for side in (-1, 1):
        ex = side * 0.25

        def eye_and_brow(u, v, side=side, ex=ex):
            eye = _fill(_ellipse(u, v, ex, eye_y, 0.11 * eye_size, 0.055 * eye_size * openness), edge)
            iris = _fill(_ellipse(u, v, ex, eye_y, 0.05 * eye_size, 0.05 * eye_size), edge) * eye
            # AU06: cheek raiser draws a crease under the eye.
            crease = _fill(_stroke(u, v, eye_y + 0.12 - 0.5 * (u - ex) ** 2, ex - 0.11, ex + 0.11, 0.025), edge)
            # Brows: AU01 lifts the inner end, AU02 the outer end; AU04 lowers and pulls them in.
            inner_x = side * (0.09 - 0.05 * _au(au, "AU04")[:, 0, 0])[:, None, None]
            outer_x = side * 0.43
            base = eye_y - 0.17
            inner_y = base - 0.11 * _au(au, "AU01") + 0.09 * _au(au, "AU04")
            outer_y = base - 0.11 * _au(au, "AU02") + 0.02 * _au(au, "AU04")
            t = np.clip((u - inner_x) / (outer_x - inner_x), 0, 1)
            brow_y = inner_y + t * (outer_y - inner_y) - 0.03 * np.sin(np.pi * t)
            lo, hi = (inner_x, outer_x) if side > 0 else (outer_x, inner_x)
            brow = _fill(_stroke(u, v, brow_y, lo, hi, _col(style["brow_thickness"])), edge)
            return [(eye, 245.0), (iris, 25.0), (crease * _au(au, "AU06"), shade), (brow, hair * 0.55)]

        inner, outer = side * 0.02, side * 0.5
        _draw(canvas, u, v, _window(style, size, (min(inner, outer), max(inner, outer)),
                                    (style["eye_y"] - 0.36, style["eye_y"] + 0.2)), eye_and_brow)

    # Nose, and AU09 wrinkles across its bridge.
    def nose(u, v):
        bridge = _fill(_stroke(u, v, 0.12 + 0 * u, -0.06, 0.06, 0.03), edge)
        nose_wrinkle = np.maximum(
            _fill(_stroke(u, v, eye_y + 0.02 + 0 * u, -0.07, 0.07, 0.02), edge),
            _fill(_stroke(u, v, eye_y + 0.08 + 0 * u, -0.08, 0.08, 0.02), edge),
        )
        return [(bridge * 0.7, shade), (nose_wrinkle * np.clip(1.2 * _au(au, "AU09"), 0, 1), shade)]

    _draw(canvas, u, v, _window(style, size, (-0.12, 0.12), (style["eye_y"] - 0.02, 0.16)), nose)

    # Mouth: AU12 lifts the corners (smile), AU15 pulls them down; AU20 widens, AU23 thins the
    # lips; AU26 (jaw drop) and AU16 (lower lip depressor) open it.
    half_w = 0.20 * (1 + 0.6 * _au(au, "AU20") - 0.15 * _au(au, "AU23"))
    mouth_y = 0.40
    curve = 0.17 * (0.8 * _au(au, "AU15") - _au(au, "AU12"))
    opening = 0.13 * _au(au, "AU26") + 0.06 * _au(au, "AU16")
    lip = 0.045 * (1 - 0.6 * _au(au, "AU23"))

    def mouth(u, v):
        lip_y = mouth_y + curve * (u / half_w) ** 2
        inside = _fill(_ellipse(u, v, 0, mouth_y + opening / 2, half_w * 0.85, opening / 2 + 1e-3), edge)
        upper = _fill(_stroke(u, v, lip_y, -half_w, half_w, lip), edge)
        lower = _fill(_stroke(u, v, lip_y + opening, -half_w * 0.9, half_w * 0.9, lip), edge)
        return [(inside * (opening > 0.01), 35.0), (np.maximum(upper, lower), style["lips"])]

    _draw(canvas, u, v, _window(style, size, (-0.36, 0.36), (0.18, 0.8)), mouth)

    # Lighting (brightness and a gradient across the image) and sensor noise.
    light = _col(style["brightness"]) * (1 + _col(style["grad_x"]) * gx[None] + _col(style["grad_y"]) * gy[None])
    canvas *= light[..., None]
    canvas += rng.normal(0, 1, size=canvas.shape).astype(np.float32) * style["noise"][:, None, None, None]
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _line_colour(skin):
    """Colour of lines drawn on the skin: darker skin, with an offset so that contrast on dark
    skin stays readable (the renderer should not make one group intrinsically harder)."""
    return np.clip(skin * 0.6 - 30.0, 0, 255)


def _to_grey(images: np.ndarray) -> np.ndarray:
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(images.astype(np.float32) @ weights + 0.5, 0, 255).astype(np.uint8)[..., None]
