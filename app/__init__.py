"""The Fluxion application: main window, step panels, workers, command line."""
