"""MotionGPT engine: motion representation, data, models, server and CLI.

Never imports bpy: the Blender add-on talks to this package over HTTP.
"""
__version__ = "0.1.0"
