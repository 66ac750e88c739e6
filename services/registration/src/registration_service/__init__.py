"""The registration service: programs, classes, sections, timeslots and student registrations."""
