"""The bot's read API: JSON over HTTP, guarded by the API token when one is configured."""
