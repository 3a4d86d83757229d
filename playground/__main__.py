"""Command line: `seedance-playground` (or `python -m playground`) `generate IMAGE`, `resume`, `history`, `claim`,
`price`, `balance`, `info VIDEO`, `local` (serve the local API) and `ui` (start the playground).

User errors print one clear line and exit with status 2 (1 for API failures); never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from .contract import ASPECT_RATIOS, RESOLUTIONS, SPICY
from .errors import CapExceeded, ValidationError, WaveSpeedError


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seedance-playground",
        description="Seedance image-to-video from the command line: generate videos, price them, read the ledger "
                    "(history, resume, claim), read what a saved video was made with (info), and serve the local "
                    "preview API (local) or the playground page (ui). With no WAVESPEED_API_KEY everything runs on "
                    "the free local preview.")
    p.add_argument("--backend", choices=["auto", "api", "local"], default="auto",
                   help="auto: the API when WAVESPEED_API_KEY is set, else the free local preview")
    p.add_argument("--base-url", help="API base URL (default WAVESPEED_BASE_URL or https://api.wavespeed.ai)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="image to video")
    g.add_argument("image", help="path or URL of the first frame")
    g.add_argument("--prompt")
    g.add_argument("--last-image")
    # No defaults here: an omitted field takes the model's own default (playground.contract), applied once.
    g.add_argument("--duration", type=int, help="seconds (default: the model's, 5)")
    g.add_argument("--resolution", choices=RESOLUTIONS, help="default: the model's, 720p")
    g.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, help="default: follows the image")
    g.add_argument("--camera-fixed", type=_bool, help="default: false")
    g.add_argument("--audio", type=_bool, dest="generate_audio", help="default: true")
    g.add_argument("--seed", type=int, help="default: a random seed, printed with the result")
    g.add_argument("--out-dir")
    g.add_argument("--no-reuse", action="store_true", help="pay again even if an identical request is in the ledger")
    g.add_argument("--model", default=SPICY)

    sub.add_parser("resume", help="collect unfinished jobs from the ledger")
    h = sub.add_parser("history", help="the ledger")
    h.add_argument("--limit", type=int, default=20)
    c = sub.add_parser("claim", help="say which task a job whose submit reply was lost created")
    c.add_argument("job", type=int, help="the job id (see history)")
    c.add_argument("task", help="one of the job's candidate task ids")
    pr = sub.add_parser("price", help="what a request costs")
    pr.add_argument("--duration", type=int, help="seconds (default: the model's, 5)")
    pr.add_argument("--resolution", choices=RESOLUTIONS, help="default: the model's, 720p")
    pr.add_argument("--audio", type=_bool, dest="generate_audio", help="default: true")
    pr.add_argument("--table", action="store_true", help="the whole price table")
    sub.add_parser("balance", help="the account's balance (the local preview's is play money)")
    info = sub.add_parser("info", help="what a saved video was made with: model, prompt, seed, job and task id")
    info.add_argument("video", help="an MP4 the playground saved (its metadata carries them)")
    # Its options (--port, --timing, --faults ...) are python -m playground.local's; see `local --help`.
    sub.add_parser("local", help="serve the embedded local API in the foreground (--port N, ...)", add_help=False)
    ui = sub.add_parser("ui", help="start the Gradio playground (like python app.py)")
    ui.add_argument("--host", default=None, help="default GRADIO_SERVER_NAME or 127.0.0.1")
    ui.add_argument("--port", type=int, default=None, help="default GRADIO_SERVER_PORT or 7860")
    ui.add_argument("--share", action="store_true", help="a public gradio.live link")
    return p


class _Bar:
    """A one-line progress bar on stderr."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, ev) -> None:
        frac = ev.fraction
        bar = "" if frac is None else "[" + "#" * int(frac * 30) + "." * (30 - int(frac * 30)) + "] "
        est = f" / ~{ev.estimate:.0f}s" if ev.estimate else ""
        line = f"\r{bar}{ev.phase:<11} {ev.elapsed:5.1f}s{est} {ev.request_id or ''}"
        if line != self.last:
            sys.stderr.write(line.ljust(90))
            sys.stderr.flush()
            self.last = line

    def close(self) -> None:
        if self.last:
            sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "local":
        from .local.__main__ import main as local_main

        return local_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "ui":
        if args.share:  # a gradio.live link serves the page only: the tunnel carries no webhook route
            from .ui import serve as serve_page

            serve_page(host=args.host, port=args.port, share=True)
        else:
            from .web import serve

            serve(host=args.host, port=args.port)
        return 0
    try:
        return _run(args)
    except WaveSpeedError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, (ValidationError, CapExceeded)) else 1
    except KeyboardInterrupt:
        print("\nstopped; unfinished jobs stay in the ledger: run `seedance-playground resume`", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not the user's doing: still one line; the traceback only with -v
        if args.verbose:
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (run with -v for details)", file=sys.stderr)
        return 1


HISTORY_WIDTH = 100


def history_table(jobs) -> str:
    """The ledger's jobs as a table that fits :data:`HISTORY_WIDTH` columns: id, when (UTC), status, model, setting,
    seed, cost, task id, and the prompt cut to what is left; errors and video paths each on a line of their own."""
    import time

    from .contract import MODELS
    from .pricing import format_usd
    from .status import COMPLETED

    rows = [("job", "when (UTC)", "status", "model", "setting", "seed", "cost", "charged", "task")]
    notes = []
    differs = False
    for j in jobs:
        setting = f"{j.resolution or '?'} {j.duration or '?'}s" + (" audio" if j.audio else "")
        spec = MODELS.get(j.model)
        model = spec.title.replace("Seedance ", "").replace(" Image-to-Video", "") if spec else j.model
        rows.append((str(j.id), time.strftime("%m-%d %H:%M", time.gmtime(j.created_at)), j.status, model,
                     setting, "" if j.seed is None else str(j.seed), format_usd(j.cost), _charged(j),
                     (j.request_id or "")[:12]))
        differs = differs or j.charge_differs
        if j.extends is not None:
            notes.append(f"  job {j.id} extends job {j.extends}")
        if j.error:
            notes.append(f"  job {j.id}: {_one_line(Exception(j.error))}")
        if j.charged_usd and j.status != COMPLETED and not j.refunded_usd:
            notes.append(f"  job {j.id}: {format_usd(j.charged_usd)} charged, refund not seen yet (the API refunds a "
                         "failed task within 3 h)")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    prompts = {str(j.id): (j.params.get("prompt") or "") for j in jobs}
    out = []
    for row, line in zip(rows, lines, strict=True):
        room = HISTORY_WIDTH - len(line) - 2
        text = "prompt" if row[0] == "job" else prompts.get(row[0], "").replace("\n", " ")
        out.append(f"{line}  {_cut(text, room)}".rstrip() if room > 8 else line[:HISTORY_WIDTH])
    if differs:
        notes.append("  * the API charged (net of refunds) a different figure than the estimate")
    return "\n".join(out + [_cut(n, HISTORY_WIDTH) for n in notes])


def _charged(job) -> str:
    """What the API's billing says the job cost, net of refunds ("" until read); "*" when it is not the estimate."""
    from .pricing import format_usd

    net = job.net_charge
    return "" if net is None else format_usd(net) + ("*" if job.charge_differs else "")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _price(args: argparse.Namespace) -> int:
    """``seedance-playground price``: the table, or one request's price with its mark (exact, estimate, floor)."""
    from .contract import VideoRequest
    from .pricing import price_of, price_table

    if args.table:
        print(price_table().to_string(index=False))
        return 0
    request = VideoRequest.build(SPICY, duration=args.duration, resolution=args.resolution,
                                 generate_audio=args.generate_audio)
    print(price_of(request).label())
    return 0


def _late_charges(ledger, args: argparse.Namespace) -> None:
    """What the API charged and refunded since, for jobs that ended lately still waiting for it (a failed task's
    refund comes within hours): one quick billing search, with a key only (the local preview forgets its tasks
    when its process ends). A billing endpoint that does not answer leaves the estimates."""
    from .backend import connect, env_key
    from .pipeline.charges import settle_recent

    if args.backend == "local" or not env_key():
        return
    client = connect(base_url=args.base_url, backend="api")
    try:
        settle_recent(client, ledger)
    finally:
        client.close()


def _history(ledger, args: argparse.Namespace) -> int:
    """``seedance-playground history``: the table (with refunds that came since read first), and how to claim a job
    whose submit reply was lost."""
    from .jobs import UNKNOWN

    _late_charges(ledger, args)
    jobs = ledger.jobs(limit=args.limit)
    print(history_table(jobs) if jobs else "the ledger is empty")
    for job in jobs:
        if job.status == UNKNOWN and not job.request_id and job.candidates:
            print(f"job {job.id}: outcome unknown, the submit's reply was lost; {len(job.candidates)} tasks could "
                  f"be its: {', '.join(job.candidates)}. Claim one with `seedance-playground claim {job.id} "
                  "TASK_ID`.")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .backend import connect
    from .contract import VideoRequest
    from .pricing import format_usd

    if args.command == "price":
        return _price(args)
    if args.command == "info":
        from .videotags import describe, read_tags

        print(describe(read_tags(args.video)))
        return 0
    if args.command == "generate":
        # Checked before anything else (no server started, no ledger opened for a bad value).
        request = VideoRequest.build(args.model, has_last_image=args.last_image is not None, prompt=args.prompt,
                                     duration=args.duration, resolution=args.resolution,
                                     aspect_ratio=args.aspect_ratio, camera_fixed=args.camera_fixed,
                                     generate_audio=args.generate_audio, seed=args.seed)

    from .jobs import Ledger

    ledger = Ledger()
    if args.command == "history":
        return _history(ledger, args)

    client = connect(base_url=args.base_url, backend=args.backend)
    if args.command == "balance":
        from .backend import LOCAL

        play = " (the local preview's play money: nothing real is charged)" if client.backend_id == LOCAL else ""
        print(format_usd(client.balance()) + play)
        return 0
    if args.command == "resume":
        from .pipeline import resume

        outcomes = resume(client, ledger)
        if not outcomes:
            print("nothing to resume")
        for o in outcomes:
            print(f"job {o.job_id} task {o.request_id or '-'}: {o.status} {o.video_path or o.error}")
        return 0
    if args.command == "claim":
        from .pipeline import claim

        pred = claim(args.job, args.task, client=client, ledger=ledger)
        print(f"job {args.job} is task {pred.id} ({pred.status}); run `seedance-playground resume` to collect it")
        return 0
    if args.command == "generate":
        from .pipeline import generate_request

        bar = _Bar()
        try:
            result = generate_request(request, args.image, args.last_image, client=client, ledger=ledger,
                                      on_progress=bar, reuse=not args.no_reuse, out_dir=args.out_dir)
        finally:
            bar.close()
        note = " (reused, not paid again)" if result.reused else ""
        print(f"{result.video_path}\ntask {result.request_id}  seed {result.seed}  {format_usd(result.cost)}{note}")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
