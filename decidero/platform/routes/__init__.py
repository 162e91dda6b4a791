"""The platform's URLs: sign-in and registration, profile, user administration, health, home and
about, and the GRAB endpoint."""
