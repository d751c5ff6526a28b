"""``samtale templates …``: validate template payload files from the command line.

The lead mounts :data:`templates_app` as ``samtale templates``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from samtale.template_builder.issues import ValidationResult
from samtale.template_builder.validator import validate_template

templates_app = typer.Typer(help="WhatsApp message templates: validate payloads before sending them to Meta.")
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@templates_app.callback()
def templates_callback() -> None:
    """WhatsApp message templates (keeps ``validate`` a sub-command even while it is the only one)."""


def is_named_collection(document: Any) -> bool:
    """True when ``document`` is a JSON object of name → payload rather than one payload.

    One payload has a ``components`` list (or at least ``name``/``category``/``language``); a
    collection is an object that has none of those keys and whose every value is an object;
    keys starting with ``_`` (comments such as ``"_source"``) are ignored.
    """
    if not isinstance(document, dict):
        return False
    if {"components", "name", "category", "language"} & document.keys():
        return False
    entries = [value for key, value in document.items() if not key.startswith("_")]
    return bool(entries) and all(isinstance(value, dict) for value in entries)


@templates_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="A JSON file with one payload, or an object of name → payload.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate template payload(s) against Meta's rules; exit code 1 when any is invalid, 2 when unreadable."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        _err.print(f"[red]Cannot read {file}: {exc.strerror or exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        _err.print(f"[red]{file} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.[/red]")
        raise typer.Exit(2) from exc
    if is_named_collection(document):
        results = {name: validate_template(payload) for name, payload in document.items() if not name.startswith("_")}
        if as_json:
            typer.echo(json.dumps({name: r.to_dict() for name, r in results.items()}, indent=2, ensure_ascii=False))
        else:
            for name, result in results.items():
                _print_result(result, title=name)
        valid = all(r.valid for r in results.values())
    else:
        result = validate_template(document)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        else:
            _print_result(result, title=str(file))
        valid = result.valid
    if not valid:
        raise typer.Exit(1)


def _print_result(result: ValidationResult, *, title: str) -> None:
    verdict = "[green]valid[/green]" if result.valid else f"[red]invalid ({len(result.errors)} error(s))[/red]"
    _out.print(f"[bold]{title}[/bold]: {verdict}")
    for issue in result.errors:
        _out.print(f"  [red]error[/red]   {issue.path or '(payload)'} [dim]{issue.rule}[/dim]: {issue.message}")
    for issue in result.warnings:
        _out.print(f"  [yellow]warning[/yellow] {issue.path} [dim]{issue.rule}[/dim]: {issue.message}")
