"""Crisis-language detection in patient messages (English and Spanish).

Two levels, modelled loosely on how clinicians grade suicide risk:

* ``crisis``: intent, plan, access to means, imminence, an attempt under way or a
  goodbye ("I have the pills ready", "voy a quitarme la vida", "I wrote my goodbye letters").
* ``concern``: ideation without intent, passive death wishes, hopelessness, feeling a
  burden, self-harm, a past attempt, someone else's suicide, and *negated* statements
  ("I'm not going to hurt myself"): clinicians want to see those, so negation lowers a
  crisis phrase to concern and never to none.

This is a prompt for a clinician to look, never an automated action, so recall comes
first: when a phrase could be read either way it is flagged. Figures of speech ("killing
it at work", "me muero de risa") are masked before the rules run.

How a message is read:

1. Normalise (lower case, no accents, no apostrophes, runs of three or more identical
   letters collapsed, whitespace squeezed), keeping a map back to the original so that
   ``matched`` is the phrase exactly as the patient wrote it.
2. Mask idioms.
3. Crisis phrases win unless negated just before ("I'm not going to ...") or, for pill
   phrases, in a routine medication context (pharmacy, pill organiser).
4. Combinations: strong ideation next to "tonight"/"right now", distress plus a means at
   hand, vague intent ("I'm doing it") plus readiness or distress, and weak warning signs
   (a farewell, thanks and absolution, waiting for people to leave) with distress or
   with each other.
5. Otherwise the earliest concern phrase, if any.

Both languages' rules run on every message, whatever the language identifier said:
patients switch languages mid-message and a misidentified language must not hide a
crisis. The rules are hand-written; see ``tests/text/CORPUS.md`` for how well they do on
phrasings they were not written against (much worse than on the corpus they were).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NONE = "none"
CONCERN = "concern"
CRISIS = "crisis"
LEVELS = (NONE, CONCERN, CRISIS)

_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u00b4`\u2032")


@dataclass(frozen=True)
class CrisisResult:
    """The level and the phrase of the original message that set it."""

    level: str
    matched: str | None


# --------------------------------------------------------------------------- normalising


def normalise(text: str) -> tuple[str, list[int], list[int]]:
    """Normalised text and, per normalised character, its start and end in ``text``."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    run_char = ""
    run_len = 0
    for i, ch in enumerate(text):
        if ch in _APOSTROPHES:
            continue
        if ch.isspace():
            if chars and chars[-1] == " ":
                ends[-1] = i + 1
                continue
            pieces = " "
        elif ch.isascii():
            pieces = ch.lower()
        else:
            # Lower-case first so that e.g. U+0130 decomposes to a plain "i".
            decomposed = unicodedata.normalize("NFKD", ch.lower())
            # Compatibility forms can decompose to capitals ("𝐀" is a bold "A"): lower again.
            pieces = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
        for piece in pieces:
            if piece == run_char and piece.isalpha():
                run_len += 1
            else:
                run_char, run_len = piece, 1
            # Elongation ("dieeee", "morirrr") becomes one letter; real doubles ("kill",
            # "llevo") are kept, so a third repeat removes the second one again.
            if run_len == 3:
                chars.pop()
                starts.pop()
                ends.pop()
                ends[-1] = i + 1
                continue
            if run_len > 3:
                ends[-1] = i + 1
                continue
            chars.append(piece)
            starts.append(i)
            ends.append(i + 1)
    return "".join(chars), starts, ends


# ---------------------------------------------------------------------------- vocabulary
# All patterns are written against the normalised text: lower case, no accents, no
# apostrophes ("im", "dont", "ill" for "I'll").

_SELF = r"(?:my ?self|myslef|mysef)"
_SUICIDE = r"\bsu[iy]?[cs]{1,2}[iy]?d\w*"  # suicide, suicidal, sucidal, suicidial, suisidal
_MEDS = (
    r"(?:pills|meds|medications?|tablets|capsules|antidepressants|painkillers|"
    r"sleeping pills|tylenol|paracetamol|acetaminophen|ibuprofen|advil|aspirin|xanax|"
    r"insulin|oxy|oxys|oxycodone|percocet|fentanyl|opioids|heroin|benzos|klonopin|"
    r"clonazepam|lorazepam|ativan|valium|diazepam|lithium|seroquel|quetiapine|"
    r"amitriptyline|ambien|zolpidem|bottle)"
)
_PASTILLAS = r"(?:pastillas|medicinas|medicamentos|pildoras|tabletas|clonazepam|rivotril)"
# Where a Spanish "throw myself" verb is a jump, not "me voy a tirar a la cama".
_JUMP_TARGET_ES = (
    r"(?: (?:del?|desde|por)\b| al (?:vacio|tren|metro|rio|mar|trafico)| a las? vias?| a la calle)"
)
_INTENT_EN = (
    r"(?:going to|gonna|gona|goin to|about to|planning to|plan to|intend to|"
    r"decided to|ready to|\bill|i will|i shall)"
)
_ACT_EN = (
    rf"(?:kil+ {_SELF}|kms\b|unalive {_SELF}|"
    r"end (?:it all|it|my life|my own life|things|everything)\b(?! with)|"
    rf"take my (?:own )?life|commit {_SUICIDE}|"
    rf"(?:hang|shoot|drown|stab|poison|hurt|cut|harm|burn|starve) {_SELF}|"
    r"(?:slit|cut|slash) my wrists|overdose|od\b|"
    r"jump(?: off| from| in front)|jump(?= *(?:[.!,;]|$))|"
    rf"(?:take|swallow) (?:all|every|the whole|the entire)(?: of)?(?: my| the)?(?: \w+)? {_MEDS}|"
    r"(?:take|swallow) everything\b|"
    r"drive (?:my car |the car )?(?:into|off)\b|"
    r"walk into (?:the )?(?:ocean|sea|river|lake|traffic)\b|"
    r"(?:step|jump|lie down) (?:in front of|under|on the tracks)\b|"
    rf"throw {_SELF} (?:off|in front of|under)\b)"
)
# Up to two words between intent and act ("going to finally end it"), never a negation
# ("I'll never kill myself" is concern, not intent).
_FILLER = r"(?:(?!(?:not|never|no|nunca|jamas)\b)\w+ ){0,2}?"
# "pienso matarme" is intent; "pienso en matarme" is ideation.
_INTENT_ES = r"(?:\bvoy a|\bvamos a|\bpienso(?! (?:en|sobre|que))|\bplaneo|\bdecidi)"
_ACT_ES = (
    r"(?:matarme|suicidarme|quitarme la vida|ahorcarme|colgarme|envenenarme|"
    rf"(?:tirarme|aventarme|lanzarme|echarme|arrojarme){_JUMP_TARGET_ES}|"
    r"cortarme las venas|tomarme (?:todas|todo)|tomar(?:me)? (?:todo|el frasco|el bote|la caja)|"
    r"acabar con (?:todo|mi vida)|terminar con (?:todo|mi vida)|dejar de sufrir|"
    r"pegarme un tiro|darme un tiro|dispararme|meterme al (?:mar|rio|lago))"
)
_ME_VOY_ES = (
    r"\bme (?:voy|vas) a (?:matar|suicidar|quitar la vida|ahorcar|colgar|envenenar|"
    rf"(?:tirar|aventar|lanzar|echar|arrojar){_JUMP_TARGET_ES}|"
    r"cortar las venas|tomar (?:todas|todo|el frasco|el bote|la caja)|"
    r"(?:pegar|dar) un tiro|disparar|meter al (?:mar|rio|lago))"
)
_NOW = r"(?:tonight|right now|today|hoy mismo|hoy|esta noche|ahora mismo|ahorita|ya mismo|ya)"

# ------------------------------------------------------------------------- crisis rules
# (rule name, pattern). Names are for debugging and tests, never shown to users.

_CRISIS_RULES: list[tuple[str, str]] = [
    # intent: a first-person future or decision followed by a self-directed act
    ("intent_en", rf"\b{_INTENT_EN} {_FILLER}{_ACT_EN}"),
    ("intent_es", rf"{_INTENT_ES} {_FILLER}{_ACT_ES}"),
    ("intent_es_clitic", _ME_VOY_ES),
    (
        # Spanish uses the present for the near future: "esta noche me mato"
        "intent_es_present",
        r"\b(?:hoy|esta noche|manana|ahora|ya|el (?:lunes|martes|miercoles|jueves|viernes|"
        r"sabado|domingo)) me (?:mato|suicido|quito la vida)\b|"
        r"\bme (?:mato|suicido|quito la vida) (?:hoy|esta noche|manana|ahora|ya)\b|"
        r"\bme suicido\b|\b(?:hoy|esta noche) (?:termino|acabo) con (?:todo|mi vida)\b|"
        r"\b(?:termino|acabo) con (?:todo|mi vida) (?:hoy|esta noche)\b",
    ),
    (
        "desire_now",
        rf"\b(?:want to|wanna|quiero|kiero|me quiero|me kiero) (?:kill {_SELF}|end my life|"
        r"suicidarme|suicidar|matarme|matar|quitarme la vida|"
        rf"(?:tirarme|aventarme|lanzarme|echarme|tirar|aventar|lanzar|echar){_JUMP_TARGET_ES})"
        rf"(?: \w+){{0,3}} {_NOW}\b",
    ),
    # imminence
    (
        "imminent",
        r"\bready to die\b|"
        r"\b(?:tonight|today)(?: is|s) (?:the (?:night|day)|it)\b(?= *(?:[.!,;]|$|i\b))|"
        r"\b(?:esta noche|hoy) se (?:acaba|termina) todo\b|"
        r"\b(?:tonight|today) it (?:all )?ends\b|\bit (?:all )?ends (?:tonight|today)\b",
    ),
    (
        "not_survive",
        r"\b(?:not going to|wont|will not|not gonna) (?:be (?:here|alive|around)|make it|"
        r"survive)\b(?: \w+){0,2} (?:by|through|past|until|after|tomorrow|tonight|the night)\b|"
        r"\bno voy a (?:pasar de|llegar a|sobrevivir|amanecer)\b|"
        r"\bya no voy a estar (?:aqui|viv[oa])\b",
    ),
    # plan
    (
        "plan",
        r"\bi (?:have|ve got|got) a plan\b|\bplan and the means\b|"
        r"\b(?:decided|figured out|worked out|know exactly|know) (?:how|when|where) "
        r"(?:im going to|im gonna|i ?ll|i will|to) (?:do it|end it|kill)|"
        r"\b(?:ya )?(?:decidi|tengo decidido) (?:como|cuando|donde)\b|\bya lo tengo decidido\b|"
        r"\btengo un plan\b",
    ),
    (
        # researching a method is planning; reassurance lowers it to concern (see below)
        "method_research",
        r"\b(?:looked up|looking up|look up|googled|googling|researched|researching|searched|"
        r"searching|reading about)(?: \w+){0,3} (?:how (?:many|much)|ways to (?:die|kill|end)|"
        r"how to (?:die|kill|end|hang|overdose|od)|lethal doses?|painless ways|methods? (?:to|of)|"
        r"(?:the )?(?:tallest|highest) (?:buildings?|bridges?))|"
        r"\bhow many \w+ (?:it would take|would it take|it takes|to die|does it take)\b|"
        r"\blethal dose\b|\bdosis letal\b|"
        r"\b(?:busque|buscando|investigue|investigando|averigue|averiguando)(?: \w+){0,3} "
        r"(?:cuant[oa]s|como (?:morir|matarme|suicidarme|ahorcarme)|formas de "
        r"(?:morir|matarme|suicidarme))|"
        rf"\bcuant[oa]s {_PASTILLAS} (?:necesito|se necesitan|hacen falta)\b",
    ),
    # means
    (
        "means_en",
        r"\b(?:bought|buying|purchased|loaded|got|have|holding|picked up)(?: \w+){0,3} "
        r"(?:rope|noose|gun|pistol|firearm|razor ?blades|blades|poison|rat poison|charcoal)\b|"
        r"\b(?:tied|tying|tie|made|making) (?:a|the|my) (?:rope|noose)\b|"
        r"\b(?:noose|rope) is (?:ready|up|tied)\b|"
        r"\b(?:put|hid|hidden|hung|keep|kept) (?:the|a|my) (?:rope|noose)\b",
    ),
    (
        "means_es",
        r"\b(?:compre|consegui|tengo|traigo|agarre)(?: (?:ya|aqui|la|el|una|un|mi|mis)){0,3} "
        r"(?:cuerda|soga|veneno|arma|pistola)\b|"
        r"\b(?:amarre|ate|colgue|prepare|puse|escondi|guarde) (?:la|una) (?:cuerda|soga)\b|"
        r"\b(?:lista|preparada) la (?:soga|cuerda)\b|"
        r"\b(?:soga|cuerda) (?:esta )?(?:lista|preparada)\b|"
        r"\b(?:guardad|escondid)[oa]s? (?:el|la|las|los) "
        r"(?:veneno|pastillas|pistola|cuerda|soga|arma)\b",
    ),
    (
        "pills_en",
        r"\b(?:have|ve got|got|had) (?:the|all the|all my|my|all of my|enough) "
        rf"{_MEDS}(?: \w+){{0,2}}? (?:ready|lined up|counted|laid out|saved|with me|right here)\b|"
        r"\b(?:saving|saved|stockpil\w*|hoard\w*|collecting|collected)(?: up)?"
        rf"(?: (?:my|the|all|enough|some|of)){{0,3}} {_MEDS}\b|"
        rf"\benough {_MEDS}\b|\b(?:stash|stockpile|hoard) of(?: \w+){{0,3}} {_MEDS}\b|"
        rf"\b(?:\d{{2,}}|all|a handful of|todas|un punado de)(?: \w+){{0,3}} "
        rf"(?:{_MEDS}|{_PASTILLAS})(?: \w+){{0,3}} (?:in my hand|en la mano|right here|ready|listas)\b",
    ),
    (
        "pills_es",
        rf"\bya tengo (?:las|mis|suficientes) {_PASTILLAS}\b|"
        rf"\b(?:guarde|guardadas|guardando|junte|juntando)(?: \w+){{0,2}} {_PASTILLAS}\b|"
        rf"\bsuficientes {_PASTILLAS}\b|\b{_PASTILLAS} suficientes\b|"
        r"\b(?:frasco|bote|caja) de pastillas en la mano\b|\btomarmelas todas\b",
    ),
    # an attempt under way
    (
        "took",
        r"\b(?:took|taken|swallowed|downed)(?: like| about| around| over| already)? "
        rf"(?:all|a bunch|a handful|\d{{2,}})(?: of)?(?: my| the)?(?: \w+)? {_MEDS}|"
        r"\b(?:took|taken|swallowed|downed)(?: \w+){0,3} (?:whole|entire) bottle\b|"
        r"\b(?:swallowed|took) everything\b|"
        r"\balready (?:took|taken|swallowed) (?:the|all the) (?:pills|meds|tablets)\b|"
        r"\b(?:took|taken|swallowed|downed|tome|trague)"
        r"(?: like| about| around| over| already| ya| como| mas de)? "
        r"(?:a lot of|lots of|loads of|so many|too many|many|un monton de|muchas|tantas|"
        r"\d{2,}|twenty|thirty|forty|fifty|veinte|treinta|cuarenta|cincuenta)(?: \w+)?"
        rf" (?:{_MEDS}|{_PASTILLAS})\b|"
        r"\bya me (?:tome|trague) (?:las|todas las) (?:pastillas|medicinas)\b|"
        r"\bme (?:tome|trague|bebi) (?:todas|todo|un monton|muchas|el frasco|la caja|\d{2,})\b",
    ),
    (
        "bleeding",
        r"\b(?:wont|cant|doesnt|will not|cannot|can not) stop (?:the )?bleeding\b|"
        r"\bbleeding (?:wont|will not) stop\b|\bcut\w*(?: \w+){0,4} (?:really |very |too |so )?deep\b|"
        r"\b(?:a lot of|so much|lots of|too much) blood\b|"
        r"\bme estoy desangrando\b|\bno (?:para|deja) de sangrar\b|"
        r"\bcorte\w*(?: \w+){0,4} (?:muy |demasiado )?(?:hondo|profundo)\b|"
        r"\b(?:mucha|tanta) sangre\b",
    ),
    # where the patient is
    (
        "location",
        r"\b(?:im|i am)(?: \w+){0,2} (?:on|at) the (?:bridge|roof|rooftop|ledge|edge|"
        r"tracks|train tracks|cliff)\b|\b(?:im|i am)(?: \w+){0,2} (?:on|at) the edge of "
        r"the (?:roof|bridge|building|cliff|platform)\b|"
        r"\b(?:engine|car|motor)(?: \w+)? run\w*(?: \w+){0,2} (?:in|inside) the "
        r"(?:closed |shut )?garage\b|"
        r"\bestoy(?: \w+){0,5} (?:el puente|la azotea|el techo|la cornisa|las vias)\b"
        r"(?! de camino| camino)|\bvoy a saltar\b",
    ),
    # goodbyes
    (
        "goodbye_en",
        r"\b(?:suicide|goodbye|farewell) (?:note|notes|letter|letters|message|video)\b|"
        r"\bsaid (?:my )?goodbyes\b|\b(?:writing|wanted|want|here|just) to say goodbye\b|"
        r"\bthis is (?:my )?(?:last|final) (?:message|text|goodbye)\b|\bthis is goodbye\b|"
        r"\bgoodbye (?:everyone|all|world)\b|\bwhoever finds me\b|"
        r"\b(?:gave|giving|give) away (?:all )?my (?:stuff|things|belongings|possessions|"
        r"pets?|cat|dog)\b|"
        r"\bwont need (?:them|it|this|these|those|anything|my \w+) any ?more\b|"
        r"\bwont be (?:around|here) (?:much longer|for long|any ?more|tomorrow)\b|"
        r"\b(?:wont|will not|never) (?:hear from|see|talk to) me again\b|"
        r"\bby the time you (?:read|see|get) this\b|"
        r"\b(?:said|say|saying) (?:good ?)?bye\b[^.!?]{0,60}\bthe last time\b|"
        r"\blast time (?:im|i am|ill be|i will be) (?:writing|talking|messaging)\b|"
        r"\bmy will is (?:done|ready|written|signed|sorted)\b|"
        r"\b(?:wrote|written|made|finished|signed) (?:my|a) will\b|"
        r"\b(?:wrote|written|writing|left) (?:letters|notes) (?:to|for) (?:everyone|all|my)\b",
    ),
    (
        "goodbye_es",
        r"\bcartas? de despedida\b|\b(?:esta es )?mi despedida\b|\bme despedi de todos\b|"
        r"\b(?:mi )?ultimo mensaje\b|\badios a todos\b|\bno me busquen\b|"
        r"\b(?:regale|regalando|reparti|les dejo|le dejo) (?:todas )?mis cosas\b"
        r"(?! viejas| que ya no)|"
        r"\bya no (?:la|las|lo|los) (?:voy a|vas a) necesitar\b|\bya no voy a estar\b|"
        r"\bultima vez que (?:les|te|los|las) (?:escribo|hablo)\b|"
        r"\bya no (?:van|vas|volveran|volveras) a saber (?:nada )?de mi\b|"
        r"\b(?:hice|escribi|termine|firme) (?:mi|el) testamento\b|\bmi testamento\b|"
        r"\bescribi cartas (?:para|a) (?:todos|mis|mi)\b",
    ),
]
# Pill phrases in a routine medication context are not a means ("I have my pills ready
# for the week in the organizer").
_PILL_RULES = frozenset({"pills_en", "pills_es"})
_ROUTINE_MEDS = re.compile(
    r"\b(?:pharmacy|pharmacist|refill|prescription|prescribed|organi[sz]er|pill ?box|"
    r"dosette|for the (?:week|trip|month|holiday|holidays|weekend)|dose|doctor|dr|"
    r"breakfast|farmacia|receta|pastillero|presion|para la semana|para el viaje|"
    r"desayuno|doctora?|dosis)\b"
)
# Reassurance lowers method research to concern: "I keep googling ways to die but I'm
# not going to do anything" (still flagged: clinicians want to see it).
_REASSURABLE = frozenset({"method_research"})
_REASSURANCE = re.compile(
    r"\b(?:not going to|wont|will not|not gonna) do anything\b|\bnot planning anything\b|"
    r"\bno (?:voy a|pienso|planeo) hacer nada\b|\bno estoy planeando nada\b"
)

# ------------------------------------------------------------------------ concern rules

_CONCERN_RULES: list[tuple[str, str]] = [
    # English: the patient's own ideation
    ("suicide_word", _SUICIDE + r"|\bsewerslide\b"),
    ("slang", r"\b(?:kms|unalive\w*)\b"),
    ("kill_self_en", rf"\bkil+(?:ing|ed|s)? ?{_SELF}|\b(?:take|taking) my own life\b"),
    (
        "end_it_en",
        r"\bend(?:ing)? (?:it all|my life|my own life|things|everything)\b|"
        r"\b(?:thinking (?:about|of)|want to|wanna|feel like|urge to|thoughts of|"
        r"considering|keep thinking about) end(?:ing)? it\b(?! with)",
    ),
    (
        "want_to_die_en",
        r"\b(?:want|wanna|wish|wishing|hope|hoping) (?:to |i could |i could just )?die\b|"
        r"\bi (?:could |would |might |should |just )?die\b|\bid (?:just )?die\b|"
        r"\bif i (?:die|died)\b|\bdie in my sleep\b|"
        r"\bwish (?:i was|i were|to be|id be|i could be) dead\b|\bbetter off dead\b|"
        r"\b(?:rather|prefer to|want to) be dead\b|\brather die\b",
    ),
    (
        "passive_en",
        r"\bwanted to die\b|"
        r"\b(?:dont|do not|didnt|did not|never|not) want(?:ed)? to "
        r"(?:be alive|live|exist|be here|wake up)\b|"
        r"\bnever wake up\b|\b(?:dont|wont|wouldnt|not) wake up\b|\bsleep and never\b|"
        r"\b(?:wish|want|wanted|wanna) (?:i could |to )?(?:just )?(?:disappear|vanish|"
        r"stop existing|not exist|not be here|be gone)\b|"
        r"\b(?:to )?not (?:be here|exist|be alive) any ?more\b|\bto not exist\b|"
        r"\b(?:not|stop) existing\b|\b(?:never|not) been born\b|"
        r"\bif i (?:was|were|wasnt|werent) (?:gone|dead|around|here)\b|"
        r"\b(?:car|bus|truck|train) (?:would |to )?hit me\b|\bhit by a (?:car|bus|truck|train)\b|"
        r"\b(?:hope|wish) (?:i get|id get|i got|i would get) (?:hit|run over)\b|"
        r"\b(?:want|wanna|wish|like|need) to (?:just )?sleep forever\b|\brest forever\b|"
        r"\b(?:dont|do not) think (?:ill|i will) (?:make it|be here|be around|last)\b|"
        r"\bwhy am i (?:even |still )?(?:alive|here)\b|\bcrash(?:ing)? (?:my|the) car\b",
    ),
    (
        "burden_en",
        r"\bbetter (?:off )?without me\b|\b(?:a|such a|just a) burden\b|\bwaste of space\b|"
        r"\bbetter off (?:gone|not here|not around)\b|\bworthless\b",
    ),
    (
        "hopeless_en",
        r"\b(?:tired|sick) of (?:living|life|being alive)\b|\bdone with life\b|"
        r"\bhate (?:being alive|my life|living)\b|"
        r"\b(?:no|any|the) (?:point|reason) (?:in |to )?(?:living|live|going on|anything|"
        r"being alive|trying|being here)\b|"
        r"\b(?:whats|what is) (?:even )?the point\b(?! of (?:the|this|that|these|doing|having))|"
        r"\b(?:never|not) (?:going to|gonna|gona) (?:get better|change)\b|"
        r"\bwill never get better\b|\bnever going to change\b|"
        r"\b(?:life|it) (?:isnt|is not|aint) worth\b|\bnot worth living\b|"
        r"\bhopeless\w*|\bno hope\b|\bno way out\b|\bonly way out\b|\bno future\b|"
        r"\b(?:dont|cant|do not|cannot|can not) see (?:a|any) (?:future|way (?:out|forward))\b|"
        r"\bcant (?:go on|keep going|do this any ?more|any ?more)\b|"
        r"\b(?:given|giving|give) up on (?:life|everything|myself)\b|"
        r"\bnothing (?:is|will) (?:ever )?(?:going to )?(?:get|be) better\b|"
        r"\b(?:life|everything|it all) (?:is|feels|seems) (?:pointless|meaningless)\b|"
        r"\beverything is pointless\b",
    ),
    (
        "death_thoughts_en",
        r"\b(?:think|thinking|thoughts|thought) (?:a lot )?(?:about|of) (?:death|dying)\b|"
        r"\bmy (?:own )?funeral\b|\bdo anything stupid\b|\bdark (?:thoughts|place|thinking)\b|"
        rf"\b(?:ways|how) to (?:die|kill {_SELF})\b",
    ),
    (
        "self_harm_en",
        rf"\b(?:hurt|harm|cut|burn|burnt|hit|punish|starv|scratch|stab)\w* {_SELF}|"
        r"\bself[ -]?harm\w*|\b(?:cut|cutting|cuts|burn|burning) again\b|"
        r"\burges? to (?:cut|self harm|hurt|harm|burn)\b|\brazor ?blades?\b|"
        r"\bpunch\w* (?:walls|the wall)\b|\buntil (?:they|it|i) (?:bleeds?|bled)\b|\boverdos\w*|"
        r"\b(?:cut|cutting|cuts|scratch\w*|burn\w*|carv\w*) (?:on |into )?my "
        r"(?:arms?|wrists?|thighs?|legs?|skin|stomach|hips?)\b|"
        r"\b(?:i|and|been|started|start|stop|stopped) (?:cut|cutting)\b"
        r"(?= *(?:[.!,;]|$|again|last|yesterday|today|tonight|this morning))",
    ),
    # "kys" is usually aimed at the patient by someone else: worth a look, not ideation
    ("slang_other", r"\bkys\b"),
    # Someone else's suicide: bereavement by suicide is a risk factor, but it is not the
    # patient's own ideation.
    (
        "third_party",
        r"\b(?:took|taken|taking|take) (?:his|her|their) own life\b|"
        r"\bkil+(?:ed|s)? (?:him|her|them)sel(?:f|ves)\b|"
        r"\bse (?:mato|suicido|quito la vida|quitaron la vida|suicidaron)\b",
    ),
    # Spanish: the patient's own ideation
    (
        "kill_self_es",
        r"\bmatarme\b|\bme mato\b|\bme (?:quiero|kiero|queria|quisiera) matar\b|"
        r"\bquitar(?:me)? la vida\b|\bme quit[oe] la vida\b|"
        r"\bterminar con mi vida\b|\bacabar con (?:todo|mi vida)\b|\bme (?:mataria|suicidaria)\b",
    ),
    (
        "want_to_die_es",
        r"\bmorirme\b|\bme (?:quiero|kiero|quisiera) morir\b|\bquiero morir\b|"
        r"\bganas de morir\w*|\bestar muert[oa]\b|\bme (?:muera|muriera|muriese)\b",
    ),
    (
        "passive_es",
        r"\bme queria morir\b|\b(?:si|cuando) me muero\b|\bmorir dormid[oa]\b|"
        r"\bno despertar(?:a|me)?\b(?! a )|\bno quiero despertar\b|"
        r"\b(?:quiero|quisiera|desearia|deseo|ojala|ganas de) (?:\w+ )?desaparecer\b|"
        r"\bno (?:quiero|queria|quisiera) (?:vivir|seguir viviendo|existir|estar aqui)\b|"
        r"\b(?:no tengo|sin) ganas de vivir\b|\b(?:cansad|hart)[oa]s? de (?:vivir|la vida)\b|"
        r"\bdejar de existir\b|\bno existir\b|\bno (?:existiera|estuviera)\b|"
        r"\b(?:nunca|no) hubiera nacido\b|\bno haber nacido\b|"
        r"\bya no quiero seguir\b|\bno quiero seguir(?= *(?:[.!,;]|$|asi|viviendo|aqui|con vida))|"
        r"\b(?:descansar|dormir|dormirme|irme) para siempre\b|\b(?:vivir o morir|morir o vivir)\b|"
        r"\bojala (?:me )?(?:atropell\w*|muera|muriera|me muera|no despert\w*)\b|"
        r"\bsi (?:yo )?(?:estuviera|estuviese) muert[oa]\b|"
        r"\b(?:chocar|estrellar) el (?:carro|coche)\b",
    ),
    (
        "burden_es",
        r"\bmejor sin mi\b|\b(?:una|un) (?:carga|estorbo|peso) para\b|\buna carga\b|"
        r"\bun estorbo\b|\bnadie me extranaria\b|\bmejor si (?:yo )?no (?:estuviera|existiera)\b|"
        r"\bno valgo nada\b",
    ),
    (
        "hopeless_es",
        r"\bsin esperanza\b|\bno (?:tengo|hay) esperanza\b|\bno tengo futuro\b|"
        r"\bno (?:le )?(?:veo|encuentro|tiene) (?:el )?(?:sentido|caso)\b|"
        r"\b(?:que|q|k) sentido tiene\b|\bno vale la pena\b|"
        r"\bpara (?:que|q) (?:seguir|vivir|sigo|intentarlo|seguir intentando)\b|"
        r"\b(?:ya )?no (?:aguanto|puedo) mas\b(?= *(?:[.!,;]|$|la vida|vivir|esta vida))|"
        r"\bya no puedo\b(?= *(?:[.!,;]|$))|\bnada va a cambiar\b|\bnunca va a cambiar\b|"
        r"\bunica salida\b|\bodio (?:estar viv[oa]|mi vida|vivir)\b",
    ),
    (
        "death_thoughts_es",
        r"\b(?:pienso|pensando|pensar|pensamientos)(?: mucho| en| sobre){0,3} "
        r"(?:la muerte|morir|morirme)\b|\b(?:pensamientos|ideas) (?:oscur|negr)[oa]s\b|"
        r"\bformas de (?:morir|matarme|suicidarme)\b",
    ),
    (
        "self_harm_es",
        r"\bcortarme\b|\bme corto\b|\bvolvi a cortar\b|\b(?:me hice|me hago|hacerme) cortes\b|"
        r"\bcortes en (?:los|las|mis) (?:brazos|piernas|munecas|muslos)\b|"
        r"\bme corte (?:los|las|el|la|mis) (?:brazos?|piernas?|munecas?|venas|muslos?)\b|"
        r"\bme corte (?:otra vez|de nuevo|a proposito)\b|"
        r"\bhacerme dano\b|\bme (?:hago|haria|hice) dano\b|\blastimarme\b|\bme lastimo\b|"
        r"\bme lastime (?:los|las|mis|otra vez|de nuevo|a proposito)\b|\bme golpeo\b|"
        r"\bme (?:queme|quemo|golpee|pegue|corte|lastime)(?: \w+){0,3} a proposito\b|"
        r"\bautolesi\w*|\bhasta sangrar\b|\bme rasgun\w*",
    ),
]
# Active ideation phrases that become a crisis next to "tonight", "right now", "hoy"...
# ("kms tonight", "quiero morirme esta noche"). Passive wishes, hopelessness and
# third-party phrases do not: "ojalá no despertar mañana" stays concern.
_IDEATION_RULES = frozenset(
    {"slang", "kill_self_en", "end_it_en", "want_to_die_en", "kill_self_es", "want_to_die_es"}
)
# "tomorrow"/"mañana" is left out on purpose ("I wish I wouldn't wake up tomorrow").
_IMMINENT = re.compile(
    r"\b(?:tonight|right now|today|this weekend|esta noche|hoy|ahora mismo|ahorita|ya mismo)\b"
)

# ------------------------------------------------------------------ combination signals

# A means at hand lifts an un-negated concern phrase to crisis
# ("I want to die and I have the knife right here").
_MEANS_AT_HAND = re.compile(
    r"\b(?:have|got|holding|bought|tengo|traigo|compre)(?: \w+){0,3} (?:knife|gun|rope|blade|"
    r"blades|razor|pills|noose|cuchillo|pistola|arma|cuerda|soga|navaja|pastillas)"
    r"(?: \w+){0,2} (?:right here|here|with me|in my hand|next to me|aqui|en la mano|conmigo)\b"
)
# Vague intent ("I'm finally doing it", "lo voy a hacer") is a crisis only with readiness
# or distress: "lo voy a hacer hoy" is usually about homework.
_VAGUE_INTENT = re.compile(
    r"\b(?:im|i am)(?: really| finally| actually)? (?:going to |gonna )?do(?:ing)? it\b|"
    r"\blo voy a hacer\b"
)
_READINESS = re.compile(
    r"\b(?:everything i need|not scared any ?more|not afraid any ?more|"
    r"todo (?:listo|preparado)|ya no tengo miedo)\b"
)
# Weak warning signs: each is common in ordinary life, so one alone flags nothing; two of
# them, or one next to an un-negated concern phrase, make a crisis ("I can't do this
# anymore. I'm sorry for everything. Tell the kids I love them.").
_WEAK_SIGNS = re.compile(
    "|".join(
        [
            # a farewell
            r"\bsorry for everything\b|\bforgive me\b|"
            r"\btell (?:the kids|my \w+|everyone|them|her|him|mom|dad) (?:that )?i love\b|"
            r"\btell [^.!?]{1,20} (?:im|i am) sorry\b|\b(?:im )?sorry (?:mom|dad|mum)\b|"
            r"\bperdon(?:en|enme|ame|ename)? por todo\b|\bperdoname (?:mama|papa|ma|pa)\b|"
            r"\bdiganle a [^.!?]{1,30} que (?:los|las|la|lo) (?:quiero|siento)\b|\bcuiden a\b",
            # thanks and absolution, as in a last message
            r"\b(?:thank you|thanks) for everything\b|\b(?:its|it is) not your fault\b|"
            r"\bgracias por todo\b|\bno (?:fue|es) (?:tu|su) culpa\b",
            # an ending
            r"\b(?:letters|notes) are (?:written|done|ready)\b|\bcartas escritas\b|"
            r"\bthis is the end\b|\besto es el (?:final|fin)\b|"
            r"\bfinally be (?:free|at peace)\b|\bpor fin (?:voy a )?(?:descansar|estar en paz)\b",
            # a decision or readiness
            r"\b(?:ive|i have) (?:decided|made (?:my|the|a) decision)\b|\bmy mind is made up\b|"
            r"\b(?:have|got) everything i need\b|\bya tengo todo\b|"
            r"\bya (?:tome|hice) (?:la|mi) decision\b|\bya lo decidi\b|"
            r"\btoday is the day\b|\bhoy es el dia\b|"
            r"\b(?:ive|i have) planned everything\b|\blo (?:planee|tengo) todo\b|\bya lo planee\b",
            # waiting for an opportunity
            r"\bwhen (?:my \w+|everyone|everybody|they|he|she) (?:is|are|s|goes|go|leaves|leave)"
            r" (?:away|out|asleep|gone|at (?:work|her|his|their)\b)|"
            r"\bcuando (?:todos|mi \w+|el|ella) (?:se vayan?|salgan?|se duerman?|no esten?)\b",
            # going where people go to die
            r"\b(?:heading|going|driving|walking|on my way) to the (?:lake|river|bridge|tracks|"
            r"cliff|cliffs|sea|ocean|roof)\b|"
            r"\b(?:voy|vamos|camino|manejando) (?:al|a la|a las|hacia el|hacia la|hacia las) "
            r"(?:puente|rio|vias|azotea|mar|lago|acantilado)\b",
            # a means mentioned
            rf"\bbottle of (?:my )?{_MEDS}|\b{_MEDS} (?:is|are) in my (?:bag|pocket|car|hand)\b|"
            rf"\b(?:frasco|bote|caja) de {_PASTILLAS}|"
            r"\b(?:the|my dads|my) (?:gun|rope|noose)\b|\b(?:la|una) (?:pistola|cuerda|soga)\b",
        ]
    )
)

# --------------------------------------------------------------------------------- idioms

_IDIOMS = re.compile(
    "|".join(
        [
            # English
            r"\bkill(?:ing|ed|s)? it\b",
            r"\b(?:could|would|[dl]) kill for\b",
            r"\bkill(?:ing)? (?:some )?time\b",
            r"\b(?:is|are|was|were|s|re) killing (?:me|my)\b",
            r"\b(?:dying|dyin) (?:to|for)\b",
            r"\bto die for\b",
            r"\b(?:would|could|d) die for\b",
            r"\b(?:died|die|dying|dead) (?:of |from |with )?laugh\w*",
            r"\b(?:die|died|dying) (?:of|from) (?:boredom|embarrassment|shame|heat|cold|hunger|"
            r"thirst|curiosity|excitement|cringe|cuteness)\b",
            r"\blaugh\w* so hard i (?:could|almost|nearly) (?:die|died)\b",
            r"\b(?:death|end) of me\b",
            r"\b(?:bored|scared|worried|frozen|freezing|starving|sick|tired) to death\b",
            r"\bdead (?:tired|serious|on my feet|beat)\b",
            r"\brather die than\b(?! (?:keep|go on|live|feel|be like|continue|wake))",
            r"\bdisappear (?:into|under|for the|behind)\b",
            # Spanish
            r"\bme muero (?:de|del|por)\b",
            r"\bmorir(?:me)? de\b(?! (?:tristeza|dolor|pena))",
            r"\bmuert[oa]s? de\b",
            r"\bme (?:mata|matan|mataba)\b",
            r"\bme (?:esta|estan|estaba) matando\b",
            r"\bme (?:va|van|iba|iban) a matar\b",
            r"\bme mataron\b",
            r"\bmat(?:ar|ando) el tiempo\b",
            r"\bme mato (?:trabajando|estudiando)\b",
            r"\bde muerte\b",
            r"\bdesaparecer (?:del|de (?:la|el|esta|este|mi|los|las))\b(?! (?:mundo|planeta|mapa))",
        ]
    )
)
# "me mató" (it killed me) is an idiom in "la reunión me mató"; stripped of its accent
# it reads as "me mato" (I kill myself), so it is found in the original text. Without
# the accent we cannot tell and keep the flag.
_ACCENTED_IDIOM = re.compile(r"\bme mató\b", re.IGNORECASE)
# "me quería morir" next to "vergüenza" is embarrassment.
_EMBARRASSMENT = re.compile(r"\b(?:verguenza|que oso|que pena)\b")
_EMBARRASSED_DEATH = re.compile(r"\bme (?:quiero|queria|quise) morir\b")

# ------------------------------------------------------------------------------ negation

_NEGATION = re.compile(
    r"\b(?:not|never|wont|dont|wouldnt|isnt|no|nunca|jamas|ni|tampoco)\b(?! one\b)"
)
_CLAUSE_BREAK = re.compile(r"[.!?;,:]|\b(?:but|pero|and|y|because|porque|so)\b")
_SENTENCE_BREAK = re.compile(r"[.!?;]|\b(?:but|pero|though|although|aunque)\b")
_NEGATION_WINDOW = 3  # words before a phrase that may negate it


# ------------------------------------------------------------------------ classification


# Every rule starts at the start of a word. Saying so once, outside the alternation, lets
# the engine skip mid-word positions without trying each rule there (twice as fast).
_WORD_START = r"\b(?=\w)"


def _compile(rules: list[tuple[str, str]]) -> tuple[re.Pattern[str], list[str]]:
    names = [name for name, _ in rules]
    combined = "|".join(f"(?P<r{i}>{pattern})" for i, (_, pattern) in enumerate(rules))
    return re.compile(f"{_WORD_START}(?:{combined})"), names


_CRISIS_RE, _CRISIS_NAMES = _compile(_CRISIS_RULES)
_CONCERN_RE, _CONCERN_NAMES = _compile(_CONCERN_RULES)


@dataclass(frozen=True)
class _Hit:
    level: str
    rule: str
    start: int
    end: int


def _blank(chars: list[str], start: int, end: int) -> None:
    chars[start:end] = " " * (end - start)


def _mask(norm: str, text: str, starts: list[int]) -> str:
    """Blank out idioms so no rule can match inside them (length is preserved)."""
    chars = list(norm)
    for m in _IDIOMS.finditer(norm):
        _blank(chars, m.start(), m.end())
    if "mat" in norm:
        for m in _ACCENTED_IDIOM.finditer(text):
            for j, s in enumerate(starts):
                if m.start() <= s < m.end():
                    chars[j] = " "
    if _EMBARRASSMENT.search(norm):
        for m in _EMBARRASSED_DEATH.finditer(norm):
            _blank(chars, m.start(), m.end())
    return "".join(chars)


def _negation_start(masked: str, start: int) -> int | None:
    """Start of a negation among the few words before ``start`` in the same clause."""
    before = masked[max(0, start - 60) : start]
    offset = start - len(before)
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        offset += breaks[-1].end()
        before = before[breaks[-1].end() :]
    for word in list(re.finditer(r"\S+", before))[-_NEGATION_WINDOW:]:
        if _NEGATION.fullmatch(word.group()):
            return offset + word.start()
    return None


def _sentence_around(masked: str, start: int, end: int) -> str:
    """The sentence holding ``masked[start:end]``, also cut at "but"/"pero"."""
    left = 0
    for m in _SENTENCE_BREAK.finditer(masked, 0, start):
        left = m.end()
    right_match = _SENTENCE_BREAK.search(masked, end)
    right = right_match.start() if right_match else len(masked)
    return masked[left:right]


def _hits(pattern: re.Pattern[str], names: list[str], level: str, masked: str) -> list[_Hit]:
    return [
        _Hit(level, names[int(m.lastgroup[1:])], m.start(), m.end())  # type: ignore[index]
        for m in pattern.finditer(masked)
    ]


def _classify(masked: str) -> _Hit | None:
    lowered: list[_Hit] = []
    routine: bool | None = None
    for hit in _hits(_CRISIS_RE, _CRISIS_NAMES, CRISIS, masked):
        if hit.rule in _PILL_RULES:
            if routine is None:
                routine = _ROUTINE_MEDS.search(masked) is not None
            if routine:
                continue
        neg = _negation_start(masked, hit.start)
        if neg is not None:
            lowered.append(_Hit(CONCERN, hit.rule, neg, hit.end))
        elif hit.rule in _REASSURABLE and _REASSURANCE.search(masked):
            lowered.append(_Hit(CONCERN, hit.rule, hit.start, hit.end))
        else:
            return hit

    concern = _hits(_CONCERN_RE, _CONCERN_NAMES, CONCERN, masked)
    distress = False
    for hit in concern:
        if _negation_start(masked, hit.start) is not None:
            continue
        distress = True
        if hit.rule in _IDEATION_RULES and _IMMINENT.search(
            _sentence_around(masked, hit.start, hit.end)
        ):
            return _Hit(CRISIS, "ideation_now", hit.start, hit.end)

    if distress:
        means = _MEANS_AT_HAND.search(masked)
        if means and _negation_start(masked, means.start()) is None:
            return _Hit(CRISIS, "distress_with_means", means.start(), means.end())

    vague = _VAGUE_INTENT.search(masked)
    if (
        vague
        and (distress or _READINESS.search(masked))
        and _negation_start(masked, vague.start()) is None
    ):
        return _Hit(CRISIS, "vague_intent", vague.start(), vague.end())

    weak = list(_WEAK_SIGNS.finditer(masked))
    if weak and (distress or len(weak) >= 2):
        return _Hit(CRISIS, "warning_signs", weak[0].start(), weak[0].end())

    candidates = lowered + concern
    if not candidates:
        return None
    return min(candidates, key=lambda h: (h.start, -h.end))


def explain(text: str) -> tuple[str, str | None, str | None]:
    """``(level, rule, matched)``: :func:`detect_crisis` plus the rule's name, for tests."""
    norm, starts, ends = normalise(text)
    hit = _classify(_mask(norm, text, starts))
    if hit is None:
        return NONE, None, None
    matched = text[starts[hit.start] : ends[hit.end - 1]].strip()
    return hit.level, hit.rule, matched


def detect_crisis(text: str) -> CrisisResult:
    """Crisis level of one message and the phrase, as written, that set it."""
    level, _rule, matched = explain(text)
    return CrisisResult(level, matched)
