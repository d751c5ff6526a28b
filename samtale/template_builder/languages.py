"""Meta's supported template language codes and the language names a marketer types.

Source: Meta, WhatsApp Business Platform, "Supported languages" (Message templates), the list of
language codes accepted in the ``language`` field of ``POST /{WABA_ID}/message_templates``.
Codes use an underscore (``en_US``); a hyphen (``en-US``) is not accepted.
"""

from __future__ import annotations

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(
    """
    af sq ar ar_EG ar_AE ar_LB ar_MA ar_QA az be_BY bn bn_IN bg ca zh_CN zh_HK zh_TW hr cs da prs_AF
    nl nl_BE en en_GB en_US en_AE en_AU en_CA en_GH en_IE en_IN en_JM en_MY en_NZ en_QA en_SG en_UG
    en_ZA et fil fi fr fr_BE fr_CA fr_CH fr_CI fr_MA ka de de_AT de_CH el gu ha he hi hu id ga it ja
    kn kk rw_RW ko ky_KG lo lv lt mk ms ml mr nb ps_AF fa pl pt_BR pt_PT pa ro ru sr si_LK sk sl es
    es_AR es_CL es_CO es_CR es_DO es_EC es_HN es_MX es_PA es_PE es_ES es_UY sw sv ta te th tr uk ur
    uz vi zu
    """.split()
)

# Language names in English and Danish → Meta code. Longer names first matters for matching
# ("brazilian portuguese" before "portuguese"), so callers should try longer names first.
LANGUAGE_NAMES: dict[str, str] = {
    # English names
    "american english": "en_US",
    "us english": "en_US",
    "british english": "en_GB",
    "uk english": "en_GB",
    "english": "en_US",
    "danish": "da",
    "swedish": "sv",
    "norwegian": "nb",
    "finnish": "fi",
    "german": "de",
    "dutch": "nl",
    "french": "fr",
    "spanish": "es",
    "mexican spanish": "es_MX",
    "italian": "it",
    "brazilian portuguese": "pt_BR",
    "portuguese": "pt_PT",
    "polish": "pl",
    "filipino": "fil",
    "dari": "prs_AF",
    "chinese": "zh_CN",
    "japanese": "ja",
    "arabic": "ar",
    "turkish": "tr",
    "greek": "el",
    # Danish names
    "dansk": "da",
    "engelsk": "en_US",
    "amerikansk engelsk": "en_US",
    "britisk engelsk": "en_GB",
    "svensk": "sv",
    "norsk": "nb",
    "finsk": "fi",
    "tysk": "de",
    "hollandsk": "nl",
    "nederlandsk": "nl",
    "fransk": "fr",
    "spansk": "es",
    "italiensk": "it",
    "portugisisk": "pt_PT",
    "brasiliansk portugisisk": "pt_BR",
    "polsk": "pl",
    "kinesisk": "zh_CN",
    "japansk": "ja",
    "arabisk": "ar",
    "tyrkisk": "tr",
    "græsk": "el",
}


def language_hint(code: str) -> str | None:
    """A suggestion for a code that is not supported but is close to one (``en-US`` → ``en_US``).

    Returns ``None`` when nothing close is known.
    """
    candidates = {code.replace("-", "_")}
    if "_" in code or "-" in code:
        lang, _, region = code.replace("-", "_").partition("_")
        candidates.add(f"{lang.lower()}_{region.upper()}")
    else:
        candidates.add(code.lower())
    for candidate in sorted(candidates):
        if candidate in SUPPORTED_LANGUAGES and candidate != code:
            return candidate
    named = LANGUAGE_NAMES.get(code.strip().lower())
    return named
