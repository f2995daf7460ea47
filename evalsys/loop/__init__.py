"""Closing the loop: problems found in a term, subject discussion meetings, actions."""
