"""The admin face: virtual keys and their spend (served only when turned on)."""
