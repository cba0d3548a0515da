"""Offline language identification."""

from __future__ import annotations

import pytest

from analytics.text.language import LONG_TEXT, detect_languages
from analytics.text.language import detect_language as _detect


def detect_language(text):
    return _detect(text).language


@pytest.mark.parametrize("language", ["en", "es"])
def test_corpus_languages_are_identified(corpus, corpus_results, language):
    pairs = [
        (row, res)
        for row, res in zip(corpus, corpus_results, strict=True)
        if row.language == language and len(row.text.split()) >= 4
    ]
    wrong = [f"line {r.line}: {res.language}" for r, res in pairs if res.language != language]
    # measured: every corpus message of 4+ words is right; leave a little room for lingua
    # updates
    assert 1 - len(wrong) / len(pairs) >= 0.98, wrong


def test_very_short_or_letterless_text_is_undetermined():
    for text in ["", "ok", "no", "si", "😂😂", "123 456", "?!", "   "]:
        assert detect_language(text) is None, text


def test_short_primary_language_words_are_not_lost_to_neighbours():
    # lingua alone calls these Portuguese/Italian/Tagalog; the clinic prior keeps them
    assert detect_language("no tengo futuro") == "es"
    assert detect_language("esta es mi despedida") == "es"
    assert detect_language("feeling meh but ok") == "en"
    assert detect_language("gracias") == "es"
    assert detect_language("thanks!") == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Je me sens très fatigué aujourd'hui", "fr"),
        ("Merci pour la séance d'hier, ça m'a aidé", "fr"),
        ("Estou muito cansada hoje", "pt"),
        ("Obrigada pela sessão de ontem, ajudou muito", "pt"),
        ("Ich habe heute Nacht schlecht geschlafen", "de"),
        ("Grazie per la seduta di ieri, mi ha aiutato", "it"),
        ("我今天很累", "zh"),
        ("Hôm nay tôi rất mệt", "vi"),
        ("شكرا على الجلسة أمس", "ar"),
        ("Спасибо за вчерашнюю сессию", "ru"),
        ("어제 상담 감사합니다", "ko"),
        ("Salamat sa session kahapon, nakatulong talaga", "tl"),
    ],
)
def test_other_clinic_languages(text, language):
    assert detect_language(text) == language


def test_batch_matches_single_and_long_texts_use_the_fast_detector():
    texts = [
        "I slept badly and the anxiety was through the roof all morning, but I went to work.",
        "Dormí muy mal y la ansiedad estuvo altísima toda la mañana, pero fui a trabajar. " * 3,
        "Long day. " * 40,
        "ok",
        "Estou muito cansada hoje, não consegui dormir e tenho consulta amanhã de manhã cedo.",
    ]
    assert any(len(t) >= LONG_TEXT for t in texts)
    assert detect_languages(texts) == [_detect(t) for t in texts]
    assert [g.language for g in detect_languages(texts)] == ["en", "es", "en", None, "pt"]
    assert detect_languages([]) == []
