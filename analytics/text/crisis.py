"""Crisis-language detection in patient messages, grounded in the C-SSRS categories.

Levels (a prompt for a clinician to look, never an automated action):

* ``crisis``: intent, plan, preparatory acts (means gathered, notes, a date, giving
  things away, goodbyes) or an attempt in progress or just made;
* ``concern``: a wish to be dead, non-specific active thoughts, hopelessness, self-harm,
  a past attempt, and every *negated* mention ("I'm not going to hurt myself"):
  clinicians want to see those, so negation lowers a crisis phrase to concern, never to
  none;
* ``none``: nothing found; a message about someone else (a relative, a film, the news)
  is ``none`` for the patient with ``about_other`` set, except a third person with a
  weapon and a threat, which is ``concern`` with ``about_other``.

(``unchecked`` is decided by the caller from the language: see
:mod:`analytics.text`.)

How a message is read:

1. Normalise (:mod:`analytics.text.normalise`), keeping a map back to the original so
   that the evidence is quoted exactly as written.
2. Mask idioms ("killing it at work", "me muero de risa").
3. Crisis rules of every lexicon, then compositional matching within each sentence (a
   first-person act, intent, means and time in any order), then the combinations
   (ideation next to "tonight", distress with a means at hand, warning signs together),
   then concern rules. A crisis hit that is negated just before, or a pill phrase in a
   routine medication context, becomes a concern candidate.
4. A hit whose sentence is about someone else (a film, the news, a class paper, a
   relative as the subject) is set aside and only marks ``about_other``.

The evidence is the text of the hit that decided the level, never an earlier weaker one.
All lexicons run on every message, whatever the language identifier said: patients
switch languages mid-message and a misidentified language must not hide a crisis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from analytics.text.lexicon import LexiconRule, load_lexicons
from analytics.text.normalise import Normaliser

__all__ = [
    "CATEGORY_LABELS",
    "CATEGORY_LEVELS",
    "CONCERN",
    "CRISIS",
    "LEVELS",
    "NONE",
    "UNCHECKED",
    "CrisisResult",
    "detect_crisis",
    "explain",
    "normalise",
]

NONE = "none"
CONCERN = "concern"
CRISIS = "crisis"
UNCHECKED = "unchecked"
LEVELS = (NONE, CONCERN, CRISIS, UNCHECKED)
_RANK = {NONE: 0, CONCERN: 1, CRISIS: 2}

# Plain words for the dashboard, one per category a result can carry.
CATEGORY_LABELS: dict[str, str] = {
    "wish_dead": "wish to be dead or not wake up",
    "active_nonspecific": "thoughts of killing themselves (no method or plan said)",
    "ideation_method": "thoughts of a method",
    "intent": "says they intend to act",
    "plan": "a plan: how, when or where, or researching a method",
    "preparatory": "preparing (means gathered, notes, giving things away, a date, goodbyes)",
    "attempt": "an attempt under way or just made",
    "self_harm": "self-harm (cutting, burning, hitting themselves)",
    "past_attempt": "a past suicide attempt",
    "hopelessness": "hopelessness or feeling a burden",
    "negated": "mentions suicide or self-harm but denies it ('I'm not going to hurt myself')",
    "told_to_die": "someone told them to kill themselves",
    "other_person": "about someone else (a relative, the news, a film)",
    "other_person_threat": "someone else with a weapon and a threat",
    "model": "flagged by the learned second opinion, not by a rule",
}
# The C-SSRS reading of each category's level.
CATEGORY_LEVELS: dict[str, str] = {
    "wish_dead": CONCERN,
    "active_nonspecific": CONCERN,
    "ideation_method": CONCERN,
    "intent": CRISIS,
    "plan": CRISIS,
    "preparatory": CRISIS,
    "attempt": CRISIS,
    "self_harm": CONCERN,
    "past_attempt": CONCERN,
    "hopelessness": CONCERN,
    "negated": CONCERN,
    "told_to_die": CONCERN,
    "other_person": NONE,
    "other_person_threat": CONCERN,
    "model": CONCERN,
}


@dataclass(frozen=True)
class CrisisResult:
    """The level, its C-SSRS category and the words of the original that decided it."""

    level: str  # "none" | "concern" | "crisis"
    category: str | None
    about_other: bool
    evidence: str | None
    rule: str | None = None  # internal rule name, for tests and debugging


# ---------------------------------------------------------------------- the compiled set


@dataclass(frozen=True)
class _Hit:
    level: str
    rule: str
    category: str
    start: int
    end: int


def _alternation(patterns: list[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!x)x")
    # Alternatives that start at a word are gated once, so the engine skips mid-word
    # positions; phrases of scripts without spaces only start at a non-ASCII character.
    at_word = [p for p in patterns if p.startswith((r"\b", r"(?<!\w)"))]
    anywhere = [p for p in patterns if p not in at_word]
    parts = []
    if at_word:
        parts.append(_WORD_START + "(?:" + "|".join(f"(?:{p})" for p in at_word) + ")")
    if anywhere:
        if all(not p[:1].isascii() for p in anywhere):
            parts.append(r"(?=[^\x00-\x7f])(?:" + "|".join(f"(?:{p})" for p in anywhere) + ")")
        else:
            parts.append("(?:" + "|".join(f"(?:{p})" for p in anywhere) + ")")
    return re.compile("|".join(parts))


# Every bounded rule starts at the start of a word. Saying so once, outside the
# alternation, lets the engine skip mid-word positions without trying each rule there.
_WORD_START = r"\b(?=\w)"
_CORE = frozenset({"en", "es"})


class _Engine:
    def __init__(self) -> None:
        lexicons = load_lexicons()
        replacements: dict[str, str] = {}
        signals: dict[str, list[str]] = {}
        compose: dict[str, list[str]] = {}
        rules: list[LexiconRule] = []
        for lex in lexicons.values():
            replacements.update(lex.replacements)
            for name, patterns in lex.signals.items():
                signals.setdefault(name, []).extend(patterns)
            for name, words in lex.compose.items():
                compose.setdefault(name, []).extend(words)
            rules.extend(lex.rules)
        self.normaliser = Normaliser(replacements)
        self.rules = rules
        # English and Spanish rules (tuned, and both languages' combinations) read every
        # message; another language's rules read a message that has one of its words
        # (its gate) or, for scripts other than Latin, any text outside ASCII.
        self.gates: dict[str, frozenset[str] | None] = {}
        groups: dict[str, list[LexiconRule]] = {}
        for rule in rules:
            key = rule.language if rule.language not in _CORE else "core"
            groups.setdefault(key, []).append(rule)
        for code, lex in lexicons.items():
            if code not in _CORE:
                self.gates[code] = lex.gate if lex.word_boundaries else None
        self.non_latin = {code for code, lex in lexicons.items() if code not in _CORE} - {
            code for code in ("fr", "pt", "vi", "tl", "ht")
        }
        self.by_level: dict[str, list[tuple[str, re.Pattern[str], list[LexiconRule]]]] = {}
        for level in (CRISIS, CONCERN, "other"):
            compiled = []
            for key, members in groups.items():
                group = [r for r in members if r.level == level]
                if not group:
                    continue
                body = "|".join(f"(?P<r{i}>{r.pattern})" for i, r in enumerate(group))
                prefix = _WORD_START if group[0].bounded else ""
                compiled.append((key, re.compile(f"{prefix}(?:{body})"), group))
            self.by_level[level] = compiled
        sig = {name: _alternation(patterns) for name, patterns in signals.items()}
        self.sig = sig
        self.idioms = sig["idioms"]
        self.negation = re.compile(
            "|".join(f"(?:{p})" for p in signals["negation"])  # full-word negations
        )
        self.clause_break = sig["clause_break"]
        self.sentence_break = sig["sentence_break"]
        self.compose = {
            name: re.compile(
                _WORD_START + "(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?!\w)"
            )
            for name, words in compose.items()
        }
        self.rule_names = {r.name for r in rules}
        stems: list[str] = []
        for lex in lexicons.values():
            stems.extend(lex.screen)
        self.screen = frozenset(stems)

    def active(self, masked: str) -> frozenset[str]:
        """The rule groups worth running on ``masked`` (see the gates above)."""
        out = {"core"}
        ascii_text = masked.isascii()
        tokens: set[str] | None = None
        for code, gate in self.gates.items():
            if code in self.non_latin:
                if not ascii_text:
                    out.add(code)
                continue
            if gate is None:
                out.add(code)
                continue
            if tokens is None:
                tokens = {w[:4] for w in _SCREEN_TOKEN.findall(masked)}
            if tokens & gate:
                out.add(code)
        return frozenset(out)

    def worth_a_second_look(self, norm: str) -> bool:
        """Whether the learned model should read this message (a cheap screen).

        True for a message with a word from the lexicons' ``[screen] stems`` (death,
        harm, means, farewells, despair ...: the first four letters, or the whole word)
        or any text outside ASCII. The rules read every message whatever this says (a
        screen that could drop a rule's finding was measured and rejected); the model
        only reads these, so that ordinary chat does not pay for it.
        """
        if not norm.isascii():
            return True
        screen = self.screen
        return any(word[:4] in screen or word in screen for word in _SCREEN_TOKEN.findall(norm))


_SCREEN_TOKEN = re.compile(r"[a-z0-9]+")


@cache
def _engine() -> _Engine:
    return _Engine()


def normalise(text: str) -> tuple[str, list[int], list[int]]:
    """Normalised text and, per normalised character, its start and end in ``text``."""
    return _engine().normaliser.normalise(text)


def canonical(text: str) -> str:
    """The normalised text alone: ``normalise(text)[0]``, faster."""
    return _engine().normaliser.canonical(text)


# ------------------------------------------------------------------------------ helpers

_NEGATION_WINDOW = 3  # words before a phrase that may negate it
_WORD = re.compile(r"\S+")
_ACCENTED_IDIOM = re.compile(r"\bme mató\b", re.IGNORECASE)


def _blank(chars: list[str], start: int, end: int) -> None:
    chars[start:end] = " " * (end - start)


def _mask(eng: _Engine, norm: str, text: str) -> str:
    """Blank out idioms so no rule can match inside them (length is preserved)."""
    chars: list[str] | None = None
    for m in eng.idioms.finditer(norm):
        if chars is None:
            chars = list(norm)
        _blank(chars, m.start(), m.end())
    # "me mató" (it killed me) is an idiom in "la reunión me mató"; without its accent it
    # reads "me mato" (I kill myself), so it is found in the original text.
    if "mat" in norm and _ACCENTED_IDIOM.search(text):
        if chars is None:
            chars = list(norm)
        _, starts, _ = eng.normaliser.normalise(text)
        for m in _ACCENTED_IDIOM.finditer(text):
            for j, s in enumerate(starts):
                if m.start() <= s < m.end() and j < len(chars):
                    chars[j] = " "
    embarrassment = eng.sig.get("embarrassment")
    if embarrassment is not None and embarrassment.search(norm):
        for m in eng.sig["embarrassed_death"].finditer(norm):
            if chars is None:
                chars = list(norm)
            _blank(chars, m.start(), m.end())
    return norm if chars is None else "".join(chars)


def _negation_start(eng: _Engine, masked: str, start: int) -> int | None:
    """Start of a negation among the few words before ``start`` in the same clause."""
    before = masked[max(0, start - 60) : start]
    offset = start - len(before)
    last_break = None
    for last_break in eng.clause_break.finditer(before):  # noqa: B007 (the last one)
        pass
    if last_break is not None:
        offset += last_break.end()
        before = before[last_break.end() :]
    for word in list(_WORD.finditer(before))[-_NEGATION_WINDOW:]:
        if eng.negation.fullmatch(word.group()):
            return offset + word.start()
    return None


def _sentence_bounds(eng: _Engine, masked: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in eng.sentence_break.finditer(masked, 0, start):
        left = m.end()
    right_match = eng.sentence_break.search(masked, end)
    right = right_match.start() if right_match else len(masked)
    return left, right


def _hits(eng: _Engine, level: str, masked: str, active: frozenset[str]) -> list[_Hit]:
    out = []
    for key, pattern, group in eng.by_level.get(level, []):
        if key not in active:
            continue
        for m in pattern.finditer(masked):
            rule = group[int(m.lastgroup[1:])]  # type: ignore[index]
            out.append(_Hit(level, rule.name, rule.category, m.start(), m.end()))
    out.sort(key=lambda h: (h.start, -h.end))
    return out


_OTHER_WINDOW = 4  # words before a phrase that may name whose it is
_POSSESSIVE_BEFORE = re.compile(r"\b(?:my|mi|mis) (?:own )?$")


def _about_other(eng: _Engine, masked: str, hit: _Hit) -> bool:
    """Whether ``hit`` is about someone else (a film, the news, a relative), not the patient.

    A phrase that itself says "I" ("kill myself", "matarme") is always the patient's. For
    one that does not ("suicide", "overdose"), the few words before it decide: a first
    person there makes it the patient's; a third person there, or a topic word (film,
    news, class paper) in its sentence, makes it someone else's.
    """
    first_person = eng.sig["first_person"]
    if first_person.search(masked, hit.start, hit.end):
        return False
    left, right = _sentence_bounds(eng, masked, hit.start, hit.end)
    words = list(_WORD.finditer(masked, left, hit.start))[-_OTHER_WINDOW:]
    window_start = words[0].start() if words else hit.start
    thirds = [m.span() for m in eng.sig["third_person"].finditer(masked, window_start, hit.start)]
    firsts = [
        m.start()
        for m in eng.sig["first_person_subject"].finditer(masked, window_start, hit.start)
        if not any(a <= m.start() < b for a, b in thirds)
    ]
    # "my" right before the phrase makes it the patient's ("my razor blades"); a "my"
    # further away does not ("my class paper on suicide", "my brother died by suicide").
    if _POSSESSIVE_BEFORE.search(masked, window_start, hit.start):
        return False
    if thirds or firsts:
        # Whoever is named closest to the phrase is whose it is.
        return bool(thirds) and (not firsts or thirds[-1][0] > firsts[-1])
    return eng.sig["topic"].search(masked, left, right) is not None


# --------------------------------------------------------------------- compositional


def _compose(eng: _Engine, masked: str, distress: bool) -> _Hit | None:
    """A first-person act, intent, means and time in any order within one sentence."""
    c = eng.compose
    if not (c["act_strong"].search(masked) or c["means"].search(masked)):
        return None
    left = 0
    bounds = [m.end() for m in eng.sentence_break.finditer(masked)] + [len(masked)]
    for right in bounds:
        sentence = masked[left:right]
        found = {name: pat.search(sentence) for name, pat in c.items()}
        hit = _compose_sentence(eng, masked, left, found, distress)
        if hit is not None:
            return hit
        left = right
    return None


def _compose_sentence(
    eng: _Engine,
    masked: str,
    offset: int,
    found: dict[str, re.Match[str] | None],
    distress: bool,
) -> _Hit | None:
    def span(*names: str) -> tuple[int, int]:
        ms = [found[n] for n in names if found.get(n)]
        return offset + min(m.start() for m in ms), offset + max(m.end() for m in ms)  # type: ignore[union-attr]

    def negated(*names: str) -> bool:
        return any(
            _negation_start(eng, masked, offset + m.start()) is not None
            for n in names
            if (m := found.get(n)) is not None
        )

    options: list[tuple[str, tuple[str, ...]]] = []
    if found["act_strong"] and found["intent"]:
        options.append(("intent", ("intent", "act_strong")))
    if found["act_strong"] and found["time"] and found["self"]:
        options.append(("intent", ("act_strong", "time")))
    if found["act_weak"] and found["intent"] and (found["time"] or found["means"]):
        options.append(("intent", ("intent", "act_weak") + (("time",) if found["time"] else ())))
    routine = not found["lethal"] and eng.sig["routine_meds"].search(masked) is not None
    if found["means"] and found["acquire"] and found["self"] and not routine:
        extra = next((n for n in ("act_strong", "act_weak", "time", "quantity") if found[n]), None)
        if extra is not None and (extra != "time" or distress or found["lethal"]):
            options.append(("preparatory", ("acquire", "means", extra)))
    for category, names in options:
        if negated(*names):
            continue
        start, end = span(*names)
        return _Hit(CRISIS, f"compose_{category}", category, start, end)
    return None


# ------------------------------------------------------------------------ classification


@dataclass(frozen=True)
class _Decision:
    hit: _Hit | None
    about_other: bool


def _classify(eng: _Engine, masked: str) -> _Decision:
    sig = eng.sig
    active = eng.active(masked)
    lowered: list[_Hit] = []
    other = False
    routine: bool | None = None
    for hit in _hits(eng, CRISIS, masked, active):
        if _about_other(eng, masked, hit):
            other = True
            continue
        if hit.rule in ("pills_en", "pills_es"):
            if routine is None:
                routine = sig["routine_meds"].search(masked) is not None
            if routine:
                continue
        neg = _negation_start(eng, masked, hit.start)
        if neg is not None:
            lowered.append(_Hit(CONCERN, hit.rule, "negated", neg, hit.end))
        elif hit.rule == "method_research" and sig["reassurance"].search(masked):
            lowered.append(_Hit(CONCERN, hit.rule, "ideation_method", hit.start, hit.end))
        else:
            return _Decision(hit, False)

    concern: list[_Hit] = []
    distress = False
    ideation_rules = {"slang", "kill_self_en", "end_it_en", "want_to_die_en"}
    ideation_rules |= {"kill_self_es", "want_to_die_es"}
    imminent_hit: _Hit | None = None
    for hit in _hits(eng, CONCERN, masked, active):
        if _about_other(eng, masked, hit):
            other = True
            continue
        if _negation_start(eng, masked, hit.start) is not None:
            concern.append(_Hit(CONCERN, hit.rule, "negated", hit.start, hit.end))
            continue
        concern.append(hit)
        distress = True
        if imminent_hit is None and hit.rule in ideation_rules:
            left, right = _sentence_bounds(eng, masked, hit.start, hit.end)
            if sig["imminent"].search(masked, left, right):
                imminent_hit = _Hit(CRISIS, "ideation_now", "intent", hit.start, hit.end)
    if imminent_hit is not None:
        return _Decision(imminent_hit, False)

    composed = _compose(eng, masked, distress)
    if composed is not None:
        if not _about_other(eng, masked, composed):
            return _Decision(composed, False)
        other = True

    if distress:
        means = sig["means_at_hand"].search(masked)
        if means and _negation_start(eng, masked, means.start()) is None:
            return _Decision(
                _Hit(CRISIS, "distress_with_means", "preparatory", means.start(), means.end()),
                False,
            )

    vague = sig["vague_intent"].search(masked)
    if (
        vague
        and (distress or sig["readiness"].search(masked))
        and _negation_start(eng, masked, vague.start()) is None
    ):
        return _Decision(_Hit(CRISIS, "vague_intent", "intent", vague.start(), vague.end()), False)

    weak = [m for m in sig["weak_signs"].finditer(masked)]
    if weak and (distress or len(weak) >= 2):
        first = weak[0]
        return _Decision(
            _Hit(CRISIS, "warning_signs", "preparatory", first.start(), first.end()), False
        )

    threat = [h for h in _hits(eng, "other", masked, active) if h.category == "other_person_threat"]
    candidates = lowered + concern
    if candidates:
        # The earliest own concern phrase; un-negated ones first, so the evidence is the
        # words that made it a concern.
        plain = [h for h in candidates if h.category != "negated"]
        best = min(plain or candidates, key=lambda h: (h.start, -h.end))
        return _Decision(best, False)
    if threat:
        return _Decision(
            _Hit(CONCERN, threat[0].rule, "other_person_threat", threat[0].start, threat[0].end),
            True,
        )
    if other or any(True for _ in _hits(eng, "other", masked, active)):
        return _Decision(None, True)
    return _Decision(None, False)


def explain(text: str, *, normalised: str | None = None) -> CrisisResult:
    """:func:`detect_crisis` with the internal rule name filled in.

    ``normalised`` is ``canonical(text)`` when the caller has it already.
    """
    eng = _engine()
    norm = eng.normaliser.canonical(text) if normalised is None else normalised
    # Idioms are masked only when something matched: they can only remove matches, and
    # most messages have none.
    decision = _classify(eng, norm)
    if decision.hit is not None or decision.about_other:
        decision = _classify(eng, _mask(eng, norm, text))
    hit = decision.hit
    if hit is None:
        return CrisisResult(
            NONE, "other_person" if decision.about_other else None, decision.about_other, None, None
        )
    _, starts, ends = eng.normaliser.normalise(text)
    evidence = text[starts[hit.start] : ends[hit.end - 1]].strip()
    return CrisisResult(hit.level, hit.category, decision.about_other, evidence, hit.rule)


def detect_crisis(text: str, *, normalised: str | None = None) -> CrisisResult:
    """Crisis level, category and evidence of one message."""
    return explain(text, normalised=normalised)
