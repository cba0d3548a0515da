"""The risk models, from the warehouse to a score with reasons.

``windows`` (the as-of date and the recent/usual windows every summary reads) →
``features`` (one row per patient and as-of date) → ``labels`` (the outcomes) →
``training`` (fit, calibrate, compare with baselines; ``evaluation`` and ``curves`` judge
it) → ``registry`` (versioned models and their cards) → ``scoring`` (scores and reasons for
the snapshot, with ``explain``) and ``model_audits`` (bias audits of held-out predictions).
"""

__all__ = [
    "curves",
    "evaluation",
    "explain",
    "features",
    "labels",
    "model_audits",
    "registry",
    "scoring",
    "training",
    "windows",
]
