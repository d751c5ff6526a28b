"""WhatsApp template builder: the payload model, the validator, the assistant loop and Meta's API.

A marketer chats with the assistant (offline wizard or an LLM) until the draft passes every rule
Meta documents for ``POST /{version}/{WABA_ID}/message_templates``; the result is that exact body.

Public entry points:

* :func:`samtale.template_builder.validator.validate_template` — validate one payload.
* :mod:`samtale.template_builder.service` — sessions, chat turns, history, debug view, submission.
* :mod:`samtale.template_builder.cli` — ``samtale templates validate FILE.json``.
"""
