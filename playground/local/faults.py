"""Fault injection for the local API: scripted or random failures, changeable while the server runs.

A plan is a list of rules. Each rule matches an endpoint and says what goes wrong, how many times and how often:

    ENDPOINT:ACTION[:ARG][xN | x*][@P]

- ENDPOINT: ``submit``, ``result``, ``upload``, ``balance``, ``price`` (both price endpoints), ``history``,
  ``delete``, ``download``, ``models``, ``billing`` or ``*`` (any of them); ``task`` for what happens to the next
  tasks; ``output`` for output files.
- ACTION on an endpoint: ``429`` (ARG = Retry-After seconds, default 1), ``500``, ``502``, ``503``, ``504``,
  ``slow`` (ARG = delay in seconds, default 1), ``drop`` (the connection is closed before anything is done),
  and on ``submit`` only ``drop_after_accept`` (the task is created and charged, then the connection is closed
  with no reply) and ``slow_reply`` (ARG = seconds, default 1: the task is created and charged at once, and may
  end and fire its webhook, but the reply is held that long: a webhook can arrive before the client knows the id).
- ACTION on ``task``: ``fail`` (ARG = the task's error code, default 5000; 1200 moderation, 1402 media URL
  unreachable, ...), ``cancelled`` (the service cancels it once it starts), ``timeout`` (it times out when it
  would have completed, code 5004): failed, cancelled and timed-out tasks are refunded; ``nsfw`` (the task
  completes with ``has_nsfw_contents == [true]``).
- ACTION on ``output``: ``404`` (the output file answers 404, as an expired one does).
- ACTION on ``refund`` (the refund of a task that failed, timed out or was cancelled): ``later`` (ARG = seconds,
  default 1: its billing row appears that long after the task ended, as the real API refunds within hours; the
  balance is credited at once).
- ACTION on ``webhook`` (a task's webhook delivery): ``drop`` (never sent), ``delay`` (ARG = seconds, default 1),
  ``duplicate`` (sent twice with the same webhook-id), ``bad_signature`` (signed with another secret).
- ``xN`` fires for the next N matching calls, ``x*`` for every one; ``@P`` fires each time with probability P.
  Default: once, except ``output:404`` and rules with ``@P``, which default to every time.
- A ``seed:N`` item seeds the random draws, so a probabilistic plan replays identically.

>>> plan = FaultPlan.parse("result:503x2, submit:drop_after_accept, task:fail:1200, output:404")
>>> [str(f) for f in plan.rules][:2]
['result:503x2', 'submit:drop_after_accept']

Tests change a running server's plan with ``server.faults.add("result:503x2")`` and read how often a rule fired
with ``server.faults.fired("result", "503")``.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENDPOINTS = ("submit", "result", "upload", "balance", "price", "history", "delete", "download", "models", "billing")
HTTP_ERRORS = ("429", "500", "502", "503", "504")
SUBMIT_ONLY = ("drop_after_accept", "slow_reply")
ENDPOINT_ACTIONS = HTTP_ERRORS + ("slow", "drop") + SUBMIT_ONLY
TASK_ACTIONS = ("fail", "cancelled", "timeout", "nsfw")
OUTPUT_ACTIONS = ("404",)
WEBHOOK_ACTIONS = ("drop", "delay", "duplicate", "bad_signature")
REFUND_ACTIONS = ("later",)

_RULE = re.compile(
    r"^(?P<endpoint>[a-z*]+):(?P<action>\d{3}|[a-z_]+)(?::(?P<arg>\d+(?:\.\d+)?))?"
    r"(?:x(?P<times>\d+|\*))?(?:@(?P<probability>\d*\.?\d+))?$"
)


@dataclass
class Fault:
    """One rule of a plan. ``times`` None means no limit; ``fired`` counts how often it took effect."""

    endpoint: str
    action: str
    arg: float | None = None
    times: int | None = 1
    probability: float = 1.0
    task_ids: frozenset[str] | None = None  # output:404 only: which tasks' outputs are gone (None: all)
    fired: int = 0

    def __post_init__(self) -> None:
        self.endpoint = self.endpoint.strip().lower()
        self.action = self.action.strip().lower()
        if self.endpoint == "task":
            allowed = TASK_ACTIONS
        elif self.endpoint == "output":
            allowed = OUTPUT_ACTIONS
        elif self.endpoint == "webhook":
            allowed = WEBHOOK_ACTIONS
        elif self.endpoint == "refund":
            allowed = REFUND_ACTIONS
        elif self.endpoint in ENDPOINTS or self.endpoint == "*":
            allowed = ENDPOINT_ACTIONS
        else:
            known = ", ".join(ENDPOINTS + ("*", "task", "output", "webhook", "refund"))
            raise ValueError(f"fault endpoint: {self.endpoint!r} is not known; choose one of {known}")
        if self.action not in allowed:
            raise ValueError(f"fault action: {self.action!r} does not apply to {self.endpoint!r}; "
                             f"choose one of {', '.join(allowed)}")
        if self.action in SUBMIT_ONLY and self.endpoint != "submit":
            raise ValueError(f"fault action: {self.action} applies to submit only")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability: {self.probability} is out of range; allowed 0 to 1")
        if self.times is not None and self.times < 0:
            raise ValueError(f"fault times: {self.times} must not be negative")
        if self.task_ids is not None:
            self.task_ids = frozenset(self.task_ids)

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    @property
    def retry_after(self) -> float:
        return self.arg if self.arg is not None else 1.0

    @property
    def delay(self) -> float:
        return self.arg if self.arg is not None else 1.0

    @property
    def code(self) -> int:
        return int(self.arg) if self.arg is not None else 5000

    def __str__(self) -> str:
        text = f"{self.endpoint}:{self.action}"
        if self.arg is not None:
            text += f":{self.arg:g}"
        default_times = None if (self.endpoint == "output" or self.probability < 1.0) else 1
        if self.times != default_times:
            text += "x*" if self.times is None else f"x{self.times}"
        if self.probability < 1.0:
            text += f"@{self.probability:g}"
        return text


def parse_rule(text: str) -> Fault:
    """One rule from its spec text, e.g. ``"result:503x2"``; raises ValueError naming the bad part."""
    item = text.strip().lower()
    match = _RULE.match(item)
    if match is None:
        raise ValueError(f"fault {text!r}: expected ENDPOINT:ACTION[:ARG][xN|x*][@P], e.g. result:503x2")
    endpoint, action = match["endpoint"], match["action"]
    probability = float(match["probability"]) if match["probability"] else 1.0
    if match["times"] == "*":
        times = None
    elif match["times"]:
        times = int(match["times"])
    else:
        times = None if (endpoint == "output" or match["probability"]) else 1
    arg = float(match["arg"]) if match["arg"] else None
    return Fault(endpoint, action, arg=arg, times=times, probability=probability)


class FaultPlan:
    """The faults one server injects; thread-safe, changeable at runtime. See the module docstring."""

    def __init__(self, rules: Iterable[Fault] = (), *, seed: int | None = None):
        self._lock = threading.Lock()
        self._rules: list[Fault] = list(rules)
        self._rng = random.Random(seed)
        self.seed = seed

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """A plan from comma-separated rules (and an optional ``seed:N``); empty or None gives no faults."""
        plan = cls()
        if spec:
            plan.add(spec)
        return plan

    def copy(self) -> FaultPlan:
        """A fresh plan with the same rules, none fired yet."""
        with self._lock:
            rules = [Fault(f.endpoint, f.action, f.arg, f.times, f.probability, f.task_ids) for f in self._rules]
        return FaultPlan(rules, seed=self.seed)

    def add(self, spec: str, *, task_ids: Iterable[str] | None = None) -> list[Fault]:
        """Add the rules of ``spec`` (comma-separated); ``task_ids`` limits ``output:404`` rules to those tasks.

        >>> FaultPlan().add("result:503x2,task:nsfw")[0].times
        2
        """
        added: list[Fault] = []
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower().startswith("seed:"):
                self.reseed(int(item.split(":", 1)[1]))
                continue
            fault = parse_rule(item)
            if task_ids is not None and fault.endpoint == "output":
                fault.task_ids = frozenset(task_ids)
            added.append(fault)
        for fault in added:
            self.add_fault(fault)
        return added

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        log.info("fault added: %s", fault)
        return fault

    def expire_outputs(self, *task_ids: str) -> Fault:
        """Make the outputs of ``task_ids`` (all outputs when none given) answer 404 from now on."""
        return self.add_fault(Fault("output", "404", times=None, task_ids=frozenset(task_ids) if task_ids else None))

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Remove every rule (and with them their fired counts)."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def fired(self, endpoint: str | None = None, action: str | None = None) -> int:
        """How many times rules matching ``endpoint`` and ``action`` (None: any) have taken effect."""
        with self._lock:
            return sum(f.fired for f in self._rules
                       if (endpoint is None or f.endpoint == endpoint) and (action is None or f.action == str(action)))

    # --- used by the server -------------------------------------------------------------------------------------

    def take(self, endpoint: str, actions: Iterable[str], *, task_id: str | None = None) -> Fault | None:
        """The first active rule for ``endpoint`` with one of ``actions`` that fires now (counted), else None."""
        fired = self._fire(endpoint, set(actions), task_id, first_only=True)
        return fired[0] if fired else None

    def take_delay(self, endpoint: str, action: str = "slow", *, task_id: str | None = None) -> float:
        """Seconds to hold ``endpoint``: the sum over its ``action`` rules (``slow``, ``delay`` of a webhook,
        ``later`` of a refund) firing now, each once."""
        return sum(f.delay for f in self._fire(endpoint, {action}, task_id, first_only=False))

    def _fire(self, endpoint: str, actions: set[str], task_id: str | None, *, first_only: bool) -> list[Fault]:
        fired: list[Fault] = []
        with self._lock:
            for fault in self._rules:
                if fault.action not in actions or not fault.active:
                    continue
                if fault.endpoint != endpoint and not (fault.endpoint == "*" and endpoint in ENDPOINTS):
                    continue
                if fault.task_ids is not None and task_id not in fault.task_ids:
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                log.info("fault fired: %s on %s (%d so far)", fault, endpoint, fault.fired)
                fired.append(fault)
                if first_only:
                    break
        return fired

    def __repr__(self) -> str:
        return f"FaultPlan({', '.join(str(f) for f in self.rules)!r})"
