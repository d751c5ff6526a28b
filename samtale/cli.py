"""The ``samtale`` command line: serve, migrate, demo, chatbots, kb, apikeys, chat and more."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import httpx
import typer
from rich.console import Console

from samtale.analytics.cli import analytics_app
from samtale.conversation.cli import conversations_app
from samtale.errors import SamtaleError
from samtale.knowledge.cli import embedder_app, kb_app
from samtale.orders.cli import orders_app
from samtale.routing.cli import routing_app
from samtale.settings import get_settings
from samtale.template_builder.cli import templates_app

if TYPE_CHECKING:
    from samtale.chatbots.apikeys import ApiKeyRecord
    from samtale.storage.db import Database

T = TypeVar("T")

app = typer.Typer(
    name="samtale",
    help="Conversation engine for web-shop customer-service chatbots.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
chatbots_app = typer.Typer(help="Import and export chatbot config documents (YAML).", no_args_is_help=True)
apikeys_app = typer.Typer(
    help="Create, list, revoke and rotate API keys for the admin endpoints.", no_args_is_help=True
)
app.add_typer(chatbots_app, name="chatbots")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(kb_app, name="kb")
app.add_typer(embedder_app, name="embedder")
app.add_typer(orders_app, name="orders")
app.add_typer(conversations_app, name="conversations")
app.add_typer(routing_app, name="routing")
app.add_typer(analytics_app, name="analytics")
app.add_typer(templates_app, name="templates")

console = Console(stderr=True)
DEMO_DIR = Path(__file__).parent / "demo"


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion; samtale errors are printed plainly and exit with status 1."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except SamtaleError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default SAMTALE_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default SAMTALE_PORT, 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default SAMTALE_WORKERS, 1)")] = None,
) -> None:
    """Serve the HTTP API and the chat page."""
    import uvicorn

    settings = get_settings()
    worker_count = workers or settings.workers
    if worker_count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # prometheus-client reads this at import, so it must exist before the workers start;
        # each worker then writes its samples there and /metrics sums them.
        metrics_dir = Path(tempfile.mkdtemp(prefix="samtale-prometheus-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        console.print(f"{worker_count} workers; Prometheus multiprocess samples in {metrics_dir}")
    uvicorn.run(
        "samtale.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=worker_count,
        log_level=settings.log_level,
        access_log=False,
        # uvicorn[standard]'s fast parts, named so a missing one is an error, not a silent fallback.
        loop="uvloop",
        http="httptools",
        # uvicorn's default 5 s equals httpx's idle expiry: under load a client reused a connection
        # just as the server closed it (ReadError in the 1,000-stream benchmark).
        timeout_keep_alive=settings.http_keep_alive_s,
        # A spawned worker re-imports this CLI and then the app before it can answer uvicorn's
        # health ping; on a busy 2-core machine that took over uvicorn's default 5 s, so the
        # supervisor killed and respawned every worker forever.
        timeout_worker_healthcheck=settings.worker_healthcheck_timeout_s,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (creates the SQLite file when needed)."""
    from samtale.storage.migrate import upgrade_database

    settings = get_settings()
    upgrade_database(settings.database_url)
    console.print(f"database migrated: {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@chatbots_app.command("import")
def chatbots_import(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Create or replace the chatbots in a YAML file (one document per chatbot)."""
    from samtale.chatbots.service import import_chatbot, parse_chatbot_documents
    from samtale.storage.db import create_database

    settings = get_settings()
    try:
        configs = parse_chatbot_documents(path.read_text(encoding="utf-8"))
    except SamtaleError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None

    async def work() -> None:
        db = create_database(settings.database_url)
        try:
            for config in configs:
                await import_chatbot(db=db, config=config, secret_key=settings.secret_key)
        finally:
            await db.dispose()

    run_async(work)
    for config in configs:
        console.print(f"imported chatbot [bold]{config.id}[/bold] ({len(config.flows)} flows)")


@chatbots_app.command("export")
def chatbots_export(chatbot_id: str) -> None:
    """Print a chatbot's config as YAML (encrypted secrets shown as <encrypted>)."""
    from samtale.chatbots.service import dump_chatbot_yaml, load_chatbot
    from samtale.storage.db import create_database

    settings = get_settings()

    async def work() -> str:
        db = create_database(settings.database_url)
        try:
            return dump_chatbot_yaml(await load_chatbot(db=db, chatbot_id=chatbot_id))
        finally:
            await db.dispose()

    typer.echo(run_async(work), nl=False)


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Option(help="a label for the key")],
    admin: Annotated[bool, typer.Option("--admin", help="grant the admin endpoints")] = False,
    chatbot: Annotated[str | None, typer.Option(help="limit the key to one chatbot")] = None,
) -> None:
    """Create an API key; the key is printed once, as the last line, and only its hash is stored."""
    from samtale.chatbots.apikeys import create_api_key
    from samtale.storage.db import create_database

    settings = get_settings()

    async def work() -> str:
        db = create_database(settings.database_url)
        try:
            return await create_api_key(db=db, name=name, is_admin=admin, chatbot_id=chatbot)
        finally:
            await db.dispose()

    key = run_async(work)
    scope = f"chatbot {chatbot}" if chatbot else "every chatbot"
    console.print(f"created {'admin ' if admin else ''}key '{name}' for {scope}; store it now, it is not shown again:")
    typer.echo(key)


@apikeys_app.command("list")
def apikeys_list(
    chatbot: Annotated[str | None, typer.Option(help="only the keys limited to this chatbot")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List API keys: id, name, visible prefix, grant, created, last used, revoked (never the key)."""
    from rich.table import Table

    from samtale.chatbots.apikeys import list_api_keys

    records: list[ApiKeyRecord] = _with_db(lambda db: list_api_keys(db=db, chatbot_id=chatbot))
    if as_json:
        typer.echo(json.dumps([_key_json(r) for r in records], indent=2))
        return
    table = Table("id", "name", "prefix", "grant", "created", "last used", "revoked")
    for r in records:
        grant = ("admin" if r.is_admin else "plain") + f" · {r.chatbot_id or 'every chatbot'}"
        table.add_row(
            r.id, r.name, r.prefix + "…", grant, _when(r.created_at), _when(r.last_used_at), _when(r.revoked_at)
        )
    Console().print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(
    id_or_key: Annotated[str, typer.Argument(help="the key's id (from list) or the key itself")],
) -> None:
    """Revoke a key at once; it is kept in the list with its revocation time."""
    from samtale.chatbots.apikeys import revoke_api_key

    record = _with_db(lambda db: revoke_api_key(db=db, id_or_key=id_or_key))
    console.print(f"revoked key '{record.name}' ({record.prefix}…, id {record.id})")


@apikeys_app.command("rotate")
def apikeys_rotate(
    id_or_key: Annotated[str, typer.Argument(help="the key's id (from list) or the key itself")],
) -> None:
    """Revoke a key and create its successor with the same name and grant; the new key is the last line."""
    from samtale.chatbots.apikeys import rotate_api_key

    key, new, old = _with_db(lambda db: rotate_api_key(db=db, id_or_key=id_or_key))
    console.print(f"revoked {old.prefix}… (id {old.id}); new key '{new.name}' (id {new.id}), store it now:")
    typer.echo(key)


def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    from samtale.storage.db import create_database

    settings = get_settings()

    async def run() -> T:
        db = create_database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return run_async(run)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _key_json(record: ApiKeyRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "is_admin": record.is_admin,
        "chatbot_id": record.chatbot_id,
        "created_at": record.created_at.isoformat(),
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@app.command()
def demo() -> None:
    """Load the demo shop (chatbots vinhuset and vinhuset-da, products and policies). Idempotent."""
    from samtale.demo.loader import load_demo

    settings = get_settings()
    run_async(lambda: load_demo(settings=settings, console=console))
    console.print(
        "demo loaded. Next: [bold]samtale serve[/bold], open http://127.0.0.1:8000/ ; "
        "admin key: [bold]samtale apikeys create --name me --admin[/bold]"
    )


@app.command()
def chat(
    chatbot: Annotated[str, typer.Option(help="chatbot id")] = "vinhuset",
    url: Annotated[str, typer.Option(help="samtale server")] = "http://127.0.0.1:8000",
    user: Annotated[str, typer.Option(help="user id")] = "terminal",
) -> None:
    """Chat with a chatbot in the terminal; answers stream as they are written (server must run)."""
    session_id: str | None = None
    session_token: str | None = None
    out = Console()
    with httpx.Client(base_url=url, timeout=httpx.Timeout(60.0, connect=5.0)) as client:
        try:
            config = client.get(f"/api/conversation-config/{chatbot}")
        except httpx.HTTPError:
            console.print(f"[red]error:[/red] no samtale server answers at {url}; start one with `samtale serve`")
            raise typer.Exit(1) from None
        if config.status_code != 200:
            console.print(f"[red]error:[/red] {config.json()['error']['message']}")
            raise typer.Exit(1)
        out.print(f"[bold]{config.json()['configuration']['name']}[/bold] — empty line or Ctrl-D to quit")
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                break
            body = {"user_id": user, "chatbot_id": chatbot, "message_text": text, "session_id": session_id}
            headers = {"Accept": "text/event-stream"}
            if session_token is not None:
                headers["X-Session-Token"] = session_token  # continuing the conversation needs its token
            with client.stream("POST", "/api/process-message", json=body, headers=headers) as r:
                if r.status_code != 200:
                    r.read()
                    out.print(f"[red]{r.json()['error']['message']}[/red]")
                    continue
                if session_id is None:
                    session_token = r.headers.get("X-Session-Token")
                session_id = r.headers.get("X-Session-Id", session_id)
                sys.stdout.write("bot> ")
                event = ""
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:])
                        if event == "token":
                            sys.stdout.write(data["token"])
                            sys.stdout.flush()
                        elif event == "error":
                            sys.stdout.write(data.get("shopper_message") or data["message"])
                sys.stdout.write("\n")
