"""Light curves: differential photometry, comparison stars, a target measured over a night."""
