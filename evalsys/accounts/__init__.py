"""Users, role grants on units, login, and the one access check every view uses."""
