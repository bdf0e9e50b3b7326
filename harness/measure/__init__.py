"""Measure: a list of configurations -> records (bench), matrix files, machine fit."""
