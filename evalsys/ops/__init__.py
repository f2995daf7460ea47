"""Operations: health check, backups and restores, running behind a reverse proxy."""
