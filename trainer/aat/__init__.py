"""Accelerator-aware training: the NNA's integer arithmetic inside the torch forward pass.

``ops`` mirrors ``engine.nna.fixedpoint`` / ``engine.nna.lut`` in torch int64 (bit-exact,
tested against the engine); ``fake`` wraps them with straight-through gradients.
"""
