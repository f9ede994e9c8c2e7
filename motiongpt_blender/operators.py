"""The four MotionGPT operators: Generate, Fill Gap, Continue, Caption.

Two ways to run, one way to write the result:

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

Either way the result is written by an ``animation.Applier`` once the job
is done: from the UI in steps across timer ticks (at most ~0.1 s of work per
tick, progress "writing keys"), headless in one go. The operator then
returns FINISHED and Blender records ONE undo step. A failed, cancelled or
timed-out job returns CANCELLED having written nothing; Esc while the keys
are being written rolls back what was written.

``poll()`` greys the buttons out (with the reason as tooltip) while no
armature is active, it is in Edit Mode, there is nothing to work on, or a
job runs. Headless scripts (``blender -b``, the bpy module) skip those
checks so they can name an armature with the ``armature`` property; they get
the same reasons as errors instead.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import animation, bone_maps, preferences, prompt_help, retarget_math as rm
from .animation import UserError
from .client import EngineError
from .jobs import CANCELLED, DONE, JobRunner
from .props import PATH_START_ITEMS, PATH_TIMING_ITEMS

_ACTIVE: dict = {"runner": None, "label": ""}
_HIDDEN = {'HIDDEN', 'SKIP_SAVE'}
APPLY_BUDGET_S = 0.1            # work per timer tick while keys are written from the UI


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

    needs_animation = False          # Fill Gap, Continue and Caption work on an existing action

    # -- subclasses ------------------------------------------------------------
    def make_plan(self, context) -> animation.Plan:
        raise NotImplementedError

    # -- availability ------------------------------------------------------------
    @classmethod
    def poll_reason(cls, context) -> str | None:
        """Why the button is greyed out now (None: it can run)."""
        if active_runner() is not None:
            return f"MotionGPT is busy ({_ACTIVE['label']}); wait for it or press Cancel"
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            return "Select an armature (the rig to animate)"
        if obj.mode == 'EDIT':
            return f"{obj.name} is in Edit Mode; switch to Object or Pose Mode"
        ad = obj.animation_data
        if ad is not None and ad.use_tweak_mode:
            return f"{obj.name} is in NLA tweak mode; leave it first"
        if cls.needs_animation and not animation.has_keys(obj):
            return f"{obj.name} has no keys to work on; key some poses or use Generate"
        return None

    @classmethod
    def poll(cls, context) -> bool:
        if bpy.app.background:                      # headless script: execute() explains any problem
            return True
        reason = cls.poll_reason(context)
        if reason is not None:
            cls.poll_message_set(reason)
        return reason is None

    # -- shared ------------------------------------------------------------------
    def target(self, context):
        if self.armature:
            obj = bpy.data.objects.get(self.armature)
            if obj is None:
                raise UserError(f"There is no object named {self.armature!r}.")
            return obj
        return context.active_object

    def post_options(self, context):
        """The panel's settings, with whatever the operator call overrides."""
        s = context.scene.motiongpt
        root = s.root_motion
        if self._value("in_place", None) is not None:
            root = 'IN_PLACE' if self.in_place else 'ROOT'
        return SimpleNamespace(
            root_motion=root, foot_cleanup=self._value("foot_cleanup", s.foot_cleanup),
            add_as_nla=self._value("add_as_nla", s.add_as_nla), reduce_keys=self._value("reduce_keys", s.reduce_keys),
            reduce_rotation_deg=s.reduce_rotation_deg, reduce_location_cm=s.reduce_location_cm)

    def follow_settings(self, context, toggle: str) -> animation.FollowPath | None:
        """The Follow Path settings: the operator call's (``follow_path``,
        ``path_curve`` by object name, ``path_start``, ``path_timing``) over
        the panel's (``toggle`` turns it on there)."""
        s = context.scene.motiongpt
        if not self._value("follow_path", getattr(s, toggle)):
            return None
        curve = s.path_curve
        if self._value("path_curve", ""):
            curve = bpy.data.objects.get(self.path_curve)
            if curve is None:
                raise UserError(f"There is no object named {self.path_curve!r} to follow.")
        if self.post_options(context).root_motion == 'IN_PLACE':
            raise UserError("Follow Path moves the character along the curve, but Root is set to In Place; set it "
                            "to Root Motion.")
        return animation.FollowPath(curve, self._value("path_start", s.path_start),
                                    self._value("path_timing", s.path_timing))

    def seed_value(self, context):
        if self.properties.is_property_set("seed"):
            return self.seed if self.seed >= 0 else None
        s = context.scene.motiongpt
        return s.seed if s.use_seed else None

    def _value(self, name: str, default):
        if hasattr(self, name) and self.properties.is_property_set(name):
            return getattr(self, name)
        return default

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

    def _failed(self, context, msg: str) -> set[str]:
        st = _status(context)
        st.running = False
        st.message = st.last = msg
        self.report({'ERROR'}, msg)
        return {'CANCELLED'}

    def _job_outcome(self, context, plan, runner):
        """The applier for a finished job, or the operator's result set when
        there is nothing to apply (cancelled or failed)."""
        st = _status(context)
        cancelled = runner.cancel_requested or runner.state == CANCELLED
        _ACTIVE["runner"] = None
        if runner.state == DONE and not cancelled:
            return animation.applier(context, plan, runner.result)
        st.running, st.progress = False, 0.0
        if cancelled:
            msg = f"MotionGPT {plan.label} cancelled; nothing was changed"
            st.message = st.last = msg
            self.report({'WARNING'}, msg)
            return {'CANCELLED'}
        err = runner.error or EngineError("the job failed")
        return self._failed(context, err.message)

    def _advance(self, context, applier, budget: float | None) -> set[str] | None:
        """Run the applier's steps (all, or for ``budget`` seconds); its
        result set when it ended, None while it has more to do."""
        t0 = time.perf_counter()
        st = _status(context)
        try:
            for progress in self._steps:
                st.progress, st.message = progress, "writing keys"
                if budget is not None and time.perf_counter() - t0 > budget:
                    return None
        except (UserError, bone_maps.BoneMapError, rm.RetargetError) as exc:
            applier.rollback()
            return self._failed(context, str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            applier.rollback()
            return self._failed(context, f"The engine's answer could not be used ({exc!r}); nothing was changed.")
        except BaseException:
            applier.rollback()
            raise
        st.running, st.progress = False, 1.0
        text = prompt_help.with_reading(applier.message, applier.result)
        st.message = st.last = text
        self.report({'INFO'}, text)
        _tag_redraw(context)
        return {'FINISHED'}

    def _finish(self, context, plan, runner) -> set[str]:
        outcome = self._job_outcome(context, plan, runner)
        if isinstance(outcome, set):
            return outcome
        self._applier, self._steps = outcome, outcome.steps()
        return self._advance(context, outcome, None)

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
        applier = getattr(self, "_applier", None)
        if applier is not None:                      # writing keys: nothing else may touch the data now
            if event.type == 'ESC' and event.value == 'PRESS':
                applier.rollback()
                self._applier = None
                self._cleanup(context)
                msg = f"MotionGPT {self._plan.label} cancelled while writing keys; nothing was changed"
                st = _status(context)
                st.running, st.progress, st.message, st.last = False, 0.0, msg, msg
                self.report({'WARNING'}, msg)
                return {'CANCELLED'}
            if event.type != 'TIMER':
                return {'RUNNING_MODAL'}
            done = self._advance(context, applier, APPLY_BUDGET_S)
            if done is None:
                context.window_manager.progress_update(int(_status(context).progress * 100))
                _tag_redraw(context)
                return {'RUNNING_MODAL'}
            self._applier = None
            self._cleanup(context)
            return done
        runner = self._runner
        if event.type == 'ESC' and event.value == 'PRESS':
            runner.cancel()
        if event.type != 'TIMER' and not runner.cancel_requested:
            return {'PASS_THROUGH'}
        if runner.done or runner.cancel_requested:
            if runner.cancel_requested and not runner.done:
                runner.wait(0.5)                    # the thread sends DELETE; do not wait for the engine
            outcome = self._job_outcome(context, self._plan, runner)
            if isinstance(outcome, set):
                self._cleanup(context)
                return outcome
            self._applier, self._steps = outcome, outcome.steps()
            _status(context).message = "writing keys"
            return {'RUNNING_MODAL'}
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
        applier = getattr(self, "_applier", None)
        if applier is not None:
            applier.rollback()
            self._applier = None
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
    add_as_nla: BoolProperty(name="Add as NLA Strip", default=False, options=_HIDDEN)
    reduce_keys: BoolProperty(name="Reduce Keys", default=False, options=_HIDDEN)
    follow_path: BoolProperty(name="Follow Path", default=False, options=_HIDDEN)
    path_curve: StringProperty(name="Curve", default="", options=_HIDDEN, description="Curve object to walk along")
    path_start: EnumProperty(name="Start", items=PATH_START_ITEMS, default='CHARACTER', options=_HIDDEN)
    path_timing: EnumProperty(name="Duration", items=PATH_TIMING_ITEMS, default='SECONDS', options=_HIDDEN)

    def make_plan(self, context):
        s = context.scene.motiongpt
        return animation.plan_generate(context, self.target(context), self._value("prompt", s.prompt),
                                       self._value("seconds", s.seconds), self.seed_value(context),
                                       self._value("variants", s.variants), self.post_options(context),
                                       self.follow_settings(context, "follow_path"))



class MOTIONGPT_OT_fill_gap(_EngineOperator, bpy.types.Operator):
    """Generate the motion between two keys (selected keyframes, or two frame numbers); the keys and everything \
outside the gap stay as they are"""
    bl_idname = "motiongpt.fill_gap"
    bl_label = "Fill Gap"
    needs_animation = True

    frame_from: IntProperty(name="From", default=0, options=_HIDDEN)
    frame_to: IntProperty(name="To", default=0, options=_HIDDEN)
    selected_keys: BoolProperty(name="Selected Keys", default=False, options=_HIDDEN,
                                description="Use the two frames whose keys are selected, whatever the panel says")
    prompt: StringProperty(name="In Between", default="", options=_HIDDEN)
    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)
    reduce_keys: BoolProperty(name="Reduce Keys", default=False, options=_HIDDEN)

    def make_plan(self, context):
        s = context.scene.motiongpt
        frames_given = self.properties.is_property_set("frame_from") and self.properties.is_property_set("frame_to")
        use_selected = not frames_given and (s.gap_source == 'SELECTED' or self.selected_keys)
        a = self.frame_from if frames_given else s.gap_from
        b = self.frame_to if frames_given else s.gap_to
        return animation.plan_fill_gap(context, self.target(context), use_selected, a, b,
                                       self._value("prompt", s.gap_prompt), self.seed_value(context),
                                       self.post_options(context))



class MOTIONGPT_OT_continue(_EngineOperator, bpy.types.Operator):
    """Extend the active action past its last key; the seam stays continuous"""
    bl_idname = "motiongpt.continue_action"
    bl_label = "Continue"
    needs_animation = True

    seconds: FloatProperty(name="Seconds", default=3.0, min=0.05, max=60.0, options=_HIDDEN)
    prompt: StringProperty(name="Then", default="", options=_HIDDEN)
    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)
    reduce_keys: BoolProperty(name="Reduce Keys", default=False, options=_HIDDEN)
    follow_path: BoolProperty(name="Follow Path", default=False, options=_HIDDEN)
    path_curve: StringProperty(name="Curve", default="", options=_HIDDEN, description="Curve object to walk along")

    def make_plan(self, context):
        s = context.scene.motiongpt
        return animation.plan_continue(context, self.target(context), self._value("seconds", s.continue_seconds),
                                       self._value("prompt", s.continue_prompt), self.seed_value(context),
                                       self.post_options(context),
                                       self.follow_settings(context, "continue_follow_path"))



class MOTIONGPT_OT_caption(_EngineOperator, bpy.types.Operator):
    """Describe the active action in words (stored on the action)"""
    bl_idname = "motiongpt.caption"
    bl_label = "Caption"
    needs_animation = True

    def make_plan(self, context):
        return animation.plan_caption(context, self.target(context))



class MOTIONGPT_OT_generate_timeline(_EngineOperator, bpy.types.Operator):
    """Make one action from the timeline's items: one after another with generated transitions, and at once on \
body parts; from the first item's first frame"""
    bl_idname = "motiongpt.generate_timeline"
    bl_label = "Generate Timeline"

    seed: IntProperty(name="Seed", default=-1, min=-1, options=_HIDDEN)
    in_place: BoolProperty(name="In Place", default=False, options=_HIDDEN)
    foot_cleanup: BoolProperty(name="Foot Cleanup", default=True, options=_HIDDEN)
    add_as_nla: BoolProperty(name="Add as NLA Strip", default=False, options=_HIDDEN)
    reduce_keys: BoolProperty(name="Reduce Keys", default=False, options=_HIDDEN)

    @classmethod
    def poll_reason(cls, context) -> str | None:
        reason = super().poll_reason(context)
        if reason is None and not len(context.scene.motiongpt.timeline):
            return "The timeline is empty: add items first"
        return reason

    def make_plan(self, context):
        s = context.scene.motiongpt
        return animation.plan_compose(context, self.target(context), animation.timeline_rows(s.timeline),
                                      self.seed_value(context), self.post_options(context), s.transition_seconds)



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
           MOTIONGPT_OT_generate_timeline, MOTIONGPT_OT_cancel_job)


def cancel_all() -> None:
    runner = _ACTIVE["runner"]
    if runner is not None:
        runner.cancel()
    _ACTIVE["runner"] = None
