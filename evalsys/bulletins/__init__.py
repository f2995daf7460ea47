"""The weekly supervision bulletin (督导简报): one short PDF per school and college a week."""
