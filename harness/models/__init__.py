"""Model families: one module per family, registered in harness.registry.MODELS."""
