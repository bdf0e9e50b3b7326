"""Inference engines behind one interface; see base.Backend. Registered in harness.registry.BACKENDS."""
