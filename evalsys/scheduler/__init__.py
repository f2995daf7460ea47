"""The scheduler: one APScheduler process of its own, a database lease, recorded job runs.

Never started inside create_app: gunicorn workers and the Flask reloader would
each start one and every job would run N times. ``evalsys scheduler`` runs it.
"""
