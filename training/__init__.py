"""Code that runs on a training instance or a laptop: the guardctl CLI and, later, the agent."""
