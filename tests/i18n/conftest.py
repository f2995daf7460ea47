from tests.security.conftest import sworld  # noqa: F401 (the access matrix's world, reused)
