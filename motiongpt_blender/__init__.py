"""MotionGPT for Blender: prompt -> animation on your own rig (a Blender extension).

The add-on is thin: panel, operators, an HTTP client for the engine and the
retargeting. It never imports torch or the engine; the engine runs as a
child process (see ``engine_manager``) and talks JSON over loopback.

Importing this package does not import ``bpy`` (its pure modules --
bone_maps, retarget_math, client, engine_manager, jobs, installer, paths --
are used and tested outside Blender); the Blender classes are imported in
:func:`register`.
"""
from __future__ import annotations

_REGISTERED: list = []


def _class_modules():
    from . import bone_map_editor, operators, preferences, prompt_help, props, timeline, ui
    return props, bone_map_editor, preferences, operators, prompt_help, timeline, ui


def register() -> None:
    import bpy
    modules = _class_modules()
    for module in modules:
        for cls in module.classes:
            bpy.utils.register_class(cls)
            _REGISTERED.append(cls)
    props, bone_map_editor = modules[:2]
    props.register()
    bone_map_editor.register()
    modules[-1].register_menus()


def unregister() -> None:
    import bpy
    from .engine_manager import MANAGER
    props, bone_map_editor, preferences, operators, _prompt_help, _timeline, ui = _class_modules()
    ui.unregister_menus()
    operators.cancel_all()
    preferences.stop_install()
    MANAGER.stop()                      # the engine goes with the add-on
    bone_map_editor.unregister()
    props.unregister()
    for cls in reversed(_REGISTERED):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:
            pass
    _REGISTERED.clear()
