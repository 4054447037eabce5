"""Predict: find faces in photos and videos (BlazeFace or a Haar cascade), align them and classify their emotion."""

from kerasfer.predict.annotate import annotate
from kerasfer.predict.classifier import FaceClassifier, as_classifier
from kerasfer.predict.faces import DETECTORS, crop_faces, detect_faces, eye_angle, find_faces
from kerasfer.predict.pipeline import predict_images, predict_paths
from kerasfer.predict.video import (IMAGE_SUFFIXES, VIDEO_SUFFIXES, UnreadableFileError, collect_inputs, read_frames,
                                    read_image)

__all__ = [
    "DETECTORS",
    "FaceClassifier",
    "IMAGE_SUFFIXES",
    "UnreadableFileError",
    "VIDEO_SUFFIXES",
    "annotate",
    "as_classifier",
    "collect_inputs",
    "crop_faces",
    "detect_faces",
    "eye_angle",
    "find_faces",
    "predict_images",
    "predict_paths",
    "read_frames",
    "read_image",
]
