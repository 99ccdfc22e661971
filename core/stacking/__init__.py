"""Shift-and-add stacks on the stars or on a moving target, and photometry on them."""
