"""Programmes (专业) and their training plans (培养方案), and the change log that ties a
plan adjustment decided in the loop to its evidence and to its effect on the courses.

``models`` holds the tables, ``service`` the reading (change log, figures before and
after a change, a unit's changes of a term), ``importing`` the ``programmes.csv`` rows
the importer checks and writes, and ``views`` the programme page.
"""
