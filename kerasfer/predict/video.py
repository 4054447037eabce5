"""Reading what `kerasfer predict` is pointed at: photos, folders of photos and videos, as RGB frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class UnreadableFileError(ValueError):
    """A photo or video OpenCV cannot decode (skipped inside folders, an error when named directly)."""


def is_video(path) -> bool:
    """Whether `path` has a video file suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def collect_inputs(paths) -> tuple[list[Path], list[dict]]:
    """The photo and video files that `paths` name, in order; folders are searched recursively.

    A path given by name must exist and be a photo or video. Inside a folder, other files are
    skipped and reported, so one stray file does not stop a batch.

    Args:
        paths: files and folders.

    Returns:
        ``(files, skipped)``: the files to read, and ``{"file", "reason"}`` for each file skipped.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a file given by name has an unsupported type, or nothing usable was found.
    """
    files, skipped = [], []
    supported = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                if child.suffix.lower() in supported:
                    files.append(child)
                else:
                    kind = child.suffix or "(none)"
                    skipped.append({"file": str(child), "reason": f"unsupported file type {kind!r}"})
        elif path.is_file():
            if path.suffix.lower() not in supported:
                raise ValueError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                                 f"give photos ({' '.join(IMAGE_SUFFIXES)}) or videos ({' '.join(VIDEO_SUFFIXES)})")
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    if not files:
        raise ValueError(f"no photos or videos found in {', '.join(map(str, paths))} "
                         f"({len(skipped)} other file(s) skipped)")
    return files, skipped


def read_image(path) -> np.ndarray:
    """A photo as a uint8 RGB array (H, W, 3).

    Raises:
        UnreadableFileError: the file cannot be decoded as an image.
    """
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableFileError(f"cannot read image {path}: not an image or corrupt")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frame_count(path) -> int:
    """Frames a video reports having (0 when the container does not say)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        return max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        capture.release()


def read_frames(path, every: int = 1):
    """Every `every`-th frame of a video, decoded in order.

    Args:
        path: a video file OpenCV can decode.
        every: keep frames 0, every, 2·every, ...

    Yields:
        ``(frame_index, uint8 RGB frame)``.

    Raises:
        UnreadableFileError: the video cannot be opened or holds no frame.
    """
    import cv2

    if not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"`every` must be a positive integer; got {every!r}.")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UnreadableFileError(f"cannot read video {path}: OpenCV cannot open it")
        index = 0
        while True:
            ok = capture.grab()  # grab without decoding, so skipped frames cost little
            if not ok:
                break
            if index % every == 0:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        if index == 0:
            raise UnreadableFileError(f"cannot read video {path}: no frame could be decoded")
    finally:
        capture.release()
