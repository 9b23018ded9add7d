"""The `ctx` library of script modules. It runs inside the sandbox, never in the server: the
server copies this file into the jail's scratch directory and starts it with the module's
source beside it. Standard library only; importing it elsewhere does nothing.

The protocol with the server, one JSON object per line: the first line of stdin is the input
(`module`, `stage`, `variables`, `outputs`, `messages`, `answer`, `sample`, `uses_model`,
`text_limit`); the program's stdout carries requests (`{"type": "ask_model", "id", "prompt",
"system"}`, answered by a line on stdin `{"id", "text"}` or `{"id", "error"}`) and, last, the
result (`{"type": "result", "text", "outputs", "variables"}`). What the script prints is the
module's text; its own writes to file descriptor 1 go to stderr, so they cannot forge a line
of the protocol by accident.
"""

from __future__ import annotations

import os
import sys

# No `typing` (hence `object` in the hints), no `traceback` and no `json` at start-up: each
# import costs milliseconds of every run (`json` pulls `re` and `enum`: tens of them in a jail).

MAX_MODEL_CALLS = 8
MISSING = object()


def _codec() -> tuple[object, object]:
    """JSON `loads` and `dumps` straight from `json`'s C accelerator, which imports nothing;
    `json` itself where the accelerator is missing or not as expected."""
    try:
        from _json import encode_basestring_ascii, make_encoder, make_scanner

        class Decoding:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            memo: dict[str, object] = {}  # noqa: RUF012  (the scanner's own attribute)

            @staticmethod
            def parse_constant(name: str) -> object:
                raise ValueError(f"{name} is not JSON")

        def refuse(value: object) -> object:
            raise TypeError(f"{type(value).__name__} is not JSON")

        scan = make_scanner(Decoding())

        def loads(text: str) -> object:
            try:
                value, end = scan(text, 0)
            except StopIteration:
                raise ValueError("not JSON") from None
            if text[end:].strip():
                raise ValueError("extra data after the JSON value")
            return value

        def dumps(value: object) -> str:
            # A new encoder per call, as `json` makes one: its cycle markers must start empty.
            flags = (False, False, False)  # sort_keys, skipkeys, allow_nan
            encode = make_encoder({}, refuse, encode_basestring_ascii, None, ":", ",", *flags)
            return "".join(encode(value, 0))

        if loads(dumps({"a": [1, 2.5, "é", None, True]})) != {"a": [1, 2.5, "é", None, True]}:
            raise ValueError("the accelerator does not round-trip")
        return loads, dumps
    except Exception:
        import json

        return json.loads, lambda value: dumps(value, allow_nan=False)


loads, dumps = _codec()


class ModuleError(Exception):
    """A script used the ctx API wrongly (a value that is not JSON, a forbidden call)."""


class _TextSink:
    """What `print` writes: the module's text, up to a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        if self.size > self.limit:
            raise ModuleError(f"the module printed more than {self.limit} characters")
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        """Nothing to flush: the text is sent with the result."""

    def text(self) -> str:
        return "".join(self.parts)


class Ctx:
    """What a script module can use: variables, outputs, the conversation and the model."""

    def __init__(self, data: dict[str, object], channel: object, replies: object) -> None:
        self.module: str = data.get("module", "")
        self.stage: str = data.get("stage", "before")
        self.sample: object = data.get("sample")
        self.answer: str | None = data.get("answer")
        self._variables: dict[str, object] = dict(data.get("variables") or {})
        self._earlier: dict[str, object] = dict(data.get("outputs") or {})
        self._messages: list[dict[str, str]] = list(data.get("messages") or [])
        self._uses_model = bool(data.get("uses_model"))
        self._channel = channel
        self._replies = replies
        self._calls = 0
        self.changed: dict[str, object] = {}
        self.outputs: dict[str, object] = {}

    def get_var(self, name: str, default: object = None) -> object:
        """A variable: set by a module earlier (this run or before), sent with the request,
        or built in (date, time, user, project, model, persona)."""
        value = self._variables.get(name, MISSING)
        return default if value is MISSING else value

    def set_var(self, name: str, value: object) -> None:
        """Remember a value in the session (None forgets it); the next turns read it."""
        _check_name(name)
        _check_json(value, name)
        self.changed[name] = value
        if value is None:
            self._variables.pop(name, None)
        else:
            self._variables[name] = value

    def set_output(self, key: str, value: object) -> None:
        """An output of this module: later modules read it, and templates as ${key}."""
        _check_name(key)
        _check_json(value, key)
        self.outputs[key] = value

    def get_output(self, key: str, default: object = None) -> object:
        """An output an earlier module of this run set."""
        value = self.outputs.get(key, self._earlier.get(key, MISSING))
        return default if value is MISSING else value

    def messages(self, n: int | None = None) -> list[dict[str, str]]:
        """The newest `n` messages of the conversation ({role, content}), oldest first."""
        if n is None:
            return [dict(m) for m in self._messages]
        if not isinstance(n, int) or n < 0:
            raise ModuleError("messages(n) takes a count of at least 0")
        return [dict(m) for m in self._messages[-n:]] if n else []

    def ask_model(self, prompt: str, system: str | None = None) -> str:
        """Ask the session's model and return its answer (modules with uses_model only; the
        call is recorded as the module's)."""
        if not self._uses_model:
            raise ModuleError("this module may not call the model: set uses_model on it")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ModuleError("ask_model needs a prompt")
        if system is not None and not isinstance(system, str):
            raise ModuleError("ask_model's system must be text")
        self._calls += 1
        if self._calls > MAX_MODEL_CALLS:
            raise ModuleError(f"a module may call the model at most {MAX_MODEL_CALLS} times")
        request = {"type": "ask_model", "id": self._calls, "prompt": prompt, "system": system}
        self._channel.write(dumps(request) + "\n")
        self._channel.flush()
        line = self._replies.readline()
        if not line:
            raise ModuleError("the server closed the model channel")
        reply = loads(line)
        if reply.get("error"):
            raise ModuleError(f"the model call failed: {reply['error']}")
        return str(reply.get("text", ""))


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.isidentifier() or len(name) > 100:
        raise ModuleError(f"a variable or output name must be an identifier, got {name!r}")


def _check_json(value: object, name: str) -> None:
    try:
        dumps(value)  # no NaN or Infinity either: they are not JSON
    except (TypeError, ValueError, RecursionError):
        raise ModuleError(f"{name}: the value must be JSON (text, numbers, lists, ...)") from None


def main() -> int:
    """Read the input, run module.py with `ctx` defined, send the result."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything written to fd 1 from here on goes to stderr
    replies = sys.stdin
    data = loads(replies.readline() or "{}")
    ctx = Ctx(data, channel, replies)
    sink = _TextSink(int(data.get("text_limit") or 65536))
    with open("module.py", encoding="utf-8") as handle:
        source = handle.read()
    sys.modules["ctx"] = ctx  # type: ignore[assignment]  # `import ctx` works too
    sys.stdout = sink  # type: ignore[assignment]
    try:
        code = compile(source, "module.py", "exec")
        exec(code, {"__name__": "__main__", "ctx": ctx, "ModuleError": ModuleError})
    except SystemExit as stop:
        if stop.code not in (None, 0):
            sys.stdout = sys.__stderr__
            print(f"the module exited with status {stop.code}", file=sys.stderr)
            return 1
    except BaseException:
        sys.stdout = sys.__stderr__
        import traceback

        traceback.print_exc(limit=-8)
        return 1
    sys.stdout = sys.__stderr__
    result = {"type": "result", "text": sink.text(), "outputs": ctx.outputs}
    result["variables"] = ctx.changed
    channel.write(dumps(result) + "\n")
    channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
