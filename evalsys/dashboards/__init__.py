"""Role dashboards on the home page: plain values read in a fixed number of queries.

Each module serves one kind of user and takes (session, user, ...): ``teacher``
(feedback on my sections, my means against my department's over terms),
``leader`` (a unit's term KPIs and flagged children, for heads, deans and
school leaders), ``observer`` (supervisors' and tutors' recent records) and
``admin`` (data health). Every figure is scoped with the same access helpers
as the rest of evalsys, and aggregated in the database.
"""
