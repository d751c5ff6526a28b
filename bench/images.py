"""Image uploads (issue 14): upload + validate + normalise of a 4 MB phone-sized JPEG, and whether
20 concurrent uploads stall the event loop for a text turn running beside them.

Starts ``samtale serve`` (one worker) on a fresh SQLite database with one chatbot that takes
images and answers offline (no LLM: a text turn's time to first token is the server's own), then:

1. **upload p50**: ``--uploads`` sequential ``POST /api/upload-image`` (multipart) of a 4032×3024
   JPEG of about 4 MB (coffee.png from ../shared/data/images, upscaled, with sensor-like noise):
   the whole request, from sending to the answer (type check, decode at reduced scale, EXIF
   transpose, downscale to 1,568 px, re-encode, SHA-256, store).
2. **text TTFT idle**: ``--turns`` sequential text turns, time to the first ``token`` event.
3. **text TTFT beside 20 uploads**: the same turns while 20 uploads run at once, repeatedly.

Pillow runs in worker threads (``asyncio.to_thread``), so the loop keeps serving the turn; the
target is a TTFT beside the uploads within 2x of idle. Prints the figures; under 60 s.

    .venv/bin/python -m bench.images [--uploads 15] [--turns 20] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from bench.common import BIN, DATA, free_port

CHATBOT_YAML = """\
id: photos
name: Photo Shop
language: en
image_enabled: true
flows:
  - {type: main}
"""


def wait_http(url: str, *, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200 (the server is ready)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def phone_photo(target_bytes: int = 4_000_000) -> bytes:
    """A 4032×3024 JPEG of about ``target_bytes``: a real photo upscaled, with noise added."""
    with Image.open(DATA / "images" / "coffee.png") as source:
        big = source.convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    rng = random.Random(14)
    noise = Image.frombytes("L", big.size, rng.randbytes(big.width * big.height)).convert("RGB")
    best = b""
    for alpha in (0.04, 0.06, 0.08, 0.10, 0.13, 0.16):
        out = io.BytesIO()
        Image.blend(big, noise, alpha).save(out, format="JPEG", quality=92)
        best = out.getvalue()
        if len(best) >= target_bytes:
            break
    return best


async def upload(client: httpx.AsyncClient, data: bytes) -> float:
    """One upload's time in ms (raises on a non-200 answer)."""
    started = time.perf_counter()
    response = await client.post(
        "/api/upload-image", data={"chatbot_id": "photos"}, files={"file": ("photo.jpg", data, "image/jpeg")}
    )
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


async def text_ttft(client: httpx.AsyncClient, n: int) -> float:
    """One text turn's time to its first token event, ms."""
    started = time.perf_counter()
    body = {"user_id": "bench", "chatbot_id": "photos", "message_text": f"When do you deliver? ({n})"}
    async with client.stream(
        "POST", "/api/process-message", json=body, headers={"Accept": "text/event-stream"}
    ) as response:
        first: float | None = None
        async for line in response.aiter_lines():  # read to the end: the connection is reused
            if first is None and line.startswith("event: token"):
                first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError("the text turn streamed no token")
    return first


async def measure(base: str, photo: bytes, *, uploads: int, turns: int, concurrency: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        await upload(client, photo)  # warm: imports, the storage folder, the connection
        for n in range(3):
            await text_ttft(client, n)
        upload_ms = sorted([await upload(client, photo) for _ in range(uploads)])
        idle = sorted([await text_ttft(client, n) for n in range(turns)])

        busy: list[float] = []
        stop = asyncio.Event()

        async def keep_uploading() -> int:
            done = 0
            while not stop.is_set():
                await asyncio.gather(*(upload(client, photo) for _ in range(concurrency)))
                done += concurrency
            return done

        uploader = asyncio.create_task(keep_uploading())
        await asyncio.sleep(0.3)  # the first batch is in flight
        for n in range(turns):
            busy.append(await text_ttft(client, 1000 + n))
        stop.set()
        uploaded = await uploader
    busy.sort()
    return {
        "upload_p50_ms": statistics.median(upload_ms),
        "upload_p95_ms": upload_ms[min(len(upload_ms) - 1, int(0.95 * len(upload_ms)))],
        "ttft_idle_p50_ms": statistics.median(idle),
        "ttft_busy_p50_ms": statistics.median(busy),
        "ttft_busy_p95_ms": busy[min(len(busy) - 1, int(0.95 * len(busy)))],
        "uploads_beside": float(uploaded),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=15)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    samtale = (BIN if BIN.exists() else Path(sys.executable).parent) / "samtale"
    photo = phone_photo()
    tmp = Path(tempfile.mkdtemp(prefix="samtale-bench-images-"))
    env = {
        **os.environ,
        "SAMTALE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
        "SAMTALE_DATA_DIR": str(tmp / "data"),
        "SAMTALE_LOG_LEVEL": "warning",
        "SAMTALE_MAINTENANCE_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
    }
    (tmp / "chatbots.yaml").write_text(CHATBOT_YAML, encoding="utf-8")
    subprocess.run([samtale, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([samtale, "chatbots", "import", tmp / "chatbots.yaml"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [samtale, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", timeout_s=120)
        figures = asyncio.run(
            measure(base, photo, uploads=args.uploads, turns=args.turns, concurrency=args.concurrency)
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    ratio = figures["ttft_busy_p50_ms"] / figures["ttft_idle_p50_ms"]
    print(f"4032x3024 JPEG of {len(photo) / 1e6:.2f} MB, {os.cpu_count()} cores, one worker")
    print(
        f"upload + validate + normalise: p50 {figures['upload_p50_ms']:.0f} ms, "
        f"p95 {figures['upload_p95_ms']:.0f} ms ({args.uploads} sequential uploads)"
    )
    print(
        f"text TTFT p50: idle {figures['ttft_idle_p50_ms']:.1f} ms, beside {args.concurrency} concurrent uploads "
        f"{figures['ttft_busy_p50_ms']:.1f} ms (p95 {figures['ttft_busy_p95_ms']:.1f}; "
        f"{ratio:.2f}x idle, target <= 2x; {figures['uploads_beside']:.0f} uploads ran beside)"
    )


if __name__ == "__main__":
    main()
