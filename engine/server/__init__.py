"""The local engine server: JSON over HTTP on loopback, API v1.

``motiongpt serve`` loads the model once and runs jobs (generate, inbetween,
continue, caption) one at a time in a worker thread; the Blender add-on starts
it as a subprocess, reads its one-line JSON ready message from stdout and
talks to it with a bearer token.

    app.py        routing, auth, JSON bodies and errors (http.server, threads)
    jobs.py       the queue, the worker, bounded history of finished jobs
    lifecycle.py  parent-process watchdog and idle timeout
    serve.py      start-up order, the ready line, clean shutdown
    client.py     reference client (requests): EngineClient, EngineError
    launch.py     start the server as a child process and wait until ready
"""
__all__ = ["EngineClient", "EngineError"]


def __getattr__(name: str):
    """The reference client on first use: ``serve`` itself never needs
    ``requests``, so the engine does not import it while starting."""
    if name in __all__:
        from . import client
        return getattr(client, name)
    raise AttributeError(name)
