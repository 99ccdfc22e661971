"""Classroom: a student's project checked against the simulated night's truth."""
