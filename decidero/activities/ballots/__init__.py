"""Shared by dot voting and rank-order voting: the ``BallotType`` both subclass, what voters submit
(``models``), result arithmetic (``results``), visibility, progress and export rules (``rules``), the
ballot and results pages (``routes``) and the live count events (``events``). Not a type itself:
nothing here registers; the two voting packages hand these pieces over when they register.
"""
