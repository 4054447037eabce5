"""Data: the `FaceData` container, the SynthFaces renderer, bias knobs, dataset readers and the tf.data pipeline."""

from kerasfer.data.bias import AU_SKIN_BIAS, DEMO_BIAS, BiasSpec
from kerasfer.data.augment import default_augmentation
from kerasfer.data.disfa import read_bp4d, read_disfa
from kerasfer.data.errors import DataError, SkippedRecord, SkipReport
from kerasfer.data.facedata import FaceData
from kerasfer.data.fairface import as_attribute_task, read_fairface
from kerasfer.data.fer2013 import read_fer2013
from kerasfer.data.ferplus import read_ferplus
from kerasfer.data.folder import read_folder
from kerasfer.data.manifest import read_affectnet, read_manifest
from kerasfer.data.rafdb import align_face, read_rafdb
from kerasfer.data.sampling import stratified_split
from kerasfer.data.weights import balanced_weights
from kerasfer.data.synthfaces import au_prototype_matrix, make_synthfaces
from kerasfer.data.utkface import parse_utkface_name, read_utkface

__all__ = [
    "AU_SKIN_BIAS",
    "BiasSpec",
    "DEMO_BIAS",
    "DataError",
    "FaceData",
    "SkipReport",
    "SkippedRecord",
    "align_face",
    "as_attribute_task",
    "au_prototype_matrix",
    "balanced_weights",
    "default_augmentation",
    "make_synthfaces",
    "parse_utkface_name",
    "read_affectnet",
    "read_bp4d",
    "read_disfa",
    "read_fairface",
    "read_fer2013",
    "read_ferplus",
    "read_folder",
    "read_manifest",
    "read_rafdb",
    "read_utkface",
    "stratified_split",
]
