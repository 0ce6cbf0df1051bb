"""CX Score: a judge rates every support conversation; results land as tested warehouse tables."""
