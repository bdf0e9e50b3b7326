"""Rendering of results and cost: terminal tables, Markdown, HTML with plots, CSV."""
