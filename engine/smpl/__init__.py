"""SMPL / SMPL+H / SMPL-X export (``motiongpt export-smpl``): the motion as
AMASS-layout parameters (:mod:`.params`, numpy only) and, with the user's own
body model files and the optional ``smplx`` package, the posed mesh
(:mod:`.body_model`)."""
