"""CX Score: a judge rates every support conversation; the results land as tested warehouse tables."""
