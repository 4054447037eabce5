"""Group-conditional label noise: T_g is recovered on a planted pattern, forward correction trains the
clean head, the matrix is saved and reported, and bad settings are named."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfer.data import FaceData, make_synthfaces
from kerasfer.models import EmotionClassifier, FairVAE
from kerasfer.models.label_noise import LOGIT_SPEED, GroupLabelNoise
from kerasfer.training import train_model

CLASSES = 4


def planted_transitions():
    """Group 0 annotated faithfully; group 1's faces of every class labelled class 0 with probability 0.3."""
    noisy = 0.7 * np.eye(CLASSES)
    noisy[:, 0] += 0.3
    return np.stack([np.eye(CLASSES), noisy])


def test_transition_matrices_are_recovered_from_a_planted_noise_pattern():
    rng = np.random.default_rng(0)
    n = 8000
    true, groups = rng.integers(0, CLASSES, n), rng.integers(0, 2, n)
    planted = planted_transitions()
    annotated = np.array([rng.choice(CLASSES, p=planted[g, t]) for t, g in zip(true, groups)])
    clean = keras.ops.one_hot(true, CLASSES) * 0.96 + 0.01  # a clean head that knows the true class
    layer = GroupLabelNoise(2, CLASSES, prior=0.001)
    optimizer = keras.optimizers.Adam(0.05 / LOGIT_SPEED)  # 0.05 per step on the logits themselves
    for _ in range(300):
        with tf.GradientTape() as tape:
            probs = layer(clean, groups)
            loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(annotated, probs)) + layer.prior_loss()
        optimizer.apply(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights)
    learned = keras.ops.convert_to_numpy(layer.transitions())
    np.testing.assert_allclose(learned, planted, atol=0.05)


def test_unknown_groups_keep_their_clean_probabilities():
    layer = GroupLabelNoise(2, CLASSES)
    probs = np.full((2, CLASSES), 1 / CLASSES, "float32")
    probs[0] = [0.7, 0.1, 0.1, 0.1]
    out = keras.ops.convert_to_numpy(layer(probs, np.array([-1, 1])))
    np.testing.assert_allclose(out[0], probs[0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)


@pytest.fixture(scope="module")
def noisy_faces():
    """Dark-skinned faces labelled angry half the time, whatever their expression; clean test faces."""
    from kerasfer.data import BiasSpec

    bias = BiasSpec(label_noise=(("skin", "dark", 0.5, "angry"),))
    return make_synthfaces(2400, seed=5, image_size=32, bias=bias), make_synthfaces(1400, seed=6, image_size=32)


@pytest.mark.slow  # 2,400 faces trained twice; 26 s
def test_forward_correction_raises_clean_accuracy_on_the_noisy_group(noisy_faces):
    train, test = noisy_faces
    dark = test.attributes["skin"] == 2
    scores = {}
    for label_noise in (None, "skin"):
        model, metrics = train_model("baseline", train, test, epochs=6, seed=0, verbose=0, label_noise=label_noise)
        predictions = model.predict(test.images.astype("float32"), verbose=0).argmax(axis=1)
        scores[label_noise] = (predictions == test.labels)[dark].mean()
    assert scores["skin"] > scores[None] + 0.05, scores
    table = metrics["label_noise"]
    assert table["attribute"] == "skin" and table["classes"][0] == "angry"
    dark_matrix, light_matrix = np.array(table["groups"]["dark"]), np.array(table["groups"]["light"])
    assert dark_matrix[1:, 0].mean() > light_matrix[1:, 0].mean() + 0.15  # "dark faces get labelled angry"


def test_the_matrix_is_saved_and_the_export_is_the_clean_head(tiny_faces, tmp_path):
    from kerasfer.export import to_tflite
    from kerasfer.export.verify import LiteRTModel

    models = (EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=8, latent_dim=8,
                                label_noise="skin", label_noise_prior=0.5),
              FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, width=8, latent_dim=8, generator_width=8,
                      label_noise="skin"))
    classifier = models[0]
    classifier.compile(optimizer="adam")
    classifier.fit(tiny_faces.dataset(32), epochs=1, verbose=0, shuffle=False)  # T_g moves off its start
    for model in models:
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        reloaded = keras.models.load_model(path)
        assert reloaded.label_noise == "skin"
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.transition.transitions()),
                                   keras.ops.convert_to_numpy(model.transition.transitions()), atol=1e-7)
    assert classifier.label_noise_prior == 0.5
    to_tflite(classifier, tmp_path / "m.tflite")
    images = tiny_faces.images[:8].astype("float32")
    np.testing.assert_allclose(LiteRTModel(tmp_path / "m.tflite").predict(images),
                               classifier.predict(images, verbose=0), atol=1e-4)  # the clean head, no T_g


@pytest.mark.parametrize("build, match", [
    (lambda: EmotionClassifier(input_shape=(32, 32, 3), label_noise="hair"), "label_noise"),
    (lambda: EmotionClassifier(input_shape=(32, 32, 3), label_noise="skin", label_noise_prior=-1), "prior"),
    (lambda: FairVAE(input_shape=(32, 32, 3), head="au", label_noise="skin"), "head='emotion'"),
    (lambda: EmotionClassifier(input_shape=(32, 32, 3), label_noise=["skin", "skin"]), "distinct"),
    (lambda: EmotionClassifier(input_shape=(32, 32, 3), label_noise=[]), "label_noise"),
    (lambda: FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, label_noise=["skin", "hair"]), "hair"),
])
def test_bad_label_noise_settings_name_the_parameter(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_batches_and_data_without_the_attribute_are_refused(tiny_faces):
    model = EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=8, latent_dim=8, label_noise="skin")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="needs the batch attribute 'skin'"):
        model.fit(tiny_faces.images.astype("float32"), tiny_faces.labels, epochs=1, verbose=0)
    no_skin = FaceData(tiny_faces.images, tiny_faces.labels, {"gender": tiny_faces.attributes["gender"]})
    with pytest.raises(ValueError, match=r"label_noise of \['skin'\] needs those attributes"):
        train_model("baseline", no_skin, epochs=1, verbose=0, label_noise="skin")


def test_the_audit_and_its_report_show_each_groups_matrix(tiny_faces, tmp_path):
    from kerasfer.fairness import audit

    model = EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=8, latent_dim=8, label_noise="skin")
    model.compile(optimizer="adam")
    model.fit(tiny_faces.dataset(32), epochs=1, verbose=0, shuffle=False)
    result = audit(model, tiny_faces, ["skin"], n_boot=20, heatmaps=False, intersections=None, min_count=5)
    assert result.label_noise["attribute"] == "skin"
    assert set(result.label_noise["groups"]) == {"light", "medium", "dark"}
    assert "learned label noise" in result.summary()
    assert set(result.metrics()["label_noise"]["diagonal"]) == {"light", "medium", "dark"}
    html = result.to_html(tmp_path / "report.html").read_text()
    assert "How each group's faces were mislabelled" in html and "learned label-noise matrix" in html


def test_several_attributes_get_one_matrix_per_intersectional_group(tiny_faces, tmp_path):
    from kerasfer.fairness import audit
    from kerasfer.models.groups import group_index

    batch = {"attributes": {"gender": np.array([0, 1, 1, -1]), "skin": np.array([2, 0, 2, 1])}}
    groups = keras.ops.convert_to_numpy(group_index(batch, ["gender", "skin"], (2, 3)))
    np.testing.assert_array_equal(groups, [2, 3, 5, -1])  # row-major: gender × 3 + skin; unknown → -1

    model = FairVAE(input_shape=(32, 32, 3), protected={"gender": 2, "skin": 3}, size="phone", width=8,
                    latent_dim=8, label_noise=["gender", "skin"])
    assert model.transition.num_groups == 6
    model.compile(optimizer="adam")
    model.fit(tiny_faces.dataset(32), epochs=1, verbose=0, shuffle=False)
    result = audit(model, tiny_faces, ["skin"], n_boot=20, heatmaps=False, intersections=None, min_count=5)
    assert result.label_noise["attribute"] == "gender×skin"
    assert list(result.label_noise["groups"])[:3] == ["male/light", "male/medium", "male/dark"]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.transition.num_groups == 6 and list(loaded.label_noise) == ["gender", "skin"]
