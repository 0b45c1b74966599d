"""A bounded load test: officers previewing on the map while residents sign up, against
the web app as `make run` serves it (gunicorn, 2 workers x 4 threads) on loopback.

- OFFICERS concurrent officers (200), each signed in with a session of their own,
  previewing a circle round a random postcode of the force, then thinking for 5 to
  15 s (as a person adjusting a radius does), again and again;
- residents signing up at RATE a second (50), open loop: each sign-up is a GET of the
  form and a POST of it, from a random address in 10.0.0.0/8 (PROXY_HOPS=1, so each
  address has its own sign-up limit, as on the internet);
- for SECONDS (300). Prints p50 / p95 / max per route and every error: an answer
  other than 2xx/3xx, or no answer. The target: no error at all.

It runs on the analysts' benchmark database (the force's postcodes and boundaries and
a million residents in it, seeded by bench_analysts.py, which `make bench` runs first):
    .venv/bin/python bench/bench_load.py [--officers 200] [--rate 50] [--seconds 300]
Sign-ups it makes are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_analysts import analysts_app  # noqa: E402
from bench.common import web_app, web_env  # noqa: E402

PASSWORD = "load-test-officer-passphrase-7Qx"  # noqa: S105 - a benchmark account
EMAIL = "load-officer-{}@bench.invalid"
ACCOUNTS = 20  # officers share these accounts; each has a session of its own
LOAD_SOURCE = "load-test"
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def prepare(app) -> list[tuple[float, float]]:
    """The officer accounts, and the force's postcodes to aim at (lon, lat)."""
    from sqlalchemy import text

    from app.extensions import db
    from app.services.accounts import create_officer

    with app.app_context():
        for n in range(ACCOUNTS):
            email = EMAIL.format(n)
            if db.session.scalar(text("SELECT 1 FROM officers WHERE email = :e"), {"e": email}):
                continue
            create_officer(email=email, name=f"Load officer {n}", role="officer", password=PASSWORD)
        # Postcodes of the force (its boundary in places), where officers aim and
        # residents live.
        rows = db.session.execute(
            text(
                "SELECT ST_X(p.location_wgs84), ST_Y(p.location_wgs84), p.display"
                " FROM postcodes p JOIN places f ON f.kind = 'force' AND f.code = :force"
                " AND ST_Covers(f.boundary, p.location)"
                " WHERE p.location IS NOT NULL AND p.terminated_on IS NULL"
                " ORDER BY random() LIMIT 2000"
            ),
            {"force": app.config["FORCE_CODE"]},
        ).all()
        if not rows:
            sys.exit("no postcodes of the force in this database: load them first")
        points = [(lon, lat) for lon, lat, _ in rows]
        postcodes = [display for _, _, display in rows]
    return points, postcodes


def clean_up(app) -> int:
    """Remove the test's sign-ups without a trace (no leaving events): the database is
    the analysts' benchmark's too, and its figures must not move."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        removed = db.session.execute(
            text(
                "DELETE FROM residents WHERE id IN (SELECT resident_id FROM resident_channels"
                " WHERE address LIKE '%@load.bench.invalid')"
            )
        ).rowcount
        db.session.execute(
            text("DELETE FROM resident_notices WHERE address LIKE '%@load.bench.invalid'")
        )
        db.session.commit()
        return removed


class Results:
    def __init__(self):
        self.millis: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def record(self, route: str, started: float, status: int | None, what: str = "") -> None:
        self.millis[route].append((time.perf_counter() - started) * 1000)
        if status is None or status >= 400:
            self.errors[route].append(f"{status or 'no answer'} {what}".strip())


async def sign_in(session, base: str, number: int, results: Results) -> str | None:
    """Sign one officer's session in (before the clock starts: a password check is
    meant to be slow); their CSRF token, or None."""
    import aiohttp

    started = time.perf_counter()
    try:
        page = await session.get(base + "/sign-in")
        token = TOKEN.search(await page.text()).group(1)
        signed = await session.post(
            base + "/sign-in",
            data={
                "email": EMAIL.format(number % ACCOUNTS),
                "password": PASSWORD,
                "csrf_token": token,
            },
            allow_redirects=False,
        )
        results.record("sign in", started, signed.status if signed.status == 302 else 400)
        if signed.status != 302:
            return None
        home = await session.get(base + "/officers/")
        csrf = TOKEN.search(await home.text()).group(1)
    except (TimeoutError, aiohttp.ClientError, AttributeError) as error:
        results.record("sign in", started, None, type(error).__name__)
        return None
    return csrf


async def officer(session, base: str, csrf: str, points, until: float, results: Results):
    import aiohttp

    await asyncio.sleep(random.uniform(0, 10))  # noqa: S311 - spread the start
    while time.monotonic() < until:
        lon, lat = random.choice(points)  # noqa: S311
        shape = {
            "kind": "circle",
            "center": [lon, lat],
            "radius_m": random.choice((500, 1000, 2000, 5000)),
        }  # noqa: S311, E501
        started = time.perf_counter()
        try:
            answer = await session.post(
                base + "/officers/preview",
                json={"shapes": [shape]},
                headers={"X-CSRFToken": csrf, "Accept": "application/json"},
            )
            await answer.read()
            results.record("POST /officers/preview", started, answer.status)
        except (TimeoutError, aiohttp.ClientError) as error:
            results.record("POST /officers/preview", started, None, type(error).__name__)
        await asyncio.sleep(random.uniform(5, 15))  # noqa: S311


async def sign_up(session, base: str, n: int, postcodes, results: Results):
    import aiohttp

    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"  # noqa: S311
    headers = {"X-Forwarded-For": address}
    started = time.perf_counter()
    try:
        form = await session.get(base + "/register", headers=headers)
        text = await form.text()
        results.record("GET /register", started, form.status)
        token = TOKEN.search(text).group(1)
        started = time.perf_counter()
        answer = await session.post(
            base + "/register",
            headers=headers,
            data={
                "postcode": random.choice(postcodes),  # noqa: S311
                "channels": "email",
                "email": f"r{n}-{random.randrange(10**9)}@load.bench.invalid",  # noqa: S311
                "consent": "yes",
                "csrf_token": token,
            },
            allow_redirects=False,
        )
        await answer.read()
        results.record("POST /register", started, answer.status)
    except (TimeoutError, aiohttp.ClientError, AttributeError) as error:
        results.record("POST /register", started, None, type(error).__name__)


async def drive(base: str, args, points, postcodes) -> Results:
    import aiohttp

    results = Results()
    until = time.monotonic() + args.seconds
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    sessions = [
        aiohttp.ClientSession(
            timeout=timeout, connector=connector, connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )
        for _ in range(args.officers)
    ]  # fmt: skip
    # Sign everyone in first, four at a time, before the clock starts.
    gate = asyncio.Semaphore(4)

    async def signed(n, session):
        async with gate:
            return await sign_in(session, base, n, results)

    tokens = await asyncio.gather(*(signed(n, s) for n, s in enumerate(sessions)))
    until = time.monotonic() + args.seconds
    officers = [
        asyncio.create_task(officer(s, base, csrf, points, until, results))
        for s, csrf in zip(sessions, tokens, strict=True)
        if csrf is not None
    ]
    sign_ups = []
    n = 0
    started = time.monotonic()
    while time.monotonic() < until:
        # Open loop: each second's sign-ups start on time, whatever the last ones did.
        due = int((time.monotonic() - started) * args.rate)
        while n < due:
            resident = aiohttp.ClientSession(
                timeout=timeout, connector=connector, connector_owner=False,
                cookie_jar=aiohttp.CookieJar(unsafe=True),
            )  # fmt: skip
            sign_ups.append(asyncio.create_task(_one(resident, base, n, postcodes, results)))
            n += 1
        await asyncio.sleep(0.02)
    await asyncio.gather(*officers, *sign_ups)
    for session in sessions:
        await session.close()
    await connector.close()
    return results


async def _one(session, base, n, postcodes, results):
    try:
        await sign_up(session, base, n, postcodes, results)
    finally:
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--officers", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50, help="sign-ups a second")
    parser.add_argument("--seconds", type=float, default=300)
    args = parser.parse_args()
    app = analysts_app()
    points, postcodes = prepare(app)
    env = web_env(app, PROXY_HOPS="1", LOG_FORMAT="text")
    print(
        f"{args.officers} officers previewing (5-15 s apart), {args.rate:g} sign-ups a second, "
        f"{args.seconds:g} s, gunicorn 2 workers x 4 threads, {os.cpu_count()} cores",
        flush=True,
    )
    with web_app(env, "/tmp/bench-load-web.log") as base:  # noqa: S108
        results = asyncio.run(drive(base, args, points, postcodes))
    print(f"{'route':<26} {'answers':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>7}")
    for route, millis in sorted(results.millis.items()):
        ordered = sorted(millis)
        p50 = ordered[len(ordered) // 2]
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(
            f"{route:<26} {len(ordered):8d} {p50:8.0f} {p95:8.0f} {ordered[-1]:8.0f} "
            f"{len(results.errors.get(route, [])):7d}"
        )
    errors = sum(len(e) for e in results.errors.values())
    for route, found in results.errors.items():
        kinds = defaultdict(int)
        for error in found:
            kinds[error] += 1
        print(f"  errors on {route}: {dict(kinds)}")
    print(f"errors: {errors} (target 0); removed {clean_up(app)} sign-ups made by the test")


if __name__ == "__main__":
    main()
