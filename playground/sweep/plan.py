"""The one sweep plan: models x combinations x seeds, each a priced :class:`~playground.contract.VideoRequest`, and
what the ledger already holds of each. Used by the notebooks' sweeps, the page's Sweep tab and ``/sweep`` alike;
its budget checks are :mod:`playground.caps`'s.

>>> plan = plan_jobs("slow zoom in", [1, 2], resolution="480p", duration=4)
>>> [job.seed for job in plan.jobs], plan.total
([1, 2], 0.192)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..contract import SEED_MAX, SPICY, V1_PRO_FAST, VideoRequest, get_model, show  # noqa: F401 - doctests
from ..errors import ValidationError
from ..jobs import Ledger
from ..pricing import Quote, format_usd, price_of, quote
from ..status import COMPLETED

FIRST_SEED = 1

Models = str | Sequence[str]
"""One model id, or a list of them (a sweep across models)."""

# What a planned job is: paid now, already in the ledger (reused at $0.00), or sent earlier and still collected.
NEW, DONE, UNFINISHED = "new", "done", "unfinished"


@dataclass(frozen=True)
class PlannedJob:
    """One request of a sweep: its fields, its price, and what the ledger already knows of it.

    ``state`` is ``"new"`` (will be paid), ``"done"`` (a completed identical request is in the ledger and will be
    reused) or ``"unfinished"`` (an identical request was sent earlier and is still being collected). ``params`` are
    ``request.fields`` as a plain dict.
    """

    index: int
    seed: int
    params: dict
    cost: float
    fingerprint: str = ""
    state: str = NEW
    job_id: int | None = None
    request: VideoRequest | None = field(default=None, repr=False, compare=False)
    model: str = SPICY
    confirmed: bool = True  # whether the pricing table confirms ``cost``


@dataclass(frozen=True)
class SweepEstimate:
    """The price of a planned sweep, before anything is sent. ``str()`` gives the one line notebooks show."""

    model: str
    jobs: tuple[PlannedJob, ...]
    confirmed: bool = True
    varied: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    @property
    def total(self) -> float:
        """USD for every job of the sweep, as if none had been paid for before."""
        return round(sum(j.cost for j in self.jobs), 6)

    @property
    def to_pay(self) -> float:
        """USD the sweep would commit now: the jobs the ledger does not already hold."""
        return round(sum(j.cost for j in self.jobs if j.state == NEW), 6)

    @property
    def n_new(self) -> int:
        return sum(1 for j in self.jobs if j.state == NEW)

    def message(self) -> str:
        shown = _describe_params(self.jobs[0].params, exclude=self.varied) if self.jobs else ""
        each = {j.cost for j in self.jobs}
        price = f"{format_usd(next(iter(each)))} each" if len(each) == 1 else "prices vary by job"
        if len(self.models) > 1:
            shown = f"{len(self.models)} models; {shown}"
        text = (f"{self.n_jobs} jobs ({shown}): {format_usd(self.total)} estimated, {price}; "
                f"{format_usd(self.to_pay)} to pay now")
        held = self.n_jobs - self.n_new
        if held:
            text += f" ({held} already in the ledger)"
        if not self.confirmed:
            text += " [estimate: the pricing table does not confirm this model's price]"
        return text

    __str__ = message

    @property
    def held(self) -> list[bool]:
        """For each job, whether the ledger holds it (paid for earlier: shown again or collected, at $0.00)."""
        return [job.state != NEW for job in self.jobs]

    def is_held(self, index: int) -> bool:
        return self.jobs[index].state != NEW

    @property
    def label(self) -> str:
        """The page's Run sweep button: what will be paid, and how many clips the ledger serves at $0.00."""
        count, held = self.n_jobs, self.n_jobs - self.n_new
        text = f"Run sweep · {count} clips · {Quote(self.to_pay, self.confirmed).short()}"
        if held == count:
            return f"{text} (all {count} already paid: shown again at $0.00)"
        return f"{text} ({held} already paid: $0.00)" if held else text


def seed_list(seeds: int | Iterable[int], first_seed: int = FIRST_SEED) -> list[int]:
    """Explicit seeds: ``n`` gives ``first_seed .. first_seed + n - 1``; a list is checked and de-duplicated.

    Sweeps never use random seeds: explicit ones make every clip reproducible and every re-run free.

    >>> seed_list(3)
    [1, 2, 3]
    """
    if isinstance(seeds, bool):
        raise ValidationError(f"seeds: expected a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValidationError(f"seeds: {seeds} is not a number of seeds; use 1 or more")
        values = list(range(first_seed, first_seed + seeds))
    else:
        values = [_as_seed(s) for s in seeds]
        if not values:
            raise ValidationError("seeds: the list is empty; give at least one seed")
    bad = [s for s in values if not 0 <= s <= SEED_MAX]
    if bad:
        raise ValidationError(f"seeds: {bad[0]} is out of range; sweeps need explicit seeds from 0 to {SEED_MAX}")
    return list(dict.fromkeys(values))


def sweep_cost(n_or_seeds: int | Iterable[int] = 8, *, model: Models = SPICY, grid: dict[str, Sequence] | None = None,
               **params: Any) -> float:
    """USD for a sweep of ``n_or_seeds`` seeds (times every combination of ``grid``, times every model) with
    ``params``. Pure; a field a model lacks is judged as in a run (see the module docstring).

    >>> sweep_cost(8, resolution="480p", duration=4, generate_audio=True)
    0.768
    >>> sweep_cost(2, model=[SPICY, V1_PRO_FAST], resolution="480p", duration=4)  # V1 Pro Fast has no audio
    0.288
    """
    seeds = seed_list(n_or_seeds)
    combos = _combinations(grid or {})
    total = 0.0
    for name in model_list(model):
        for combo in combos:
            total += quote(name, fields_for(name, {**params, **combo}, explicit=set(params) | set(combo))).usd
    return round(total * len(seeds), 6)


def model_list(model: Models) -> list[str]:
    """The models of a sweep: one id or a list, checked and de-duplicated (a ValidationError naming ``model``).

    >>> model_list(SPICY) == [SPICY]
    True
    """
    names = [model] if isinstance(model, str) else list(model) if isinstance(model, Iterable) else [model]
    if not names:
        raise ValidationError("model: the list is empty; give at least one model")
    for name in names:
        get_model(name)  # UnknownModel names the field
    return list(dict.fromkeys(names))


def model_label(model: str) -> str:
    """A model's short name for rows and labels: "V1.5 Pro Spicy", "V1 Pro Fast"."""
    return get_model(model).title.replace("Seedance ", "").replace(" Image-to-Video", "").strip()


def fields_for(model: str, fields: dict[str, Any], *, explicit: Iterable[str] = ()) -> dict[str, Any]:
    """``fields`` as ``model`` takes them: a field the model lacks is dropped when it was left at a default (not in
    ``explicit``) or asks for nothing (False, None); asked for explicitly, it is refused naming the model and field.

    >>> fields_for(V1_PRO_FAST, {"resolution": "480p", "generate_audio": True})
    {'resolution': '480p'}
    """
    spec, asked = get_model(model), set(explicit)
    kept: dict[str, Any] = {}
    problems = []
    for name, value in fields.items():
        if name in spec.names:
            kept[name] = value
        elif name in asked and value not in (None, False) and name == "last_image":
            problems.append(f"last_image: {model_label(model)} ({model}) takes no last image; leave it out, or "
                            "sweep models that take one")
        elif name in asked and value not in (None, False):
            problems.append(f"{name}: {model_label(model)} ({model}) has no {name}; got {show(value)}. Leave it "
                            "out, or sweep models that have it")
    if problems:
        raise ValidationError(problems)
    return kept


def _as_seed(value: Any) -> int:
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"seeds: {value!r} is not a whole number")
    return value


def _combinations(grid: dict[str, Sequence]) -> list[dict[str, Any]]:
    names = list(grid)
    for name in names:
        values = grid[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ValidationError(f"grid: {name} needs a list of values, got {values!r}")
        if len(list(values)) == 0:
            raise ValidationError(f"grid: {name} has no values")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(list(grid[n]) for n in names))]


def plan_jobs(prompt: str | None, seeds: int | Iterable[int] | None = 1, grid: dict[str, Sequence] | None = None,
              model: Models = SPICY, *, has_last_image: bool = False, explicit: Iterable[str] | None = None,
              **params: Any) -> SweepEstimate:
    """The jobs of a sweep (models x combinations of ``grid`` x seeds), each checked against its model and priced,
    before any image is read or anything is sent; every job ``"new"`` (see :func:`with_ledger`).

    A field a model lacks is left out for it unless it is in ``explicit`` (default: every field of ``params`` and
    ``grid``: a notebook's keyword asks for it), when it is refused naming the model. Every problem of every model is
    gathered into one ValidationError.
    """
    grid = dict(grid or {})
    if "seed" in grid:
        if seeds not in (1, None):
            raise ValidationError("grid: give the seeds either as seeds=... or as a grid entry, not both")
        seeds = grid.pop("seed")
    if "seed" in params:
        raise ValidationError("seed: a sweep takes its seeds from seeds=...; pass seeds=[...] instead")
    if "model" in grid:
        raise ValidationError("grid: give the models as model=[...], not as a grid entry")
    models = model_list(model)
    fields_known = {n for m in models for n in get_model(m).names}
    for name in grid:
        if name not in fields_known or name in ("image", "last_image"):
            raise ValidationError(f"grid: {name} is not a field to vary; choose from "
                                  f"{', '.join(sorted(fields_known - {'image', 'last_image', 'seed'}))}")
    seed_values, combos = seed_list(seeds if seeds is not None else 1), _combinations(grid)
    asked = set(params) | set(grid) if explicit is None else set(explicit)
    jobs: list[PlannedJob] = []
    problems: list[str] = []
    for name in models:
        for combo in combos:
            try:
                fields = {**params, **{k: v for k, v in combo.items() if v is not None}}
                built = _requests(name, prompt, seed_values, fields, has_last_image, asked)
            except ValidationError as exc:
                tag = model_label(name)
                named = [p if len(models) == 1 or tag in p else f"{p} ({tag})" for p in exc.problems]
                problems.extend(p for p in named if p not in problems)
                continue
            for request in built:
                q = price_of(request)
                jobs.append(PlannedJob(len(jobs), request.seed, request.params(), q.usd, request=request, model=name,
                                       confirmed=q.confirmed))
    if problems:
        raise ValidationError(problems)
    varied = tuple(name for name in grid if len({repr(c.get(name)) for c in combos}) > 1)
    if len(models) > 1:
        varied = ("model", *varied)
    return SweepEstimate(models[0], tuple(jobs), all(j.confirmed for j in jobs), varied, tuple(models))


def _requests(model: str, prompt: str | None, seeds: list[int], fields: dict[str, Any], has_last_image: bool,
              explicit: set[str]) -> list[VideoRequest]:
    """One request per seed of ``model`` with ``fields`` as the model takes them (see :func:`fields_for`)."""
    asked = dict(fields)
    if has_last_image:
        asked["last_image"] = True  # a marker for fields_for: the picture itself travels beside
        explicit = explicit | {"last_image"}
    kept = fields_for(model, asked, explicit=explicit)
    has_last = bool(kept.pop("last_image", False))
    return [VideoRequest.build(model, has_last_image=has_last, **{"prompt": prompt, **kept, "seed": seed})
            for seed in seeds]


def with_ledger(estimate: SweepEstimate, ledger: Ledger, backend_id: str, hashes: dict[str, str]) -> SweepEstimate:
    """``estimate`` with what the ledger holds of each job: the identity :func:`~playground.pipeline.generate` gives
    a request (backend, model, fields, the images' content ``hashes``), asked without sending anything."""
    jobs = [replace(j, fingerprint=j.request.fingerprint(backend_id, hashes)) for j in estimate.jobs]
    known = _ledger_states(ledger, backend_id, {j.fingerprint for j in jobs})
    jobs = [j if j.fingerprint not in known else replace(j, state=known[j.fingerprint][0],
                                                           job_id=known[j.fingerprint][1]) for j in jobs]
    return replace(estimate, jobs=tuple(jobs))


def _ledger_states(ledger: Ledger, backend_id: str, fps: set[str]) -> dict[str, tuple[str, int]]:
    """For each fingerprint the ledger holds: ("done", job) when reusable, else ("unfinished", job) when pending."""
    states: dict[str, tuple[str, int]] = {}
    for fp in fps:
        job = ledger.find_reusable(fp)
        if job is not None:
            states[fp] = (DONE, job.id)
    for job in ledger.unfinished(base_url=backend_id):
        if job.fingerprint in fps and job.fingerprint not in states and job.status != COMPLETED:
            states[job.fingerprint] = (UNFINISHED, job.id)
    return states


def _describe_params(params: dict, exclude: Iterable[str] = ()) -> str:
    skip = set(exclude)
    parts = []
    if "resolution" not in skip and params.get("resolution"):
        parts.append(str(params["resolution"]))
    if "duration" not in skip and params.get("duration"):
        parts.append(f"{params['duration']} s")
    if "aspect_ratio" not in skip and params.get("aspect_ratio"):
        parts.append(str(params["aspect_ratio"]))
    if "generate_audio" not in skip and "generate_audio" in params:
        parts.append(f"audio {'on' if params['generate_audio'] else 'off'}")
    if "camera_fixed" not in skip and params.get("camera_fixed"):
        parts.append("fixed camera")
    return ", ".join(parts)


def plain(value: Any) -> Any:
    """numpy/pandas scalars as plain Python values, so validation and JSON see ints, bools and strings."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value

