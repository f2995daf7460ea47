"""Term PDF reports: report data, charts, WeasyPrint rendering, delivery."""
