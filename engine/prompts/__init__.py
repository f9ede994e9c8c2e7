"""Reading typed prompts: refusal of empty-meaning text, grounding onto what a
model knows with a pretrained sentence encoder, and the model's vocabulary
file that makes this model-agnostic."""
