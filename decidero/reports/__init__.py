"""What the group takes away and what the room's projector shows (SPEC §4.13, issue 15): the meeting
report as printable HTML and as Markdown (``report``, ``markdown``), and the presenter view
(``presenter``). A feature on the engine like the designer: it reaches the activity types only
through the registry (``ActivityType.report_results``, ``live_figure``, ``public_while_running``).
"""
