"""The school hierarchy (school, colleges, departments), terms, courses, sections, tutor groups."""
