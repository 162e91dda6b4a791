"""The engine's URLs: dashboard, meetings, rosters and joining (``meetings``), the meeting room,
its event stream and agenda operations (``room``), and results pages dispatched by type
(``results``)."""
