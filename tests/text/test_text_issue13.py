"""Issue 13: C-SSRS categories, eleven languages, unchecked, about-other, evidence, model."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analytics.text as text_api
from analytics.text import CATEGORY_LABELS, analyze_message, analyze_messages
from analytics.text.crisis import CATEGORY_LEVELS, canonical, detect_crisis, normalise
from analytics.text.lexicon import LEXICON_LANGUAGES, load_lexicons

# ------------------------------------------------------------------ categories, levels

KNOWN = [
    # (text, level, category)
    ("I'm going to kill myself tonight", "crisis", "intent"),
    ("I know exactly how I'll do it and when", "crisis", "plan"),
    ("I've been collecting my pills and I have enough now", "crisis", "preparatory"),
    ("gave my dog to my sister, she'll take better care of him", "crisis", "preparatory"),
    ("this is my last message. thank you for everything", "crisis", "preparatory"),
    ("took the whole bottle an hour ago", "crisis", "attempt"),
    ("sitting in the car in the closed garage with the engine running", "crisis", "attempt"),
    ("I'm standing on the bridge right now", "crisis", "attempt"),
    ("I wish I could go to sleep and never wake up", "concern", "wish_dead"),
    ("I keep thinking about killing myself", "concern", "active_nonspecific"),
    ("I cut myself again last night", "concern", "self_harm"),
    ("I tried to kill myself when I was 19", "concern", "past_attempt"),
    ("I'm not going to hurt myself, I promise", "concern", "negated"),
    ("voy a quitarme la vida esta noche", "crisis", "intent"),
    ("me tomé todo el frasco hace un rato", "crisis", "attempt"),
    ("ya regalé a mi perro y mis cosas", "crisis", "preparatory"),
    ("intenté suicidarme hace dos años", "concern", "past_attempt"),
    ("a veces quisiera no despertar", "concern", "wish_dead"),
    ("no me voy a matar, tranquila", "concern", "negated"),
]


@pytest.mark.parametrize(("text", "level", "category"), KNOWN)
def test_known_answers_in_english_and_spanish(text, level, category):
    result = analyze_message(text)
    assert (result.crisis_level, result.category) == (level, category), result
    assert result.evidence and result.evidence in text
    assert CATEGORY_LEVELS[category] == level or category == "negated"


OTHER_LANGUAGES = [
    ("je vais me tuer ce soir", "fr", "crisis"),
    ("j'ai envie de mourir", "fr", "concern"),
    ("vou me matar hoje", "pt", "crisis"),
    ("eu quero morrer", "pt", "concern"),
    ("我今晚要自杀", "zh", "crisis"),
    ("我真的想死", "zh", "concern"),
    ("tôi sẽ tự tử đêm nay", "vi", "crisis"),
    ("tôi muốn chết", "vi", "concern"),
    ("magpapakamatay na ako ngayong gabi", "tl", "crisis"),
    ("gusto ko nang mamatay", "tl", "concern"),
    ("سأنتحر الليلة", "ar", "crisis"),
    ("أريد أن أموت", "ar", "concern"),
    ("mwen pral touye tèt mwen aswè a", "ht", "crisis"),
    ("mwen vle mouri, mwen pa vle viv ankò", "ht", "concern"),
    ("오늘 밤 죽을 거야", "ko", "crisis"),
    ("정말 죽고 싶어", "ko", "concern"),
    ("я покончу с собой сегодня", "ru", "crisis"),
    ("я хочу умереть", "ru", "concern"),
]


@pytest.mark.parametrize(("text", "language", "level"), OTHER_LANGUAGES)
def test_each_supported_language_is_screened(text, language, level):
    result = detect_crisis(text)
    assert result.level == level, result
    assert result.evidence and result.evidence in text


def test_mixed_messages_are_checked_in_each_language():
    result = analyze_message("today was ok at work but honestly je veux mourir")
    assert result.crisis_level == "concern" and result.evidence == "je veux mourir"
    result = analyze_message("idk anymore, voy a quitarme la vida")
    assert result.crisis_level == "crisis"


# ------------------------------------------------------------------- hard negatives

HARD_NEGATIVES = [
    "killing it at work this week",
    "me muero de risa con este video",
    "ya no voy a estar en la ciudad el lunes",
    "I looked up how much the copay is for my new meds",
    "picked up my pills at the pharmacy, all set for the week",
    "the school had an assembly on suicide prevention today",
    "I'm writing my class paper on suicide rates in rural counties",
    "we watched a movie about an overdose, it was intense",
    "je meurs de faim",
    "estou morrendo de rir",
    "笑死我了",
    "배고파 죽겠어",
    "I'm dying to see that film",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_none(text):
    result = analyze_message(text)
    assert result.crisis_level == "none", result


def test_someone_elses_words_are_none_for_the_patient_but_marked():
    film = analyze_message("We watched a documentary about suicide last night")
    assert (film.crisis_level, film.about_other) == ("none", True)
    relative = analyze_message("my brother said he wants to kill himself and I'm scared")
    assert (relative.crisis_level, relative.about_other) == ("none", True)
    threat = analyze_message("my husband has a gun and he said he will kill me")
    assert (threat.crisis_level, threat.category, threat.about_other) == (
        "concern",
        "other_person_threat",
        True,
    )
    # The patient's own words win over a relative's in the same message.
    both = analyze_message("my cousin killed himself last year and I want to die too")
    assert (both.crisis_level, both.about_other) == ("concern", False)


# ------------------------------------------------------------------------- unchecked


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "Ich habe heute Nacht sehr schlecht geschlafen und bin müde",
            "language 'de' not supported",
        ),
        ("今日はとても疲れました", "language 'ja' not supported"),
        ("Grazie per la seduta di ieri, mi ha aiutato molto", "language 'it' not supported"),
    ],
)
def test_unsupported_languages_are_unchecked_with_the_reason(text, reason):
    result = analyze_message(text)
    assert (result.crisis_level, result.reason) == ("unchecked", reason)
    assert result.evidence is None and result.sentiment is None


def test_a_rule_finding_is_never_lowered_to_unchecked():
    # German is not screened, but an English crisis phrase inside it is still found.
    result = analyze_message("Ich bin so müde. I'm going to kill myself tonight")
    assert result.crisis_level == "crisis"


def test_haitian_creole_is_recognised_by_its_markers_and_not_scored_in_english():
    result = analyze_message("mwen fatige anpil jodi a, mwen pa konnen sa pou m fè")
    assert result.language == "ht"
    assert result.sentiment is None
    assert result.crisis_level == "none"


def test_nothing_to_read_is_none_not_unchecked():
    for text in ["ok", "👍", "10", "?!"]:
        assert analyze_message(text).crisis_level == "none", text


# -------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("gonna kms tonight", "crisis"),
        ("ctb tonight im done", "crisis"),
        ("thinking about sewerslide again", "concern"),
        ("i want to unalive myself", "concern"),
        ("im gonna kil myself", "crisis"),
        ("i w4nt t0 k1ll mys3lf", "concern"),
        ("I want to dieeeee", "concern"),
        ("I’M GOING TO END MY LIFE", "crisis"),
        ("i have the 💊 ready", "crisis"),
    ],
)
def test_slang_typos_leetspeak_emoji_and_case(text, level):
    assert detect_crisis(text).level == level, detect_crisis(text)


def test_emoji_for_means_reads_as_the_word():
    assert canonical("got the 🔫 and the 💊").strip() == "got the gun and the pills"


def test_a_crisis_sentence_buried_in_a_long_message_is_found():
    filler = "Work was long and the bus was late again, then I made dinner for the kids. " * 8
    text = filler + "Anyway I took the whole bottle an hour ago. " + filler
    result = detect_crisis(text)
    assert result.level == "crisis" and result.evidence == "took the whole bottle"


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["kms", "k1ll mys3lf", "sooo done", "💊💊", "a4a", "sewer slide", "I’m", "ﬁ", "e3e3"]
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_normalisation_is_idempotent_and_both_paths_agree(text):
    norm = canonical(text)
    assert canonical(norm) == norm
    mapped, starts, ends = normalise(text)
    assert mapped == norm
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends, strict=True))


# ---------------------------------------------------------------------- evidence


@pytest.mark.parametrize(
    "text",
    [
        "I want to die. Also I have the pills ready.",
        "I have the pills ready. I want to die.",
        "me quiero morir y ya tengo las pastillas",
    ],
)
def test_evidence_is_the_phrase_that_decided_the_level(text):
    result = detect_crisis(text)
    assert result.level == "crisis"
    assert result.evidence in {"have the pills ready", "ya tengo las pastillas"}


def test_evidence_of_a_concern_is_the_concern_phrase_not_an_earlier_negated_one():
    result = detect_crisis("I'm not suicidal, but I cut myself yesterday")
    assert result.level == "concern" and result.category == "self_harm"
    assert result.evidence == "cut myself"


# ------------------------------------------------------------------ learned model


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([r[0] for r in KNOWN] + HARD_NEGATIVES) | st.text(max_size=40))
def test_the_model_never_lowers_a_rule(message):
    rules = detect_crisis(message)
    final = analyze_message(message)
    rank = {"none": 0, "unchecked": 0, "concern": 1, "crisis": 2}
    assert rank[final.crisis_level] >= rank[rules.level]
    if rules.level != "none":
        assert (final.crisis_level, final.evidence) == (rules.level, rules.evidence)


class _Always:
    def __init__(self, p: float) -> None:
        self.p = p

    def probabilities(self, texts):
        return [self.p] * len(texts)


def test_the_model_raises_none_to_concern_and_says_so(monkeypatch):
    monkeypatch.setattr(text_api, "get_model", lambda: _Always(0.99))
    raised = analyze_message("I feel so empty and alone tonight")
    assert raised.crisis_level == "concern" and raised.category == "model"
    assert raised.evidence.startswith("learned model, not a rule")
    # Nor does a sure "no" lower anything.
    monkeypatch.setattr(text_api, "get_model", lambda: _Always(0.0))
    assert analyze_message("I have the pills ready").crisis_level == "crisis"
    assert analyze_message("I want to die").crisis_level == "concern"


def test_the_model_is_trained_from_shipped_data_and_is_deterministic():
    from analytics.text.model import CrisisModel, training_rows

    rows = training_rows()
    assert {r.language for r in rows} >= set(LEXICON_LANGUAGES)
    corpus = Path(__file__).with_name("crisis_corpus.csv")
    with corpus.open(encoding="utf-8", newline="") as fh:
        corpus_texts = {row["text"] for row in csv.DictReader(fh)}
    assert corpus_texts <= {r.text for r in rows}, "training file out of step with corpus"
    a, b = CrisisModel(), CrisisModel()
    probe = ["i wanna disapear forevr", "see you thursday"]
    assert a.probabilities(probe) == b.probabilities(probe)


# ------------------------------------------------------------ lexicons and labels


def test_every_language_has_a_reviewable_lexicon_with_a_source_note():
    folder = Path(text_api.__file__).with_name("lexicons")
    lexicons = load_lexicons()
    assert set(lexicons) == set(LEXICON_LANGUAGES) and len(LEXICON_LANGUAGES) == 11
    for code in LEXICON_LANGUAGES:
        raw = (folder / f"{code}.toml").read_text(encoding="utf-8")
        assert raw.startswith("#") and "Sources:" in raw[:600] and "Confidence" in raw[:900]
        data = tomllib.loads(raw)
        assert data["meta"]["language"] == code
        levels = {rule["level"] for rule in data["rule"]}
        assert {"crisis", "concern"} <= levels, code


def test_every_category_has_plain_words_for_the_dashboard():
    assert set(CATEGORY_LABELS) == set(CATEGORY_LEVELS)
    assert CATEGORY_LABELS["preparatory"].startswith("preparing")
    for rule in load_lexicons()["en"].rules:
        assert rule.category in CATEGORY_LABELS, rule.name


# ------------------------------------------------------------------- evaluation


def test_crisis_eval_counts_and_lists_every_miss(tmp_path):
    from benchmarks.crisis_eval import evaluate, group_of

    rows = [
        {"id": "1", "language": "en", "text": "I have the pills ready", "label": "crisis"},
        {"id": "2", "language": "en", "text": "I want to die", "label": "crisis"},
        {"id": "3", "language": "en", "text": "see you thursday", "label": "crisis"},
        {"id": "4", "language": "es-mixed", "text": "killing it at work", "label": "none"},
        {
            "id": "5",
            "language": "de",
            "text": "Ich bin heute sehr müde und traurig",
            "label": "concern",
        },
    ]
    reports = {r.group: r for r in evaluate(rows)}
    en = reports["en"]
    assert (en.crisis, en.crisis_caught, en.crisis_surfaced, en.silent_misses) == (3, 1, 2, 1)
    assert [m["id"] for m in en.misses] == ["2", "3"]
    assert group_of("es-mixed") == "es" and reports["es"].ordinary_flagged == 0
    de = reports["de"]
    assert (de.concern_surfaced, de.silent_misses, de.unchecked) == (0, 0, 1)
    path = tmp_path / "set.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["id", "language", "text", "label", "category", "about_other", "note"]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "category": "", "about_other": "", "note": ""})
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.crisis_eval", str(path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    groups = {g["group"]: g for g in json.loads(out.stdout)["groups"]}
    assert groups["en"]["crisis_caught_as_crisis"] == round(1 / 3, 3)
    assert groups["en"]["misses"][1]["text"] == "see you thursday"


def test_text_check_fields_on_the_command_line_api():
    out = io.StringIO()
    text_api.text_check(["I took the whole bottle an hour ago\n"], out)
    record = json.loads(out.getvalue())
    assert record["crisis_level"] == "crisis" and record["category"] == "attempt"
    assert record["evidence"] == "took the whole bottle"
    assert record["about_other"] is False and "reason" not in record


def test_batch_and_single_agree():
    sample = [t for t, *_ in KNOWN] + HARD_NEGATIVES + ["ok", ""]
    assert analyze_messages(sample) == [analyze_message(t) for t in sample]
