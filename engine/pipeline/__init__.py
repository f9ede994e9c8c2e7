"""Tasks on motions at any frame rate, shared by the CLI and the server.

    motion_io  Motion: rotations + root + rest offsets (+ FK positions), JSON/BVH/NPZ
    tasks      generate / inbetween / continue_motion / caption on a loaded MotionGPT
    post       foot-contact cleanup, in-place motion (PostOptions)
    blend      making generated frames meet key frames in pose and velocity
    jobs       validate_job / run_job: the contract the server codes against
    fields     checks every request field shares (numbers, Unicode, arrays) and capped echoes

Only the light modules are imported here; ``engine.pipeline.tasks`` and
``engine.pipeline.jobs`` pull in torch and the model code.
"""
from .errors import JobCancelled, ParamError
from .motion_io import Motion
from .post import PostOptions

__all__ = ["JobCancelled", "Motion", "ParamError", "PostOptions"]
