"""Term statistics per section, course, department, college and school, computed in SQL."""
