"""The chat pipeline: one turn from a validated request to a stored reply, as a stream of events.

chat.py        ChatPipeline.run(turn, caller): the table of contents
validation.py  every range and limit a turn must meet, before any model work
threads.py     thread memory as a turn sees it: its context, its lock, its commit
planning.py    the prompt, the tool instructions and the reply budget of one turn
generation.py  backend chunks → events (text, tool calls parsed or native, finish, usage)
aggregate.py   fold(events) → Reply: the only definition of "non-streaming"
"""
