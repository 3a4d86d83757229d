"""Start-up of `python app.py` against a bare gr.Blocks hello app: seconds from spawning the process to the first
answered page (GET / returns 200), measured alternately in one run, a few repeats each, median. Prints the ratio.

Target: at most 1.5. The playground keeps its start-up light: the embedded local API starts on first use, the
ledger is one SQLite file, and nothing heavy is imported before the page is served.

    python bench/bench_startup.py [--repeats 5] [--no-warmup]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5

HELLO = """
import gradio as gr

with gr.Blocks() as demo:
    gr.Markdown("hello")

demo.launch()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_first_page(argv: list[str], env: dict[str, str], timeout: float = 600.0) -> float:
    """Seconds from spawning ``argv`` until GET / on its port answers 200; the process is stopped after."""
    port = free_port()
    env = {**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{argv} did not answer within {timeout} s")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first start of each")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        hello = Path(tmp) / "hello_app.py"
        hello.write_text(HELLO)
        env = {k: v for k, v in os.environ.items() if k != "WAVESPEED_API_KEY"}
        env.update({"PLAYGROUND_HOME": str(Path(tmp) / "home"), "GRADIO_ANALYTICS_ENABLED": "False",
                    "PYTHONDONTWRITEBYTECODE": "1"})
        # One untimed start of each warms the OS file cache, so the first timed pair is not penalised.
        if not args.no_warmup:
            time_to_first_page([sys.executable, str(hello)], env)
            time_to_first_page([sys.executable, "app.py"], env)
        bare, app = [], []
        for i in range(args.repeats):
            bare.append(time_to_first_page([sys.executable, str(hello)], env))
            app.append(time_to_first_page([sys.executable, "app.py"], env))
            print(f"repeat {i + 1}: bare {bare[-1]:.2f} s, app.py {app[-1]:.2f} s")
    ratio = statistics.median(app) / statistics.median(bare)
    print(f"median: bare gr.Blocks {statistics.median(bare):.2f} s, app.py {statistics.median(app):.2f} s")
    print(f"start-up ratio app.py / bare = {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
