"""Running a benchmark step in a child process, and talking to it.

Functions run in child processes for three reasons. Each child is a
separate Lambda execution environment with its own module state. Several
processors can run at once. And the functions' JSON logs, written to
stdout as in Lambda, stay out of the report.

The protocol is one JSON object per line. The child writes its messages
to the stdout it was started with, and sends the functions' own stdout to
``/dev/null``. The parent writes commands to the child's stdin. A child
that fails exits non-zero, and the parent raises ``BenchError`` with the
end of the child's stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from bench.server import PROJECT_ROOT, BenchError

# The layer, the local runner and the bench package, as `make bench` sets PYTHONPATH.
CHILD_PYTHONPATH = os.pathsep.join(
    str(path) for path in (PROJECT_ROOT / "layers" / "jobqueue", PROJECT_ROOT / "local", PROJECT_ROOT)
)
STDERR_TAIL_CHARACTERS = 3000


class Child:
    """A child process running ``python -m <module>``; ``receive`` and ``send`` exchange JSON lines."""

    def __init__(self, name: str, module: str, args: list[str]) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": CHILD_PYTHONPATH}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=PROJECT_ROOT,
            env=env,
        )

    def receive(self, expected: str) -> dict[str, Any]:
        """Read the child's next message and check that its ``event`` is ``expected``."""
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise BenchError(f"{self.name} exited with status {self.process.returncode}:\n{self._stderr_tail()}")
        message = json.loads(line)
        if message.get("event") != expected:
            raise BenchError(f"{self.name} sent {message!r}, expected event {expected!r}")
        return message

    def send(self, command: str, **fields: Any) -> None:
        self.process.stdin.write(json.dumps({"command": command, **fields}) + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        """Ask the child to exit and wait for it; kill it when it does not exit within 30 s."""
        if self.process.poll() is None:
            try:
                self.send("quit")
                self.process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read()
        return text[-STDERR_TAIL_CHARACTERS:] or "(no output on stderr)"


class Channel:
    """The child's side of the protocol."""

    def __init__(self) -> None:
        # Keep the original stdout for messages, and point file descriptor 1
        # at /dev/null, so the functions' logs (Powertools writes them to
        # sys.stdout) are formatted and written as in Lambda, then dropped.
        self._out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        devnull = os.open(os.devnull, os.O_WRONLY)
        sys.stdout.flush()
        os.dup2(devnull, 1)
        os.close(devnull)

    def send(self, event: str, **fields: Any) -> None:
        self._out.write(json.dumps({"event": event, **fields}, default=str) + "\n")

    def write(self, text: str) -> None:
        """Write text for a person, not a message, to the original stdout."""
        self._out.write(text)

    def commands(self):
        """Yield each command the parent sends until it sends ``quit`` or closes stdin."""
        for line in sys.stdin:
            message = json.loads(line)
            if message.get("command") == "quit":
                return
            yield message
