"""FairnessMonitor: per-group accuracy and gaps in History and TensorBoard, equal to the audit's."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfer.fairness import FairnessMonitor, audit_predictions
from kerasfer.models import EmotionClassifier
from kerasfer.models.predict import predict_proba


def _tags(log_dir):
    tags = set()
    for path in tf.io.gfile.glob(str(log_dir / "**" / "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_monitor_logs_groups_and_gaps_into_history_and_tensorboard(tiny_faces, tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    model.compile(optimizer="adam")
    monitor = FairnessMonitor(tiny_faces, ["gender", "skin"], min_count=10)
    history = model.fit(tiny_faces.dataset(32, seed=0), epochs=2, verbose=0,
                        callbacks=[monitor, keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
    logs = history.history
    for key in ("val_gender_male_accuracy", "val_gender_female_accuracy", "val_skin_dark_accuracy",
                "val_gender_equalized_odds_difference", "val_skin_demographic_parity_difference",
                "val_skin_fairness_ratio", "val_skin_worst_group_accuracy"):
        assert len(logs[key]) == 2 and all(0 <= v <= 1 for v in logs[key]), key
    # the last epoch's numbers are the audit's point estimates on the trained model
    y_pred = predict_proba(model, tiny_faces).argmax(1)
    ref = audit_predictions(tiny_faces.labels, y_pred, {"skin": tiny_faces.attributes["skin"]},
                            group_names={"skin": tiny_faces.group_names["skin"]}, n_boot=0, n_perm=0,
                            intersections=None, min_count=10).to_frame("gaps")
    eod = ref.loc[("skin", "equalized_odds_difference"), "value"]
    assert logs["val_skin_equalized_odds_difference"][-1] == pytest.approx(eod)
    assert logs["val_skin_fairness_ratio"][-1] == pytest.approx(ref.loc[("skin", "fairness_ratio"), "value"])
    male = tiny_faces.attributes["gender"] == 0
    assert logs["val_gender_male_accuracy"][-1] == pytest.approx(np.mean(y_pred[male] == tiny_faces.labels[male]))
    tags = _tags(tmp_path / "tb")
    assert any("gender_male_accuracy" in t for t in tags), sorted(tags)[:20]
    assert any("skin_equalized_odds_difference" in t for t in tags)


def test_monitor_checks_its_arguments(tiny_faces):
    with pytest.raises(ValueError, match="Unknown attribute 'height'"):
        FairnessMonitor(tiny_faces, ["height"])
    with pytest.raises(ValueError, match="every"):
        FairnessMonitor(tiny_faces, every=0)


def test_monitor_logs_mean_f1_of_an_au_model(tiny_faces):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(tiny_faces.au_names), activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(tiny_faces.images.astype("float32"), np.maximum(tiny_faces.aus, 0).astype("float32"),
                        epochs=1, verbose=0, callbacks=[FairnessMonitor(tiny_faces, ["skin"], min_count=10)])
    logs = history.history
    assert {"val_skin_light_mean_f1", "val_skin_dark_mean_f1", "val_skin_mean_f1_difference"} <= set(logs)
    assert 0 <= logs["val_skin_mean_f1_difference"][0] <= 1


def test_monitor_logs_leakage_and_the_label_noise_diagonal(tiny_faces):
    from kerasfer.fairness import probe_leakage

    model = EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=8, latent_dim=8, label_noise="skin")
    model.compile(optimizer="adam")
    history = model.fit(tiny_faces.dataset(32, seed=0), epochs=2, verbose=0,
                        callbacks=[FairnessMonitor(tiny_faces, ["skin"], leakage=True, min_count=10)])
    logs = history.history
    assert len(logs["val_skin_leakage"]) == 2
    latents = predict_proba(model.encoder_model(), tiny_faces)
    expected = probe_leakage(latents, tiny_faces.attributes["skin"], n_boot=0)["balanced_accuracy"]
    assert logs["val_skin_leakage"][-1] == pytest.approx(expected)
    matrices = keras.ops.convert_to_numpy(model.transition.transitions())
    assert logs["label_noise_dark_diagonal"][-1] == pytest.approx(np.diagonal(matrices[2]).mean())
