"""Seed and parameter sweeps, their cost before paying, and measurements for the notebooks.

>>> estimate_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4)   # doctest: +SKIP
8 jobs (480p, 4 s, audio on): $0.768 estimated, $0.096 each; $0.768 to pay now
>>> df = seed_sweep("cat.png", "slow zoom in", seeds=8, resolution="480p", duration=4, max_cost=1.0)  # doctest: +SKIP
>>> best = report.rank_clips(df).iloc[0]                                                # doctest: +SKIP
>>> final = rerender(best, "cat.png", resolution="1080p")                               # doctest: +SKIP

``model`` is one model id or a list: the plan is then models x seeds (x grid), priced in total, each row carrying its
model. A field a model lacks (audio or a last image on V1 Pro Fast) is left out for that model when it was not asked
for, and refused naming the model and the field when it was (``generate_audio=True``), before anything is sent.

Every job is a :class:`~playground.contract.VideoRequest` with an explicit seed, run by one
:class:`~playground.runner.Runner`, so the ledger makes a sweep idempotent: re-running it pays nothing twice, and a
sweep that crashed resumes the tasks it left at the API instead of submitting them again. The whole sweep is priced
and checked against ``max_cost`` before anything is sent. Tables, plots and measurements of sweeps are in
:mod:`playground.report`.

One concept per file: :mod:`.plan` (the one sweep plan, also the page's), :mod:`.rows` (the sweep's table) and
:mod:`.run` (running a plan).
"""

from .plan import (
    FIRST_SEED,
    Models,
    PlannedJob,
    SweepEstimate,
    fields_for,
    model_label,
    model_list,
    plan_jobs,
    seed_list,
    sweep_cost,
    with_ledger,
)
from .rows import PARAM_COLUMNS, SWEEP_COLUMNS, sweep_frame, sweep_row
from .run import (
    DEFAULT_CONCURRENCY,
    SweepHooks,
    estimate_sweep,
    grid_sweep,
    read_plan,
    rerender,
    run_planned,
    seed_sweep,
)

__all__ = ["seed_sweep", "grid_sweep", "estimate_sweep", "sweep_cost", "seed_list", "SweepEstimate", "PlannedJob",
           "SweepHooks", "model_list", "model_label", "fields_for", "Models", "plan_jobs", "with_ledger", "read_plan",
           "run_planned", "rerender", "sweep_row", "sweep_frame", "SWEEP_COLUMNS", "PARAM_COLUMNS",
           "DEFAULT_CONCURRENCY", "FIRST_SEED"]
