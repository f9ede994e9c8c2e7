"""The four MotionGPT operators: Generate, Fill Gap, Continue, Caption.

Two ways to run, one apply step:

- From the UI (``INVOKE_DEFAULT``): ``invoke`` checks the selection and reads
  the animation (main thread, no waiting), starts a :class:`jobs.JobRunner`
  (its thread starts the engine if needed, submits and polls), then the
  operator goes modal with a 0.1 s event timer. Each tick copies state,
  progress and message into ``WindowManager.motiongpt_status`` (the panel's
  progress bar) and ``window_manager.progress_update``; Esc or the panel's
  Cancel button cancels (``DELETE /v1/jobs/{id}``). Blender stays responsive
  the whole time because nothing on the main thread waits.
- From scripts / headless (``EXEC_DEFAULT``): ``execute`` does the same but
  blocks until the job ends or ``timeout`` seconds pass (then it cancels).

Either way the result is applied by ``animation.apply_*`` in one go at the
end: the operator returns FINISHED and Blender records ONE undo step. A
failed, cancelled or timed-out job returns CANCELLED having written nothing.
"""
from __future__ import annotations

from types import SimpleNamespace

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import animation, bone_maps, preferences, prompt_help, retarget_math as rm
from .animation import UserError
from .client import EngineError
from .jobs import CANCELLED, DONE, JobRunner

_ACTIVE: dict = {"runner": None, "label": ""}
_HIDDEN = {'HIDDEN', 'SKIP_SAVE'}


def active_runner() -> JobRunner | None:
    r = _ACTIVE["runner"]
    return r if r is not None and not r.done else None


def _tag_redraw(context) -> None:
    wm = context.window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            area.tag_redraw()


def _status(context):
    return context.window_manager.motiongpt_status


class _EngineOperator:
    bl_options = {'REGISTER', 'UNDO'}

    timeout: FloatProperty(name="Timeout", default=600.0, min=1.0, options=_HIDDEN,
                           description="Headless (EXEC) runs: give up after this many seconds")
    armature: StringProperty(name="Armature", default="", options=_HIDDEN,
                             description="Object name to work on (default: the active object)")

    # -- subclasses ------------------------------------------------------------
    def make_plan(self, context) -> animation.Plan:
        raise NotImplementedError

    def apply(self, context, plan: animation.Plan, result: dict) -> str:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------
    def target(self, context):
        if self.armature:
            obj = bpy.data.objects.get(self.armature)
            if obj is None:
                raise UserError(f"There is no object named {self.armature!r}.")
            return obj
        return context.active_object

    def post_options(self, context):
        s = context.scene.motiongpt
        root = s.root_motion
        cleanup = s.foot_cleanup
        if hasattr(self, "in_place") and self.properties.is_property_set("in_place"):
            root = 'IN_PLACE' if self.in_place else 'ROOT'
        if hasattr(self, "foot_cleanup") and self.properties.is_property_set("foot_cleanup"):
            cleanup = self.foot_cleanup
        return SimpleNamespace(root_motion=root, foot_cleanup=cleanup)

    def seed_value(self, context):
        if self.properties.is_property_set("seed"):
            return self.seed if self.seed >= 0 else None
        s = context.scene.motiongpt
        return s.seed if s.use_seed else None

    def _value(self, name: str, default):
        return getattr(self, name) if self.properties.is_property_set(name) else default

    def _prepare(self, context):
        st = _status(context)
        if active_runner() is not None:
            self.report({'ERROR'}, f"MotionGPT is busy ({_ACTIVE['label']}); wait for it or cancel it first")
            return None
        try:
            plan = self.make_plan(context)
            settings = preferences.engine_settings(context)
        except (UserError, bone_maps.BoneMapError, rm.RetargetError) as exc:
            st.message = st.last = str(exc)
            self.report({'ERROR'}, str(exc))
            return None
        runner = JobRunner(settings, plan.task, plan.params)
        _ACTIVE["runner"], _ACTIVE["label"] = runner, plan.label
        st.running, st.task, st.progress, st.message = True, plan.label, 0.0, "starting"
        runner.start()
        return plan, runner

    def _finish(self, context, plan, runner) -> set[str]:
        st = _status(context)
        cancelled = runner.cancel_requested or runner.state == CANCELLED
        st.running, st.progress = False, 1.0 if runner.state == DONE and not cancelled else 0.0
        _ACTIVE["runner"] = None
        if runner.state == DONE and not cancelled:
            try:
                text = prompt_help.with_reading(self.apply(context, plan, runner.result), runner.result)
            except (UserError, bone_maps.BoneMapError, rm.RetargetError) as exc:
                st.message = st.last = str(exc)
                self.report({'ERROR'}, str(exc))
                return {'CANCELLED'}
            except (KeyError, TypeError, ValueError) as exc:
                msg = f"The engine's answer could not be used ({exc!r}); nothing was changed."
                st.message = st.last = msg
                self.report({'ERROR'}, msg)
                return {'CANCELLED'}
            st.message = st.last = text
            self.report({'INFO'}, text)
            _tag_redraw(context)
            return {'FINISHED'}
        if cancelled:
            msg = f"MotionGPT {plan.label} cancelled; nothing was changed"
            st.message = st.last = msg
            self.report({'WARNING'}, msg)
            return {'CANCELLED'}
        err = runner.error or EngineError("the job failed")
        st.message = st.last = err.message
        self.report({'ERROR'}, err.message)
        return {'CANCELLED'}

    # -- blocking path -------------------------------------------------------------
    def execute(self, context):
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        plan, runner = prepared
        if not runner.wait(self.timeout):
            runner.cancel()
            runner.wait(15)
            _ACTIVE["runner"] = None
            st = _status(context)
            st.running = False
            st.message = st.last = f"MotionGPT {plan.label} took longer than {self.timeout:g} s and was cancelled; " \
                                   "nothing was changed"
            self.report({'ERROR'}, st.message)
            return {'CANCELLED'}
        return self._finish(context, plan, runner)

    # -- modal path -----------------------------------------------------------------
    def invoke(self, context, event):
        prepared = self._prepare(context)
        if prepared is None:
            return {'CANCELLED'}
        self._plan, self._runner = prepared
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def _cleanup(self, context) -> None:
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        _tag_redraw(context)

    def modal(self, context, event):
        runner = self._runner
        if event.type == 'ESC' and event.value == 'PRESS':
            runner.cancel()
        if event.type != 'TIMER' and not runner.cancel_requested:
            return {'PASS_THROUGH'}
        if runner.done or runner.cancel_requested:
            if runner.cancel_requested and not runner.done:
                runner.wait(0.5)                    # the thread sends DELETE; do not wait for the engine
            self._cleanup(context)
            return self._finish(context, self._plan, runner)
        state, progress, message = runner.snapshot()
        st = _status(context)
        st.progress, st.message = progress, message
        context.window_manager.progress_update(int(progress * 100))
        _tag_redraw(context)
        return {'RUNNING_MODAL'}

    def cancel(self, context):
        """Blender ends the modal operator (file loaded, window closed)."""
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.cancel()
        _ACTIVE["runner"] = None
        _status(context).running = False
        self._cleanup(context)


class MOTIONGPT_OT_generate(_EngineOperator, bpy.types.Operator):
    """Generate an animation from the prompt on the selected armature, starting at the current frame"""
    bl_idname = "motiongpt.generate"
    bl_label = "Generate"

    prompt: StringProperty(name="Prompt", default="", options=_HIDDEN)
    seconds: FloatProperty(name="Seconds", default=4.0, min=0.05, max=60.0, options=_HIDDEN)
    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN, description="-1: a new seed")
    variants: IntProperty(name="Variants", default=1, min=1, max=8, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)

    def make_plan(self, context):
        s = context.scene.motiongpt
        return animation.plan_generate(context, self.target(context), self._value("prompt", s.prompt),
                                       self._value("seconds", s.seconds), self.seed_value(context),
                                       self._value("variants", s.variants), self.post_options(context))

    def apply(self, context, plan, result):
        return animation.apply_generate(context, plan, result)


class MOTIONGPT_OT_fill_gap(_EngineOperator, bpy.types.Operator):
    """Generate the motion between two keys (selected keyframes, or two frame numbers); the keys and everything \
outside the gap stay as they are"""
    bl_idname = "motiongpt.fill_gap"
    bl_label = "Fill Gap"

    frame_from: IntProperty(name="From", default=0, options=_HIDDEN)
    frame_to: IntProperty(name="To", default=0, options=_HIDDEN)
    prompt: StringProperty(name="In Between", default="", options=_HIDDEN)
    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)

    def make_plan(self, context):
        s = context.scene.motiongpt
        frames_given = self.properties.is_property_set("frame_from") and self.properties.is_property_set("frame_to")
        use_selected = not frames_given and s.gap_source == 'SELECTED'
        a = self.frame_from if frames_given else s.gap_from
        b = self.frame_to if frames_given else s.gap_to
        return animation.plan_fill_gap(context, self.target(context), use_selected, a, b,
                                       self._value("prompt", s.gap_prompt), self.seed_value(context),
                                       self.post_options(context))

    def apply(self, context, plan, result):
        return animation.apply_fill_gap(context, plan, result)


class MOTIONGPT_OT_continue(_EngineOperator, bpy.types.Operator):
    """Extend the active action past its last key; the seam stays continuous"""
    bl_idname = "motiongpt.continue_action"
    bl_label = "Continue"

    seconds: FloatProperty(name="Seconds", default=3.0, min=0.05, max=60.0, options=_HIDDEN)
    prompt: StringProperty(name="Then", default="", options=_HIDDEN)
    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)

    def make_plan(self, context):
        s = context.scene.motiongpt
        return animation.plan_continue(context, self.target(context), self._value("seconds", s.continue_seconds),
                                       self._value("prompt", s.continue_prompt), self.seed_value(context),
                                       self.post_options(context))

    def apply(self, context, plan, result):
        return animation.apply_continue(context, plan, result)


class MOTIONGPT_OT_caption(_EngineOperator, bpy.types.Operator):
    """Describe the active action in words (stored on the action)"""
    bl_idname = "motiongpt.caption"
    bl_label = "Caption"

    def make_plan(self, context):
        return animation.plan_caption(context, self.target(context))

    def apply(self, context, plan, result):
        return animation.apply_caption(context, plan, result)


class MOTIONGPT_OT_cancel_job(bpy.types.Operator):
    """Cancel the running MotionGPT job (nothing is written)"""
    bl_idname = "motiongpt.cancel_job"
    bl_label = "Cancel"

    def execute(self, context):
        runner = active_runner()
        if runner is None:
            return {'CANCELLED'}
        runner.cancel()
        _status(context).message = "cancelling"
        return {'FINISHED'}


classes = (MOTIONGPT_OT_generate, MOTIONGPT_OT_fill_gap, MOTIONGPT_OT_continue, MOTIONGPT_OT_caption,
           MOTIONGPT_OT_cancel_job)


def cancel_all() -> None:
    runner = _ACTIVE["runner"]
    if runner is not None:
        runner.cancel()
    _ACTIVE["runner"] = None
