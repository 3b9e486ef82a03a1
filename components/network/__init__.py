"""How traffic reaches the environment and what may talk to what."""
