"""What every step runs on: progress and cancellation, parameter metadata, warning control."""
