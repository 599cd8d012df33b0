"""``make demo``: the two-console story, non-interactive.

1. Console 1 starts the ticker service (``examples/service.py``), a trio app that
   embeds a host and serves it on a private unix socket.
2. Console 2 launches a background job in the named session ``watch`` with
   ``spe-host start``; the job reads the app's live counter forever.
3. Console 2 lists the sessions (``spe-host ls``): the job is running, with its
   progress and the line it is on.
4. Console 3 - another process - stops it with ``spe-host stop watch --wait``.
5. Console 2 receives the job's output and status (``spe-host receive``).
6. The service shuts down gracefully; the demo ends with the URL its dashboard had
   and a screenshot of one.

Every step prints the command and what it answered. It uses a temporary runtime
directory, so it touches nothing of yours, and takes a few seconds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "spe_host"]
JOB = str(HERE / "watch_job.py")


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(args: list[str], env: dict[str, str]) -> int:
    shown = " ".join(shlex.quote(a) for a in ["spe-host", *args])
    print(f"$ {shown}", flush=True)
    done = subprocess.run([*CLI, *args], env=env, timeout=30, check=False)
    print(f"(exit code {done.returncode})", flush=True)
    return done.returncode


def main() -> int:
    runtime = tempfile.mkdtemp(prefix="spe-demo-")
    env = {**os.environ, "SPE_HOST_RUNTIME_DIR": runtime, "SPE_HOST": "demo"}
    step("console 1: start the ticker service (a trio app embedding spe_host)")
    service = subprocess.Popen(
        [sys.executable, str(HERE / "service.py"), "--name", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        line = service.stdout.readline()
        print(line, end="", flush=True)
        if "listening" not in line:
            print("the service did not start", file=sys.stderr)
            return 1
        dashboard = service.stdout.readline()
        print(dashboard, end="", flush=True)
        url = dashboard.rpartition(" ")[2].strip()

        step("console 2: launch a background job in the named session 'watch'")
        if run(["start", "watch", JOB, "--name", "watch the counter"], env) != 0:
            return 1
        time.sleep(1.0)  # let the job tick a few times so the listing has something to show

        step("console 2: list the sessions")
        run(["ls"], env)

        step("console 3: stop it from another process, and wait for the stop to land")
        if run(["stop", "watch", "--wait", "--timeout", "10"], env) != 0:
            return 1

        step("console 2: the session is idle again; its last run was aborted")
        run(["ls", "--json"], env)

        step("console 2: receive what the job printed")
        run(["receive", "watch"], env)
    finally:
        step("console 1: shut the service down (SIGTERM)")
        service.send_signal(signal.SIGTERM)
        rest, _ = service.communicate(timeout=15)
        print(rest, end="", flush=True)
        print(f"(service exit code {service.returncode})")
        shutil.rmtree(runtime, ignore_errors=True)
    print("\ndemo finished: the job was stopped from another console at its next statement.")
    print(f"dashboard: the demo host served it at {url} while it ran; a screenshot of it is")
    print(f"  {HERE.parent / 'docs' / 'img' / 'dashboard-sessions.png'}")
    print("  serve your own: spe-host serve --http tcp://127.0.0.1:8080 (docs/dashboard.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
