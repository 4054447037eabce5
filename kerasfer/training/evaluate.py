"""`train_model`'s last model steps: the method's after-training step (`finish`), then the metrics (`evaluate`)."""

from __future__ import annotations


def finish(plan, model) -> dict:
    """Run the method's after-training step (erasure's eraser fit and head refit), if it has one.

    Returns:
        The metrics entries it reports (empty without a step).
    """
    return {} if plan.method.finish is None else plan.method.finish(model, plan)


def evaluate(plan, model, fitted, resumed, warm_start, finished) -> dict:
    """The run's metrics: training logs and settings, the face template, the per-group test summary, then
    the after-training step's entries, the method's own metrics and the learned label noise.

    Fits the face template into `model` (`kerasfer.predict.alignment.fit_face_template`).

    Args:
        plan: the run's `kerasfer.training.plan.Plan`.
        model: the trained model.
        fitted: the fit step's `kerasfer.training.fit.Fitted`.
        resumed: the resume step's `kerasfer.training.backup.Resumed`.
        warm_start: what `init` copied, or None.
        finished: what `finish` returned.

    Returns:
        The metrics of `train_model`.
    """
    from kerasfer.constants import EMOTIONS
    from kerasfer.fairness import accuracy_summary
    from kerasfer.models.label_noise import transition_report
    from kerasfer.models.predict import predict_proba
    from kerasfer.predict.alignment import fit_face_template

    face_template = fit_face_template(model, plan.train_data, seed=plan.seed)  # where its faces' eyes are
    first_step = fitted.first_step_at
    metrics = {"model": plan.name, "train": {k: float(v[-1]) for k, v in fitted.logs.items() if v},
               "replicas": int(plan.strategy.num_replicas_in_sync), "attribute": plan.attribute,
               "reweight_attribute": plan.reweight_attribute, "size": plan.size, "init": warm_start,
               "soft_labels": plan.train_data.soft_labels is not None,
               "start": {"resumed_from_step": resumed.start_step, "restore_seconds": round(resumed.restore_seconds, 3),
                         "first_step_seconds": None if first_step is None else round(first_step - plan.called, 3),
                         "first_step_unix_time": first_step},
               "face_template": face_template}
    if plan.test_data is not None:
        predictions = predict_proba(model, plan.test_data).argmax(axis=1)
        metrics.update(accuracy_summary(plan.test_data.labels, predictions, plan.test_data))
    metrics.update(finished)
    if plan.method.metrics is not None:
        metrics.update(plan.method.metrics(model, plan))
    if getattr(model, "transition", None) is not None:  # how each group's labels were found to be noisy
        metrics["label_noise"] = transition_report(model, plan.train_data.group_names, EMOTIONS[:model.num_classes])
    return metrics
