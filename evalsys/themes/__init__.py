"""Recurring themes in what observers write: terms found in comments, counted per unit and term."""
