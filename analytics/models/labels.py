"""Outcome labels for the two models, exactly as the product design defines them.

For a patient active on an as-of date ``t`` (one row of the features table):

- **engagement_drop** (horizon 14 days). Eligible only if the patient was engaged: a
  check-in or a message of their own in the 14 days up to and including ``t``. Label 1 if
  there is no check-in and no patient message in days ``t+1 .. t+14``, else 0.
- **relapse_risk** (horizon 28 days): a *new episode* in a patient who is *well*.

  *Well* on ``t`` (:func:`relapse_status`): below caseness on both measures at the latest
  questionnaire (PHQ-9 < ``phq9_caseness`` 10 and GAD-7 < ``gad7_caseness`` 8, the
  product's recovery thresholds), no clinical event recorded since it (``in_episode`` =
  0, see ``analytics.models.features.EPISODE_HISTORY_SQL``), and that questionnaire at most
  ``WELL_CURRENT_DAYS`` (56) days old. A patient at caseness, or with an event since
  their latest questionnaire, is *in an episode*: they get that status, not a relapse
  probability, and no label. Without a recent questionnaire the status is unknown.

  Label 1 if in days ``t+1 .. t+28``: a recorded relapse, hospitalization, crisis-contact
  or self-harm event; or a questionnaire showing reliable deterioration to caseness
  (PHQ-9 at least 10 and at least 6 above the patient's *usual well level*, the highest
  below-caseness PHQ-9 of the 56 days up to ``t``; or GAD-7 at least 8 and at least 4
  above its usual well level) *confirmed*: the next questionnaire, within 28 days, shows
  it again, or a clinical event falls within 28 days after it. The usual well level
  rather than the single latest score, and the confirmation, keep ordinary fluctuation
  and regression to the mean from reading as new episodes: against the generator's true
  onsets (2,000 x 365, seed 0) 46% of positive labels are true new episodes, and 90% of
  true onsets in well patients get a positive label (an earlier label judged against
  the latest score alone: 28%). Label 0 if there was at least one questionnaire in the window and none of
  that. Otherwise the window is **unknown** (NULL, excluded from training and
  evaluation): no questionnaire and no event in it (silence is not safety), or a
  deterioration whose confirmation cannot be seen (no later questionnaire in time).

Censoring: events are checked first, so an event before discharge is a positive even when
the patient is discharged inside the window. Otherwise no label where the follow-up
window (for relapse, the window plus the confirmation time of a deterioration inside it)
runs past the last data day or past discharge. A patient lost to follow-up stops
answering, so their later windows are unknown: censored at last contact. Labels use data
after ``t`` by definition; they are never features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from analytics.clinical import prorated_total_sql
from analytics.models.features import CLINICAL_EVENT_KINDS
from analytics.settings import ClinicalSettings, Settings

__all__ = [
    "CONFIRM_DAYS",
    "MODELS",
    "WELL_CURRENT_DAYS",
    "ModelSpec",
    "build_labels",
    "eligible_sql",
    "relapse_status",
]


ENGAGED_LOOKBACK_DAYS = 14
WELL_CURRENT_DAYS = 56  # a questionnaire older than this says nothing about being well now
CONFIRM_DAYS = 28  # a deterioration is confirmed by the next questionnaire or an event within


@dataclass(frozen=True)
class ModelSpec:
    """What a model predicts: its name, the card's title, its horizon."""

    name: str
    title: str
    horizon_days: int

    def outcome(self, clinical: ClinicalSettings) -> str:
        """The outcome in plain words, from the same numbers the label SQL uses (so a
        clinic that changes a caseness threshold reads the definition it trains on)."""
        c = clinical
        if self.name == "engagement_drop":
            return (
                f"no check-in and no message in the next {self.horizon_days} days, for a "
                f"patient engaged in the {ENGAGED_LOOKBACK_DAYS} days before"
            )
        return (
            f"a new episode in the next {self.horizon_days} days, for a patient who is well "
            f"(below caseness, PHQ-9 under {c.phq9_caseness} and GAD-7 under "
            f"{c.gad7_caseness}, at a questionnaire in the last {WELL_CURRENT_DAYS} days, no "
            f"clinical event since): a reliable deterioration to caseness (PHQ-9 up "
            f"{c.phq9_reliable_change} or more to {c.phq9_caseness}+, or GAD-7 up "
            f"{c.gad7_reliable_change} or more to {c.gad7_caseness}+) confirmed within "
            f"{CONFIRM_DAYS} days, or a recorded relapse, hospitalization, crisis contact or "
            "self-harm event"
        )


MODELS: dict[str, ModelSpec] = {
    "relapse_risk": ModelSpec("relapse_risk", "Relapse risk", 28),
    "engagement_drop": ModelSpec("engagement_drop", "Engagement risk", 14),
}


def eligible_sql(model: str, alias: str = "f") -> str:
    """SQL condition on a features row: may this model score the patient?"""
    if model == "engagement_drop":
        # checkin_days_14d and messages_14d both cover the 14 days up to the as-of date.
        return f"({alias}.checkin_days_14d > 0 OR {alias}.messages_14d > 0)"
    if model == "relapse_risk":
        return f"({alias}.in_episode = 0 AND {alias}.days_since_assessment <= {WELL_CURRENT_DAYS})"
    return "TRUE"


def relapse_status(in_episode: float | None, days_since_assessment: float | None) -> str:
    """'well', 'in an episode' or 'unknown' for a features row (the same rule as
    :func:`eligible_sql`; only 'well' patients get a relapse probability)."""
    if in_episode is not None and in_episode == in_episode and in_episode >= 1:
        return "in an episode"
    if (
        in_episode is None
        or in_episode != in_episode
        or days_since_assessment is None
        or days_since_assessment != days_since_assessment
        or days_since_assessment > WELL_CURRENT_DAYS
    ):
        return "unknown"
    return "well"


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
    # The total the dashboard shows: a partly answered questionnaire counts (prorated).
    phq = gad = prorated_total_sql("a.instrument", prefix="a.")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{table}" AS
        WITH
        rows AS (
            SELECT f.patient_id, f.as_of, f.phq9_latest, f.gad7_latest,
                   {eligible_sql("engagement_drop")} AS engaged,
                   coalesce({eligible_sql("relapse_risk")}, FALSE) AS well,
                   p.discharged_on
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
        ev AS (
            SELECT DISTINCT patient_id, CAST(occurred_at AS DATE) AS d
            FROM wh.events WHERE kind IN ({kinds})),
        sittings AS (
            SELECT a.patient_id, CAST(a.completed_at AS DATE) AS d,
                   arg_max({phq}, a.completed_at) FILTER (WHERE a.instrument = 'PHQ-9') AS phq9,
                   arg_max({gad}, a.completed_at) FILTER (WHERE a.instrument = 'GAD-7') AS gad7
            FROM wh.assessments a GROUP BY ALL),
        -- each sitting with the next one, to confirm a deterioration
        sitting_next AS (
            SELECT *, lead(d) OVER w AS next_d, lead(phq9) OVER w AS next_phq9,
                   lead(gad7) OVER w AS next_gad7
            FROM sittings WINDOW w AS (PARTITION BY patient_id ORDER BY d)),
        sitting_conf AS (
            SELECT s.*, EXISTS (SELECT 1 FROM ev e WHERE e.patient_id = s.patient_id
                                AND e.d >= s.d AND e.d <= s.d + {CONFIRM_DAYS}) AS event_after
            FROM sitting_next s),
        events AS (
            SELECT r.patient_id, r.as_of, count(*) AS n
            FROM rows r JOIN ev e
              ON e.patient_id = r.patient_id AND e.d > r.as_of AND e.d <= r.as_of + {rel_h}
             AND (r.discharged_on IS NULL OR e.d <= r.discharged_on)
            WHERE r.well
            GROUP BY ALL),
        -- The reference for a deterioration: the highest below-caseness score of the last
        -- 56 days, not the single latest one (a low latest score would make an ordinary
        -- return to the patient's usual level look like deterioration).
        reference AS (
            SELECT r.patient_id, r.as_of,
                   max(s.phq9) FILTER (WHERE s.phq9 < {int(c.phq9_caseness)}) AS ref_phq9,
                   max(s.gad7) FILTER (WHERE s.gad7 < {int(c.gad7_caseness)}) AS ref_gad7
            FROM rows r JOIN sittings s
              ON s.patient_id = r.patient_id AND s.d <= r.as_of
             AND s.d > r.as_of - {WELL_CURRENT_DAYS}
            WHERE r.well
            GROUP BY ALL),
        window_sittings AS (
            SELECT r.patient_id, r.as_of, s.d, s.next_d, s.event_after,
                   (coalesce(s.phq9 >= {int(c.phq9_caseness)}
                             AND s.phq9 >= coalesce(f.ref_phq9, r.phq9_latest) + {int(c.phq9_reliable_change)}, FALSE)
                    OR coalesce(s.gad7 >= {int(c.gad7_caseness)}
                                AND s.gad7 >= coalesce(f.ref_gad7, r.gad7_latest) + {int(c.gad7_reliable_change)},
                                FALSE)) AS worse,
                   -- confirmed only if the next questionnaire is still reliably worse
                   (coalesce(s.next_phq9 >= {int(c.phq9_caseness)}
                             AND s.next_phq9 >= coalesce(f.ref_phq9, r.phq9_latest) + {int(c.phq9_reliable_change)}, FALSE)
                    OR coalesce(s.next_gad7 >= {int(c.gad7_caseness)}
                                AND s.next_gad7 >= coalesce(f.ref_gad7, r.gad7_latest) + {int(c.gad7_reliable_change)},
                                FALSE)) AS next_worse
            FROM rows r JOIN sitting_conf s
              ON s.patient_id = r.patient_id AND s.d > r.as_of AND s.d <= r.as_of + {rel_h}
            LEFT JOIN reference f ON f.patient_id = r.patient_id AND f.as_of = r.as_of
            WHERE r.well),
        window_summary AS (
            SELECT w.patient_id, w.as_of, count(*) AS sittings,
                   count(*) FILTER (WHERE w.worse AND (w.event_after OR (
                       w.next_d <= w.d + {CONFIRM_DAYS} AND w.next_worse))) AS confirmed,
                   count(*) FILTER (WHERE w.worse AND (w.next_d IS NULL
                                    OR w.next_d > w.d + {CONFIRM_DAYS})) AS unseen
            FROM window_sittings w GROUP BY ALL)
        SELECT r.patient_id, r.as_of,
               CASE WHEN NOT r.well THEN NULL
                    WHEN coalesce(e.n, 0) > 0 THEN 1
                    WHEN r.as_of + {rel_h} > $data_end
                         OR r.discharged_on <= r.as_of + {rel_h} THEN NULL
                    WHEN coalesce(w.confirmed, 0) > 0 THEN 1
                    WHEN coalesce(w.sittings, 0) = 0 THEN NULL
                    WHEN w.unseen > 0 THEN NULL
                    ELSE 0 END AS relapse_risk,
               CASE WHEN NOT r.engaged THEN NULL
                    WHEN r.as_of + {eng_h} > $data_end
                         OR r.discharged_on <= r.as_of + {eng_h} THEN NULL
                    WHEN n.next_d IS NULL THEN 1
                    ELSE 0 END AS engagement_drop
        FROM rows r
        LEFT JOIN next_activity n USING (patient_id, as_of)
        LEFT JOIN events e USING (patient_id, as_of)
        LEFT JOIN window_summary w USING (patient_id, as_of)
        ORDER BY r.patient_id, r.as_of""",
        {"data_end": data_end},
    )
