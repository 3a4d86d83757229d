"""The Sweep tab: the seed-sweep notebook's flow in the page. N seeds (or a list) and one or more models on the Run
tab's image, prompt and settings, priced in total before anything is sent; live progress per clip; then the clips, a
contact sheet and one tiled video playing in sync. Picking a clip makes it the draft for "Render final". The work is
:func:`playground.drafts.run_sweep` (the session's runner, caps and ledger)."""

from __future__ import annotations

import threading
import time
from typing import Any

import gradio as gr

from .. import drafts
from ..errors import WaveSpeedError
from ..pricing import format_usd
from ..session import Playground
from ..status import COMPLETED, UNFINISHED
from . import final
from .context import owner_of, readable, session_of, visitor
from .present import history_update

NOTE = "**Note:** "


def _plan_label(pg: Playground, page: Any, values: dict) -> tuple[str, str]:
    """The Run sweep button's label with what the sweep will pay, and why there is none (a field's problem) or ""."""
    tab, form = page.sweep, page.form.read(values)
    try:
        plan = drafts.plan_sweep(form, values.get(tab.seeds), values.get(tab.models) or [],
                                 has_last_image=bool(form.last_image))
        payer = pg.payer(values.get(page.keys.backend), page.keys.current_key(values))
    except WaveSpeedError as exc:
        return "Run sweep", str(exc)
    except (TypeError, ValueError):
        return "Run sweep", ""
    return drafts.held_by_ledger(pg, plan, payer, form).label, ""


def price(pg: Playground, page: Any, values: dict) -> dict:
    label, problem = _plan_label(pg, page, values)
    shown = values.get(page.sweep.progress) or ""
    # A problem is noted where the sweep's progress goes; the note goes once fixed, a finished sweep's summary stays.
    note = f"{NOTE}{problem}" if problem else ("" if shown.startswith(NOTE) else gr.update())
    return {page.sweep.run: gr.update(value=label), page.sweep.progress: note}


def progress_table(plan: drafts.SweepEstimate, latest: dict) -> str:
    """While it runs: one row per clip, its model, seed, price (what it will pay) and where it is."""
    rows = ["| clip | model | seed | price | state |", "|---|---|---|---|---|"]
    for i, job in enumerate(plan.jobs):
        event = latest.get(i)
        state = "waiting to be sent" if event is None else f"{event.phase} · {event.elapsed:.0f} s"
        usd = 0.0 if plan.is_held(i) else job.cost
        rows.append(f"| {i + 1} | {drafts.short_name(job.model)} | {job.seed} | {format_usd(usd)} | {state} |")
    return "\n".join(rows)


def _row_state(row: dict) -> tuple[str, str, float]:
    """A finished sweep's row: what it is ("done", "reused", "running", "failed", "unsent"), the sentence for the
    table, and what it cost (the ledger's figure)."""
    job = row.get("job_id")
    if job is None or job != job:  # never sent (None, NaN or pandas' NA)
        return "unsent", "not sent", 0.0
    job, status, cost = int(job), str(row.get("status")), float(row.get("cost") or 0.0)
    if status == COMPLETED and row.get("reused"):
        return "reused", f"already paid: shown again at $0.00 (job {job})", 0.0
    if status == COMPLETED:
        return "done", f"done (job {job})", cost
    if status in UNFINISHED:
        return "running", f"sent, {status} at the API: job {job} in History", cost
    return "failed", f"{status} (job {job}): {str(row.get('error') or '')[:80]}", cost


def summary(swept: drafts.SweepOutcome) -> str:
    """The finished sweep, row by row and in one line: every clip sent, what it cost and where to find it."""
    records = swept.rows.to_dict("records")
    states = [_row_state(row) for row in records]
    table = ["| clip | model | seed | cost | state |", "|---|---|---|---|---|"]
    for i, (row, (_, text, cost)) in enumerate(zip(records, states, strict=True)):
        table.append(f"| {i + 1} | {drafts.short_name(row['model'])} | {row['seed']} | {format_usd(cost)} | {text} |")
    kinds = [kind for kind, _, _ in states]
    went = ("done", "running", "failed")
    sent = [int(row["job_id"]) for row, kind in zip(records, kinds, strict=True) if kind in went]
    paid = sum(cost for kind, _, cost in states if kind in went)
    parts = [f"{len(records)} clips"]
    if sent:
        parts.append(f"{len(sent)} sent, {format_usd(paid)} ({_jobs(sorted(sent))} in History)")
    for kind, words in (("reused", "already paid, shown again at $0.00"), ("done", "done"),
                        ("running", "still rendering at the API: resume in History to collect"),
                        ("failed", "ended without a video"), ("unsent", "never sent, $0.00")):
        if kinds.count(kind):
            parts.append(f"{kinds.count(kind)} {words}")
    if swept.cancelled:
        parts.append("cancelled: no contact sheet or tiled video")
    return "\n".join(table) + "\n\n" + " · ".join(parts)


def _jobs(ids: list[int]) -> str:
    return f"job {ids[0]}" if len(ids) == 1 else "jobs " + ", ".join(str(i) for i in ids)


def run(pg: Playground, page: Any, values: dict, request: gr.Request):
    """Run the sweep in the background, yielding the per-clip progress, then every clip's outcome, the gallery of
    posters, the sheet and the tiled video."""
    tab, session, key = page.sweep, session_of(request), page.keys.current_key(values)
    owner, started = owner_of(page.keys.owner_of(values), request), time.time()
    form, seeds, models = page.form.read(values), values.get(tab.seeds), values.get(tab.models) or []
    try:
        payer = pg.payer(values.get(page.keys.backend), key)
        plan = drafts.held_by_ledger(pg, drafts.plan_sweep(form, seeds, models, has_last_image=bool(form.last_image)),
                                     payer, form)
    except WaveSpeedError as exc:
        raise readable(exc) from None
    latest: dict = {}
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["swept"] = drafts.run_sweep(pg, form, seeds, models, payer=payer, session=session, owner=owner,
                                            visitor=visitor(request), on_events=latest.update)
        except WaveSpeedError as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="sweep", daemon=True)
    thread.start()
    while thread.is_alive():
        yield {tab.progress: progress_table(plan, latest)}
        thread.join(0.25)
    if "error" in box:
        raise readable(pg.refuse(session, box["error"], owner=owner, since=started))
    yield _shown(pg, page, box["swept"], owner, key)


def _shown(pg: Playground, page: Any, swept: drafts.SweepOutcome, owner: str, key: str) -> dict:
    tab = page.sweep
    shown = [row for row in swept.clips if not pg.hides(bool(row.get("nsfw")))]
    gallery = [(str(swept.posters.get(int(row["job_id"])) or row["output_path"]),
                f"{drafts.short_name(row['model'])} · seed {row['seed']}") for row in shown]
    return {tab.progress: summary(swept), tab.gallery: gallery,
            tab.sheet: str(swept.sheet) if swept.sheet else None,
            tab.tiled: str(swept.tiled) if swept.tiled else None,
            tab.clips: [int(row["job_id"]) for row in shown], **history_update(pg, page, owner, key)}


def start(pg: Playground, page: Any) -> dict:
    return {page.sweep.run: gr.update(visible=False), page.sweep.cancel: gr.update(visible=True)}


def finish(pg: Playground, page: Any) -> dict:
    return {page.sweep.run: gr.update(visible=True), page.sweep.cancel: gr.update(visible=False)}


def pick(pg: Playground, page: Any, clips: list, key: str, owner: str, request: gr.Request,
         evt: gr.SelectData) -> dict:
    """A clip becomes the current draft: shown above, with its "Render final" row."""
    if not isinstance(clips, list) or not isinstance(evt.index, int) or not 0 <= evt.index < len(clips):
        return {}
    owner, job_id = owner_of(owner, request), clips[evt.index]
    job = pg.paid_job(pg.job_for(job_id, owner, key))
    return {page.output.video: job.video_path, page.output.seed: str(job.seed),
            page.output.request_id: job.request_id or "", page.output.status: f"Draft: job {job_id} from the sweep.",
            **final.offer(pg, page, job_id, owner, key)}
