"""The profile service: registration profiles per student and program."""
