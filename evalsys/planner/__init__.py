"""The random spot-check planner: settings per term, weekly draws, assignments (issue 6)."""
