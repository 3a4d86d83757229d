"""What the attack tests aim at and with what: the page's events as its own ``/config`` lists them, a trap listener on
loopback that counts every request, and seeded hostile payloads per input slot (tests/attack_support.py has the
served app and the queue protocol)."""

from __future__ import annotations

import contextlib
import http.server
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attack_support import file_data
from support import image_bytes

# --- the app's events, from its own /config ----------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One input of an event: its component id, type and properties (choices, default value)."""

    component: int
    kind: str
    props: dict

    @property
    def choices(self) -> list:
        values = []
        for choice in self.props.get("choices") or []:
            values.append(choice[1] if isinstance(choice, (list, tuple)) and len(choice) == 2 else choice)
        return values


@dataclass(frozen=True)
class Event:
    """A dependency of the page with a backend function, public or private."""

    fn_index: int
    name: str
    visibility: str
    queued: bool
    trigger_id: int | None
    slots: tuple[Slot, ...]
    triggers: tuple[tuple[int | None, str], ...] = ()

    def slot(self, label: str) -> int:
        """The index of the input labelled ``label`` (or with that elem_id)."""
        for i, slot in enumerate(self.slots):
            if label in (slot.props.get("label"), slot.props.get("elem_id")):
                return i
        raise AssertionError(f"{self} has no input labelled {label!r}")

    def data(self, **by_label: Any) -> list:
        """Each slot's default value, with ``by_label`` ({label or elem_id: value}) set."""
        values = [slot.props.get("value") for slot in self.slots]
        for label, value in by_label.items():
            values[self.slot(label)] = value
        return values

    def __str__(self) -> str:
        return f"{self.name} (fn {self.fn_index}, {self.visibility})"


def events_of(config: dict) -> list[Event]:
    """Every dependency of the app's ``/config`` that runs a backend function, public and private alike."""
    components = {c["id"]: c for c in config["components"]}
    found = []
    for index, dep in enumerate(config["dependencies"]):
        if not dep.get("backend_fn"):
            continue
        slots = tuple(Slot(i, components[i].get("type", "?"), components[i].get("props") or {}) for i in dep["inputs"])
        trigger = next((t[0] for t in dep.get("targets") or [] if t and t[0] is not None), None)
        triggers = tuple((t[0], t[1]) for t in dep.get("targets") or [] if len(t) >= 2)
        found.append(Event(dep.get("id", index), str(dep.get("api_name") or f"fn{index}"),
                           str(dep.get("api_visibility") or "public"), dep.get("queue") is not False, trigger, slots,
                           triggers))
    return found


def event_named(config: dict, api_name: str) -> Event:
    for event in events_of(config):
        if event.name == api_name:
            return event
    raise AssertionError(f"no event named {api_name!r} in /config")


def events_on(config: dict, elem_id: str, trigger: str) -> list[Event]:
    """The backend events that ``trigger`` (e.g. "change") of the component with ``elem_id`` runs."""
    ids = {c["id"] for c in config["components"] if (c.get("props") or {}).get("elem_id") == elem_id}
    if not ids:
        raise AssertionError(f"no component with elem_id {elem_id!r} in /config")
    return [e for e in events_of(config) if any(t == (i, trigger) for t in e.triggers for i in ids)]


# --- a trap on loopback ---------------------------------------------------------------------------------------


class Listener:
    """HTTP servers on 127.0.0.1 and ::1 that answer like an image host (a PNG at any path, and ``/redirect``
    sending the client to itself) and count every connection (``hits``, with the request line when there is one,
    as a TLS hello to the plain port has none): a public host must never open one."""

    PNG = image_bytes((320, 180))

    def __init__(self):
        self.hits: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._servers = [self._start(socket.AF_INET, "127.0.0.1")]
        self.port = self._servers[0].server_address[1]
        with contextlib.suppress(OSError):
            self._servers.append(self._start(socket.AF_INET6, "::1", self.port))

    def _start(self, family: int, host: str, port: int = 0) -> http.server.ThreadingHTTPServer:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, body: bool) -> None:
                with owner._lock:
                    if ("connection", host, "") in owner.hits:  # the request line tells more than its connection
                        owner.hits.remove(("connection", host, ""))
                    owner.hits.append((self.command, host, self.path))
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{owner.port}/cat.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(owner.PNG)))
                self.end_headers()
                if body:
                    self.wfile.write(owner.PNG)

            def do_GET(self):
                self._answer(True)

            def do_HEAD(self):
                self._answer(False)

            def do_POST(self):
                self._answer(False)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def verify_request(self, request, client_address) -> bool:
                with owner._lock:  # every connection counts, whether or not a request follows
                    owner.hits.append(("connection", host, ""))
                return True

        server = Server((host, port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True, name=f"listener-{host}").start()
        return server

    @property
    def urls(self) -> list[str]:
        """Loopback URLs of the trap, in every spelling a visitor could type."""
        urls = [f"http://127.0.0.1:{self.port}/cat.png", f"http://localhost:{self.port}/cat.png",
                f"http://127.0.0.1:{self.port}/redirect", f"http://[::1]:{self.port}/cat.png",
                f"https://127.0.0.1:{self.port}/cat.png", f"http://127.1:{self.port}/cat.png"]
        return urls

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.hits)

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- payloads -------------------------------------------------------------------------------------------------

FILE_KINDS = {"image", "file", "video", "audio", "gallery", "model3d", "uploadbutton", "imageeditor", "files",
              "simpleimage", "annotatedimage"}
TEXT_KINDS = {"textbox", "dropdown", "radio", "code", "markdown", "html", "chatbot", "multimodaltextbox",
              "browserstate", "simpletextbox", "highlightedtext", "textarea"}
NUMBER_KINDS = {"number", "slider"}
HUGE_NUMBERS = (10**30, -10**18, 1e308, -1e308, 2**63, 10**100)
SEED_TEXTS = ("10000000", "9" * 50, "9" * 12, "1, " * 5000 + "1")
MEGABYTE = 1 << 20


def nested(depth: int = 200) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class Payloads:
    """Seeded hostile values per input slot: server paths in file slots, loopback URLs to the trap in text slots,
    huge numbers, huge strings and the seeds texts, wrong types, nested junk and nulls; each slot of a call is
    otherwise left at a plausible value (its default, or one of its choices) so the attack reaches the work behind
    the first check."""

    THEMES = ("server_path", "loopback_url", "huge_number", "huge_string", "seeds_text", "wrong_type", "nested",
              "null", "mixed")

    def __init__(self, seed: int, server_paths: list[str], urls: list[str]):
        self.seed = seed
        self.rng = random.Random(seed)
        self.server_paths = list(server_paths)
        self.urls = list(urls)
        self._megabyte = "A" * MEGABYTE

    def plausible(self, slot: Slot) -> Any:
        """The slot's default, or one of its choices (a list of one for a checkbox group)."""
        choices = slot.choices
        if choices and self.rng.random() < 0.5:
            choice = self.rng.choice(choices)
            return [choice] if slot.kind == "checkboxgroup" else choice
        return slot.props.get("value")

    def hostile(self, slot: Slot, theme: str) -> Any:
        """A value of ``theme`` for ``slot``; themes that do not fit the slot's kind leave it plausible (file slots
        empty, so that a URL in a text slot is what the event works on)."""
        rng, kind = self.rng, slot.kind
        if theme == "server_path":
            if kind in FILE_KINDS:
                path = rng.choice(self.server_paths)
                return file_data(path, rng.choice([Path(path).name, "cat.png"]))
        elif theme == "loopback_url":
            if kind in FILE_KINDS:
                return None
            # Free text always; a choice box sometimes, so the other choices stay valid and the URL gets used.
            if kind in ("textbox", "state", "browserstate") or (kind in TEXT_KINDS and rng.random() < 0.3):
                return rng.choice(self.urls)
        elif theme == "huge_number":
            if kind in NUMBER_KINDS or rng.random() < 0.2:
                return rng.choice(HUGE_NUMBERS)
        elif theme == "huge_string":
            return self._megabyte
        elif theme == "seeds_text":
            if kind in TEXT_KINDS or rng.random() < 0.2:
                return rng.choice(SEED_TEXTS)
        elif theme == "wrong_type":
            if rng.random() < 0.5:
                return rng.choice([[1, 2, 3], {"a": 1}, True, False, 3.5, "", "false", {"path": 5}, [None],
                                   {"meta": {"_type": "gradio.FileData"}}, -1, 0])
        elif theme == "nested":
            return rng.choice([nested(200), {"a": nested(200)}, [{"path": nested(50)}]])
        elif theme == "null":
            if rng.random() < 0.7:
                return None
        elif theme == "mixed":
            light = [t for t in self.THEMES if t not in self.ONE_SLOT and t != "mixed"]
            return self.hostile(slot, rng.choice(light)) if rng.random() < 0.5 else self.plausible(slot)
        return self.plausible(slot)

    # Themes heavy in memory go into one slot per call (the next call picks another), so a call's growth is its own.
    ONE_SLOT = ("huge_string", "nested")

    def data_for(self, event: Event, theme: str) -> list:
        """One call's data: ``theme`` in the slots it fits (one slot for the heavy themes), the others plausible."""
        if theme in self.ONE_SLOT and event.slots:
            chosen = self.rng.randrange(len(event.slots))
            return [self.hostile(slot, theme) if i == chosen else self.plausible(slot)
                    for i, slot in enumerate(event.slots)]
        return [self.hostile(slot, theme) for slot in event.slots]
