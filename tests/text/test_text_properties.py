"""Property tests: any text at all gets a well-formed analysis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.text import analyze_message, analyze_messages
from analytics.text.crisis import canonical, detect_crisis, normalise

# Fragments that reach the interesting code paths (matches, negation, idioms, accents).
FRAGMENTS = [
    "I'm going to kill myself",
    "not",
    "tonight",
    "voy a quitarme la vida",
    "no",
    "me muero de risa",
    "I have the pills ready",
    "pharmacy",
    "wanna dieeee",
    "kms",
    "killing it",
    "ojalá no despertar",
    "I have the knife right here",
    "sorry for everything",
    "’",
    "\u0301",
    "İ",
    "ﬁ",
]
messages = st.one_of(
    st.text(),
    st.lists(st.one_of(st.text(max_size=12), st.sampled_from(FRAGMENTS)), max_size=8).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_analyze_message_never_raises_and_is_well_formed(text):
    result = analyze_message(text)
    assert result.crisis_level in {"none", "concern", "crisis", "unchecked"}
    assert (result.evidence is None) == (result.crisis_level in {"none", "unchecked"})
    assert (result.reason is not None) == (result.crisis_level == "unchecked")
    if result.evidence is not None and result.category != "model":
        assert result.evidence and result.evidence in text
    assert result.language is None or (isinstance(result.language, str) and result.language)
    assert 0.0 <= result.language_confidence <= 1.0
    if result.language == "en":
        assert result.sentiment is not None and -1.0 <= result.sentiment <= 1.0
        assert result.sentiment_note is None
    else:
        assert result.sentiment is None and result.sentiment_note


@settings(max_examples=300, deadline=None)
@given(messages)
def test_normalise_map_is_monotonic_and_in_bounds(text):
    norm, starts, ends = normalise(text)
    assert len(norm) == len(starts) == len(ends)
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends, strict=True))
    assert starts == sorted(starts)
    assert norm == norm.lower() or not norm.isascii()
    assert canonical(text) == norm  # the fast path agrees with the mapped one
    assert canonical(norm) == norm  # idempotent


@settings(max_examples=50, deadline=None)
@given(st.lists(messages, max_size=6))
def test_batch_agrees_with_single(texts):
    assert analyze_messages(texts) == [analyze_message(t) for t in texts]


@given(st.sampled_from(FRAGMENTS[:14]), st.sampled_from(["", "!!", " 😢", "\n", "  ", "..."]))
def test_detection_ignores_surrounding_punctuation_and_space(fragment, suffix):
    assert detect_crisis(fragment).level == detect_crisis(fragment + suffix).level


def test_compatibility_capitals_are_lowered():
    """Found by hypothesis: a mathematical bold capital decomposed to an upper-case letter."""
    from analytics.text.crisis import normalise

    assert normalise("𝐀")[0] == "a"
    assert analyze_message("𝐈 𝐡𝐚𝐯𝐞 𝐭𝐡𝐞 𝐩𝐢𝐥𝐥𝐬 𝐫𝐞𝐚𝐝𝐲").crisis_level == "crisis"
