"""Results: the store, cost analysis, reports, regressions and sync (code; the top-level results/ folder holds data)."""
