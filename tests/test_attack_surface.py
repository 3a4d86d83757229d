"""Every event of the served page attacked as a stranger would, over the raw queue protocol the page itself uses.

The events are read from the app's own ``/config`` (public and private alike), never listed by hand, so an event
added later is attacked without anyone remembering to. The app is ``python app.py`` on a public host spending a host
key against the test's local API. Payloads come from a seeded generator (PLAYGROUND_ATTACK_SEED, printed), per slot:
server paths in file slots, loopback URLs to a trap listener in text slots, huge numbers, 1 MB strings and the seeds
texts, wrong types, nested junk, nulls. What a stranger must never get: a server file copied or served, a request
from the app to loopback, a memory bomb, a raw exception text, a paid request for invalid input.

A stranger keeps a session: each event is attacked from one session of its own, one call at a time, so whatever one
attack leaves in that session (state, a stored value) meets the next; and the app copies its page into a new session
once per event, not once per call (with a session per call this test took 80 CPU-s and 77 s, now 50 and 50).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from attack_payloads import Listener, Payloads, events_of
from attack_support import (
    SUBMIT_PREFIX,
    HostedApp,
    MemoryWatch,
    Reply,
    call_event,
    fetch_served,
    files_holding,
    hosted_app,
    new_session,
    raw_error_texts,
    reply_paths,
)
from support import start_local_api

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("attack"), pytest.mark.timeout(1200)]

SEED = int(os.environ.get("PLAYGROUND_ATTACK_SEED") or 17)
CALLS = int(os.environ.get("PLAYGROUND_ATTACK_CALLS") or 1000)
WORKERS = 8  # concurrent sessions: the app waits on its clients and the GIL, not only on the two cores
DEADLINE_S = 420.0  # no new call after this: a hung or swapping app fails the call count, not the timeout
CALL_TIMEOUT_S = 60.0
MAX_GROWTH_MB = 50.0


@dataclass
class Attack:
    event: object
    theme: str
    data: list
    session: str  # the event's: all its attacks come from one stranger
    reply: Reply | None = None
    failure: str = ""
    growth_mb: float = 0.0
    span: tuple[float, float] = (0.0, 0.0)  # wall clock (time.time) from before the call to after its reply


def attack_once(app: HostedApp, watch: MemoryWatch, attack: Attack, turn: threading.Lock) -> Attack:
    """Make one attack once the previous call of its session has ended (``turn``: one lock per session), as a page
    does: Gradio queues all of a session's messages for one reader, so two calls at once would take each other's."""
    event = attack.event
    with turn:
        started = watch.start()
        span_start = time.time()
        try:
            attack.reply = call_event(app.url, event.fn_index, attack.data, session_hash=attack.session,
                                      trigger_id=event.trigger_id, queued=event.queued, timeout=CALL_TIMEOUT_S)
        except (requests.RequestException, TimeoutError, ValueError) as exc:
            attack.failure = f"{type(exc).__name__}: {str(exc)[:200]}"
        attack.span = (span_start, time.time())
        attack.growth_mb = watch.growth(started)
    return attack


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """The app, the trap and the local API after the whole attack: (app, listener, api, attacks, seconds)."""
    tmp = tmp_path_factory.mktemp("attack-surface")
    with start_local_api(render="protocol") as api, Listener() as listener, \
            hosted_app(tmp / "app", api.url) as app:
        events = events_of(app.config())
        server_paths = [str(app.canary_file), "/etc/passwd", "/proc/self/environ", str(app.ledger_path)]
        payloads = Payloads(SEED, server_paths, listener.urls)
        sessions = {event.fn_index: new_session() for event in events}
        turns = {session: threading.Lock() for session in sessions.values()}
        attacks = [Attack(events[i % len(events)], theme, [], sessions[events[i % len(events)].fn_index])
                   for i, theme in enumerate(_themes(len(events), CALLS, payloads))]
        payloads.rng.shuffle(attacks)
        for attack in attacks:  # built in order before any thread runs: the same seed gives the same calls
            attack.data = payloads.data_for(attack.event, attack.theme)
        t0 = time.monotonic()
        with MemoryWatch(app) as watch, ThreadPoolExecutor(WORKERS) as pool:
            # Each event once with its defaults first: the code an event loads the first time is not a call's growth.
            # In the session its attacks then share.
            list(pool.map(lambda e: call_event(app.url, e.fn_index, [s.props.get("value") for s in e.slots],
                                               session_hash=sessions[e.fn_index], trigger_id=e.trigger_id,
                                               queued=e.queued, timeout=CALL_TIMEOUT_S),
                          events))

            def run(attack: Attack) -> Attack:
                if time.monotonic() - t0 > DEADLINE_S:
                    attack.failure = "not made: the deadline passed"
                    return attack
                return attack_once(app, watch, attack, turns[attack.session])

            done = list(pool.map(run, attacks))
        yield app, listener, api, done, time.monotonic() - t0


def _themes(events: int, calls: int, payloads: Payloads) -> list[str]:
    """Each event meets every theme in turn: call i attacks event i % events with theme (i // events) % themes."""
    themes = payloads.THEMES
    return [themes[(i // events) % len(themes)] for i in range(calls)]


@dataclass
class Figures:
    """What the attack left behind, each list empty when the app held."""

    events: set
    made: list
    unanswered: list
    raw: list
    leaks: list
    copied: list
    served: list
    invalid_posts: list
    listener_hits: list
    growths: list
    answering: bool
    seconds: float

    @classmethod
    def of(cls, app: HostedApp, listener: Listener, api, attacks: list[Attack], seconds: float) -> Figures:
        made = [a for a in attacks if a.reply is not None]
        invalid_posts, unrecorded = posts_for_invalid_input(app, api, attacks)
        return cls(
            events={a.event.fn_index for a in made}, made=made,
            unanswered=[(str(a.event), a.theme, a.failure) for a in attacks
                        if a.reply is None and a.failure != "not made: the deadline passed"],
            raw=[(str(a.event), a.theme, (a.reply.error_text or a.reply.title)[:300]) for a in made
                 if raw_error_texts(a.reply.error_text) or raw_error_texts(a.reply.title)],
            leaks=[(str(a.event), a.theme) for a in made if any(s in a.reply.raw for s in app.secrets)],
            copied=copies_of_server_files(app), served=served_secrets(app, made),
            invalid_posts=invalid_posts + [("not in the ledger", "POST at the local API")] * unrecorded,
            listener_hits=list(listener.hits), growths=sorted((a.growth_mb, str(a.event), a.theme) for a in made),
            answering=answers_config(app), seconds=seconds)

    @property
    def worst_growth(self) -> float:
        return self.growths[-1][0] if self.growths else 0.0

    def summary(self) -> str:
        g = self.growths
        growth = (f"{g[-1][0]:.1f} MB/call ({g[-1][1]} with {g[-1][2]}; median {g[len(g) // 2][0]:.1f}, "
                  f"p95 {g[int(len(g) * 0.95)][0]:.1f})") if g else "none"
        return (f"attack suite (seed {SEED}): events attacked {len(self.events)}, calls made {len(self.made)}, files "
                f"copied {len(self.copied)}, files served {len(self.served)}, listener hits {len(self.listener_hits)},"
                f" worst memory growth {growth}, raw error texts {len(self.raw)}, POSTs for invalid input "
                f"{len(self.invalid_posts)}, secrets in replies {len(self.leaks)}, unanswered {len(self.unanswered)}, "
                f"still answering {self.answering}, {self.seconds:.0f} s")

    def details(self) -> str:
        slowest = sorted(self.made, key=lambda a: -a.reply.seconds)[:5]
        lines = ["  slowest calls:", *[f"    {a.reply.seconds:.1f} s {a.event} with {a.theme}" for a in slowest]]
        for title in ("raw", "unanswered", "invalid_posts", "copied", "served", "leaks", "listener_hits"):
            items = getattr(self, title)
            if items:
                lines += [f"  {title} ({len(items)}), first ones:", *[f"    {item}" for item in items[:6]]]
        return "\n".join(lines)


def test_every_event_of_the_page_survives_a_stranger(attacked):
    app, listener, api, attacks, seconds = attacked
    figures = Figures.of(app, listener, api, attacks, seconds)
    summary = figures.summary()
    print("\n" + summary + "\n" + figures.details())
    assert len(figures.events) == len(events_of(app.config())), summary
    assert len(figures.made) >= CALLS, summary
    assert figures.unanswered == [], summary
    assert figures.copied == [] and figures.served == [], summary
    assert figures.listener_hits == [], summary
    assert figures.worst_growth < MAX_GROWTH_MB, summary
    assert figures.raw == [], summary
    assert figures.invalid_posts == [], summary
    assert figures.leaks == [], summary
    assert figures.answering, summary


def copies_of_server_files(app: HostedApp) -> list[Path]:
    """Files holding a secret in Gradio's cache or the playground's home, and copies of /etc/passwd or of an SQLite
    database (the ledger) in Gradio's cache."""
    passwd = Path("/etc/passwd").read_bytes().splitlines()[0]
    secrets = [s.encode() for s in app.secrets]
    found = set(files_holding([app.gradio_tmp, app.home], secrets))
    found |= set(files_holding([app.gradio_tmp], [passwd, b"SQLite format 3\x00"]))
    names = {"canary.txt", "passwd", "environ", app.ledger_path.name}
    found |= {p for p in app.gradio_tmp.rglob("*") if p.is_file() and p.name in names}
    return sorted(found)


def served_secrets(app: HostedApp, made: list[Attack]) -> list[str]:
    """The paths (named by a reply, or the server files themselves) that ``/gradio_api/file=`` serves with a secret
    or a server file's content in them."""
    paths = {str(app.canary_file), "/etc/passwd", "/proc/self/environ", str(app.ledger_path)}
    for attack in made:
        paths |= reply_paths(attack.reply.raw)
    paths |= {str(p) for p in copies_of_server_files(app)}
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    served = []
    for path in sorted(p for p in paths if not p.startswith("http") or p.startswith(app.url + "/"))[:400]:
        try:
            reply = fetch_served(app, path)
        except requests.RequestException:
            continue
        if reply.ok and any(s in reply.text for s in (*app.secrets, passwd, "SQLite format 3")):
            served.append(path)
    return served


def posts_for_invalid_input(app: HostedApp, api, attacks: list[Attack]) -> tuple[list, int]:
    """Requests sent for the attack's calls (the ledger's sent rows: both backends, the free preview included; no
    call carries a valid image, so every one was invalid input), and POSTs at the test's local API that the ledger
    does not account for.

    A row is named by its session's event and, since a session makes one call at a time, by the attack whose call
    was under way when the row was made (its theme; the row's params show the payload)."""
    by_session: dict[str, list[Attack]] = {}
    for attack in attacks:
        by_session.setdefault(attack.session, []).append(attack)
        by_session.setdefault(f"api:{attack.session}", []).append(attack)
    rows = app.sent_rows()
    sent = []
    for row in rows:
        theirs = by_session.get(row["session"], [])
        during = [a for a in theirs if a.span[0] <= row["created_at"] <= a.span[1]]
        if during:
            where = f"{during[0].event} with {during[0].theme}"
        elif theirs:
            where = f"{theirs[0].event}, with its defaults or between calls"
        else:
            where = f"session {row['session']!r}"
        sent.append((row["id"], where, row["status"], row["params"][:160]))
    recorded = sum(1 for row in rows if row["base_url"] == api.url)
    return sent, max(0, api.count("POST", SUBMIT_PREFIX) - recorded)


def answers_config(app: HostedApp) -> bool:
    try:
        return requests.get(app.url + "/config", timeout=10).ok
    except requests.RequestException:
        return False
