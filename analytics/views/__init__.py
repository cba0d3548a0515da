"""Role-scoped reads over the serving snapshot and the workspace, one module per role.

Each function takes a :class:`~analytics.access.roles.Context` and an
:class:`~analytics.access.roles.Actor`, checks access first, and returns a typed result or a
documented polars frame. Every view of a patient and every alert action is audited.
Values from users (search text, ids) reach SQL only as parameters.

``therapist`` (caseload, patient, risk cards, alerts), ``manager`` (clinic overview),
``researcher`` (cohort, model report), ``fairness`` (bias audits), ``admin`` (data state),
and ``export`` (the research export, a researcher's files rather than a screen).
"""

from analytics.views.admin import DataStatus, data_status
from analytics.views.fairness import (
    FAIRNESS_METRICS,
    FairnessOptions,
    FairnessView,
    fairness_audit,
    fairness_options,
)
from analytics.views.manager import ClinicOverview, clinic_overview
from analytics.views.researcher import ModelReport, model_report, research_cohort
from analytics.views.therapist import (
    PatientView,
    RiskCard,
    act_on_alert,
    add_note,
    alerts,
    caseload,
    patient,
    patient_risk,
)

__all__ = [
    "FAIRNESS_METRICS",
    "ClinicOverview",
    "DataStatus",
    "FairnessOptions",
    "FairnessView",
    "ModelReport",
    "PatientView",
    "RiskCard",
    "act_on_alert",
    "add_note",
    "alerts",
    "caseload",
    "clinic_overview",
    "data_status",
    "fairness_audit",
    "fairness_options",
    "model_report",
    "patient",
    "patient_risk",
    "research_cohort",
]
