"""Run inside a sandbox (standard library only): forward 127.0.0.1 to the relay's Unix socket.

`python3 -I -S jail_forwarder.py SOCKET -- PROGRAM ARGS...` listens on a free loopback port,
sets OPENAI_BASE_URL to it, runs the program (forked, then exec'd) with the same stdin, stdout
and stderr, and exits with its status (128 + N when signal N ended it). Every connection is
piped to SOCKET, where vibeforge answers; the sandbox has no other way out.
"""

import os
import socket
import sys
import threading


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes one way until either side closes."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener: socket.socket, path: str) -> None:
    """Accept loopback connections and join each to a new connection to the socket."""
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def main() -> int:
    """Start forwarding, run the program, return its status."""
    path, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        print("usage: jail_forwarder.py SOCKET -- PROGRAM ...", file=sys.stderr)
        return 2
    env = dict(os.environ)
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    except OSError as error:
        listener = None
        print(f"vibeforge: no LLM endpoint in this sandbox: {error}", file=sys.stderr)
    # fork + exec rather than subprocess: one module less to import on every run. The
    # listening socket is not inherited (Python sockets are close-on-exec).
    child = os.fork()
    if child == 0:
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as error:
            print(f"vibeforge: cannot run {argv[0]}: {error}", file=sys.stderr)
        os._exit(127)
    if listener is not None:
        threading.Thread(target=serve, args=(listener, path), daemon=True).start()
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
