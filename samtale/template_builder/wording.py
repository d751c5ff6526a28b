"""What the assistant says, in English and Danish: questions, proposals and example values."""

from __future__ import annotations

import re

from samtale.template_builder.variables import PLACEHOLDER

QUESTIONS: dict[str, dict[str, str]] = {
    "category": {
        "en": "What kind of template is it: MARKETING (offers, news), UTILITY (order and delivery updates) or "
        "AUTHENTICATION (login codes)?",
        "da": "Hvilken slags skabelon er det: MARKETING (tilbud, nyheder), UTILITY (ordre- og leveringsbeskeder) "
        "eller AUTHENTICATION (loginkoder)?",
    },
    "name": {
        "en": "What should the template be called? Lowercase letters, digits and underscores{proposal}.",
        "da": "Hvad skal skabelonen hedde? Små bogstaver, tal og understreger{proposal}.",
    },
    "language": {
        "en": "Which language is the message written in (e.g. English, Danish, or a code such as en_US)?",
        "da": "Hvilket sprog er beskeden skrevet på (f.eks. dansk, engelsk eller en kode som da)?",
    },
    "body": {
        "en": "What should the message say? Write the text in quotes and use {{{{1}}}}, {{{{2}}}}… where the "
        "customer's details go.{proposal}",
        "da": "Hvad skal beskeden sige? Skriv teksten i anførselstegn og brug {{{{1}}}}, {{{{2}}}}… hvor kundens "
        "oplysninger skal stå.{proposal}",
    },
    "body_examples": {
        "en": "Meta needs an example value for every placeholder. I suggest: {proposal}. Say yes to use them, or "
        "give your own separated by commas.",
        "da": "Meta skal have en eksempelværdi for hver pladsholder. Mit forslag: {proposal}. Sig ja for at bruge "
        "dem, eller skriv dine egne adskilt af kommaer.",
    },
    "header": {
        "en": "Do you want a header (a short title of at most 60 characters)? Write it, or say no.",
        "da": "Vil du have en overskrift (en kort titel på højst 60 tegn)? Skriv den, eller sig nej.",
    },
    "footer": {
        "en": "Do you want a footer (small text under the message, at most 60 characters)? Write it, or say no.",
        "da": "Vil du have en sidefod (lille tekst under beskeden, højst 60 tegn)? Skriv den, eller sig nej.",
    },
    "buttons": {
        "en": 'Do you want buttons? E.g. button "Track parcel" to https://… or quick reply "Stop". Or say no.',
        "da": 'Vil du have knapper? F.eks. knap "Spor pakke" til https://… eller svarknap "Stop". Eller sig nej.',
    },
    "header_value": {
        "en": "What should the header say? At most 60 characters.",
        "da": "Hvad skal overskriften være? Højst 60 tegn.",
    },
    "footer_value": {
        "en": "What should the footer say? At most 60 characters, no placeholders.",
        "da": "Hvad skal der stå i sidefoden? Højst 60 tegn og ingen pladsholdere.",
    },
    "buttons_value": {
        "en": 'Which button? E.g. button "Track parcel" to https://… or quick reply "Stop".',
        "da": 'Hvilken knap? F.eks. knap "Spor pakke" til https://… eller svarknap "Stop".',
    },
}
TEXT: dict[str, dict[str, str]] = {
    "proposal_body": {
        "en": ' Suggestion: "{text}" (say yes to use it).',
        "da": ' Forslag: "{text}" (sig ja for at bruge det).',
    },
    "proposal_name": {"en": ", e.g. {name} (say yes to use it)", "da": ", f.eks. {name} (sig ja for at bruge det)"},
    "final": {
        "en": "Your template is ready and passes every rule Meta checks. Here is the creation payload:",
        "da": "Din skabelon er klar og overholder alle Metas regler. Her er det færdige payload:",
    },
    "invalid": {
        "en": "The draft breaks some of Meta's rules:\n{errors}\nLet's fix that.",
        "da": "Udkastet bryder nogle af Metas regler:\n{errors}\nLad os rette det.",
    },
    "noted": {"en": "Noted: {facts}.", "da": "Noteret: {facts}."},
    "retry": {
        "en": "Sorry, I could not read the assistant's answer. This is the draft so far; please say it once more.",
        "da": "Beklager, jeg kunne ikke læse assistentens svar. Her er udkastet indtil nu; sig det venligst igen.",
    },
    "examples_mismatch": {
        "en": "The text has {count} placeholder(s), so I need {count} example value(s).",
        "da": "Teksten har {count} pladsholder(e), så jeg skal bruge {count} eksempelværdi(er).",
    },
}
BODY_PROPOSALS: dict[str, dict[str, str]] = {
    "shipping_update": {
        "en": "Hi {{1}}, your order is on its way and will arrive on {{2}}. Thank you for shopping with us!",
        "da": "Hej {{1}}, din ordre er på vej og ankommer {{2}}. Tak fordi du handler hos os!",
    },
    "order_confirmation": {
        "en": "Thank you for your order, {{1}}! Your order number is {{2}}. We will tell you when it ships.",
        "da": "Tak for din ordre, {{1}}! Dit ordrenummer er {{2}}. Vi giver besked, når den bliver sendt.",
    },
    "appointment_reminder": {
        "en": "Hi {{1}}, this is a reminder of your appointment on {{2}}. Reply here if you need to change it.",
        "da": "Hej {{1}}, dette er en påmindelse om din tid {{2}}. Svar her, hvis du vil ændre den.",
    },
    "sale_announcement": {
        "en": "Hi {{1}}, our sale has started! Use code {{2}} to save on your next order. See you soon.",
        "da": "Hej {{1}}, vores udsalg er gået i gang! Brug koden {{2}} og spar på din næste ordre. Vi ses.",
    },
}
TOPICS: dict[str, str] = {
    "shipping_update": r"shipping|shipment|delivery|parcel|package|tracking|forsendelse|levering|pakke",
    "order_confirmation": r"order confirmation|receipt|confirm|ordrebekræftelse|kvittering|bekræft",
    "appointment_reminder": r"appointment|reminder|booking|påmindelse|aftale|tid hos",
    "sale_announcement": r"sale|discount|offer|promotion|promo|campaign|udsalg|tilbud|rabat|kampagne",
}
# (pattern in the words just before a placeholder, English example, Danish example)
EXAMPLE_RULES: tuple[tuple[str, str, str], ...] = (
    (r"code|koden?", "SAVE10", "SPAR10"),
    (r"tracking|track", "TRK123456", "TRK123456"),
    (r"order|number|ordre\w*|nummer", "10542", "10542"),
    (r"hi|hello|hey|dear|thank you|thanks|hej|kære|tak", "Anna", "Anna"),
    (r"arrive\w*|on|day|date|until|through|ankommer|den|dag|dato|indtil|kommer", "Friday", "fredag"),
    (r"at|time|kl\.?", "14:30", "14:30"),
    (r"save|get|off|spar|få", "20%", "20%"),
)


def topic_of(text: str) -> str | None:
    """The first topic (see :data:`TOPICS`) the text mentions, or None."""
    for topic, pattern in TOPICS.items():
        if re.search(rf"\b(?:{pattern})", text, re.I):
            return topic
    return None


def propose_examples(body: str, language: str) -> list[str]:
    """An example value for each distinct placeholder of ``body``, guessed from the words before it."""
    values: list[str] = []
    seen: set[str] = set()
    for match in PLACEHOLDER.finditer(body):
        key = match.group(1)
        if key in seen:
            continue
        seen.add(key)
        before = body[max(0, match.start() - 30) : match.start()].lower()
        last_words = " ".join(re.findall(r"[a-zæøå.]+", before)[-3:])
        guess = None
        for pattern, english, danish in EXAMPLE_RULES:
            if re.search(rf"\b(?:{pattern})\b", last_words):
                guess = danish if language == "da" else english
                break
        if guess is None or guess in values:
            guess = f"{'eksempel' if language == 'da' else 'example'} {len(values) + 1}"
        values.append(guess)
    return values
