"""Each Lambda invocation on moto calls the real handler of functions/, in this process.

moto runs a Lambda in Docker; here there is none, and the code to run is
right here. `moto.awslambda.models.LambdaFunction._invoke_lambda` (a private
API: moto is pinned for it) is replaced for the duration by a call of the
function's handler module with the function's own environment, a Lambda-like
context (with its real timeout) and the handler's logs written to one file.
A raised exception comes back as Lambda reports a handled error (its
`errorType` is the exception's class name), so the state machine's Retry and
Catch match it exactly as in AWS.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO


@dataclass(frozen=True)
class Invocation:
    """One call of a handler, as the runner's progress sees it."""

    function: str
    event: Mapping[str, Any]
    seconds: float
    result: Any = None
    error_type: str | None = None
    error: str | None = None


class LambdaContext:
    """What a handler's `context` offers (Powertools reads these), with the function's real timeout."""

    def __init__(self, function: Any) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "offline"
        self._deadline = time.monotonic() + float(function.timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def environment_of(functions: list[Mapping[str, str]]) -> dict[str, str]:
    """The environment every function shares (os.environ is one per process: they must agree)."""
    merged: dict[str, str] = {}
    for variables in functions:
        for name, value in variables.items():
            if name == "POWERTOOLS_SERVICE_NAME" or name not in merged:
                merged[name] = value
            elif merged[name] != value:
                raise ValueError(f"the functions disagree on {name}; they cannot share one process")
    return merged


# Imported once per process, as a warm Lambda keeps its modules: importing a handler module again
# would give Powertools a second logger for the same service, still writing to the first run's file.
_IMPORTED: dict[Path, ModuleType] = {}
_IMPORT_LOCK = threading.Lock()


class HandlerModules:
    """The handler modules of functions/ (imported with the functions' environment set), logging to one file."""

    def __init__(self, functions_dir: Path, log_stream: TextIO) -> None:
        self.functions_dir = functions_dir
        self.log_stream = log_stream
        self._directed: set[Path] = set()
        self.in_flight = 0  # invocations running now (in the Map's threads)
        self._counting = threading.Condition()

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._counting:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._counting:
                self.in_flight -= 1
                self._counting.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until no handler runs: StopExecution stops the workflow, not a handler already running."""
        with self._counting:
            return self._counting.wait_for(lambda: self.in_flight == 0, timeout=timeout)

    def handler(self, handler: str) -> Callable[[Any, Any], Any]:
        module_name, _, function_name = handler.rpartition(".")
        path = self.functions_dir / f"{module_name}.py"
        with _IMPORT_LOCK:
            if path not in _IMPORTED:
                spec = importlib.util.spec_from_file_location(f"smokejumper_offline_{module_name}", path)
                if spec is None or spec.loader is None:
                    raise FileNotFoundError(f"no handler module {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _IMPORTED[path] = module
            if path not in self._directed:
                logger = getattr(_IMPORTED[path], "logger", None)
                if logger is not None:  # the Powertools logger: JSON lines to this run's log file
                    # Not setStream(): it flushes the previous run's file, which is closed by now.
                    handler = logger.registered_handler
                    with handler.lock:
                        handler.stream = self.log_stream
                self._directed.add(path)
        return getattr(_IMPORTED[path], function_name)


@contextmanager
def handlers_in_process(
    modules: HandlerModules, *, on_invocation: Callable[[Invocation], None] | None = None
) -> Iterator[None]:
    """moto's Lambda invocations call `modules`' handlers for as long as this is entered."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda
    stdout = _HandlerStdout(sys.stdout, modules.log_stream)

    def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
        payload = event if isinstance(event, dict) else json.loads(event or "{}")
        started = time.monotonic()
        if sys.stdout is not stdout:
            # Someone swapped stdout since (pytest does at each test phase): ours again, theirs for the terminal.
            stdout.terminal = sys.stdout
            sys.stdout = stdout  # type: ignore[assignment]
        try:
            with stdout.captured(), modules.running():
                result = modules.handler(function.handler)(payload, LambdaContext(function))
        except Exception as exc:  # what Lambda reports for a handled error
            # Lambda's own shape of a handled error (its stackTrace left empty: the log has the frame).
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            modules.log_stream.write(
                json.dumps(
                    {
                        "level": "ERROR",
                        "function": function.function_name,
                        "message": "invocation failed",
                        **error,
                        # The runtime logs the traceback; ours never holds secrets (describe() in failures.py).
                        "stackTrace": traceback.format_exception_only(type(exc), exc)[-1].strip(),
                    }
                )
                + "\n"
            )
            if on_invocation is not None:
                on_invocation(
                    Invocation(
                        function.function_name, payload, time.monotonic() - started, None, type(exc).__name__, str(exc)
                    )
                )
            return json.dumps(error), True, ""
        if on_invocation is not None:
            on_invocation(Invocation(function.function_name, payload, time.monotonic() - started, result))
        return json.dumps(result), False, ""

    LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign,assignment]
    sys.stdout = stdout  # type: ignore[assignment]
    try:
        yield
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]
        sys.stdout = stdout.terminal


class _HandlerStdout:
    """stdout that sends what a handler prints (its EMF metrics, as Lambda's stdout) to the log file.

    Per thread: the Map runs handlers in threads while the runner prints its progress from the main thread.
    """

    def __init__(self, terminal: TextIO, log: TextIO) -> None:
        self.terminal = terminal
        self.log = log
        self._local = threading.local()

    @contextmanager
    def captured(self) -> Iterator[None]:
        self._local.capturing = True
        try:
            yield
        finally:
            self._local.capturing = False

    def _target(self) -> TextIO:
        return self.log if getattr(self._local, "capturing", False) else self.terminal

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.terminal, name)


@contextmanager
def environment_variables(variables: Mapping[str, str], *, cleared: tuple[str, ...] = ()) -> Iterator[None]:
    """`variables` set and `cleared` unset for the duration; the environment as it was afterwards."""
    saved = {name: os.environ.get(name) for name in (*variables, *cleared)}
    for name in cleared:
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
