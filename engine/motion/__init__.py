"""Motion representation: skeleton, rotations, HumanML3D features, BVH."""
