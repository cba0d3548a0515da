"""Caseload Insight's analytics: everything below the Streamlit app, in layers.

Data flows down this list; a module imports only from layers below its own, which
``tests/test_architecture.py`` checks with import-linter (contracts in ``pyproject.toml``):

    cli, launcher   the command line and the app's process
    views/          what each role sees (therapist, manager, researcher, fairness, admin, export)
    serving/        the snapshot the app reads: build, publish, safety alerts
    models/         windows, features, labels, training, evaluation, registry, scoring
    fairness/       bias audits of the models' held-out predictions
    metrics/        AUROC, Brier, curves, alert-budget rates and the patient-cluster bootstrap
    access/         roles, the access audit trail, pseudonym keys, disclosure rules
    data/           the input contract, ingest, the warehouse and workspace stores
    clinical, text/ questionnaire scoring and safety rules; chat-message analysis
    settings, files the clinic's settings; owner-only files
"""

__all__ = [
    "access",
    "clinical",
    "data",
    "fairness",
    "files",
    "launcher",
    "metrics",
    "models",
    "serving",
    "settings",
    "text",
    "views",
]
