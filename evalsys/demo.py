"""Placeholder replaced by the demo-data work."""


def load_demo(session, echo=print):
    raise NotImplementedError
