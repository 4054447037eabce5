"""``fairvae``: the attribute-aligned VAE of Rizvi et al. (ICPR 2024), `kerasfer.models.FairVAE`.

Its protected attributes are the training data's, and its loss is reweighted by default: balancing
(group × label) cells removed the stereotype's pull that its latent alignment alone left in (docs/fairvae.md,
"Does it close the gap?").
"""

from kerasfer.training.methods.registry import BY_DEFAULT, Method, group_counts


def protected_attributes(train_data, attribute, kwargs) -> dict:
    """FairVAE's ``protected``: every attribute of the training data with its group count."""
    return {"protected": group_counts(train_data)}


METHOD = Method("fairvae", "the attribute-aligned VAE of Rizvi et al.", model="kerasfer.models.fairvae:FairVAE",
                model_kwargs=protected_attributes, reweight=BY_DEFAULT)
