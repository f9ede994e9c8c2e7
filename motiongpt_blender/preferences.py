"""Preferences > Add-ons > MotionGPT: where the engine is and how to reach it."""
from __future__ import annotations

import textwrap

import os
import sys
from pathlib import Path

import bpy
from bpy.props import EnumProperty, FloatProperty, StringProperty

from . import paths
from .engine_manager import MANAGER, EngineSettings, remote_url_warning
from .installer import EngineInstaller

PACKAGE = __package__

_INSTALL: dict = {"installer": None}


def user_dir(sub: str, create: bool = True) -> Path:
    """A folder of this add-on's own (the extension's user folder; for a
    legacy add-on or a checkout, a folder in Blender's config)."""
    try:
        return Path(bpy.utils.extension_path_user(PACKAGE, path=sub, create=create))
    except (ValueError, RuntimeError, AttributeError):
        config = bpy.utils.user_resource('CONFIG', path="motiongpt", create=create)
        if not config:  # no config folder: a folder of this user's own in the temp dir, never a shared one
            return paths.private_temp_dir(sub)
        p = Path(config) / sub
        if create:
            p.mkdir(parents=True, exist_ok=True)
        return p


def get(context=None) -> "MotionGPTPreferences":
    context = context or bpy.context
    return context.preferences.addons[PACKAGE].preferences


def install_venv(prefs) -> Path:
    return Path(bpy.path.abspath(prefs.install_dir)) if prefs.install_dir.strip() else user_dir("engine-venv", False)


def resolved(prefs) -> paths.Resolved:
    return paths.resolve(prefs.engine_root, prefs.engine_python, prefs.model_choice, prefs.model_path,
                         install_venv(prefs))


def engine_settings(context=None) -> EngineSettings:
    prefs = get(context)
    if prefs.engine_mode == 'REMOTE':
        return EngineSettings(mode="remote", url=prefs.remote_url, token=prefs.token,
                              request_timeout=prefs.request_timeout)
    r = resolved(prefs)
    return EngineSettings(mode="local", python=str(r.python or ""), root=str(r.root or ""), model=str(r.model or ""),
                          device=prefs.device.lower(), idle_timeout=prefs.idle_minutes * 60.0,
                          start_timeout=prefs.start_timeout, log_dir=str(user_dir("logs")),
                          problems=tuple(r.problems), request_timeout=prefs.request_timeout)


def _redraw_preferences() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == 'PREFERENCES':
                area.tag_redraw()


def _install_timer():
    inst = _INSTALL["installer"]
    _redraw_preferences()
    if inst is None or not inst.running:
        return None
    return 0.5


class MOTIONGPT_OT_install_engine(bpy.types.Operator):
    """Create a Python environment and install the MotionGPT engine (torch included) from the engine folder"""
    bl_idname = "motiongpt.install_engine"
    bl_label = "Install Engine"

    def execute(self, context):
        inst = _INSTALL["installer"]
        if inst is not None and inst.running:
            self.report({'WARNING'}, "The engine is already being installed")
            return {'CANCELLED'}
        prefs = get(context)
        r = resolved(prefs)
        base = bpy.path.abspath(prefs.install_python) if prefs.install_python.strip() else sys.executable
        extra = os.environ.get("MOTIONGPT_PIP_ARGS", "").split()
        inst = EngineInstaller(r.root or "", install_venv(prefs), base, pip_args=extra,
                               log_path=user_dir("logs") / "install-engine.log").start()
        _INSTALL["installer"] = inst
        if inst.state == "failed":
            self.report({'ERROR'}, inst.error)
            return {'CANCELLED'}
        bpy.app.timers.register(_install_timer, first_interval=0.5)
        self.report({'INFO'}, f"Installing the engine into {inst.venv_dir} (log: {inst.log_path})")
        return {'FINISHED'}


class MOTIONGPT_OT_cancel_install(bpy.types.Operator):
    """Stop installing the engine"""
    bl_idname = "motiongpt.cancel_install"
    bl_label = "Cancel Install"

    def execute(self, context):
        inst = _INSTALL["installer"]
        if inst is None or not inst.running:
            return {'CANCELLED'}
        inst.cancel()
        return {'FINISHED'}


class MOTIONGPT_OT_stop_engine(bpy.types.Operator):
    """Stop the engine process (the next request starts it again)"""
    bl_idname = "motiongpt.stop_engine"
    bl_label = "Stop Engine"

    def execute(self, context):
        MANAGER.stop()
        self.report({'INFO'}, "MotionGPT engine stopped")
        return {'FINISHED'}


class MotionGPTPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    engine_mode: EnumProperty(
        name="Engine", default='LOCAL',
        items=[('LOCAL', "Local", "Start the engine on this computer when it is first needed"),
               ('REMOTE', "Remote", "Use an engine that is already running (motiongpt serve), by URL and token")])
    engine_root: StringProperty(
        name="Engine Folder", subtype='DIR_PATH', default="",
        description="The MotionGPT-for-Blender folder that holds engine/ and models/ (empty: automatic)")
    engine_python: StringProperty(
        name="Engine Python", subtype='FILE_PATH', default="",
        description="A Python with the engine installed, e.g. <checkout>/.venv/bin/python (empty: automatic)")
    model_choice: EnumProperty(
        name="Model", default='DEFAULT',
        items=[('DEFAULT', "Default", "models/default in the engine folder (the shipped model)"),
               ('OFFICIAL', "Official (converted)", "models/official in the engine folder "
                                                    "(motiongpt convert-official)"),
               ('CUSTOM', "Custom Folder", "A model folder of your own")])
    model_path: StringProperty(name="Model Folder", subtype='DIR_PATH', default="",
                               description="A model folder (model.json, vq/, lm/)")
    device: EnumProperty(
        name="Device", default='AUTO',
        items=[('AUTO', "Auto", "A CUDA GPU, else this Mac's GPU (MPS), else the CPU"), ('CPU', "CPU", ""),
               ('CUDA', "CUDA", "An NVIDIA GPU"), ('MPS', "MPS", "A Mac's GPU (Metal)")])
    idle_minutes: FloatProperty(name="Stop When Idle (min)", default=30.0, min=1.0, max=24 * 60.0,
                                description="The engine exits after this long without requests (it restarts on "
                                            "the next one)")
    start_timeout: FloatProperty(name="Start Timeout (s)", default=300.0, min=10.0, max=3600.0)
    request_timeout: FloatProperty(name="Request Timeout (s)", default=30.0, min=1.0, max=600.0)
    remote_url: StringProperty(name="Engine URL", default="http://127.0.0.1:8765",
                               description="URL of a running engine (motiongpt serve)")
    token: StringProperty(name="Token", subtype='PASSWORD', default="",
                          description="The token the engine was started with")
    install_dir: StringProperty(name="Install Folder", subtype='DIR_PATH', default="",
                                description="Where Install Engine creates its Python environment (empty: this "
                                            "add-on's user folder)")
    install_python: StringProperty(name="Python for the Install", subtype='FILE_PATH', default="",
                                   description="The Python 3.11 that creates the environment (empty: Blender's own)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_mode", expand=True)
        if self.engine_mode == 'REMOTE':
            col = layout.column()
            col.prop(self, "remote_url")
            warning = remote_url_warning(self.remote_url)
            if warning:
                box = col.box()
                for i, line in enumerate(_wrap(warning, 110)):
                    box.label(text=line, icon='ERROR' if i == 0 else 'BLANK1')
            col.prop(self, "token")
            col.prop(self, "request_timeout")
            return
        r = resolved(self)
        col = layout.column()
        col.prop(self, "engine_root")
        col.label(text=f"Using: {r.root or '-'} ({r.root_source})", icon='FILE_FOLDER')
        col.prop(self, "engine_python")
        col.label(text=f"Using: {r.python or '-'} ({r.python_source})", icon='CONSOLE')
        col.prop(self, "model_choice")
        if self.model_choice == 'CUSTOM':
            col.prop(self, "model_path")
        col.label(text=f"Model: {r.model or '-'}", icon='FILE_3D')
        row = col.row()
        row.prop(self, "device")
        row.prop(self, "idle_minutes")
        for problem in r.problems:
            box = layout.box()
            for i, line in enumerate(_wrap(problem, 110)):
                box.label(text=line, icon='ERROR' if i == 0 else 'BLANK1')
        info = MANAGER.info()
        row = layout.row()
        if info.get("running"):
            row.label(text=f"Engine running: pid {info['pid']}, {info['url']}, model {info['model']}, "
                           f"{info['device']}", icon='CHECKMARK')
            row.operator(MOTIONGPT_OT_stop_engine.bl_idname)
        else:
            row.label(text="Engine not running (it starts with the first request)", icon='PAUSE')
        if info.get("log"):
            layout.label(text=f"Log: {info['log']}")
        box = layout.box()
        box.label(text="Install Engine: a Python environment with the engine and torch (large download)")
        box.prop(self, "install_dir")
        box.prop(self, "install_python")
        inst = _INSTALL["installer"]
        row = box.row()
        if inst is not None and inst.running:
            row.operator(MOTIONGPT_OT_cancel_install.bl_idname, icon='CANCEL')
        else:
            row.operator(MOTIONGPT_OT_install_engine.bl_idname, icon='IMPORT')
        if inst is not None and inst.status_text():
            for line in _wrap(inst.status_text(), 110):
                box.label(text=line)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False) or [""]


classes = (MOTIONGPT_OT_install_engine, MOTIONGPT_OT_cancel_install, MOTIONGPT_OT_stop_engine, MotionGPTPreferences)


def stop_install() -> None:
    inst = _INSTALL["installer"]
    if inst is not None and inst.running:
        inst.cancel()
    if bpy.app.timers.is_registered(_install_timer):
        bpy.app.timers.unregister(_install_timer)
