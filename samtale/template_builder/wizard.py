"""The offline assistant: a deterministic wizard that needs no LLM.

Each turn it reads what the rules of :mod:`.extract` can find in the message, interprets a bare
answer in the light of the question asked last ("no" to the footer question declines the
footer), proposes wording, a name and example values, and asks for the first missing field, one
at a time. Optional parts (header, footer, buttons) are asked about once. When nothing is
missing and the draft validates it answers FINAL; a message that states everything gets FINAL
at once.
"""

from __future__ import annotations

import re

from samtale.template_builder.assistant import AssistantTurn, HistoryMessage
from samtale.template_builder.extract import (
    conversation_language,
    default_button_label,
    extract,
    find_category,
    find_language,
    slugify,
    split_values,
)
from samtale.template_builder.memory import (
    OPTIONAL_PARTS,
    ButtonSpec,
    Extraction,
    TemplateMemory,
    TurnState,
    evaluate,
    merge_extraction,
)
from samtale.template_builder.variables import find_variables
from samtale.template_builder.wording import BODY_PROPOSALS, QUESTIONS, TEXT, propose_examples, topic_of

YES = re.compile(r"^\s*(?:yes|y|yeah|yep|ok|okay|sure|fine|perfect|use (?:it|them)|ja|jo|gerne|fint|ok ja|"
                 r"perfekt|det er fint|brug (?:det|dem))\s*[.!]*\s*$", re.I)  # fmt: skip
NO = re.compile(
    r"^\s*(?:no|nope|none|no thanks|skip|not needed|nej|nej tak|ingen|spring over|behøves ikke)\s*[.!]*\s*$", re.I
)
URL = re.compile(r"https?://\S+")
# Which field a validation rule points back to, so the wizard can ask for it again.
RULE_FIELDS = {"body": "body", "examples": "body_examples", "variables": "body", "header": "header",
               "footer": "footer", "button": "buttons", "buttons": "buttons", "name": "name",
               "language": "language", "category": "category"}  # fmt: skip


class OfflineWizard:
    """Deterministic template wizard (see the module doc); keeps no state between calls."""

    model = "offline-wizard"

    async def respond(self, *, memory: TemplateMemory, history: list[HistoryMessage], message: str) -> AssistantTurn:
        """Answer one marketer message.

        Args:
            memory: the session's memory before this message.
            history: earlier messages of the session (unused by the rules; kept for the protocol).
            message: the marketer's message.

        Returns:
            The new memory, the reply and the action (FINAL only with a complete, valid draft).
        """
        spoken = conversation_language(message)
        if spoken and (spoken == "da" or not history):
            memory = memory.model_copy(update={"conversation_language": spoken})
        lang = memory.conversation_language
        extraction = extract(message, language=lang)
        if memory.category is not None:
            extraction.category = find_category(message, explicit_only=True)
        extraction = self._answer_in_context(memory, message, extraction)
        mismatch = _drop_mismatched_examples(memory, extraction)
        updated = merge_extraction(memory, extraction)
        updated.topic = updated.topic or topic_of(message)
        updated = self._propose(updated)
        state = evaluate(updated)
        facts = _facts(memory, updated)
        if state.complete:
            updated.asked = None
            updated.last_validation_errors = []
            reply = TEXT["final"][lang]
            return AssistantTurn(memory=updated, reply=reply, action="FINAL", state=state)
        if not state.missing_fields and not state.validation.valid:
            updated = _reopen_failing_field(updated, state)
            errors = "\n".join(f"- {e.message}" for e in state.validation.errors)
            reply = TEXT["invalid"][lang].format(errors=errors) + " " + _question_for(updated, updated.asked or "body")
            return AssistantTurn(memory=updated, reply=reply, action="DRAFT", state=state)
        question = _question(updated, state)
        updated.asked = state.missing_fields[0]
        prefix = TEXT["noted"][lang].format(facts=", ".join(facts)) + " " if facts else ""
        if mismatch:
            prefix += TEXT["examples_mismatch"][lang].format(count=mismatch) + " "
        return AssistantTurn(memory=updated, reply=prefix + question, action=state.natural_action(), state=state)

    @staticmethod
    def _answer_in_context(memory: TemplateMemory, message: str, found: Extraction) -> Extraction:
        """Read a bare answer ("no", "Friday, Anna", "shipping_update") as the answer to the last question."""
        asked = memory.asked
        text = message.strip().strip("\"“”'")
        understood = found.model_dump(exclude_none=True, exclude={"category"})
        if understood and not (asked == "buttons" and set(understood) <= {"wants_buttons"}):
            return found
        yes, no = bool(YES.match(message)), bool(NO.match(message))
        if asked in OPTIONAL_PARTS:
            flag = f"wants_{asked}"
            if no:
                setattr(found, flag, False)
            elif yes:
                setattr(found, flag, True)
            elif asked == "header" and not found.header_text:
                found.header_text = text
            elif asked == "footer" and not found.footer_text:
                found.footer_text = re.sub(r"^(?:footer|sidefod)\s*[:=]?\s*", "", text, flags=re.I)
            elif asked == "buttons" and not found.buttons:
                url = URL.search(message)
                if url:
                    label = URL.sub("", text).strip(" :-,") or default_button_label(memory.conversation_language)
                    found.buttons = [ButtonSpec(type="URL", text=label[:25], url=url.group(0).rstrip(".,;)"))]
                else:
                    found.buttons = [ButtonSpec(type="QUICK_REPLY", text=text[:25])]
        elif asked == "body" and not found.body:
            found.body = memory.proposed_body if (yes and memory.proposed_body) else text
        elif asked == "body_examples" and not found.body_examples:
            found.body_examples = list(memory.proposed_examples) if yes else split_values(text)
        elif asked == "name" and not found.name:
            found.name = memory.name or (_proposed_name(memory) if yes else slugify(text))
        elif asked == "language" and not found.language:
            found.language = find_language(text) or (text if re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", text) else None)
        elif asked == "category" and not found.category:
            found.category = find_category(text)
        return found

    @staticmethod
    def _propose(memory: TemplateMemory) -> TemplateMemory:
        """Propose a body for a known topic and example values for every placeholder."""
        lang = memory.conversation_language
        if not memory.body and memory.category and memory.category != "AUTHENTICATION":
            if memory.topic:
                memory.proposed_body = BODY_PROPOSALS[memory.topic][lang]
        if memory.body:
            count = find_variables(memory.body).count
            if count and len(memory.body_examples) != count:
                memory.proposed_examples = propose_examples(memory.body, lang)
        return memory


def _drop_mismatched_examples(memory: TemplateMemory, found: Extraction) -> int:
    """Drop example values whose count does not fit the body; return the count needed (0 when fine)."""
    body = found.body or memory.body
    if not body or not found.body_examples:
        return 0
    count = find_variables(body).count
    if len(found.body_examples) == count:
        return 0
    found.body_examples = None
    return count


def _proposed_name(memory: TemplateMemory) -> str:
    if memory.topic:
        return memory.topic
    words = re.findall(r"[a-zæøå]+", (memory.body or memory.category or "template").lower())[:3]
    return slugify(" ".join(words)) or "my_template"


def _question(memory: TemplateMemory, state: TurnState) -> str:
    return _question_for(memory, state.missing_fields[0] if state.missing_fields else "body")


def _question_for(memory: TemplateMemory, field: str) -> str:
    lang = memory.conversation_language
    proposal = ""
    if field == "name":
        proposal = TEXT["proposal_name"][lang].format(name=_proposed_name(memory))
    elif field == "body" and memory.proposed_body:
        proposal = TEXT["proposal_body"][lang].format(text=memory.proposed_body)
    elif field == "body_examples":
        variables = re.findall(r"\{\{[^{}]*\}\}", memory.body or "")
        pairs = zip(dict.fromkeys(variables), memory.proposed_examples, strict=False)
        proposal = ", ".join(f"{var} = {value}" for var, value in pairs)
    elif field in OPTIONAL_PARTS and getattr(memory, f"wants_{field}"):
        return QUESTIONS[f"{field}_value"][lang]
    return QUESTIONS[field][lang].format(proposal=proposal)


def _reopen_failing_field(memory: TemplateMemory, state: TurnState) -> TemplateMemory:
    """Point the next question at the field the first validation error is about; the answer replaces it."""
    first = state.validation.errors[0]
    updated = memory.model_copy(deep=True)
    updated.last_validation_errors = [e.message for e in state.validation.errors]
    updated.asked = RULE_FIELDS.get(first.rule.split(".", 1)[0], "body")
    return updated


def _facts(before: TemplateMemory, after: TemplateMemory) -> list[str]:
    """Short notes of what this message added (category, language, name)."""
    facts = []
    if after.category != before.category and after.category:
        facts.append(after.category)
    if after.language_pref != before.language_pref and after.language_pref:
        facts.append(after.language_pref)
    if after.name != before.name and after.name:
        facts.append(after.name)
    return facts
