"""How the engine read the prompt, and example prompts from the model's vocabulary.

The engine answers every text task with ``understood_as`` (its ``message``
says which known action and style the prompt was taken as, or that it is
outside what the model knows and what was made instead). The add-on shows it
in the status line, stores it on the generated action
(``action["motiongpt_understood_as"]``, saved with the file) and the
Generate panel draws it under the prompt. The example menu lists the
``examples`` of ``<model folder>/prompts/vocabulary.json`` (written by
``motiongpt build-vocabulary``), i.e. things this model knows how to do.

Kept apart from animation/operators/ui so that those only call in here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bpy
from bpy.props import StringProperty

from .fcurves import action_prop

UNDERSTOOD_PROP = "motiongpt_understood_as"
VOCABULARY = Path("prompts") / "vocabulary.json"
MAX_EXAMPLES = 24

_examples_cache: dict[str, tuple[float, list[str]]] = {}


def reading_message(result: dict[str, Any] | None) -> str | None:
    """The engine's "understood as" line from a job result, if any."""
    reading = (result or {}).get("understood_as") if isinstance(result, dict) else None
    if isinstance(reading, dict) and isinstance(reading.get("message"), str):
        return reading["message"]
    return None


def with_reading(text: str, result: dict[str, Any] | None) -> str:
    """A status line followed by how the prompt was read."""
    message = reading_message(result)
    return f"{text}. {message[0].upper()}{message[1:]}" if message else text


def store(action, result: dict[str, Any] | None) -> None:
    message = reading_message(result)
    if message:
        action[UNDERSTOOD_PROP] = message


def understood_of(obj) -> str | None:
    """The stored reading of the active action of ``obj``."""
    return action_prop(obj, UNDERSTOOD_PROP)


def example_prompts(model_folder: str | os.PathLike | None) -> list[str]:
    """The model's example prompts (none when the folder has no vocabulary)."""
    if not model_folder:
        return []
    path = Path(model_folder) / VOCABULARY
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return []
    cached = _examples_cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    examples = _read_examples(path)
    _examples_cache[str(path)] = (stamp, examples)
    return examples


MAX_VOCABULARY_BYTES = 16 * 1024 * 1024
MAX_EXAMPLE_CHARS = 200


def _read_examples(path: Path) -> list[str]:
    """The ``examples`` of a vocabulary.json, or none when the file is too
    large, not JSON, nested beyond reason or holds something else: the
    panel draws this, so it may never raise."""
    try:
        if path.stat().st_size > MAX_VOCABULARY_BYTES:
            return []
        examples = json.loads(path.read_text(encoding="utf-8")).get("examples", [])
    except (OSError, ValueError, AttributeError, RecursionError):
        return []
    if not isinstance(examples, list):
        return []
    return [e for e in examples if isinstance(e, str) and 0 < len(e) <= MAX_EXAMPLE_CHARS][:MAX_EXAMPLES]


def _model_folder(context) -> str:
    from . import preferences
    try:
        settings = preferences.engine_settings(context)
    except Exception:                                    # no preferences yet (add-on half registered)
        return ""
    return getattr(settings, "model", "") or ""


class MOTIONGPT_OT_use_example(bpy.types.Operator):
    """Put this example prompt into the Generate prompt"""
    bl_idname = "motiongpt.use_example"
    bl_label = "Use Example Prompt"
    bl_options = {'INTERNAL'}

    prompt: StringProperty()

    def execute(self, context):
        context.scene.motiongpt.prompt = self.prompt
        return {'FINISHED'}


class MOTIONGPT_MT_examples(bpy.types.Menu):
    bl_label = "What this model knows"
    bl_idname = "MOTIONGPT_MT_examples"

    def draw(self, context):
        examples = example_prompts(_model_folder(context))
        if not examples:
            self.layout.label(text="This model lists no examples (motiongpt build-vocabulary)")
        for text in examples:
            self.layout.operator(MOTIONGPT_OT_use_example.bl_idname, text=text).prompt = text


def draw(layout, context, wrap) -> None:
    """Under the prompt: the example menu and how the active action's prompt was read."""
    layout.menu(MOTIONGPT_MT_examples.bl_idname, text="Example Prompts", icon='QUESTION')
    message = understood_of(context.active_object)
    if message:
        box = layout.box()
        for i, line in enumerate(wrap(message)):
            box.label(text=line, icon='INFO' if i == 0 else 'BLANK1')


classes = (MOTIONGPT_OT_use_example, MOTIONGPT_MT_examples)
