"""The project folder: project.json and the product store."""
