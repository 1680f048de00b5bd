"""Interchangeable agents for the lrgym environments (import name: `lrgym_agents`)."""
