"""Crisis-language detection: corpus metrics and the behaviours the product promises."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from analytics.text import analyze_message
from analytics.text.crisis import _WORD_START, _engine, detect_crisis, explain, normalise

# ---------------------------------------------------------------------------- the corpus


def test_corpus_is_big_varied_and_bilingual(corpus):
    assert len(corpus) >= 300
    assert len({row.text for row in corpus}) == len(corpus), "duplicate messages"
    languages = Counter(row.language for row in corpus)
    assert set(languages) == {"en", "es"}  # the other languages: tests/text/test_text_issue13.py
    assert languages["es"] / len(corpus) >= 0.35
    assert {row.label for row in corpus} == {"none", "concern", "crisis"}
    per_cell = Counter((row.language, row.label) for row in corpus)
    assert min(per_cell.values()) >= 50, per_cell
    categories = Counter(row.category for row in corpus)
    for needed in [
        "idiom",
        "negation",
        "typo",
        "slang",
        "plan",
        "means",
        "ideation",
        "hopelessness",
        "everyday",
        "medication",
        "hard_negative",
        "sad_safe",
        "goodbye",
        "self_harm",
    ]:
        assert categories[needed] >= 5, needed
    # hard negatives: most of the "none" messages are idioms, medication talk, sad-but-safe
    # messages or contain a trigger word
    hard = sum(
        row.category in {"idiom", "medication", "hard_negative", "sad_safe"}
        for row in corpus
        if row.label == "none"
    )
    assert hard >= 150


def _subset(corpus, results, language):
    pairs = [(r, a) for r, a in zip(corpus, results, strict=True) if language in (None, r.language)]
    return [r for r, _ in pairs], [a for _, a in pairs]


@pytest.mark.parametrize("language", [None, "en", "es"])
def test_crisis_messages_are_flagged_crisis(corpus, corpus_results, confusion_report, language):
    rows, results = _subset(corpus, corpus_results, language)
    crisis = [a.crisis_level for r, a in zip(rows, results, strict=True) if r.label == "crisis"]
    caught = crisis.count("crisis") / len(crisis)
    at_least_concern = sum(level != "none" for level in crisis) / len(crisis)
    assert caught >= 0.95, confusion_report(rows, results)
    assert at_least_concern >= 0.98, confusion_report(rows, results)


@pytest.mark.parametrize("language", [None, "en", "es"])
def test_few_non_crisis_messages_are_flagged_crisis(
    corpus, corpus_results, confusion_report, language
):
    rows, results = _subset(corpus, corpus_results, language)
    levels = [a.crisis_level for r, a in zip(rows, results, strict=True) if r.label != "crisis"]
    assert levels.count("crisis") / len(levels) <= 0.05, confusion_report(rows, results)


@pytest.mark.parametrize("language", [None, "en", "es"])
def test_concern_messages_are_flagged(corpus, corpus_results, confusion_report, language):
    rows, results = _subset(corpus, corpus_results, language)
    levels = [a.crisis_level for r, a in zip(rows, results, strict=True) if r.label == "concern"]
    assert sum(level != "none" for level in levels) / len(levels) >= 0.90, confusion_report(
        rows, results
    )


@pytest.mark.parametrize("language", [None, "en", "es"])
def test_few_safe_messages_are_flagged_at_all(corpus, corpus_results, confusion_report, language):
    rows, results = _subset(corpus, corpus_results, language)
    levels = [a.crisis_level for r, a in zip(rows, results, strict=True) if r.label == "none"]
    assert sum(level != "none" for level in levels) / len(levels) <= 0.05, confusion_report(
        rows, results
    )


def test_negated_corpus_messages_are_concern_never_none(corpus, corpus_results, confusion_report):
    pairs = [
        (r, a) for r, a in zip(corpus, corpus_results, strict=True) if r.category == "negation"
    ]
    assert len(pairs) >= 20
    rows, results = [r for r, _ in pairs], [a for _, a in pairs]
    assert all(a.crisis_level == "concern" for a in results), confusion_report(rows, results)


def test_corpus_idioms_are_not_flagged(corpus, corpus_results, confusion_report):
    pairs = [(r, a) for r, a in zip(corpus, corpus_results, strict=True) if r.category == "idiom"]
    assert len(pairs) >= 60
    rows, results = [r for r, _ in pairs], [a for _, a in pairs]
    assert all(a.crisis_level == "none" for a in results), confusion_report(rows, results)


def test_evidence_is_verbatim_from_the_message(corpus, corpus_results):
    flagged = [
        (r, a)
        for r, a in zip(corpus, corpus_results, strict=True)
        if a.evidence and a.category != "model"
    ]
    assert len(flagged) >= 380
    for row, result in flagged:
        assert result.evidence in row.text, f"line {row.line}"
        assert result.evidence == result.evidence.strip()


# --------------------------------------------------------------------- promised behaviour

CRISIS = [
    "I have the pills ready",
    "I'm going to kill myself tonight",
    "voy a quitarme la vida",
    "ya tengo las pastillas",
    "I wrote my goodbye letters",
    "im gonna kms tonight",
    "me voy a matar",
    "VOY A QUITARME LA VIDA",
    "tengo la cuerda y me voy a ahorcar",
    # code-switching: the Spanish rule fires inside an English message
    "idk anymore, voy a quitarme la vida",
]
CONCERN = [
    "I'm not going to hurt myself",
    "no pienso hacerme daño",
    "I won't kill myself, I promise",
    "no me voy a matar",
    "I'm not going to kill myself tonight",
    "I wish I could disappear",
    "ojalá no despertar",
    "ojala no despertar",
    "kms",
    "someone told me to kys",
    "wanna die",
    "wanna dieeeee",
    "suicidial thoughts again",
    "im not suicidal",
    "quiero quitarme la vida",
    "quisiera matarme",
    "no quiero vivir",
    "i dont want to be alive",
    "Everyone would be better off without me",
    "estarían mejor sin mí",
    "I cut myself last night",
    "me volví a cortar",
    "I feel hopeless",
]
NONE = [
    "killing it at work",
    "I'm dying to see that film",
    "this commute is the death of me",
    "me muero de risa",
    "me mata el tráfico",
    "I could kill for a coffee",
    "dead tired",
    "I picked up my pills from the pharmacy",
    "I have my pills ready for the week in the organizer",
    "ya tengo las pastillas para la presión",
    "la reunión me mató",
    "me corté el pelo",
    "I cut my finger chopping onions",
    "I'm jumping into the new project",
    "I'll do it tomorrow",
    "lo voy a hacer hoy",
    "Can we move Thursday's session?",
    "",
]


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_examples(text):
    result = explain(text)
    assert result.level == "crisis", result
    assert result.evidence and result.evidence in text


@pytest.mark.parametrize("text", CONCERN)
def test_concern_examples(text):
    result = explain(text)
    assert result.level == "concern", result
    assert result.evidence and result.evidence in text


@pytest.mark.parametrize("text", NONE)
def test_safe_examples(text):
    result = explain(text)
    assert (result.level, result.evidence, result.about_other) == ("none", None, False)


def test_negated_crisis_keeps_the_negation_in_matched():
    assert detect_crisis("Honestly I’m not going to hurt myself").evidence == (
        "not going to hurt myself"
    )
    assert detect_crisis("tranquila, no me voy a matar").evidence == "no me voy a matar"


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("I'M GOING TO KILL MYSELF tonight", "GOING TO KILL MYSELF"),
        ("Im  gonna   kms\ttonight", "gonna   kms"),
        ("wanna dieeeeee lol", "wanna dieeeeee"),
        ("Voy a quitarme la vída", "Voy a quitarme la vída"),
        ("ya me kiero morirrr", "me kiero morirrr"),
        ("ﬁne. I’ll end it all tonight", "I’ll end it all"),
    ],
)
def test_matched_phrase_is_exactly_as_written(text, matched):
    assert detect_crisis(text).evidence == matched


def test_sentiment_and_crisis_are_independent():
    result = analyze_message("I have the pills ready")
    assert result.crisis_level == "crisis"
    assert result.sentiment is not None and result.sentiment > 0  # VADER reads it as positive


# ------------------------------------------------------------------------------ internals


def test_normalise_maps_back_to_the_original():
    text = "I’M  Sooooo DONE… voy a quitarme la VÍDA"
    norm, starts, ends = normalise(text)
    assert norm == "im so done... voy a quitarme la vida"  # NFKD spells out the ellipsis
    assert len(norm) == len(starts) == len(ends)
    assert text[starts[norm.index("vida")] : ends[len(norm) - 1]] == "VÍDA"


def test_every_rule_starts_at_a_word_start(corpus):
    # The combined patterns assume it (see _WORD_START); a rule that could start mid-word
    # would silently stop matching there.
    texts = [normalise(row.text)[0] for row in corpus] + [normalise(t)[0] for t in CRISIS + CONCERN]
    for rule in _engine().rules:
        if not rule.bounded:
            continue  # scripts without spaces are compiled without the gate
        name, pattern = rule.name, rule.pattern
        plain = re.compile(pattern)
        gated = re.compile(f"{_WORD_START}(?:{pattern})")
        for text in texts:
            assert [m.span() for m in plain.finditer(text)] == [
                m.span() for m in gated.finditer(text)
            ], name


def test_long_messages_stay_fast():
    import time

    worst = 0.0
    for chunk in ["his ", "going to ", "no ", "me voy a ", "took like a lot of ", "a", "😂"]:
        text = (chunk * 10_000)[:10_000]
        start = time.perf_counter()
        detect_crisis(text)
        worst = max(worst, time.perf_counter() - start)
    assert worst < 0.5  # linear: about 20 ms on the development machine
