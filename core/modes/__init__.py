"""Chat modes as data (DB-GPT's chat_mode): apps (personas) and flows are files, and a turn's
mode picks the list of steps that run before the answer (see core.modes.steps)."""
