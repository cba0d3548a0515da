"""Outcome labels for the two models, exactly as the product design defines them.

For a patient active on an as-of date ``t`` (one row of the features table):

- **engagement_drop** (horizon 14 days). Eligible only if the patient was engaged: a
  check-in or a message of their own in the 14 days up to and including ``t``. Label 1 if
  there is no check-in and no patient message in days ``t+1 .. t+14``, else 0.
- **relapse_risk** (horizon 28 days). Label 1 if in days ``t+1 .. t+28`` any of:
  a PHQ-9 at least ``phq9_reliable_change`` (6) above the latest PHQ-9 on or before ``t``
  and at least ``relapse_phq9_threshold`` (10); a GAD-7 at least ``gad7_reliable_change``
  (4) above the latest GAD-7 on or before ``t`` and at least ``relapse_gad7_threshold``
  (10); or a recorded relapse, hospitalization, crisis-contact or self-harm event. Else 0.
  Without a questionnaire on or before ``t`` only events can make the label 1; without a
  questionnaire in the window, deterioration cannot be seen (a limitation of the data,
  noted in the model card).

Censoring: no label (NULL) where the follow-up window runs past the last data day or past
discharge (discharged on or before ``t + horizon``). Labels use data after ``t`` by
definition; they are never features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from analytics.features import CLINICAL_EVENT_KINDS
from analytics.settings import Settings

__all__ = ["MODELS", "ModelSpec", "build_labels", "eligible_sql"]


@dataclass(frozen=True)
class ModelSpec:
    """What a model predicts: its name, horizon and the label column it trains on."""

    name: str
    horizon_days: int
    outcome: str  # plain-language outcome, for cards and reports


MODELS: dict[str, ModelSpec] = {
    "relapse_risk": ModelSpec(
        "relapse_risk",
        28,
        "reliable deterioration on PHQ-9 or GAD-7, or a recorded relapse, hospitalization, "
        "crisis contact or self-harm event, in the next 28 days",
    ),
    "engagement_drop": ModelSpec(
        "engagement_drop",
        14,
        "no check-in and no message in the next 14 days, for a patient engaged in the "
        "14 days before",
    ),
}
ENGAGED_LOOKBACK_DAYS = 14


def eligible_sql(model: str, alias: str = "f") -> str:
    """SQL condition on a features row: may this model score the patient?"""
    if model == "engagement_drop":
        # checkin_days_14d and messages_14d both cover the 14 days up to the as-of date.
        return f"({alias}.checkin_days_14d > 0 OR {alias}.messages_14d > 0)"
    return "TRUE"


def build_labels(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: Settings,
    data_end: date,
    features: str = "features",
    table: str = "labels",
) -> None:
    """Create temp table ``table`` (patient_id, as_of, relapse_risk, engagement_drop).

    One row per row of ``features``; a label is NULL when censored or not eligible.
    """
    c = settings.clinical
    kinds = ", ".join(f"'{k}'" for k in CLINICAL_EVENT_KINDS)
    rel_h = MODELS["relapse_risk"].horizon_days
    eng_h = MODELS["engagement_drop"].horizon_days
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{table}" AS
        WITH
        rows AS (
            SELECT f.patient_id, f.as_of, f.phq9_latest, f.gad7_latest,
                   {eligible_sql("engagement_drop")} AS engaged, p.discharged_on
            FROM "{features}" f JOIN wh.patients p USING (patient_id)),
        activity AS (
            SELECT patient_id, CAST(checked_in_at AS DATE) AS d FROM wh.checkins
            UNION
            SELECT patient_id, CAST(sent_at AS DATE) FROM wh.messages WHERE sender = 'patient'),
        next_activity AS (
            SELECT r.patient_id, r.as_of, min(a.d) AS next_d
            FROM rows r JOIN activity a
              ON a.patient_id = r.patient_id AND a.d > r.as_of AND a.d <= r.as_of + {eng_h}
            GROUP BY ALL),
        events AS (
            SELECT r.patient_id, r.as_of, count(*) AS n
            FROM rows r JOIN wh.events e
              ON e.patient_id = r.patient_id AND e.kind IN ({kinds})
             AND CAST(e.occurred_at AS DATE) > r.as_of
             AND CAST(e.occurred_at AS DATE) <= r.as_of + {rel_h}
            GROUP BY ALL),
        later AS (
            SELECT r.patient_id, r.as_of,
                   max({" + ".join(f"a.item_{i}" for i in range(1, 10))})
                       FILTER (WHERE a.instrument = 'PHQ-9') AS phq9_max,
                   max({" + ".join(f"a.item_{i}" for i in range(1, 8))})
                       FILTER (WHERE a.instrument = 'GAD-7') AS gad7_max
            FROM rows r JOIN wh.assessments a
              ON a.patient_id = r.patient_id
             AND CAST(a.completed_at AS DATE) > r.as_of
             AND CAST(a.completed_at AS DATE) <= r.as_of + {rel_h}
            GROUP BY ALL)
        SELECT r.patient_id, r.as_of,
               CASE WHEN r.as_of + {rel_h} > $data_end
                         OR r.discharged_on <= r.as_of + {rel_h} THEN NULL
                    WHEN coalesce(e.n, 0) > 0 THEN 1
                    WHEN l.phq9_max >= r.phq9_latest + {int(c.phq9_reliable_change)}
                         AND l.phq9_max >= {int(settings.relapse_phq9_threshold)} THEN 1
                    WHEN l.gad7_max >= r.gad7_latest + {int(c.gad7_reliable_change)}
                         AND l.gad7_max >= {int(settings.relapse_gad7_threshold)} THEN 1
                    ELSE 0 END AS relapse_risk,
               CASE WHEN NOT r.engaged THEN NULL
                    WHEN r.as_of + {eng_h} > $data_end
                         OR r.discharged_on <= r.as_of + {eng_h} THEN NULL
                    WHEN n.next_d IS NULL THEN 1
                    ELSE 0 END AS engagement_drop
        FROM rows r
        LEFT JOIN next_activity n USING (patient_id, as_of)
        LEFT JOIN events e USING (patient_id, as_of)
        LEFT JOIN later l USING (patient_id, as_of)
        ORDER BY r.patient_id, r.as_of""",
        {"data_end": data_end},
    )
