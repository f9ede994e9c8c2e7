"""``motiongpt serve``: the local HTTP engine the Blender add-on talks to."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from ..device import DEVICE_CHOICES, DEVICE_HELP
from ..errors import MotionGPTError
from ..pipeline.motion_io import DEFAULT_MAX_RESULT_MB


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run the local engine server (JSON over HTTP, API v1)",
        description="Load the model once and serve jobs over HTTP on loopback. When it is ready it prints ONE JSON "
                    "line on stdout ({\"event\": \"ready\", \"url\", \"port\", \"token\", \"pid\", \"version\", "
                    "\"model\", \"device\"}) and closes stdout; if it cannot start, that line is "
                    "{\"event\": \"error\", \"error\": {...}} and it exits 2. Logs go to stderr. Every request needs "
                    "'Authorization: Bearer TOKEN'.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything but loopback needs --allow-remote)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one, see the ready line)")
    p.add_argument("--model", help="model folder (default: $MOTIONGPT_MODEL when set, else models/default)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--token", help="the token clients must send (default: $MOTIONGPT_TOKEN, else a new random one "
                                   "per start); prefer the environment variable, the command line is visible to "
                                   "other users")
    p.add_argument("--tokens-file", metavar="FILE",
                   help="a team's tokens: one 'NAME sha256:HEX' line each (motiongpt add-token makes them); each "
                        "token sees and cancels only its own jobs; without --token there is no single token")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host; needs an explicit token of 16+ characters or --tokens-file")
    p.add_argument("--parent-pid", type=int,
                   help="exit cleanly (code 0) when this process ends, e.g. Blender's pid")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="exit cleanly after this long without requests or jobs (default: never)")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body in MB (default 32)")
    p.add_argument("--keep-jobs", type=int, default=64,
                   help="finished jobs (and their results) remembered, oldest evicted first (default 64)")
    p.add_argument("--keep-results-mb", type=float, default=512.0,
                   help="memory for finished jobs' results in MB; oldest evicted first (default 512)")
    p.add_argument("--max-queued", type=int, default=32, help="jobs allowed to wait in the queue (default 32)")
    p.add_argument("--max-result-mb", type=float, default=DEFAULT_MAX_RESULT_MB,
                   help="largest result one job may return in MB (default %(default)g); a job that would exceed it "
                        "(estimated from frames x variants before it runs) is refused with 400 result_too_large")
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1: fastest for this small model, "
                                                "above all beside a busy Blender; see docs/engine.md)")
    p.add_argument("--log-file", help="append logs to this file instead of stderr")
    p.set_defaults(handler=run_serve)
    register_add_token(sub)


def register_add_token(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("add-token", help="make a token for one person of a team engine (serve --tokens-file)",
                       description="Make a random token for NAME, append 'NAME sha256:HEX' to the tokens file "
                                   "(created readable by you only) and print the token once: give it to NAME, "
                                   "it is stored nowhere. Delete the line to revoke it; restart the engine to apply.")
    p.add_argument("name", help="who the token is for (letters, digits, '_', '.', '@', '-')")
    p.add_argument("--tokens-file", required=True, metavar="FILE", help="the engine's tokens file")
    p.set_defaults(handler=run_add_token)


def run_add_token(args: argparse.Namespace) -> int:
    from ..server.tokens import add_token
    token = add_token(args.tokens_file, args.name)
    print(token)
    print(f"added {args.name!r} to {args.tokens_file}; the token above is shown only now", file=sys.stderr)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from ..server.serve import ServeOptions, configure_logging, serve
    if args.keep_jobs < 1 or args.max_queued < 1:
        raise MotionGPTError("--keep-jobs and --max-queued must be at least 1")
    opts = ServeOptions(host=args.host, port=args.port, model=args.model, device=args.device, token=args.token,
                        tokens_file=args.tokens_file, allow_remote=args.allow_remote, parent_pid=args.parent_pid, idle_timeout=args.idle_timeout,
                        max_body=int(args.max_body_mb * 2**20), keep_finished=args.keep_jobs,
                        max_queued=args.max_queued, max_result_bytes=int(args.keep_results_mb * 2**20),
                        threads=args.threads, max_job_result=int(args.max_result_mb * 2**20))
    configure_logging(args.log_file)
    ready = _take_stdout()
    try:
        code = serve(opts, ready, close_ready=True)
        # Everything is shut down and logged ("stopped"): skip the interpreter's
        # ~1 s teardown of torch and transformers so a restart is not kept waiting.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    except MotionGPTError as exc:
        _write_line(ready, {"event": "error", "error": {"code": "startup_failed", "message": str(exc)}})
        raise
    except Exception as exc:        # the promised error line, whatever broke (the traceback goes to stderr)
        _write_line(ready, {"event": "error", "error": {
            "code": "startup_failed", "message": f"the engine could not start ({type(exc).__name__}: "
                                                 f"{str(exc)[:200]}); see the engine log"}})
        raise
    finally:
        try:
            ready.close()
        except OSError:
            pass


def _take_stdout():
    """Keep the real stdout for the one ready line and point fd 1 (and
    sys.stdout) at stderr, so that nothing a library prints while the model
    loads can come before that line."""
    sys.stdout.flush()
    try:
        ready_fd = os.dup(1)
        os.dup2(2, 1)
        return os.fdopen(ready_fd, "w", encoding="utf-8")
    except (OSError, ValueError):  # no real fd (embedded interpreter): best effort
        stream, sys.stdout = sys.stdout, sys.stderr
        return stream


def _write_line(stream, payload: dict) -> None:
    try:
        stream.write(json.dumps(payload) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass
