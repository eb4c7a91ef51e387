"""A real S3-compatible server on 127.0.0.1 for tests: moto's server mode, in a subprocess.

`python -m tests.support.s3_server` binds a free port, prints it, and serves until its
standard input closes. `local_s3_server()` starts it, waits (with a deadline) until it
answers HTTP, yields its endpoint URL, and stops it.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def local_s3_server(timeout: float = 30.0) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.s3_server"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        port = _first_line(process, deadline)
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_it_answers(endpoint, deadline)
        yield endpoint
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _first_line(process: subprocess.Popen[str], deadline: float) -> int:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise TimeoutError("the S3 server printed no port in time") from None
    if not line.strip().isdigit():
        assert process.stderr is not None
        process.kill()
        raise RuntimeError(f"the S3 server did not start: {line!r} {process.stderr.read()}")
    return int(line)


def _wait_until_it_answers(endpoint: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(endpoint, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the S3 server at {endpoint} did not answer in time") from None
            time.sleep(0.02)


def main() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # until the test closes our standard input
    server.stop()


if __name__ == "__main__":
    main()
