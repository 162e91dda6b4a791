"""The AI meeting designer (SPEC §4.16): a chat with an OpenAI-compatible model that streams its
replies, an agenda generated from the conversation and checked against the activity catalog, and
"Edit in Meeting Creator", which opens the create form pre-filled from a server-side draft.

A feature on top of the engine: it may import the platform and the meetings engine (the catalog is
the engine's type registry), never an activity package. Modules: ``provider`` (the client and its
errors), ``catalog`` (prompts and agenda validation), ``conversations`` (the per-user record),
``routes``.
"""
