"""Parent (spawn, pin, environment, timeout, kill, collect) and worker (warm-up, timed loop, one JSON out)."""
