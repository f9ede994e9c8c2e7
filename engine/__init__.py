"""MotionGPT engine: motion representation, data, models, server and CLI.

Never imports bpy: the Blender add-on talks to this package over HTTP.
"""
from .runtime import apply_process_policy as _apply_process_policy

# Before anything can import torch: OpenMP threads sleep instead of spinning
# (engine/runtime.py says why and what was measured); a value the user set wins.
_apply_process_policy()

__version__ = "0.1.0"
